#!/usr/bin/env node
// Sign-and-encode throughput of hoffnung's WebAssembly package next to
// p2panda-js 0.8.1 in the same Node.js: each round encodes an operation with
// three fields (`str`, `int`, `relation`), signs and encodes its entry, and
// hashes the entry, as a client does for every publish (sign-rounds.mjs). The
// two run in alternating rounds of 2,000 publishes; the best round of each is
// reported. wasm-bench-browser.mjs runs the same rounds in Chromium.
//
//   node wasm-bench.mjs <pkg dir> [--rounds <n>]

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import * as theirs from 'p2panda-js';

import { PER_ROUND, compare } from './sign-rounds.mjs';

const argv = process.argv.slice(2);
if (argv.length < 1) {
  console.error('usage: node wasm-bench.mjs <pkg dir> [--rounds <n>]');
  process.exit(2);
}
const pkg = path.resolve(argv[0]);
const rounds = argv[1] === '--rounds' ? Number(argv[2]) : 5;
const ours = await import(pathToFileURL(path.join(pkg, 'hoffnung_wasm.js')).href);
ours.initSync({ module: fs.readFileSync(path.join(pkg, 'hoffnung_wasm_bg.wasm')) });

const best = compare(ours, theirs, rounds);
const size = (file) => fs.statSync(file).size;
console.log(
  `sign+encode per second (best of ${rounds} rounds of ${PER_ROUND}, Node.js ${process.version}): ` +
    `hoffnung-wasm ${best.hoffnung.toFixed(0)}, p2panda-js ${best.p2panda.toFixed(0)} ` +
    `(${(best.hoffnung / best.p2panda).toFixed(2)}x)`,
);
const ourWasm = path.join(pkg, 'hoffnung_wasm_bg.wasm');
const theirWasm = path.join(path.dirname(new URL(import.meta.resolve('p2panda-js')).pathname), '..', 'p2panda.wasm');
if (fs.existsSync(theirWasm)) {
  console.log(`wasm bytes: hoffnung-wasm ${size(ourWasm)}, p2panda-js ${size(theirWasm)}`);
}
