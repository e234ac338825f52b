#!/usr/bin/env node
// Sign-and-encode throughput of hoffnung's WebAssembly package next to
// p2panda-js 0.8.1 in Chromium: the rounds of sign-rounds.mjs (as
// wasm-bench.mjs runs them in Node.js) on a page served from loopback,
// p2panda-js from its browser build (lib/esm, its wasm inlined).
//
//   node wasm-bench-browser.mjs <pkg dir> [--rounds <n>] [--chromium <path>]

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const argv = process.argv.slice(2);
if (argv.length < 1) {
  console.error('usage: node wasm-bench-browser.mjs <pkg dir> [--rounds <n>] [--chromium <path>]');
  process.exit(2);
}
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i > 0 ? argv[i + 1] : fallback;
};
const pkg = path.resolve(argv[0]);
const rounds = Number(option('--rounds', '5'));
const executablePath = option('--chromium', process.env.HOFFNUNG_CHROMIUM ?? '/usr/bin/chromium');
const here = path.dirname(fileURLToPath(import.meta.url));

const page = `<!doctype html><meta charset="utf-8"><title>sign+encode</title>
<script type="module">
  import init, * as ours from '/ours/hoffnung_wasm.js';
  import * as theirs from '/theirs.js';
  import { compare } from '/sign-rounds.mjs';
  await init();
  await theirs.initWebAssembly();
  window.result = compare(ours, theirs, ${rounds});
</script>`;
const files = {
  '/ours/hoffnung_wasm.js': path.join(pkg, 'hoffnung_wasm.js'),
  '/ours/hoffnung_wasm_bg.wasm': path.join(pkg, 'hoffnung_wasm_bg.wasm'),
  '/theirs.js': path.join(here, 'node_modules/p2panda-js/lib/esm/index.min.js'),
  '/sign-rounds.mjs': path.join(here, 'sign-rounds.mjs'),
};
const server = http.createServer((request, response) => {
  if (request.url === '/') {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page);
    return;
  }
  const file = files[request.url];
  if (!file) {
    response.writeHead(404).end();
    return;
  }
  const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
  response.writeHead(200, { 'Content-Type': type }).end(fs.readFileSync(file));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const browser = await chromium.launch({ executablePath, headless: true });
try {
  const tab = await browser.newPage();
  tab.on('pageerror', (e) => console.error(`page: ${e.message}`));
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  const best = await (await tab.waitForFunction(() => window.result, null, { timeout: 600_000 })).jsonValue();
  console.log(
    `sign+encode per second (best of ${rounds} rounds of 2000, Chromium ${browser.version()}): ` +
      `hoffnung-wasm ${best.hoffnung.toFixed(0)}, p2panda-js ${best.p2panda.toFixed(0)} ` +
      `(${(best.hoffnung / best.p2panda).toFixed(2)}x)`,
  );
} finally {
  await browser.close();
  server.close();
}
