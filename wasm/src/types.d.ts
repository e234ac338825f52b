
/** A field type name, as in a schema (without the relation's target). */
export type FieldType =
  | 'str'
  | 'int'
  | 'float'
  | 'bool'
  | 'bytes'
  | 'relation'
  | 'pinned_relation'
  | 'relation_list'
  | 'pinned_relation_list';

/** What a field may hold: `int` as a BigInt, relations as hex strings. */
export type OperationValue = string | bigint | number | boolean | Uint8Array | string[] | string[][];

/** Plain values whose type is plain to see: strings, numbers (integers become `int`),
 * BigInts, booleans and byte arrays. */
export type EasyValues = { [fieldName: string]: string | Uint8Array | number | bigint | boolean };

export type OperationAction = 'create' | 'update' | 'delete';

/** The arguments of `encodeOperation`. */
export type OperationArgs = {
  schemaId: string;
  /** Default `create`. */
  action?: OperationAction;
  /** The view the operation builds on: required for updates and deletes. */
  previous?: string[] | string;
  /** Required for creates and updates. */
  fields?: OperationFields | EasyValues;
};

/** What `decodeOperation` returns: the operation before its schema is known. */
export type PlainOperation = {
  version: number;
  action: OperationAction;
  schemaId: string;
  previous?: string[];
  fields?: Map<string, string | bigint | number | boolean | Uint8Array | string[] | string[][]>;
};

/** The arguments of `signAndEncodeEntry`, as `nextArgs` gives them. */
export type EntryArgs = {
  /** Default 0. */
  logId?: bigint | number | string;
  /** Default 1. */
  seqNum?: bigint | number | string;
  skiplink?: string;
  backlink?: string;
  /** The hex-encoded operation. */
  operation: string;
};

/** What `decodeEntry` returns. */
export type Entry = {
  publicKey: string;
  logId: bigint;
  seqNum: bigint;
  skiplink?: string;
  backlink?: string;
  payloadSize: bigint;
  payloadHash: string;
  signature: string;
};
