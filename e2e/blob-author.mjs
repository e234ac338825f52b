#!/usr/bin/env node
// A long-running blob author for `hoffnung-loadgen kills`: publishes files of
// random bytes as blobs with the real shirokuma 0.1.3 (`Session.createBlob`,
// pieces of 256,000 bytes over p2panda-js 0.8.1), one after the other, until
// asked to stop.
//
//   node blob-author.mjs <graphql-url> <journal> <folder> --stop-file <path>
//
// Environment:
//   PRIVATE_KEY   hex Ed25519 private key (32-byte seed) of a key no one else uses (required)
//
// Each blob's bytes are written to <folder>/blob-<n>.bin first. The node may be
// killed at any moment: a blob whose `createBlob` fails is given up (its pieces
// may stay on the node, unused) and the next one starts with fresh `nextArgs`.
// A blob counts as acknowledged once `createBlob` returned its document id.
//
// The journal (JSON, replaced atomically after every blob and at the end) holds
// the acknowledged blobs (document id, file, length) and the errors seen by kind.
// `done` is true once the author stopped cleanly after a stop request.
//
// Exit codes: 0 stopped as asked, 1 failure (message on stderr, journal with
// `error`), 2 usage error.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { KeyPair, Session } from 'shirokuma';

import './filereader.mjs';

// Blobs are 1 byte to this many: up to three pieces.
const MAX_LENGTH = 600_000;
// Pause between blobs, so the entry authors keep most of the node.
const PAUSE_MS = 100;
// Pause after a failure while the node is away (it restarts within a second).
const RETRY_MS = 100;
// shirokuma sends its requests without a timeout: each blob is bounded instead.
const BLOB_DEADLINE_MS = 60_000;
const UNUSUAL_ERRORS_KEPT = 20;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// 'network' when the node was not there to answer (killed or restarting).
function errorKind(err) {
  const text = `${err?.message ?? err} ${err?.cause?.code ?? ''}`;
  if (/fetch failed|ECONNREFUSED|ECONNRESET|socket hang up|other side closed/i.test(text)) {
    return 'network';
  }
  if (err?.name === 'TimeoutError') return 'timeout';
  return 'other';
}

function withDeadline(promise, ms) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`createBlob not done within ${ms} ms`);
      err.name = 'TimeoutError';
      reject(err);
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Replaces `file` with the journal in one rename, so a reader never sees half of it.
function writeJournal(file, journal) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(journal)}\n`);
  fs.renameSync(tmp, file);
}

async function run({ url, journalPath, folder, stopFile }) {
  const privateKey = process.env.PRIVATE_KEY;
  if (privateKey === undefined || !/^[0-9a-fA-F]{64}$/.test(privateKey)) {
    throw new Error('PRIVATE_KEY must be 64 hex characters (32-byte Ed25519 seed)');
  }
  const keyPair = new KeyPair(privateKey.toLowerCase());
  const journal = {
    publicKey: keyPair.publicKey(),
    done: false,
    error: null,
    attempts: 0,
    errors: 0,
    errorKinds: {},
    unusualErrors: [],
    blobs: [],
  };
  fs.mkdirSync(folder, { recursive: true });
  for (let n = 0; !fs.existsSync(stopFile); n += 1) {
    const length = 1 + crypto.randomInt(MAX_LENGTH);
    const bytes = crypto.randomBytes(length);
    const file = path.join(folder, `blob-${n}.bin`);
    fs.writeFileSync(file, bytes);
    journal.attempts += 1;
    try {
      // A session of its own: nothing of a failed blob carries over.
      const session = new Session(url).setKeyPair(keyPair);
      const blob = new Blob([bytes], { type: 'application/octet-stream' });
      const id = await withDeadline(session.createBlob(blob), BLOB_DEADLINE_MS);
      journal.blobs.push({ id: String(id), file, length });
      writeJournal(journalPath, journal);
      await sleep(PAUSE_MS);
    } catch (err) {
      const kind = errorKind(err);
      journal.errors += 1;
      journal.errorKinds[kind] = (journal.errorKinds[kind] ?? 0) + 1;
      if (kind !== 'network' && journal.unusualErrors.length < UNUSUAL_ERRORS_KEPT) {
        journal.unusualErrors.push(`${new Date().toISOString()} ${err?.message ?? err}`);
      }
      fs.rmSync(file, { force: true });
      await sleep(RETRY_MS);
    }
  }
  journal.done = true;
  writeJournal(journalPath, journal);
  const { blobs, ...totals } = journal;
  process.stdout.write(`${JSON.stringify({ ...totals, acknowledged: blobs.length })}\n`);
}

function parseArgs(argv) {
  if (argv.length !== 5 || argv[3] !== '--stop-file') return null;
  const [url, journalPath, folder, , stopFile] = argv;
  if (!/^https?:\/\//.test(url)) return null;
  return { url, journalPath, folder, stopFile };
}

const options = parseArgs(process.argv.slice(2));
if (options === null) {
  console.error(
    'usage: PRIVATE_KEY=<64 hex> node blob-author.mjs <graphql-url> <journal> <folder> --stop-file <path>',
  );
  process.exitCode = 2;
} else {
  run(options).catch((err) => {
    console.error(`blob-author.mjs: error: ${err && err.stack ? err.stack : String(err)}`);
    process.exitCode = 1;
  });
}
