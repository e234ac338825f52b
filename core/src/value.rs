//! Typed field values: what a field of an operation holds once its schema
//! has typed it, and what a document view shows.
//!
//! A module of its own, below `schema`, `operation` and `document`, so that
//! each of them can use values without depending on the others.

use std::collections::BTreeMap;

use crate::ids::{DocumentId, DocumentViewId};

/// A field value checked against its schema field type.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Relation(DocumentId),
    RelationList(Vec<DocumentId>),
    PinnedRelation(DocumentViewId),
    PinnedRelationList(Vec<DocumentViewId>),
}

/// Field name → value, ordered by name (byte-wise, as the encoding requires).
pub type Fields = BTreeMap<String, OperationValue>;
