#!/usr/bin/env node
// Publishes a file as a blob with the real shirokuma 0.1.3 (`Session.createBlob`,
// which cuts it into pieces of 256,000 bytes over p2panda-js 0.8.1), as a p2panda
// app in a browser does.
//
//   node blob.mjs <graphql-url> <file> [mime-type]
//
// The MIME type defaults to application/octet-stream. PRIVATE_KEY (64 hex) fixes
// the author key; a fresh key otherwise.
//
// Output (stdout, only on success): the blob's document id.
// Exit codes: 0 ok, 1 failure (message on stderr), 2 usage error.

import fs from 'node:fs';

import { KeyPair, Session } from 'shirokuma';

import './filereader.mjs';

// shirokuma sends its requests without a timeout: the whole run is bounded instead.
const TIMEOUT_MS = 120_000;

function usage() {
  console.error('usage: node blob.mjs <graphql-url> <file> [mime-type]');
}

async function main(argv) {
  if (argv.length < 2 || argv.length > 3) {
    usage();
    process.exitCode = 2;
    return;
  }
  const [url, path, mimeType = 'application/octet-stream'] = argv;
  // A Blob backed by the file (Node.js >= 19.8); shirokuma takes its type as the
  // blob's MIME type.
  const blob = await fs.openAsBlob(path, { type: mimeType });
  const privateKey = process.env.PRIVATE_KEY;
  const keyPair = privateKey ? new KeyPair(privateKey.toLowerCase()) : new KeyPair();
  const session = new Session(url).setKeyPair(keyPair);
  const timer = setTimeout(() => {
    console.error(`blob.mjs: error: not done within ${TIMEOUT_MS} ms`);
    process.exit(1);
  }, TIMEOUT_MS);
  timer.unref();
  const id = await session.createBlob(blob);
  process.stdout.write(`${id}\n`);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`blob.mjs: error: ${err && err.stack ? err.stack : String(err)}`);
  process.exitCode = 1;
});
