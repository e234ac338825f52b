#!/usr/bin/env node
// A long-running author for `hoffnung-loadgen kills`, driven by the real
// `p2panda-js` 0.8.1: it creates a few documents of a published schema, then
// updates them as fast as it can, each document in its own loop, talking to
// the node like shirokuma does (`nextArgs`, then `publish`).
//
//   node author.mjs <graphql-url> <schema-id> <journal> (--stop-file <path> | --duration <s>)
//                   [--documents <n>]
//
// Environment:
//   PRIVATE_KEY   hex Ed25519 private key (32-byte seed) of a key no one else uses (required)
//   E2E_VERBOSE   set to 1 to log recoveries on stderr
//
// The node may be killed at any moment, so any request may fail. A failed
// `publish` leaves it open whether the node stored the entry: the author asks
// `nextArgs` for the document until the node answers, and the seq num says
// whether the log holds the entry. If it does, the entry counts as
// acknowledged; if not, the very same signed entry is sent again. So a log
// never forks and never skips a seq num, and every entry counted as
// acknowledged is one the node has confirmed holding.
//
// The journal (JSON, replaced atomically every second and at the end) holds
// per document its id, log id, last acknowledged view id, field values and
// number of acknowledged entries; and the totals: acknowledged entries (by a
// `publish` answer or by `nextArgs`), entries sent again, errors seen by kind.
// `done` is true once the author stopped cleanly after a stop request.
//
// Exit codes: 0 stopped as asked, 1 failure (message on stderr, journal with
// `error`), 2 usage error.

import fs from 'node:fs';

import {
  KeyPair,
  OperationFields,
  encodeOperation,
  signAndEncodeEntry,
  generateHash,
  initWebAssembly,
} from 'p2panda-js';

import { E2EError, NEXT_ARGS_QUERY, PUBLISH_MUTATION, graphql, parseNextArguments } from './client.mjs';

// Pause between attempts while the node is away (it restarts within a second).
const RETRY_MS = 100;
// One entry gives up (failing the run) if it is not acknowledged by then.
const ENTRY_DEADLINE_MS = 60_000;
const JOURNAL_EVERY_MS = 1_000;
const STOP_POLL_MS = 50;
const UNUSUAL_ERRORS_KEPT = 20;

const VERBOSE = process.env.E2E_VERBOSE === '1';

function log(...args) {
  if (VERBOSE) console.error('author:', ...args);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// `a` and `b` agree on every key of `keys`.
function same(a, b, keys) {
  return keys.every((k) => a[k] === b[k]);
}

function noteFields({ title, count }) {
  const fields = new OperationFields();
  if (title !== undefined) fields.insert('title', 'str', title);
  if (count !== undefined) fields.insert('count', 'int', BigInt(count));
  return fields;
}

class Author {
  constructor(url, schemaId, keyPair) {
    this.url = url;
    this.schemaId = schemaId;
    this.keyPair = keyPair;
    this.publicKey = keyPair.publicKey();
    // The log id the next CREATE must get (known after the first).
    this.nextLogId = null;
    this.documents = [];
    this.stopRequested = false;
    this.failure = null;
    this.started = Date.now();
    this.stats = {
      acknowledged: 0,
      acknowledgedByPublish: 0,
      acknowledgedByNextArgs: 0,
      resent: 0,
      errors: 0,
      errorKinds: {},
      lastError: null,
      // The first few errors other than refused or reset connections, which
      // a kill explains; a timeout or an error answer is worth a look.
      unusualErrors: [],
    };
  }

  stopping() {
    return this.stopRequested || this.failure !== null;
  }

  // Counts a failed request; anything but a request failure is a bug and rethrown.
  noteError(err) {
    if (!(err instanceof E2EError) || err.kind === 'client') throw err;
    this.stats.errors += 1;
    this.stats.errorKinds[err.kind] = (this.stats.errorKinds[err.kind] ?? 0) + 1;
    this.stats.lastError = err.message;
    if (err.kind !== 'network' && this.stats.unusualErrors.length < UNUSUAL_ERRORS_KEPT) {
      this.stats.unusualErrors.push(`${new Date().toISOString()} ${err.message}`);
    }
  }

  async nextArgs(viewId, label) {
    const variables = { publicKey: this.publicKey };
    if (viewId !== undefined) variables.viewId = viewId;
    const data = await graphql(this.url, NEXT_ARGS_QUERY, variables, `${label}: nextArgs`);
    return parseNextArguments(data.nextArgs, `${label}: nextArgs`);
  }

  // `nextArgs`, asked again every RETRY_MS until the node answers or `deadline`.
  async nextArgsRetrying(viewId, label, deadline, lastError) {
    for (;;) {
      try {
        return await this.nextArgs(viewId, label);
      } catch (err) {
        this.noteError(err);
        lastError = err;
      }
      if (Date.now() + RETRY_MS > deadline) {
        throw new E2EError(`${label}: not acknowledged within ${ENTRY_DEADLINE_MS} ms; last error: ${lastError?.message}`);
      }
      await sleep(RETRY_MS);
    }
  }

  // Publishes one operation of `doc` (a CREATE when it has no log yet) and
  // returns its operation id once acknowledged (see the top of this file).
  async publishAcknowledged(doc, fields, label) {
    const deadline = Date.now() + ENTRY_DEADLINE_MS;
    const creating = doc.logId === null;
    // A CREATE asks for a new log, an UPDATE for the log of its document.
    const viewId = creating ? undefined : doc.viewId;
    const args = await this.nextArgsRetrying(viewId, label, deadline);
    const expected = creating
      ? { logId: this.nextLogId ?? args.logId, seqNum: '1', backlink: null }
      : { logId: doc.logId, seqNum: String(doc.entries + 1), backlink: doc.viewId };
    if (!same(args, expected, ['logId', 'seqNum', 'backlink'])) {
      throw new E2EError(`${label}: nextArgs ${JSON.stringify(args)}, expected ${JSON.stringify(expected)}`);
    }

    const operation = encodeOperation({
      action: creating ? 'create' : 'update',
      schemaId: this.schemaId,
      previous: creating ? undefined : [doc.viewId],
      fields: noteFields(fields),
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
    const hash = generateHash(entry);
    // What the same `nextArgs` question answers once the log holds the entry:
    // the next log for a CREATE, the next seq num after it for an UPDATE.
    const stored = creating
      ? { logId: String(BigInt(args.logId) + 1n), seqNum: '1', backlink: null }
      : { logId: args.logId, seqNum: String(BigInt(args.seqNum) + 1n), backlink: hash };
    const answered = { logId: args.logId, seqNum: String(BigInt(args.seqNum) + 1n), backlink: hash };

    for (;;) {
      let lastError;
      try {
        const data = await graphql(this.url, PUBLISH_MUTATION, { entry, operation }, `${label}: publish`);
        const answer = parseNextArguments(data.publish, `${label}: publish`);
        if (!same(answer, answered, ['logId', 'seqNum', 'backlink'])) {
          throw new E2EError(`${label}: publish answered ${JSON.stringify(answer)}, expected ${JSON.stringify(answered)}`);
        }
        this.stats.acknowledgedByPublish += 1;
        return { hash, logId: args.logId };
      } catch (err) {
        this.noteError(err);
        lastError = err;
      }
      // The outcome is unknown: ask until the node answers whether it has the entry.
      for (;;) {
        if (Date.now() + RETRY_MS > deadline) {
          throw new E2EError(`${label}: not acknowledged within ${ENTRY_DEADLINE_MS} ms; last error: ${lastError.message}`);
        }
        await sleep(RETRY_MS);
        const now = await this.nextArgsRetrying(viewId, `${label}: check`, deadline, lastError);
        if (same(now, stored, ['logId', 'seqNum', 'backlink'])) {
          log(`${label}: stored although publish failed (${lastError.message})`);
          this.stats.acknowledgedByNextArgs += 1;
          return { hash, logId: args.logId };
        }
        if (same(now, args, ['logId', 'seqNum', 'backlink', 'skiplink'])) {
          log(`${label}: not stored, sending it again (${lastError.message})`);
          this.stats.resent += 1;
          break;
        }
        throw new E2EError(
          `${label}: nextArgs ${JSON.stringify(now)} is neither before ${JSON.stringify(args)} nor after ${JSON.stringify(stored)} the entry`,
        );
      }
    }
  }

  // Creates a document; null if asked to stop first.
  async create(index) {
    const doc = { index, id: null, logId: null, viewId: null, entries: 0, fields: null };
    const fields = { title: `${this.publicKey.slice(0, 8)} doc ${index} rev 1`, count: 1 };
    const { hash, logId } = await this.publishAcknowledged(doc, fields, `doc ${index} create`);
    this.nextLogId = String(BigInt(logId) + 1n);
    Object.assign(doc, { id: hash, logId, viewId: hash, entries: 1, fields });
    this.stats.acknowledged += 1;
    this.documents.push(doc);
    return doc;
  }

  // Updates `doc` until asked to stop: `count` every time, `title` every
  // third entry (so a view merges fields of several operations).
  async updateLoop(doc) {
    while (!this.stopping()) {
      const seq = doc.entries + 1;
      const fields = { count: seq };
      if (seq % 3 === 0) fields.title = `${this.publicKey.slice(0, 8)} doc ${doc.index} rev ${seq}`;
      const { hash } = await this.publishAcknowledged(doc, fields, `doc ${doc.index} seq ${seq}`);
      doc.viewId = hash;
      doc.entries = seq;
      doc.fields = { ...doc.fields, ...fields };
      this.stats.acknowledged += 1;
    }
  }

  journal(done) {
    const seconds = (Date.now() - this.started) / 1000;
    return {
      publicKey: this.publicKey,
      schemaId: this.schemaId,
      done,
      error: this.failure ? this.failure.message : null,
      seconds,
      ...this.stats,
      documents: this.documents.map(({ id, logId, viewId, entries, fields }) => ({
        id,
        logId,
        viewId,
        entries,
        fields,
      })),
    };
  }
}

// Replaces `file` with the journal in one rename, so a reader never sees half of it.
function writeJournal(file, journal) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(journal)}\n`);
  fs.renameSync(tmp, file);
}

async function run({ url, schemaId, journalPath, stopFile, durationMs, documents }) {
  await initWebAssembly();
  const privateKey = process.env.PRIVATE_KEY;
  if (privateKey === undefined || !/^[0-9a-fA-F]{64}$/.test(privateKey)) {
    throw new E2EError('PRIVATE_KEY must be 64 hex characters (32-byte Ed25519 seed)');
  }
  const author = new Author(url, schemaId, new KeyPair(privateKey.toLowerCase()));
  log(`public key ${author.publicKey}, node ${url}`);

  const endAt = durationMs === undefined ? Infinity : Date.now() + durationMs;
  const stopWatch = setInterval(() => {
    if (Date.now() >= endAt || (stopFile !== undefined && fs.existsSync(stopFile))) {
      author.stopRequested = true;
    }
  }, STOP_POLL_MS);
  const journalTimer = setInterval(() => writeJournal(journalPath, author.journal(false)), JOURNAL_EVERY_MS);

  try {
    // One CREATE at a time: a failed one is recognised by the next log id.
    const docs = [];
    for (let d = 0; d < documents && !author.stopping(); d += 1) {
      docs.push(await author.create(d));
    }
    const loops = docs.map((doc) =>
      author.updateLoop(doc).catch((err) => {
        author.failure ??= err;
      }),
    );
    await Promise.all(loops);
  } catch (err) {
    author.failure ??= err;
  } finally {
    clearInterval(stopWatch);
    clearInterval(journalTimer);
  }
  const journal = author.journal(author.failure === null);
  writeJournal(journalPath, journal);
  if (author.failure !== null) throw author.failure;
  const { documents: _, ...totals } = journal;
  process.stdout.write(`${JSON.stringify(totals)}\n`);
}

function usage() {
  console.error(
    'usage: PRIVATE_KEY=<64 hex> node author.mjs <graphql-url> <schema-id> <journal> ' +
      '(--stop-file <path> | --duration <seconds>) [--documents <n>]',
  );
}

function parseArgs(argv) {
  if (argv.length < 5) return null;
  const [url, schemaId, journalPath, ...rest] = argv;
  const options = { url, schemaId, journalPath, documents: 4 };
  for (let i = 0; i < rest.length; i += 2) {
    const value = rest[i + 1];
    if (value === undefined) return null;
    if (rest[i] === '--stop-file') options.stopFile = value;
    else if (rest[i] === '--duration' && Number(value) > 0) options.durationMs = Number(value) * 1000;
    else if (rest[i] === '--documents' && Number.isInteger(Number(value)) && Number(value) > 0) {
      options.documents = Number(value);
    } else return null;
  }
  if (options.stopFile === undefined && options.durationMs === undefined) return null;
  if (!/^https?:\/\//.test(url)) return null;
  return options;
}

const options = parseArgs(process.argv.slice(2));
if (options === null) {
  usage();
  process.exitCode = 2;
} else {
  run(options).catch((err) => {
    const message = err instanceof E2EError ? err.message : err && err.stack ? err.stack : String(err);
    console.error(`author.mjs: error: ${message}`);
    process.exitCode = 1;
  });
}
