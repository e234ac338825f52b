#!/usr/bin/env node
// End-to-end publish client for hoffnung, driven by the real `p2panda-js` 0.8.1
// package (the library shirokuma 0.1.3 uses). It talks to a node over GraphQL
// exactly like shirokuma does: `nextArgs` before every entry, then `publish`.
//
//   node publish.mjs <graphql-url>      publish a schema and three operations
//   node publish.mjs --self-check       offline: compare encodings with the vectors
//
// Environment:
//   PRIVATE_KEY   hex Ed25519 private key (32-byte seed); a fresh key if unset
//   E2E_VERBOSE   set to 1 to log progress on stderr
//
// Output (stdout, one JSON line, only on success):
//   {"publicKey", "schemaId", "documents": [{"id", "viewId", "fields"}, ...],
//    "entries", "schemaDefinition": {"id", "viewId"},
//    "fieldDefinitions": [{"id", "viewId", "name", "type"}, ...]}
// Exit codes: 0 ok, 1 failure (message on stderr), 2 usage error.

import {
  KeyPair,
  OperationFields,
  encodeOperation,
  signAndEncodeEntry,
  generateHash,
  initWebAssembly,
} from 'p2panda-js';

import {
  E2EError,
  GraphQLError,
  NEXT_ARGS_QUERY,
  PUBLISH_MUTATION,
  REQUEST_TIMEOUT_MS,
  graphql,
  lipmaa,
  parseNextArguments,
  skiplinkRequired,
} from './client.mjs';
import { selfCheck } from './self-check.mjs';

const SCHEMA_WAIT_MS = 10_000;
const SCHEMA_RETRY_SLEEP_MS = 250;

const VERBOSE = process.env.E2E_VERBOSE === '1';

function log(...args) {
  if (VERBOSE) console.error('e2e:', ...args);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Subscriptions over WebSocket (graphql-transport-ws), Node's WebSocket
// (global from Node 22; Node 20 needs --experimental-websocket)

async function subscribe(url, query) {
  if (typeof WebSocket !== 'function') {
    throw new E2EError('no WebSocket in this Node.js: run with --experimental-websocket (Node 20)');
  }
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const events = [];
  const waiting = [];
  let failure;
  const deliver = () => {
    while (waiting.length > 0 && (events.length > 0 || failure)) {
      const w = waiting.shift();
      if (events.length > 0) w.resolve(events.shift());
      else w.reject(failure);
    }
  };
  const acked = new Promise((resolve, reject) => {
    socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init' }));
    socket.onerror = () => reject(new E2EError(`subscription: WebSocket to ${url} failed`));
    socket.onmessage = (message) => {
      const msg = JSON.parse(message.data);
      if (msg.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
        resolve();
      } else if (msg.type === 'next') {
        if (msg.payload.errors) failure = new GraphQLError('subscription', msg.payload.errors.map((e) => e.message));
        else events.push(msg.payload.data);
        deliver();
      } else if (msg.type === 'error') {
        failure = new E2EError(`subscription: ${JSON.stringify(msg.payload)}`);
        deliver();
      }
    };
  });
  await acked;
  // Let the node register the subscription before anything is published.
  await sleep(200);
  return {
    next(timeoutMs = REQUEST_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new E2EError(`subscription: no event within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiting.push({
          resolve: (v) => { clearTimeout(timer); resolve(v); },
          reject: (e) => { clearTimeout(timer); reject(e); },
        });
        deliver();
      });
    },
    close() {
      socket.send(JSON.stringify({ id: '1', type: 'complete' }));
      socket.close();
    },
  };
}


function expectNextArgs(actual, expected, label) {
  const diffs = [];
  for (const key of ['logId', 'seqNum', 'backlink', 'skiplink']) {
    if (actual[key] !== expected[key]) {
      diffs.push(`${key}: expected ${JSON.stringify(expected[key])}, got ${JSON.stringify(actual[key])}`);
    }
  }
  if (diffs.length > 0) {
    throw new E2EError(`${label}: inconsistent next args: ${diffs.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------
// Publishing session (one key pair, shirokuma-style flow)

class Session {
  constructor(url, keyPair, freshKey) {
    this.url = url;
    this.keyPair = keyPair;
    this.publicKey = keyPair.publicKey();
    this.freshKey = freshKey;
    // logId (string) -> array of entry hashes, index = seqNum - 1; only logs this run started.
    this.logs = new Map();
    // document id -> logId
    this.documentLogs = new Map();
    this.maxLogId = -1n;
    this.entries = 0;
  }

  async nextArgs(viewId, label) {
    const variables = { publicKey: this.publicKey };
    if (viewId !== undefined) variables.viewId = viewId;
    const data = await graphql(this.url, NEXT_ARGS_QUERY, variables, `${label}: nextArgs`);
    return parseNextArguments(data.nextArgs, `${label}: nextArgs`);
  }

  async publishEntry(entry, operation, label) {
    const data = await graphql(this.url, PUBLISH_MUTATION, { entry, operation }, `${label}: publish`);
    return parseNextArguments(data.publish, `${label}: publish`);
  }

  // What the next entry in `logId` must look like, derived from what we published.
  expectedInLog(logId) {
    const hashes = this.logs.get(logId);
    const seqNum = BigInt(hashes.length) + 1n;
    return {
      logId,
      seqNum: seqNum.toString(),
      backlink: hashes[hashes.length - 1],
      skiplink: skiplinkRequired(seqNum) ? hashes[Number(lipmaa(seqNum)) - 1] : null,
    };
  }

  // One shirokuma-style publish: nextArgs -> encodeOperation -> signAndEncodeEntry -> publish.
  // `documentId` is the document an UPDATE belongs to (to know which log to expect).
  // `fields` may be a function returning the fields: an `OperationFields` instance is
  // consumed (moved into WebAssembly) by `encodeOperation` and cannot be used twice,
  // so retries need a fresh one.
  async publish({ label, schemaId, action = 'create', previous, fields, documentId }) {
    const viewId = previous ? [...previous].sort().join('_') : undefined;
    const args = await this.nextArgs(viewId, label);

    // Check the handed-out arguments against what we know.
    if (action === 'create') {
      if (args.seqNum !== '1' || args.backlink !== null || args.skiplink !== null) {
        throw new E2EError(
          `${label}: nextArgs for a new document must be seqNum "1" without links, got ${JSON.stringify(args)}`,
        );
      }
      const logId = BigInt(args.logId);
      if (this.freshKey && logId !== this.maxLogId + 1n) {
        throw new E2EError(
          `${label}: nextArgs logId for a new document of a fresh key: expected "${this.maxLogId + 1n}", got "${args.logId}"`,
        );
      }
      if (logId <= this.maxLogId) {
        throw new E2EError(
          `${label}: nextArgs logId ${args.logId} for a new document is not above the highest log id used (${this.maxLogId})`,
        );
      }
    } else {
      const logId = this.documentLogs.get(documentId);
      if (logId === undefined) throw new E2EError(`${label}: unknown document ${documentId}`);
      expectNextArgs(args, this.expectedInLog(logId), `${label}: nextArgs(viewId=${viewId})`);
    }

    const operation = encodeOperation({
      action,
      schemaId,
      previous,
      fields: typeof fields === 'function' ? fields() : fields,
    });
    const entry = signAndEncodeEntry(
      {
        logId: args.logId,
        seqNum: args.seqNum,
        backlink: args.backlink ?? undefined,
        skiplink: args.skiplink ?? undefined,
        operation,
      },
      this.keyPair,
    );
    const entryHash = generateHash(entry);

    const response = await this.publishEntry(entry, operation, label);

    // Record, then check the answer: same log, seq + 1, backlink = this entry.
    if (!this.logs.has(args.logId)) this.logs.set(args.logId, []);
    const hashes = this.logs.get(args.logId);
    if (BigInt(args.seqNum) !== BigInt(hashes.length) + 1n) {
      throw new E2EError(`${label}: internal: seq ${args.seqNum} does not follow our log ${args.logId}`);
    }
    hashes.push(entryHash);
    const docId = action === 'create' ? entryHash : documentId;
    this.documentLogs.set(docId, args.logId);
    if (BigInt(args.logId) > this.maxLogId) this.maxLogId = BigInt(args.logId);
    this.entries += 1;

    expectNextArgs(response, this.expectedInLog(args.logId), `${label}: publish response`);
    log(`${label}: log ${args.logId} seq ${args.seqNum} -> ${entryHash}`);
    return entryHash;
  }

  // Retries while the node has not built the schema yet ("Schema not found"), bounded.
  async publishWaitingForSchema(params) {
    const deadline = Date.now() + SCHEMA_WAIT_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.publish(params);
      } catch (err) {
        const notFound =
          err instanceof GraphQLError && err.messages.some((m) => m.includes('Schema not found'));
        if (!notFound) throw err;
        if (Date.now() + SCHEMA_RETRY_SLEEP_MS > deadline) {
          throw new E2EError(
            `${params.label}: schema ${params.schemaId} still not found after ${attempt} attempts (${SCHEMA_WAIT_MS} ms): ${err.message}`,
          );
        }
        log(`${params.label}: schema not found yet (attempt ${attempt}), retrying`);
        await sleep(SCHEMA_RETRY_SLEEP_MS);
      }
    }
  }
}

function noteFields({ title, count }) {
  const fields = new OperationFields();
  if (title !== undefined) fields.insert('title', 'str', title);
  // `int` values go through BigInt: p2panda-js turns them into decimal strings for
  // the WebAssembly side, so Numbers beyond 2^53 would silently lose precision.
  if (count !== undefined) fields.insert('count', 'int', BigInt(count));
  return fields;
}

async function run(url) {
  await initWebAssembly();

  const privateKey = process.env.PRIVATE_KEY;
  if (privateKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(privateKey)) {
    throw new E2EError('PRIVATE_KEY must be 64 hex characters (32-byte Ed25519 seed)');
  }
  const keyPair = privateKey ? new KeyPair(privateKey.toLowerCase()) : new KeyPair();
  const session = new Session(url, keyPair, !privateKey);
  log(`public key ${session.publicKey}, node ${url}`);

  // a) field definitions
  const fieldSpecs = [
    { name: 'title', type: 'str' },
    { name: 'count', type: 'int' },
  ];
  const fieldDefinitions = [];
  for (const spec of fieldSpecs) {
    const id = await session.publish({
      label: `field definition '${spec.name}'`,
      schemaId: 'schema_field_definition_v1',
      fields: { name: spec.name, type: spec.type },
    });
    fieldDefinitions.push({ id, viewId: id, ...spec });
  }

  // b) schema definition; `fields` is a pinned_relation_list: one view id
  //    (array of operation ids) per field definition.
  const definitionFields = new OperationFields();
  definitionFields.insert('name', 'str', 'e2e_note');
  definitionFields.insert('description', 'str', 'hoffnung end-to-end test note (p2panda-js 0.8.1)');
  definitionFields.insert('fields', 'pinned_relation_list', fieldDefinitions.map((f) => [f.viewId]));
  const definitionId = await session.publish({
    label: 'schema definition',
    schemaId: 'schema_definition_v1',
    fields: definitionFields,
  });
  const schemaId = `e2e_note_${definitionId}`;

  // c) application documents, once the node knows the schema
  const firstFields = { title: 'first note', count: 1 };
  const firstId = await session.publishWaitingForSchema({
    label: 'document 1 create',
    schemaId,
    fields: () => noteFields(firstFields),
  });
  const updateId = await session.publish({
    label: 'document 1 update',
    schemaId,
    action: 'update',
    previous: [firstId],
    documentId: firstId,
    fields: () => noteFields({ count: 2 }),
  });
  // A subscription (graphql-transport-ws over WebSocket) that must see the
  // next document, and only documents with count >= 40.
  const subscription = await subscribe(
    url,
    `subscription { doc: all_${schemaId}(filter: { count: { gte: 40 } }) { meta { documentId } fields { title count } } }`,
  );
  const secondFields = { title: 'second note', count: 42 };
  const secondId = await session.publish({
    label: 'document 2 create',
    schemaId,
    fields: () => noteFields(secondFields),
  });

  const event = await subscription.next();
  subscription.close();
  if (event?.doc?.meta.documentId !== secondId || event.doc.fields.title !== secondFields.title) {
    throw new E2EError(`subscription: expected document ${secondId}, got ${JSON.stringify(event)}`);
  }

  // d) read them back the way apps do: a collection and a single document,
  // once the node has materialized them (bounded wait).
  const collectionQuery = `{ all: all_${schemaId}(orderBy: count, orderDirection: DESC) {
    totalCount documents { meta { documentId viewId owner } fields { title count } } } }`;
  let collection;
  for (let attempt = 0; ; attempt += 1) {
    collection = (await graphql(url, collectionQuery, {}, 'all_ query')).all;
    if (collection.totalCount === 2 && collection.documents[1]?.meta.viewId === updateId) break;
    if (attempt >= 100) {
      throw new E2EError(`all_ query: documents not materialized after 5 s: ${JSON.stringify(collection)}`);
    }
    await sleep(50);
  }
  const expectedDocs = [
    { id: secondId, viewId: secondId, ...secondFields },
    { id: firstId, viewId: updateId, title: firstFields.title, count: 2 },
  ];
  expectedDocs.forEach((want, i) => {
    const got = collection.documents[i];
    if (
      got.meta.documentId !== want.id ||
      got.meta.viewId !== want.viewId ||
      got.meta.owner !== session.publicKey ||
      got.fields.title !== want.title ||
      got.fields.count !== want.count
    ) {
      throw new E2EError(`all_ query: document ${i} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  });
  const single = (
    await graphql(url, `{ doc: ${schemaId}(id: "${firstId}") { meta { viewId } fields { title count } } }`, {}, 'single query')
  ).doc;
  if (single?.meta.viewId !== updateId || single.fields.count !== 2 || single.fields.title !== firstFields.title) {
    throw new E2EError(`single query: ${JSON.stringify(single)}`);
  }

  const result = {
    queried: { collection: collection.documents.length, single: true, subscription: true },
    publicKey: session.publicKey,
    schemaId,
    documents: [
      { id: firstId, viewId: updateId, fields: { ...firstFields, count: 2 } },
      { id: secondId, viewId: secondId, fields: secondFields },
    ],
    entries: session.entries,
    schemaDefinition: { id: definitionId, viewId: definitionId },
    fieldDefinitions,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------
// Throughput with the real client, comparable to upstream's published figure:
// `clients` fresh key pairs each publish `count` documents (field definitions,
// a system schema every node knows) the shirokuma way, concurrently.

async function bench(url, count, clients) {
  await initWebAssembly();
  const sessions = Array.from({ length: clients }, () => new Session(url, new KeyPair(), true));
  const start = process.hrtime.bigint();
  await Promise.all(
    sessions.map(async (session, c) => {
      for (let i = 0; i < count; i += 1) {
        await session.publish({
          label: `bench ${c}/${i}`,
          schemaId: 'schema_field_definition_v1',
          fields: () => {
            const fields = new OperationFields();
            fields.insert('name', 'str', `field_${c}_${i}`);
            fields.insert('type', 'str', 'str');
            return fields;
          },
        });
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const entries = count * clients;
  console.log(
    JSON.stringify({ clients, entries, seconds: Number(seconds.toFixed(3)), entriesPerSecond: Math.round(entries / seconds) }),
  );
}

function usage() {
  console.error('usage: node publish.mjs <graphql-url>   (e.g. http://127.0.0.1:2020/graphql)');
  console.error('       node publish.mjs --self-check');
  console.error('       node publish.mjs --bench <entries per client> <clients> <graphql-url>');
}

async function main(argv) {
  if (argv[0] === '--bench' && argv.length === 4) {
    const [count, clients] = [Number(argv[1]), Number(argv[2])];
    if (!Number.isInteger(count) || count < 1 || !Number.isInteger(clients) || clients < 1) {
      usage();
      process.exitCode = 2;
      return;
    }
    await bench(argv[3], count, clients);
    return;
  }
  if (argv.length !== 1 || argv[0] === '--help' || argv[0] === '-h') {
    usage();
    process.exitCode = 2;
    return;
  }
  if (argv[0] === '--self-check') {
    await selfCheck();
    return;
  }
  let url;
  try {
    url = new URL(argv[0]);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    console.error(`publish.mjs: not an http(s) URL: ${argv[0]}`);
    usage();
    process.exitCode = 2;
    return;
  }
  await run(url.toString());
}

main(process.argv.slice(2)).catch((err) => {
  const message = err instanceof E2EError ? err.message : err && err.stack ? err.stack : String(err);
  console.error(`publish.mjs: error: ${message}`);
  process.exitCode = 1;
});
