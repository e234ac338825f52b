//! Why an operation is rejected: malformed bytes ([`OperationError`],
//! [`ValueError`]) or a mismatch with its schema ([`ValidationError`]).
//!
//! Apart from the code that raises them, so that decoding, typing and the
//! system-schema rules each use them without using one another.

use crate::cbor::CborError;
use crate::hash::HashError;
use crate::ids::{SchemaId, SchemaIdError, ViewIdError};
use crate::schema::FieldType;

/// Why bytes are not a well-formed operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperationError {
    #[error(transparent)]
    Cbor(#[from] CborError),
    #[error("invalid type for {item}: {found}, expected {expected}")]
    UnexpectedType {
        item: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("missing version field in operation format")]
    MissingVersion,
    #[error("missing action field in operation format")]
    MissingAction,
    #[error("missing schema id field in operation format")]
    MissingSchemaId,
    #[error("missing previous for this operation action")]
    MissingPrevious,
    #[error("missing fields for this operation action")]
    MissingFields,
    #[error("too many items for this operation action")]
    TooManyItems,
    #[error("unsupported operation version {0}")]
    UnsupportedVersion(u64),
    #[error("unknown operation action {0}")]
    UnknownAction(u64),
    #[error(transparent)]
    SchemaId(#[from] SchemaIdError),
    #[error("invalid previous: {0}")]
    Previous(ViewIdError),
    #[error("schema id `{0}` is not in canonical (lower-case) form")]
    NonCanonicalSchemaId(String),
    #[error("encountered unsorted field name: '{0}' should be before '{1}'")]
    UnsortedFieldName(String, String),
    #[error("encountered duplicate field key '{0}'")]
    DuplicateFieldName(String),
    #[error("field '{field}': {reason}")]
    InvalidValue { field: String, reason: ValueError },
    #[error("{0} unexpected bytes after the operation")]
    TrailingBytes(usize),
}

/// Why a single field value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("integer out of the i64 range")]
    IntegerOutOfRange,
    #[error("unsupported value type {0}")]
    UnsupportedType(&'static str),
    #[error("tagged values are not allowed")]
    Tagged,
    #[error("lists may only hold operation ids or lists of them")]
    InvalidListItem,
    #[error("invalid hash in list: {0}")]
    Hash(HashError),
}

/// Why an operation does not fit its schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("operation schema {operation} does not match schema {schema}")]
    SchemaMismatch {
        operation: SchemaId,
        schema: SchemaId,
    },
    #[error("missing required field: '{name}' of type {ty}")]
    MissingField { name: String, ty: FieldType },
    #[error("unexpected fields found: {}", .0.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", "))]
    UnexpectedFields(Vec<String>),
    #[error("field '{found}' does not match schema: expected field name '{expected}'")]
    FieldNameMismatch { found: String, expected: String },
    #[error("field '{field}' does not match schema: invalid field type '{found}', expected '{expected}'")]
    InvalidFieldType {
        field: String,
        found: &'static str,
        expected: FieldType,
    },
    #[error("field '{field}' does not match schema: {source}")]
    InvalidRelation {
        field: String,
        #[source]
        source: HashError,
    },
    #[error("field '{field}' does not match schema: non-canonic document view id, {source}")]
    NonCanonicalViewId {
        field: String,
        #[source]
        source: ViewIdError,
    },
    #[error("invalid '{schema}' operation: '{field}' field {reason}")]
    SystemSchema {
        schema: SchemaId,
        field: &'static str,
        reason: &'static str,
    },
}
