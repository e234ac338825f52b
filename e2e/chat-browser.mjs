#!/usr/bin/env node
// The chat app (apps/chat, served by the node at /apps/chat/) in a real
// Chromium, two people on two nodes that replicate with each other:
//
//   node chat-browser.mjs --a <node A url> --b <node B url> --shots <dir> [--chromium <path>]
//
// Alice writes on node A, Bob reads and answers on node B; the chat schema
// is made by Alice's first message. Checked: a message written in one
// browser appears in the other; markup in a message stays text; channels and
// their unread counts; older messages paged backwards; a publish the node
// refuses (its entry altered on the way) is shown, its text kept, and sent
// again. Every wait is bounded; exit 0 on success, 1 with the reason.

import fs from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
for (const required of ['a', 'b', 'shots']) {
  if (!args[required]) {
    console.error('usage: node chat-browser.mjs --a <url> --b <url> --shots <dir> [--chromium <path>]');
    process.exit(2);
  }
}
const executablePath = args.chromium ?? process.env.HOFFNUNG_CHROMIUM ?? '/usr/bin/chromium';
/** Replication between the nodes: a gossip message, else the next sync session. */
const REPLICATED = 60_000;
const LOCAL = 30_000;
const step = (text) => console.log(`- ${text}`);

async function open(browser, url, name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`${name}: console: ${m.text()}`));
  await page.goto(`${url}/apps/chat/`);
  await page.locator('#name').fill(name);
  await page.locator('#name-form button').click();
  await page.locator('#chat').waitFor({ state: 'visible', timeout: LOCAL });
  return { context, page, problems };
}

async function write(page, text) {
  await page.locator('#text').fill(text);
  await page.locator('#send').click();
  // Sent: the box is emptied only once the node took the message.
  await page.waitForFunction(() => document.getElementById('text').value === '', null, { timeout: LOCAL });
}

/** Waits until a message with exactly `text` is shown. */
async function shown(page, text, timeout) {
  await page.waitForFunction(
    (wanted) => [...document.querySelectorAll('#messages .text')].some((p) => p.textContent === wanted),
    text,
    { timeout },
  );
}

const texts = (page) => page.$$eval('#messages .text', (ps) => ps.map((p) => p.textContent));

/** What each page shows, for a failure's message. */
async function describe(people) {
  const lines = [];
  for (const [name, person] of Object.entries(people)) {
    if (!person) continue;
    const seen = await person.page
      .evaluate(() => ({
        status: document.getElementById('status').textContent,
        problem: document.getElementById('problem').textContent,
        messages: document.querySelectorAll('#messages .text').length,
      }))
      .catch((e) => ({ error: e.message }));
    lines.push(`${name}: ${JSON.stringify(seen)}${person.problems.length ? ` errors: ${person.problems.join('; ')}` : ''}`);
  }
  return lines.join('\n');
}

async function run() {
  fs.mkdirSync(args.shots, { recursive: true });
  const browser = await chromium.launch({ executablePath, headless: true });
  const people = {};
  try {
    await conversation(browser, people);
  } catch (error) {
    error.message += `\n${await describe(people)}`;
    throw error;
  } finally {
    await browser.close();
  }
}

async function conversation(browser, people) {
  const alice = await open(browser, args.a, 'Alice');
  people.alice = alice;
  const bob = await open(browser, args.b, 'Bob');
  people.bob = bob;
  const keyA = await alice.page.evaluate(() => localStorage.getItem('hoffnung-chat/private-key'));
  const keyB = await bob.page.evaluate(() => localStorage.getItem('hoffnung-chat/private-key'));
  if (!/^[0-9a-f]{64}$/.test(keyA) || keyA === keyB) throw new Error('each browser must hold its own key');
  step('two browsers, two nodes, two keys kept in the browsers');

  await write(alice.page, 'Hello from Alice on node A');
  await shown(alice.page, 'Hello from Alice on node A', LOCAL);
  step('Alice wrote the first message (the app published the chat schema first)');
  await shown(bob.page, 'Hello from Alice on node A', REPLICATED);
  step('it appeared in Bob\'s browser on node B');

  const markup = '<b>bold?</b> <img src=x onerror="document.title=\'owned\'"> & <script>alert(1)</script>';
  await write(bob.page, markup);
  await shown(alice.page, markup, REPLICATED);
  const injected = await alice.page.$$eval('#messages b, #messages img, #messages script', (n) => n.length);
  if (injected !== 0 || (await alice.page.title()) === 'owned') {
    throw new Error('markup in a message became elements');
  }
  step('Bob\'s answer with markup arrived live in Alice\'s browser, as text');

  // Channels: Bob opens #random; Alice sees it in her list with an unread count.
  await bob.page.locator('#new-channel').fill('random');
  await bob.page.locator('#channel-form button').click();
  await write(bob.page, 'Anyone here in random?');
  await alice.page
    .locator('#channels li', { hasText: '#random' })
    .locator('.unread')
    .waitFor({ timeout: REPLICATED });
  await alice.page.locator('button[data-channel="random"]').click();
  await shown(alice.page, 'Anyone here in random?', LOCAL);
  const general = await texts(alice.page);
  if (general.includes('Hello from Alice on node A')) throw new Error('#random shows #general\'s messages');
  await alice.page.locator('button[data-channel="general"]').click();
  await shown(alice.page, 'Hello from Alice on node A', LOCAL);
  await alice.page.screenshot({ path: path.join(args.shots, 'chat.png') });
  step('a new channel showed up with its unread count, and channels keep their own messages');

  // History: 70 more messages, then Bob reads them from the newest page backwards.
  const COUNT = 70;
  for (let i = 1; i <= COUNT; i += 1) await write(alice.page, `numbered message ${i}`);
  await bob.page.locator('button[data-channel="general"]').click();
  await shown(bob.page, `numbered message ${COUNT}`, REPLICATED);
  await bob.page.reload();
  await shown(bob.page, `numbered message ${COUNT}`, LOCAL);
  const first = await texts(bob.page);
  if (first.length !== 30 || first.includes('Hello from Alice on node A')) {
    throw new Error(`the first page should hold the newest 30 messages, held ${first.length}`);
  }
  let pages = 1;
  while (await bob.page.locator('#older').isVisible()) {
    const before = (await texts(bob.page)).length;
    await bob.page.locator('#older').click();
    await bob.page.waitForFunction(
      (n) => document.querySelectorAll('#messages .text').length > n,
      before,
      { timeout: LOCAL },
    );
    pages += 1;
    if (pages > 10) throw new Error('paging did not end');
  }
  const all = await texts(bob.page);
  const wanted = [
    'Hello from Alice on node A',
    markup,
    ...Array.from({ length: COUNT }, (_, i) => `numbered message ${i + 1}`),
  ];
  if (JSON.stringify(all) !== JSON.stringify(wanted)) {
    throw new Error(`after paging back: ${all.length} messages, not the ${wanted.length} written, in order`);
  }
  step(`Bob paged back through ${all.length} messages in ${pages} pages, in order, none twice`);

  // A refused publish: the entry is altered on its way to the node.
  await alice.page.route('**/graphql', async (route) => {
    const body = route.request().postDataJSON();
    if (body?.query?.includes('publish(') && body.variables?.entry) {
      const entry = body.variables.entry;
      const last = entry.at(-1) === '0' ? '1' : '0';
      body.variables.entry = entry.slice(0, -1) + last;
      await route.continue({ postData: JSON.stringify(body) });
    } else {
      await route.continue();
    }
  });
  await alice.page.locator('#text').fill('This one is tampered with');
  await alice.page.locator('#send').click();
  await alice.page.locator('#problem').waitFor({ state: 'visible', timeout: LOCAL });
  const problem = await alice.page.locator('#problem').textContent();
  if (!/refused/.test(problem) || !/signature/i.test(problem)) {
    throw new Error(`the refusal shown was: ${problem}`);
  }
  if ((await alice.page.locator('#text').inputValue()) !== 'This one is tampered with') {
    throw new Error('the refused text was not kept');
  }
  await alice.page.screenshot({ path: path.join(args.shots, 'chat-refused.png') });
  step(`the node's refusal was shown ("${problem}"), the text kept`);
  await alice.page.unroute('**/graphql');
  await alice.page.locator('#send').click();
  await alice.page.waitForFunction(() => document.getElementById('problem').hidden, null, { timeout: LOCAL });
  await shown(bob.page, 'This one is tampered with', REPLICATED);
  step('sent again unaltered, it was taken and reached Bob');

  await write(bob.page, 'Got it. See you in #random!');
  await shown(alice.page, 'Got it. See you in #random!', REPLICATED);
  await alice.page.screenshot({ path: path.join(args.shots, 'chat-alice-end.png') });
  await bob.page.screenshot({ path: path.join(args.shots, 'chat-bob-end.png') });
  const problems = [...alice.problems, ...bob.problems];
  if (problems.length) throw new Error(`errors in the pages: ${problems.join('; ')}`);
  console.log(`ok: chat between two browsers on two nodes; screenshots in ${args.shots}`);
}

run().catch((error) => {
  console.error(`chat-browser: ${error.message}`);
  process.exit(1);
});
