//! Operations: the CBOR payload of an entry that creates, updates or deletes
//! a document.
//!
//! Decoding happens in two steps, like upstream: first schema-less into a
//! [`PlainOperation`] (CBOR shape, canonical `previous` and field order),
//! then against the schema into a typed [`Operation`].
//!
//! The parts, each using only those listed before it:
//! - `action`: the format version and [`OperationAction`];
//! - `error`: [`OperationError`], [`ValueError`], [`ValidationError`];
//! - `plain`: schema-less decoding into a [`PlainOperation`];
//! - `system`: the extra rules of the system schemas' fields;
//! - `typed`: [`Operation`], and [`PlainOperation::validate`] against a schema;
//! - `encode`: [`Operation::encode`], the canonical encoding.
//!
//! This file only declares them and re-exports their public items, so that
//! the paths `hoffnung_core::operation::*` stay as they were.

mod action;
mod encode;
mod error;
mod plain;
mod system;
mod typed;

pub use action::{OperationAction, OPERATION_VERSION};
pub use error::{OperationError, ValidationError, ValueError};
pub use plain::{PlainOperation, PlainValue};
pub use system::is_valid_mime_type;
pub use typed::Operation;

// Values have their own module (`crate::value`), so that `schema` and
// `document` need not use this one; they are re-exported here as before.
pub use crate::value::{Fields, OperationValue};
