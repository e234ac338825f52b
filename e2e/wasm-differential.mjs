#!/usr/bin/env node
// Differential test of hoffnung's WebAssembly package against the real
// p2panda-js 0.8.1: for seeded random key pairs, operations (every field type,
// relations, lists, large values, all three actions) and entries (random log
// ids and seq nums, with and without links), both must produce the same bytes
// and hashes, each must decode the other's output to the same thing, and both
// must refuse the same malformed inputs.
//
//   node wasm-differential.mjs <pkg dir> [--cases <n>] [--seed <n>]
//
// Output: one summary line on success. Exit codes: 0 ok, 1 a difference
// (each printed with its case number and seed), 2 usage error.

import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { pathToFileURL } from 'node:url';

import * as theirs from 'p2panda-js';

function usage() {
  console.error('usage: node wasm-differential.mjs <pkg dir> [--cases <n>] [--seed <n>]');
  process.exit(2);
}

const argv = process.argv.slice(2);
if (argv.length < 1) usage();
const pkg = path.resolve(argv[0]);
let cases = 1000;
let seed = 20261207;
for (let i = 1; i < argv.length; i += 2) {
  if (argv[i] === '--cases') cases = Number(argv[i + 1]);
  else if (argv[i] === '--seed') seed = Number(argv[i + 1]);
  else usage();
}

const ours = await import(pathToFileURL(path.join(pkg, 'hoffnung_wasm.js')).href);
ours.initSync({ module: fs.readFileSync(path.join(pkg, 'hoffnung_wasm_bg.wasm')) });

// mulberry32: small, seeded, good enough to pick cases.
function generator(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(seed);
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = (list) => list[int(0, list.length - 1)];
const bytes = (n) => Uint8Array.from({ length: n }, () => int(0, 255));
const hex = (b) => Buffer.from(b).toString('hex');
const hash = () => theirs.generateHash(hex(bytes(int(1, 40))));

function text() {
  const alphabets = ['abcxyz ', 'äöüß€', '🐼🌱✨', '\u0000\u001f"\\<>&', '日本語テキスト'];
  const n = pick([0, 1, 5, 40, 300, 5000]);
  let s = '';
  for (let i = 0; i < n; i += 1) s += pick([...pick(alphabets)]);
  return s;
}

function bigint64() {
  return pick([
    0n,
    1n,
    -1n,
    23n,
    24n,
    255n,
    256n,
    65535n,
    65536n,
    4294967295n,
    4294967296n,
    9223372036854775807n,
    -9223372036854775808n,
    BigInt(int(-1e9, 1e9)) * BigInt(int(0, 1e9)),
  ]);
}

function float() {
  return pick([0, -0, 0.5, 1.5, 2, -2, 65504, 65505, 1e-8, 3.4028234663852886e38, 1e300, Math.PI, random() * 1e6, -random()]);
}

// A random value for a field type, as p2panda-js's `insert` takes it.
function value(type) {
  switch (type) {
    case 'str':
      return text();
    case 'int':
      return bigint64();
    case 'float':
      return float();
    case 'bool':
      return random() < 0.5;
    case 'bytes':
      return bytes(pick([0, 1, 33, 34, 300, 100_000]));
    case 'relation':
      return hash();
    case 'relation_list':
      return Array.from({ length: int(0, 4) }, hash);
    case 'pinned_relation':
      return Array.from({ length: int(1, 3) }, hash);
    case 'pinned_relation_list':
      return Array.from({ length: int(0, 3) }, () => Array.from({ length: int(1, 3) }, hash));
    default:
      throw new Error(type);
  }
}

const TYPES = ['str', 'int', 'float', 'bool', 'bytes', 'relation', 'relation_list', 'pinned_relation', 'pinned_relation_list'];

function fieldsSpec() {
  const n = int(1, 8);
  const spec = [];
  const names = new Set();
  while (spec.length < n) {
    const name = pick(['a', 'b', 'title', 'z_9', 'message', 'created_at', 'x'.repeat(int(1, 60))]) + (random() < 0.5 ? '' : String(int(0, 99)));
    if (names.has(name)) continue;
    names.add(name);
    const type = pick(TYPES);
    spec.push([name, type, value(type)]);
  }
  return spec;
}

function schemaId() {
  return pick([
    `venues_${hash()}`,
    `chat_message_${hash()}`,
    `x_${hash()}_${hash()}`,
    'schema_definition_v1',
    'schema_field_definition_v1',
    'blob_piece_v1',
  ]);
}

// The outcome of `f`: its value, or that it threw.
function attempt(f) {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    return { ok: false, error: String(err && err.message ? err.message : err) };
  }
}

const problems = [];
const counts = { keys: 0, operations: 0, entries: 0, refusedByBoth: 0, crossDecoded: 0 };
function differ(n, what, detail) {
  if (problems.length < 20) problems.push(`case ${n} (seed ${seed}): ${what}: ${detail}`);
}

function show(v) {
  return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `bytes:${hex(x)}` : x instanceof Map ? Object.fromEntries(x) : x));
}

// Plain objects of both decoders, compared without keys set to `undefined`.
function normal(v) {
  return JSON.parse(show(v));
}

for (let n = 0; n < cases; n += 1) {
  // Keys and signatures.
  const privateKey = hex(bytes(32));
  const theirKey = new theirs.KeyPair(privateKey);
  const ourKey = new ours.KeyPair(privateKey);
  if (theirKey.publicKey() !== ourKey.publicKey()) differ(n, 'public key', `${theirKey.publicKey()} vs ${ourKey.publicKey()}`);
  const message = hex(bytes(int(1, 200)));
  const signature = ourKey.sign(message);
  if (signature !== theirKey.sign(message)) differ(n, 'signature', message);
  if (!theirs.verifySignature(ourKey.publicKey(), message, signature)) differ(n, 'p2panda-js refuses our signature', message);
  if (!ours.verifySignature(theirKey.publicKey(), message, theirKey.sign(message))) differ(n, 'we refuse their signature', message);
  counts.keys += 1;

  // Operations.
  const action = pick(['create', 'update', 'delete']);
  const args = { action, schemaId: schemaId() };
  let spec = [];
  // As the node gives view ids: sorted (hoffnung also sorts unsorted ones, see below).
  if (action !== 'create') args.previous = random() < 0.3 ? hash() : Array.from({ length: int(1, 3) }, hash).sort();
  const theirFields = new theirs.OperationFields();
  const ourFields = new ours.OperationFields();
  if (action !== 'delete') {
    spec = fieldsSpec();
    for (const [name, type, v] of spec) {
      const a = attempt(() => theirFields.insert(name, type, v));
      const b = attempt(() => ourFields.insert(name, type, v));
      if (a.ok !== b.ok) differ(n, `insert ${type}`, `${show(v)}: p2panda-js ${show(a)}, hoffnung ${show(b)}`);
    }
  }
  // Fields read back alike.
  const theirGot = new Map(spec.map(([name]) => [name, attempt(() => theirFields.get(name)).value]));
  const theirOp = attempt(() => theirs.encodeOperation(action === 'delete' ? args : { ...args, fields: theirFields }));
  const ourOp = attempt(() => ours.encodeOperation(action === 'delete' ? args : { ...args, fields: ourFields }));
  if (theirOp.ok !== ourOp.ok) {
    differ(n, 'encodeOperation accepted by one only', `${show(args)} ${show(spec)}: p2panda-js ${show(theirOp)}, hoffnung ${show(ourOp)}`);
    continue;
  }
  if (!theirOp.ok) {
    counts.refusedByBoth += 1;
    if (process.env.SHOW_REFUSED) console.error(`${theirOp.error} | ${ourOp.error}`);
    continue;
  }
  if (theirOp.value !== ourOp.value) {
    differ(n, 'operation bytes', `${show(args)} ${show(spec)}:\n  p2panda-js ${theirOp.value}\n  hoffnung   ${ourOp.value}`);
    continue;
  }
  // Ours survive being passed to encodeOperation (p2panda-js's are consumed).
  for (const [name] of spec) {
    if (!isDeepStrictEqual(normal(theirGot.get(name)), normal(ourFields.get(name)))) {
      differ(n, `get ${name}`, `${show(theirGot.get(name))} vs ${show(ourFields.get(name))}`);
    }
  }
  counts.operations += 1;
  const decodedByThem = attempt(() => theirs.decodeOperation(ourOp.value));
  const decodedByUs = attempt(() => ours.decodeOperation(theirOp.value));
  if (!decodedByThem.ok || !decodedByUs.ok || !isDeepStrictEqual(normal(decodedByThem.value), normal(decodedByUs.value))) {
    differ(n, 'decodeOperation', `p2panda-js ${show(decodedByThem)}\n  hoffnung ${show(decodedByUs)}`);
  } else {
    counts.crossDecoded += 1;
  }

  // Entries: a random position; p2panda-js says which links it needs.
  const seqNum = pick([1n, 2n, 3n, 4n, 5n, 13n, 14n, 40n, 121n, BigInt(int(1, 1e9)), 9007199254740993n]);
  const logId = pick([0n, 1n, BigInt(int(0, 1e6)), 18446744073709551615n]);
  const entryArgs = { logId, seqNum, operation: theirOp.value };
  if (seqNum > 1n) entryArgs.backlink = hash();
  // p2panda-js refuses a missing skiplink, but encodes one that is not
  // needed into an entry nobody can decode: try without first.
  let theirEntry = attempt(() => theirs.signAndEncodeEntry(entryArgs, theirKey));
  if (!theirEntry.ok && seqNum > 1n) {
    entryArgs.skiplink = hash();
    theirEntry = attempt(() => theirs.signAndEncodeEntry(entryArgs, theirKey));
  }
  const ourEntry = attempt(() => ours.signAndEncodeEntry(entryArgs, ourKey));
  if (theirEntry.ok !== ourEntry.ok || (theirEntry.ok && theirEntry.value !== ourEntry.value)) {
    differ(n, 'entry', `${show(entryArgs)}: p2panda-js ${show(theirEntry)}, hoffnung ${show(ourEntry)}`);
    continue;
  }
  if (!theirEntry.ok) {
    counts.refusedByBoth += 1;
    continue;
  }
  if (theirs.generateHash(ourEntry.value) !== ours.generateHash(theirEntry.value)) differ(n, 'entry hash', ourEntry.value);
  const a = attempt(() => theirs.decodeEntry(ourEntry.value));
  const b = attempt(() => ours.decodeEntry(theirEntry.value));
  if (!a.ok || !b.ok || !isDeepStrictEqual(normal(a.value), normal(b.value))) {
    differ(n, 'decodeEntry', `p2panda-js ${show(a)}\n  hoffnung ${show(b)}`);
  }
  // A flipped bit anywhere makes both refuse the entry (or read other fields).
  const flipped = Buffer.from(ourEntry.value, 'hex');
  flipped[int(0, flipped.length - 1)] ^= 1 << int(0, 7);
  const c = attempt(() => theirs.decodeEntry(flipped.toString('hex')));
  const d = attempt(() => ours.decodeEntry(flipped.toString('hex')));
  if (c.ok !== d.ok || (c.ok && !isDeepStrictEqual(normal(c.value), normal(d.value)))) {
    differ(n, 'decodeEntry of a flipped bit', `p2panda-js ${show(c)}, hoffnung ${show(d)}`);
  }
  counts.entries += 1;
}

// Malformed inputs: both refuse, ours with a message naming the argument.
const malformed = [
  ['decodeOperation', () => ours.decodeOperation('00'), () => theirs.decodeOperation('00')],
  ['decodeOperation', () => ours.decodeOperation('zz'), () => theirs.decodeOperation('zz')],
  ['decodeEntry', () => ours.decodeEntry('00'), () => theirs.decodeEntry('00')],
  ['KeyPair', () => new ours.KeyPair('abc'), null],
  ['insert', () => new ours.OperationFields().insert('r', 'relation', 'nothex'), () => new theirs.OperationFields().insert('r', 'relation', 'nothex')],
  ['insert', () => new ours.OperationFields().insert('i', 'int', 1.5), null],
  ['insert', () => new ours.OperationFields().insert('t', 'datetime', 'x'), () => new theirs.OperationFields().insert('t', 'datetime', 'x')],
  ['encodeOperation', () => ours.encodeOperation({ schemaId: 'nope', fields: { a: 1 } }), () => theirs.encodeOperation({ schemaId: 'nope', fields: { a: 1 } })],
  ['encodeOperation', () => ours.encodeOperation({ action: 'update', schemaId: 'blob_piece_v1', fields: { a: 1 } }), () => theirs.encodeOperation({ action: 'update', schemaId: 'blob_piece_v1', fields: { a: 1 } })],
  ['signAndEncodeEntry', () => ours.signAndEncodeEntry({ seqNum: 0, operation: '00' }, new ours.KeyPair()), () => theirs.signAndEncodeEntry({ seqNum: 0, operation: '00' }, new theirs.KeyPair())],
  ['signAndEncodeEntry', () => ours.signAndEncodeEntry({ seqNum: 2, operation: '00' }, new ours.KeyPair()), () => theirs.signAndEncodeEntry({ seqNum: 2, operation: '00' }, new theirs.KeyPair())],
];
for (const [name, ourCall, theirCall] of malformed) {
  const a = attempt(ourCall);
  if (a.ok) problems.push(`${name}: hoffnung accepted a malformed input (${ourCall})`);
  if (theirCall && attempt(theirCall).ok) problems.push(`${name}: p2panda-js accepts ${theirCall}; the case is not malformed`);
}
// Where hoffnung deliberately differs (wasm/README.md): an unneeded skiplink
// is refused, where p2panda-js encodes it into an entry that neither decodes.
{
  const key = new theirs.KeyPair('ab'.repeat(32));
  const args = { logId: 0, seqNum: 5, backlink: hash(), skiplink: hash(), operation: theirs.encodeOperation({ schemaId: 'blob_piece_v1', fields: { data: 'x' } }) };
  const broken = theirs.signAndEncodeEntry(args, key);
  if (attempt(() => theirs.decodeEntry(broken)).ok || attempt(() => ours.decodeEntry(broken)).ok) problems.push('an entry with an unneeded skiplink decodes');
  const refused = attempt(() => ours.signAndEncodeEntry(args, new ours.KeyPair('ab'.repeat(32))));
  if (refused.ok || !/must not have a skiplink/.test(refused.error)) problems.push(`unneeded skiplink: ${show(refused)}`);
}
// Unsorted previous ids are sorted, where p2panda-js refuses them.
{
  const ids = [hash(), hash()].sort();
  const sorted = theirs.encodeOperation({ action: 'delete', schemaId: 'blob_piece_v1', previous: ids });
  const mine = attempt(() => ours.encodeOperation({ action: 'delete', schemaId: 'blob_piece_v1', previous: [ids[1], ids[0]] }));
  if (!mine.ok || mine.value !== sorted) problems.push(`unsorted previous: ${show(mine)}`);
}
// A duplicate field is refused with a clear message (p2panda-js: "null pointer passed to rust").
const dup = new ours.OperationFields();
dup.insert('a', 'str', 'x');
const again = attempt(() => dup.insert('a', 'str', 'y'));
if (again.ok || !/already set/.test(again.error)) problems.push(`duplicate field: ${show(again)}`);

if (problems.length > 0) {
  for (const p of problems) console.log(p);
  console.log(`FAILED: ${problems.length} differences (at most 20 shown)`);
  process.exit(1);
}
console.log(
  `ok: ${cases} cases (seed ${seed}): ${counts.keys} key pairs, ${counts.operations} operations and ${counts.entries} entries ` +
    `byte for byte equal and decoded across; ${counts.refusedByBoth} inputs refused by both; ${malformed.length + 1} malformed inputs refused`,
);
