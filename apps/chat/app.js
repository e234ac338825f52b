// The chat app: a name and a key kept in this browser, channels, messages as
// documents of the chat schema, live over a subscription, older ones paged
// backwards with cursors.

import init, { KeyPair, OperationFields } from './pkg/hoffnung_wasm.js';
import { NodeError, publish, request, subscribe } from './node.js';
import { createSchema, findSchema, waitServed } from './schema.js';
import { $, drawChannels, drawMessages, showProblem, showStatus } from './view.js';

const PAGE = 30;
const CHANNEL = /^[a-z0-9-]{1,32}$/;
const STORE = 'hoffnung-chat';

const state = {
  keyPair: null,
  name: '',
  schemaId: null,
  channel: 'general',
  channels: new Set(['general']),
  unread: new Map(),
  /** The current channel's messages by document id. */
  messages: new Map(),
  startCursor: null,
  hasOlder: false,
  stopLive: null,
  lastCreated: 0,
};

const saved = (key) => localStorage.getItem(`${STORE}/${key}`);
const save = (key, value) => localStorage.setItem(`${STORE}/${key}`, value);

/** The key of this browser, made on the first visit. */
function loadKeyPair() {
  const privateKey = saved('private-key');
  if (privateKey) {
    try {
      return new KeyPair(privateKey);
    } catch {
      // Not a key (edited by hand): make a new one below.
    }
  }
  const keyPair = new KeyPair();
  save('private-key', keyPair.privateKey());
  return keyPair;
}

const FIELDS = 'meta { documentId viewId owner } fields { author channel created text }';

function toMessage(document) {
  return {
    id: document.meta.documentId,
    owner: document.meta.owner,
    author: document.fields.author,
    channel: document.fields.channel,
    created: Number(document.fields.created),
    text: document.fields.text,
  };
}

const byTime = (a, b) => a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function redraw(options = {}) {
  drawMessages([...state.messages.values()].sort(byTime), state.keyPair.publicKey(), options);
  $('older').hidden = !state.hasOlder;
  drawChannels(state.channels, state.channel, state.unread, pickChannel);
}

/** One page of the current channel: the newest, or those before `before`. */
async function loadPage(before) {
  const channel = state.channel;
  const data = await request(
    `query Page($channel: String!, $before: String) {
      page: all_${state.schemaId}(filter: { channel: { eq: $channel } }, orderBy: created,
                                  orderDirection: ASC, last: ${PAGE}, before: $before) {
        hasPreviousPage startCursor
        documents { ${FIELDS} }
      }
    }`,
    { channel, before },
  );
  if (channel !== state.channel) return;
  if (!before) {
    // The newest page replaces what was shown, except messages that came
    // live while it was read (newer than its oldest).
    const oldest = data.page.documents[0];
    const floor = oldest ? Number(oldest.fields.created) : -Infinity;
    for (const [id, message] of state.messages) {
      if (message.created < floor) state.messages.delete(id);
    }
  }
  for (const document of data.page.documents) {
    const message = toMessage(document);
    state.messages.set(message.id, message);
  }
  if (!before || data.page.documents.length) {
    state.startCursor = data.page.startCursor ?? state.startCursor;
    state.hasOlder = data.page.hasPreviousPage;
  }
  redraw(before ? { keepFromEnd: true } : { stickToEnd: true });
}

/** Channels people wrote in lately, for the list. */
async function loadChannels() {
  const data = await request(
    `{ recent: all_${state.schemaId}(orderBy: created, orderDirection: DESC, first: 500) {
        documents { fields { channel } } } }`,
  );
  for (const document of data.recent.documents) {
    if (CHANNEL.test(document.fields.channel)) state.channels.add(document.fields.channel);
  }
}

/** New and edited messages of every channel, as they arrive. */
function goLive() {
  state.stopLive?.();
  state.stopLive = subscribe(
    `subscription { message: all_${state.schemaId} { ${FIELDS} } }`,
    {},
    (data) => {
      const message = toMessage(data.message);
      if (message.channel === state.channel) {
        state.messages.set(message.id, message);
      } else if (CHANNEL.test(message.channel)) {
        state.channels.add(message.channel);
        state.unread.set(message.channel, (state.unread.get(message.channel) ?? 0) + 1);
      }
      redraw();
    },
    (error) => {
      state.stopLive = null;
      showStatus(`Live updates interrupted (${error.message}); reconnecting…`);
      reconnect();
    },
  );
  showStatus(`Live: signed as ${state.name} (${state.keyPair.publicKey().slice(0, 8)}).`);
}

/** Goes live again after a dropped connection, every 2 s until it works. */
function reconnect() {
  setTimeout(() => {
    // Messages that came while it was down are in the newest page.
    connect().catch((error) => {
      showStatus(`The node does not answer (${error.message}); trying again…`);
      reconnect();
    });
  }, 2000);
}

/** Reads the channel and goes live, once the node knows the chat schema. */
async function connect() {
  state.schemaId ??= await findSchema();
  if (!state.schemaId) {
    showStatus('No one has written on this node yet: the first message sets the chat up.');
    return false;
  }
  await waitServed(state.schemaId);
  // Live first, so that nothing published while the page loads is missed.
  goLive();
  await Promise.all([loadPage(), loadChannels()]);
  return true;
}

/** Looks for the chat schema until someone (here or on a peer) makes it. */
async function watchForSchema() {
  for (;;) {
    try {
      if (state.schemaId || (await connect())) return;
    } catch (error) {
      showStatus(`The node does not answer (${error.message}); trying again…`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function send(text) {
  if (!state.schemaId) {
    showStatus('Setting the chat up on this node (publishing its schema)…');
    state.schemaId = (await findSchema()) ?? (await createSchema(state.keyPair));
  }
  // Not live yet (the schema is new, or going live failed before): now.
  if (!state.stopLive) await connect();
  const fields = new OperationFields();
  fields.insert('author', 'str', state.name);
  fields.insert('channel', 'str', state.channel);
  // Later than this browser's previous message even within a millisecond, so
  // that one person's messages keep their order.
  state.lastCreated = Math.max(Date.now(), state.lastCreated + 1);
  fields.insert('created', 'int', BigInt(state.lastCreated));
  fields.insert('text', 'str', text);
  const id = await publish({ schemaId: state.schemaId, fields }, state.keyPair);
  state.messages.set(id, {
    id,
    owner: state.keyPair.publicKey(),
    author: state.name,
    channel: state.channel,
    created: Number(fields.get('created')),
    text,
  });
  redraw({ stickToEnd: true });
}

function pickChannel(name) {
  state.channel = name;
  state.unread.delete(name);
  state.messages.clear();
  state.hasOlder = false;
  state.startCursor = null;
  window.location.hash = name;
  redraw();
  if (state.schemaId) loadPage().catch((e) => showProblem(`Could not load #${name}: ${e.message}`));
}

function describe(error) {
  if (error instanceof NodeError) {
    return `The node refused the message: ${error.message}${error.code ? ` (${error.code})` : ''}`;
  }
  return `The message could not be signed: ${error.message ?? error}`;
}

function start() {
  $('welcome').hidden = true;
  $('chat').hidden = false;
  $('me').textContent = `${state.name} · ${state.keyPair.publicKey().slice(0, 8)}`;
  const fromHash = decodeURIComponent(window.location.hash.slice(1));
  if (CHANNEL.test(fromHash)) state.channel = fromHash;
  state.channels.add(state.channel);
  redraw();

  $('composer').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('text');
    const text = input.value;
    if (!text.trim()) return;
    $('send').disabled = true;
    try {
      await send(text);
      // Only now: a refused message stays in the box to try again.
      input.value = '';
      showProblem(null);
    } catch (error) {
      showProblem(describe(error));
    } finally {
      $('send').disabled = false;
      input.focus();
    }
  });
  $('older').addEventListener('click', () => {
    loadPage(state.startCursor).catch((e) => showProblem(`Could not load older messages: ${e.message}`));
  });
  $('channel-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $('new-channel').value.trim().toLowerCase();
    if (!CHANNEL.test(name)) return;
    $('new-channel').value = '';
    state.channels.add(name);
    pickChannel(name);
  });
  watchForSchema();
}

async function main() {
  await init();
  state.keyPair = loadKeyPair();
  state.name = saved('name') ?? '';
  if (state.name) {
    start();
    return;
  }
  $('welcome').hidden = false;
  showStatus(`Your key: ${state.keyPair.publicKey()}`);
  $('name-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.name = $('name').value.trim();
    if (!state.name) return;
    save('name', state.name);
    start();
  });
}

main().catch((error) => showStatus(`The app could not start: ${error.message ?? error}`));
