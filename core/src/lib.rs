//! The p2panda 0.8 protocol core of hoffnung: key pairs, YASMF hashes, Bamboo
//! entries, CBOR operations, identifiers, schemas and document reduction.
//!
//! Pure logic: no I/O, no async, no global state, so it also builds for
//! `wasm32-unknown-unknown`. Everything that needs stored state (the publish
//! checks) takes the facts it needs as arguments.
//!
//! # Module order
//!
//! The modules use one another without a cycle; each uses only modules
//! listed above it (`a → b`: `a` uses `b`):
//!
//! - `varu64`, `lipmaa`, `hash`, `keys`, `cbor`: use no other module
//! - `ids` → `hash`
//! - `entry` → `hash`, `keys`, `lipmaa`, `varu64`
//! - `replication` → `cbor`, `ids`
//! - `value` (typed field values) → `ids`
//! - `schema` (field types, system schemas) → `ids`
//! - `operation` → `cbor`, `hash`, `ids`, `schema`, `value`; inside it:
//!   `action`, then `error`, `plain`, `system`, `typed`, `encode`
//! - `document` (reduction) → `ids`, `keys`, `operation`, `value`
//! - `schema_definition` (`Schema::from_views`) → `document`, `ids`,
//!   `schema`, `value`
//! - `publish` → `entry`, `hash`, `ids`, `keys`, `lipmaa`, `operation`
//! - `fork` (proofs of forked logs) → `entry`, `hash`, `keys`, `lipmaa`
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cbor;
pub mod document;
pub mod entry;
pub mod fork;
pub mod hash;
pub mod ids;
pub mod keys;
pub mod lipmaa;
pub mod operation;
pub mod publish;
pub mod replication;
pub mod schema;
mod schema_definition;
mod value;
pub mod varu64;

pub use document::{
    reduce, reduce_to_view, DocumentOperation, DocumentView, ReduceError, ViewField, ViewFields,
};
pub use entry::{
    sign_entry, verify_batch, EncodedEntry, Entry, EntryError, LogId, LogPosition, NextArgs, SeqNum,
};
pub use fork::{ForkKind, ForkProof, ForkProofError};
pub use hash::{Hash, HashError};
pub use ids::{
    DocumentId, DocumentViewId, OperationId, SchemaId, SchemaIdError, SystemSchema, ViewIdError,
};
pub use keys::{KeyError, KeyPair, PublicKey};
pub use lipmaa::{lipmaa, skiplink_required};
pub use operation::{
    Fields, Operation, OperationAction, OperationError, OperationValue, PlainOperation, PlainValue,
    ValidationError,
};
pub use publish::PublishError;
pub use schema::{FieldType, Schema, SchemaError};
