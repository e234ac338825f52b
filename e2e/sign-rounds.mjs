// The sign+encode rounds of the benchmarks, shared by Node.js
// (wasm-bench.mjs) and Chromium (wasm-bench-browser.mjs): each publish
// encodes an operation with three fields (`str`, `int`, `relation`), signs
// and encodes its entry and hashes the entry, as a client does. `lib` is
// either package: both have the same functions.

export const PER_ROUND = 2000;

function round(lib, keyPair) {
  const schemaId = `chat_message_${lib.generateHash('00')}`;
  const channel = lib.generateHash('01');
  const started = performance.now();
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
  const seconds = (performance.now() - started) / 1000;
  if (backlink === undefined) throw new Error('nothing signed');
  return PER_ROUND / seconds;
}

/** Alternating rounds of the two; the best round of each, publishes per second. */
export function compare(ours, theirs, rounds) {
  const privateKey = 'ab'.repeat(32);
  const best = { hoffnung: 0, p2panda: 0 };
  for (let r = 0; r < rounds; r += 1) {
    best.hoffnung = Math.max(best.hoffnung, round(ours, new ours.KeyPair(privateKey)));
    best.p2panda = Math.max(best.p2panda, round(theirs, new theirs.KeyPair(privateKey)));
  }
  return best;
}
