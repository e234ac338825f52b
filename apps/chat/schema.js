// The chat's schema: found among the schemas the node knows by its name and
// fields, or published on first use (four field definitions, then the
// schema definition).

import { OperationFields } from './pkg/hoffnung_wasm.js';
import { publish, request } from './node.js';

export const SCHEMA_NAME = 'hoffnung_chat_message';
const DESCRIPTION = 'A message of the hoffnung chat app (apps/chat)';
export const FIELDS = [
  { name: 'author', type: 'str' },
  { name: 'channel', type: 'str' },
  { name: 'created', type: 'int' },
  { name: 'text', type: 'str' },
];

const DEFINITIONS = `query Definitions($name: String!) {
  all_schema_definition_v1(filter: { name: { eq: $name } }, first: 100) {
    documents {
      meta { viewId }
      fields { name fields(first: 100) { documents { fields { name type } } } }
    }
  }
}`;

const fits = (definition) => {
  const fields = definition.fields.fields.documents.map((d) => `${d.fields.name}:${d.fields.type}`);
  const wanted = FIELDS.map((f) => `${f.name}:${f.type}`);
  return fields.length === wanted.length && wanted.every((f) => fields.includes(f));
};

/**
 * The chat schema's id, or null if the node knows none. When several people
 * created one before they saw each other's, every app picks the same: the
 * one with the lowest view id.
 */
export async function findSchema() {
  const data = await request(DEFINITIONS, { name: SCHEMA_NAME });
  const ids = data.all_schema_definition_v1.documents
    .filter(fits)
    .map((d) => d.meta.viewId)
    .sort();
  return ids.length ? `${SCHEMA_NAME}_${ids[0]}` : null;
}

/** Publishes the chat schema with `keyPair`; resolves with its id. */
export async function createSchema(keyPair) {
  const fieldIds = [];
  for (const field of FIELDS) {
    const fields = new OperationFields({ name: field.name, type: field.type });
    fieldIds.push(await publish({ schemaId: 'schema_field_definition_v1', fields }, keyPair));
  }
  const fields = new OperationFields({ name: SCHEMA_NAME, description: DESCRIPTION });
  fields.insert('fields', 'pinned_relation_list', fieldIds.map((id) => [id]));
  const id = await publish({ schemaId: 'schema_definition_v1', fields }, keyPair);
  return `${SCHEMA_NAME}_${id}`;
}

/**
 * Resolves once the node serves queries of `schemaId` (it builds the
 * schema's tables after the definition arrives); bounded by `seconds`.
 */
export async function waitServed(schemaId, seconds = 30) {
  const query = `{ all_${schemaId}(first: 1) { totalCount } }`;
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      await request(query);
      return;
    } catch (e) {
      if (Date.now() > until) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
