// The GraphQL side of the end-to-end clients: requests over Node's built-in
// fetch with a timeout, the documents shirokuma 0.1.3 sends, and the shape
// check of its `NextArguments` answers. Shared by publish.mjs and author.mjs.

export const REQUEST_TIMEOUT_MS = 10_000;

// GraphQL documents exactly as shirokuma 0.1.3 sends them (SPEC.md 9.2).
export const NEXT_ARGS_QUERY = `query NextArgs($publicKey: String!, $viewId: String) {
  nextArgs(publicKey: $publicKey, viewId: $viewId) {
    logId
    seqNum
    backlink
    skiplink
  }
}`;

export const PUBLISH_MUTATION = `mutation Publish($entry: String!, $operation: String!) {
  publish(entry: $entry, operation: $operation) {
    logId
    seqNum
    backlink
    skiplink
  }
}`;

// `kind` says what failed: 'timeout', 'network' (no answer), 'http' (a status
// other than 200), 'graphql' (an answer with errors) or 'client' (anything else).
export class E2EError extends Error {
  constructor(message, kind = 'client') {
    super(message);
    this.kind = kind;
  }
}

export class GraphQLError extends E2EError {
  constructor(label, messages) {
    super(`${label}: GraphQL error: ${messages.join(' | ')}`, 'graphql');
    this.messages = messages;
  }
}

// One GraphQL request; its data, or an E2EError saying what failed.
export async function graphql(url, query, variables, label, timeoutMs = REQUEST_TIMEOUT_MS) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let status;
  let text;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    });
    status = response.status;
    text = await response.text();
  } catch (err) {
    if (controller.signal.aborted) {
      throw new E2EError(`${label}: no answer from ${url} within ${timeoutMs} ms`, 'timeout');
    }
    const cause = err.cause ? ` (${err.cause.code || err.cause.message || err.cause})` : '';
    throw new E2EError(`${label}: request to ${url} failed: ${err.message}${cause}`, 'network');
  } finally {
    clearTimeout(timer);
  }

  const snippet = text.length > 300 ? `${text.slice(0, 300)}…` : text;
  if (status !== 200) {
    throw new E2EError(`${label}: HTTP ${status} from ${url}: ${snippet}`, 'http');
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new E2EError(`${label}: response is not JSON: ${snippet}`);
  }
  if (body === null || typeof body !== 'object') {
    throw new E2EError(`${label}: response is not a JSON object: ${snippet}`);
  }
  if (Array.isArray(body.errors) && body.errors.length > 0) {
    throw new GraphQLError(
      label,
      body.errors.map((e) => (e && typeof e.message === 'string' ? e.message : JSON.stringify(e))),
    );
  }
  if (body.errors !== undefined && !Array.isArray(body.errors)) {
    throw new E2EError(`${label}: malformed "errors" in response: ${snippet}`);
  }
  if (!body.data || typeof body.data !== 'object') {
    throw new E2EError(`${label}: response has no data: ${snippet}`);
  }
  return body.data;
}

const HASH_RE = /^0020[0-9a-f]{64}$/;
const DECIMAL_RE = /^(0|[1-9][0-9]*)$/;

// Checks the shape of a NextArguments object and returns it.
export function parseNextArguments(value, label) {
  if (!value || typeof value !== 'object') {
    throw new E2EError(`${label}: expected NextArguments object, got ${JSON.stringify(value)}`);
  }
  const { logId, seqNum, backlink, skiplink } = value;
  if (typeof logId !== 'string' || !DECIMAL_RE.test(logId)) {
    throw new E2EError(`${label}: logId must be a decimal string, got ${JSON.stringify(logId)}`);
  }
  if (typeof seqNum !== 'string' || !DECIMAL_RE.test(seqNum) || seqNum === '0') {
    throw new E2EError(`${label}: seqNum must be a decimal string >= 1, got ${JSON.stringify(seqNum)}`);
  }
  for (const [name, link] of [['backlink', backlink], ['skiplink', skiplink]]) {
    if (link !== null && (typeof link !== 'string' || !HASH_RE.test(link))) {
      throw new E2EError(`${label}: ${name} must be null or a hash, got ${JSON.stringify(link)}`);
    }
  }
  return { logId, seqNum, backlink, skiplink };
}

// ---------------------------------------------------------------------------
// Bamboo skiplinks (SPEC.md 3.3)

// lipmaa(n) for n >= 1, BigInt arithmetic.
export function lipmaa(n) {
  n = BigInt(n);
  if (n < 1n) throw new E2EError(`lipmaa: invalid seq num ${n}`);
  const T = (j) => (3n ** BigInt(j) - 1n) / 2n;
  let k = 1;
  while (T(k) < n) k += 1;
  if (T(k) === n) return n - 3n ** BigInt(k - 1);
  let u = n;
  for (let j = k - 1; j >= 1; j -= 1) {
    u %= T(j);
    if (u === 0n) return n - T(j);
  }
  throw new E2EError(`lipmaa: no result for ${n}`);
}

export function skiplinkRequired(seqNum) {
  const n = BigInt(seqNum);
  return n > 1n && lipmaa(n) !== n - 1n;
}
