#!/usr/bin/env node
// Sign-and-encode throughput of hoffnung's WebAssembly package next to
// p2panda-js 0.8.1 in the same Node.js: each round encodes an operation with
// three fields (`str`, `int`, `relation`), signs and encodes its entry, and
// hashes the entry, as a client does for every publish. The two run in
// alternating rounds of 2,000 publishes; the best round of each is reported.
//
//   node wasm-bench.mjs <pkg dir> [--rounds <n>]

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import * as theirs from 'p2panda-js';

const argv = process.argv.slice(2);
if (argv.length < 1) {
  console.error('usage: node wasm-bench.mjs <pkg dir> [--rounds <n>]');
  process.exit(2);
}
const pkg = path.resolve(argv[0]);
const rounds = argv[1] === '--rounds' ? Number(argv[2]) : 5;
const ours = await import(pathToFileURL(path.join(pkg, 'hoffnung_wasm.js')).href);
ours.initSync({ module: fs.readFileSync(path.join(pkg, 'hoffnung_wasm_bg.wasm')) });

const PER_ROUND = 2000;
const schemaId = `chat_message_${theirs.generateHash('00')}`;
const channel = theirs.generateHash('01');

function round(lib, keyPair) {
  const started = process.hrtime.bigint();
  let backlink;
  for (let i = 1; i <= PER_ROUND; i += 1) {
    const fields = new lib.OperationFields();
    fields.insert('text', 'str', `message number ${i}: ahoy!`);
    fields.insert('created', 'int', BigInt(1733500000 + i));
    fields.insert('channel', 'relation', channel);
    const operation = lib.encodeOperation({ schemaId, fields });
    // Seq num 1 in a new log each time: no links to look up.
    const entry = lib.signAndEncodeEntry({ logId: i, seqNum: 1, operation }, keyPair);
    backlink = lib.generateHash(entry);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (backlink === undefined) throw new Error('nothing signed');
  return PER_ROUND / seconds;
}

const privateKey = 'ab'.repeat(32);
const best = { hoffnung: 0, p2panda: 0 };
for (let r = 0; r < rounds; r += 1) {
  best.hoffnung = Math.max(best.hoffnung, round(ours, new ours.KeyPair(privateKey)));
  best.p2panda = Math.max(best.p2panda, round(theirs, new theirs.KeyPair(privateKey)));
}
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
