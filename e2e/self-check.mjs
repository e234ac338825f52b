// Offline self-check of p2panda-js against the test vectors: keys, entry and
// operation encodings, hashes and the lipmaa function agree, so that a failing
// end-to-end test points at the node and not at the client.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  KeyPair,
  OperationFields,
  encodeOperation,
  signAndEncodeEntry,
  generateHash,
  initWebAssembly,
} from 'p2panda-js';

import { lipmaa, skiplinkRequired } from './client.mjs';

const VECTORS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'vectors');

function log(...args) {
  if (process.env.E2E_VERBOSE === '1') console.error('e2e:', ...args);
}

function readVector(name) {
  return JSON.parse(fs.readFileSync(path.join(VECTORS_DIR, name), 'utf8'));
}

export async function selfCheck() {
  await initWebAssembly();

  const keys = readVector('keys.json');
  const sequence = readVector('publish_sequence.json');
  const operations = readVector('operations.json');
  const hashes = readVector('hashes.json');

  let passed = 0;
  let failed = 0;
  const check = (name, actual, expected) => {
    if (actual === expected) {
      passed += 1;
      log(`ok   ${name}`);
    } else {
      failed += 1;
      console.error(`FAIL ${name}\n  expected ${expected}\n  actual   ${actual}`);
    }
  };

  const keyPairs = new Map();
  for (const k of keys.key_pairs) {
    const kp = new KeyPair(k.private_key);
    check(`key ${k.name}: public key`, kp.publicKey(), k.public_key);
    keyPairs.set(k.name, kp);
  }

  const byName = (name) => {
    const e = sequence.entries.find((x) => x.name === name);
    if (!e) throw new E2EError(`self-check: vector entry '${name}' missing`);
    return e;
  };

  // Sign one vector entry the way `Session.publish` does (nextArgs strings, null links).
  const signVector = (name, operationArgs, links = {}) => {
    const v = byName(name);
    const operation = encodeOperation(operationArgs);
    check(`${name}: operation_hex`, operation, v.operation_hex);
    const entry = signAndEncodeEntry(
      {
        logId: v.log_id,
        seqNum: v.seq_num,
        backlink: links.backlink ?? undefined,
        skiplink: links.skiplink ?? undefined,
        operation,
      },
      keyPairs.get(v.key),
    );
    check(`${name}: entry_hex`, entry, v.entry_hex);
    check(`${name}: entry_hash`, generateHash(entry), v.entry_hash);
  };

  // The first entry of the sequence (required check): CREATE of a field definition.
  signVector('note.field.title', {
    schemaId: 'schema_field_definition_v1',
    fields: { name: 'title', type: 'str' },
  });

  // Schema definition: pinned_relation_list given as [[operation id], ...].
  {
    const fields = new OperationFields();
    fields.insert('name', 'str', 'note');
    fields.insert('description', 'str', 'A short note');
    fields.insert('fields', 'pinned_relation_list', [[byName('note.field.title').operation_id]]);
    signVector('note.schema_definition', { schemaId: 'schema_definition_v1', fields });
  }

  // UPDATE with previous + backlink (seq 2).
  {
    const create = byName('note1.create');
    signVector(
      'note1.update.A',
      {
        action: 'update',
        schemaId: create.schema_id,
        previous: create.operation_id, // view id string, as from GraphQL
        fields: { title: 'Note one (A)' },
      },
      { backlink: create.entry_hash },
    );
  }

  // UPDATE at seq 4 of a log: skiplink (to seq 1) and backlink (seq 3).
  {
    const seq1 = byName('long.1');
    const seq3 = byName('long.3');
    signVector(
      'long.4',
      {
        action: 'update',
        schemaId: seq1.schema_id,
        previous: [seq3.operation_id],
        fields: { title: 'revision 4' },
      },
      { backlink: seq3.entry_hash, skiplink: seq1.entry_hash },
    );
  }

  // int values, including i64::MIN / i64::MAX, through BigInt.
  for (const v of operations.value_encodings.filter((x) => x.field === 'int')) {
    const fields = new OperationFields();
    fields.insert('int', 'int', BigInt(v.value.value));
    const op = encodeOperation({
      action: 'update',
      schemaId: v.operation.schema_id,
      previous: v.operation.previous,
      fields,
    });
    check(`operations.json '${v.label}'`, op, v.operation_cbor_hex);
  }

  // Hashes and the lipmaa function used for skiplink consistency checks.
  for (const h of hashes.hashes) {
    if (h.input_hex === '') continue; // p2panda-js rejects empty hex input
    check(`hashes.json '${h.label}'`, generateHash(h.input_hex), h.hash);
  }
  for (const l of hashes.lipmaa) {
    const actual = `${lipmaa(l.seq_num)}/${skiplinkRequired(l.seq_num)}`;
    check(`lipmaa(${l.seq_num})`, actual, `${l.lipmaa}/${l.skiplink_required}`);
  }

  console.log(`self-check: ${passed} passed, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
}
