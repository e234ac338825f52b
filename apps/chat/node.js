// Talking to the node that serves this page: GraphQL queries over HTTP,
// publishing signed entries (nextArgs, then publish), and subscriptions over
// a graphql-transport-ws WebSocket.

import { encodeOperation, signAndEncodeEntry, generateHash } from './pkg/hoffnung_wasm.js';

const ENDPOINT = new URL('/graphql', window.location.href);

/** An error the node answered with; `code` is its error code, if any. */
export class NodeError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'NodeError';
    this.code = code;
  }
}

/** Runs a query or mutation; resolves with its `data`, rejects with a NodeError. */
export async function request(query, variables = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new NodeError(`the node cannot be reached (${e.message})`, 'UNREACHABLE');
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new NodeError(`the node answered ${response.status}: ${text.slice(0, 200)}`, `HTTP_${response.status}`);
  }
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new NodeError(first.message, first.extensions?.code);
  }
  if (!response.ok) {
    throw new NodeError(`the node answered ${response.status}`, `HTTP_${response.status}`);
  }
  return body.data;
}

const NEXT_ARGS = `query NextArgs($publicKey: String!, $viewId: String) {
  nextArgs(publicKey: $publicKey, viewId: $viewId) { logId seqNum backlink skiplink }
}`;

const PUBLISH = `mutation Publish($entry: String!, $operation: String!) {
  publish(entry: $entry, operation: $operation) { logId seqNum backlink skiplink }
}`;

// One log position is handed out at a time: two creates signed on the same
// nextArgs would claim the same log, and the node would refuse the second.
let queue = Promise.resolve();

/**
 * Signs and publishes one operation ({ schemaId, action?, previous?, fields })
 * with `keyPair`; resolves with the operation id (a new document's id).
 */
export function publish(operation, keyPair) {
  const run = queue.then(async () => {
    const viewId = operation.previous ? operation.previous.join('_') : null;
    const { nextArgs } = await request(NEXT_ARGS, { publicKey: keyPair.publicKey(), viewId });
    const encoded = encodeOperation(operation);
    const entry = signAndEncodeEntry({ ...nextArgs, operation: encoded }, keyPair);
    await request(PUBLISH, { entry, operation: encoded });
    return generateHash(entry);
  });
  queue = run.catch(() => {});
  return run;
}

/**
 * A subscription: calls `onData(data)` for each result and `onError(error)`
 * when the node refuses it or the connection drops (the caller decides
 * whether to subscribe again). Returns a function that ends it.
 */
export function subscribe(query, variables, onData, onError) {
  const url = new URL(ENDPOINT);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(url, 'graphql-transport-ws');
  let ended = false;
  const fail = (error) => {
    if (!ended) {
      ended = true;
      socket.close();
      onError(error);
    }
  };
  socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init' }));
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      fail(new NodeError('the node sent a frame that is not JSON'));
      return;
    }
    switch (message.type) {
      case 'connection_ack':
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
        break;
      case 'ping':
        socket.send(JSON.stringify({ type: 'pong' }));
        break;
      case 'next':
        if (message.payload.errors?.length) {
          const first = message.payload.errors[0];
          fail(new NodeError(first.message, first.extensions?.code));
        } else {
          onData(message.payload.data);
        }
        break;
      case 'error': {
        const first = message.payload?.[0];
        fail(new NodeError(first?.message ?? 'subscription refused', first?.extensions?.code));
        break;
      }
      case 'complete':
        fail(new NodeError('the node ended the subscription', 'COMPLETE'));
        break;
      default:
        break;
    }
  };
  socket.onerror = () => fail(new NodeError('the subscription connection failed', 'UNREACHABLE'));
  socket.onclose = () => fail(new NodeError('the subscription connection closed', 'UNREACHABLE'));
  return () => {
    ended = true;
    socket.close();
  };
}
