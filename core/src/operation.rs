//! Operations: the CBOR payload of an entry that creates, updates or deletes
//! a document.
//!
//! Decoding happens in two steps, like upstream: first schema-less into a
//! [`PlainOperation`] (CBOR shape, canonical `previous` and field order),
//! then against the schema into a typed [`Operation`].

use std::collections::BTreeMap;
use std::fmt;

use crate::cbor::{CborError, Header, Reader, Writer};
use crate::hash::{Hash, HashError};
use crate::ids::{DocumentId, DocumentViewId, SchemaId, SchemaIdError, SystemSchema, ViewIdError};
use crate::schema::{
    FieldType, Schema, MAX_BLOB_PIECE_LENGTH, MAX_DESCRIPTION_LENGTH, MAX_SCHEMA_FIELDS,
};

/// The only operation format version.
pub const OPERATION_VERSION: u64 = 1;

/// What an operation does to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationAction {
    Create,
    Update,
    Delete,
}

impl OperationAction {
    pub fn as_u64(&self) -> u64 {
        match self {
            OperationAction::Create => 0,
            OperationAction::Update => 1,
            OperationAction::Delete => 2,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            OperationAction::Create => "create",
            OperationAction::Update => "update",
            OperationAction::Delete => "delete",
        }
    }
}

/// A field value before it was checked against a schema: the CBOR shape only.
#[derive(Debug, Clone, PartialEq)]
pub enum PlainValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A byte string: `bytes`, or a `relation` if it is a valid hash.
    Bytes(Vec<u8>),
    /// An array of hashes (also the empty array).
    HashList(Vec<Hash>),
    /// An array of arrays of hashes.
    HashListList(Vec<Vec<Hash>>),
}

impl PlainValue {
    /// Type name used in error messages (upstream's names).
    pub fn type_name(&self) -> &'static str {
        match self {
            PlainValue::Bool(_) => "bool",
            PlainValue::Int(_) => "int",
            PlainValue::Float(_) => "float",
            PlainValue::Str(_) => "str",
            PlainValue::Bytes(_) => "bytes",
            PlainValue::HashList(_) => "hash[]",
            PlainValue::HashListList(_) => "hash[][]",
        }
    }
}

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

/// An operation after CBOR decoding, before its schema is known.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainOperation {
    pub action: OperationAction,
    pub schema_id: SchemaId,
    pub previous: Option<DocumentViewId>,
    /// Sorted by name, without duplicates.
    pub fields: Option<Vec<(String, PlainValue)>>,
}

fn unexpected(item: &'static str, expected: &'static str, h: &Header) -> OperationError {
    OperationError::UnexpectedType {
        item,
        expected,
        found: h.kind(),
    }
}

impl PlainOperation {
    /// Decodes the CBOR of an operation (schema-less).
    pub fn decode(bytes: &[u8]) -> Result<Self, OperationError> {
        let mut r = Reader::new(bytes);
        let h = r.header_skip_tags()?;
        let Header::Array(len) = h else {
            return Err(unexpected("operation", "array", &h));
        };
        let mut read = 0u64;
        let mut next = |r: &mut Reader, missing: OperationError| -> Result<(), OperationError> {
            if r.has_next(len, read)? {
                read += 1;
                Ok(())
            } else {
                Err(missing)
            }
        };

        next(&mut r, OperationError::MissingVersion)?;
        let version = match r.header_skip_tags()? {
            Header::Unsigned(v) => v,
            h => return Err(unexpected("version", "integer", &h)),
        };
        if version != OPERATION_VERSION {
            return Err(OperationError::UnsupportedVersion(version));
        }

        next(&mut r, OperationError::MissingAction)?;
        let action = match r.header_skip_tags()? {
            Header::Unsigned(0) => OperationAction::Create,
            Header::Unsigned(1) => OperationAction::Update,
            Header::Unsigned(2) => OperationAction::Delete,
            Header::Unsigned(n) => return Err(OperationError::UnknownAction(n)),
            h => return Err(unexpected("action", "integer", &h)),
        };

        next(&mut r, OperationError::MissingSchemaId)?;
        let schema_id: SchemaId = match r.header()? {
            Header::Text(l) => {
                let text = r.text(l)?;
                let id: SchemaId = text.parse()?;
                // Upper-case hex would name the same schema with other bytes.
                if id.to_string() != text {
                    return Err(OperationError::NonCanonicalSchemaId(text.to_string()));
                }
                id
            }
            h => return Err(unexpected("schema id", "text string", &h)),
        };

        let previous = if action == OperationAction::Create {
            None
        } else {
            next(&mut r, OperationError::MissingPrevious)?;
            Some(decode_previous(&mut r)?)
        };

        let fields = if action == OperationAction::Delete {
            None
        } else {
            next(&mut r, OperationError::MissingFields)?;
            Some(decode_fields(&mut r)?)
        };

        if r.has_next(len, read)? {
            return Err(OperationError::TooManyItems);
        }
        // Upstream ignores trailing bytes; we reject them (docs/compatibility.md).
        if r.remaining() > 0 {
            return Err(OperationError::TrailingBytes(r.remaining()));
        }
        Ok(Self {
            action,
            schema_id,
            previous,
            fields,
        })
    }

    /// Checks the operation against its schema and types its fields.
    pub fn validate(&self, schema: &Schema) -> Result<Operation, ValidationError> {
        if &self.schema_id != schema.id() {
            return Err(ValidationError::SchemaMismatch {
                operation: self.schema_id.clone(),
                schema: schema.id().clone(),
            });
        }
        let fields = match &self.fields {
            None => None,
            Some(plain) => {
                if self.action == OperationAction::Create {
                    check_create_names(plain, schema)?;
                } else {
                    let unknown: Vec<String> = plain
                        .iter()
                        .filter(|(n, _)| schema.field(n).is_none())
                        .map(|(n, _)| n.clone())
                        .collect();
                    if !unknown.is_empty() {
                        return Err(ValidationError::UnexpectedFields(unknown));
                    }
                }
                let mut typed = Fields::new();
                for (name, value) in plain {
                    let ty = schema
                        .field(name)
                        .ok_or_else(|| ValidationError::UnexpectedFields(vec![name.clone()]))?;
                    typed.insert(name.clone(), type_value(name, value, ty)?);
                }
                if let SchemaId::System(kind, _) = schema.id() {
                    check_system_fields(*kind, &typed)?;
                }
                Some(typed)
            }
        };
        Ok(Operation {
            action: self.action,
            schema_id: self.schema_id.clone(),
            previous: self.previous.clone(),
            fields,
        })
    }
}

fn decode_previous(r: &mut Reader) -> Result<DocumentViewId, OperationError> {
    match r.header()? {
        // Upstream also accepts the string form `<id>_<id>`; it is lossless.
        Header::Text(l) => {
            let text = r.text(l)?;
            let view: DocumentViewId = text.parse().map_err(OperationError::Previous)?;
            if view.to_string() != text {
                return Err(OperationError::Previous(ViewIdError::NotLowerCase));
            }
            Ok(view)
        }
        Header::Array(len) => {
            let mut ids = Vec::new();
            let mut read = 0;
            while r.has_next(len, read)? {
                read += 1;
                match r.header()? {
                    Header::Bytes(l) => {
                        let b = r.bytes(l)?;
                        let h = Hash::from_bytes(b)
                            .map_err(|e| OperationError::Previous(ViewIdError::Hash(e)))?;
                        ids.push(h);
                    }
                    h => return Err(unexpected("previous item", "byte string", &h)),
                }
            }
            DocumentViewId::from_canonical(ids).map_err(OperationError::Previous)
        }
        h => Err(unexpected("previous", "array of operation ids", &h)),
    }
}

fn decode_fields(r: &mut Reader) -> Result<Vec<(String, PlainValue)>, OperationError> {
    let h = r.header_skip_tags()?;
    let Header::Map(len) = h else {
        return Err(unexpected("fields", "map", &h));
    };
    let mut fields: Vec<(String, PlainValue)> = Vec::new();
    let mut read = 0;
    while r.has_next(len, read)? {
        read += 1;
        let name = match r.header()? {
            Header::Text(l) => r.text(l)?,
            h => return Err(unexpected("field name", "text string", &h)),
        };
        if let Some((prev, _)) = fields.last() {
            match prev.as_str().cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(OperationError::DuplicateFieldName(name.to_string()))
                }
                std::cmp::Ordering::Greater => {
                    return Err(OperationError::UnsortedFieldName(
                        name.to_string(),
                        prev.clone(),
                    ))
                }
            }
        }
        let value = decode_value(r).map_err(|e| match e {
            DecodeValueError::Cbor(c) => OperationError::Cbor(c),
            DecodeValueError::Value(reason) => OperationError::InvalidValue {
                field: name.to_string(),
                reason,
            },
        })?;
        fields.push((name.to_string(), value));
    }
    Ok(fields)
}

enum DecodeValueError {
    Cbor(CborError),
    Value(ValueError),
}

impl From<CborError> for DecodeValueError {
    fn from(e: CborError) -> Self {
        DecodeValueError::Cbor(e)
    }
}

impl From<ValueError> for DecodeValueError {
    fn from(e: ValueError) -> Self {
        DecodeValueError::Value(e)
    }
}

fn i64_from_unsigned(n: u64) -> Result<i64, ValueError> {
    i64::try_from(n).map_err(|_| ValueError::IntegerOutOfRange)
}

fn decode_hash_list(r: &mut Reader, len: Option<u64>) -> Result<Vec<Hash>, DecodeValueError> {
    let mut out = Vec::new();
    let mut read = 0;
    while r.has_next(len, read)? {
        read += 1;
        match r.header()? {
            Header::Bytes(l) => {
                out.push(Hash::from_bytes(r.bytes(l)?).map_err(ValueError::Hash)?);
            }
            _ => return Err(ValueError::InvalidListItem.into()),
        }
    }
    Ok(out)
}

fn decode_value(r: &mut Reader) -> Result<PlainValue, DecodeValueError> {
    Ok(match r.header()? {
        Header::Unsigned(n) => PlainValue::Int(i64_from_unsigned(n)?),
        Header::Negative(n) => PlainValue::Int(-1 - i64_from_unsigned(n)?),
        Header::Float(x) => PlainValue::Float(x),
        Header::Simple(20) => PlainValue::Bool(false),
        Header::Simple(21) => PlainValue::Bool(true),
        Header::Bytes(l) => PlainValue::Bytes(r.bytes(l)?.to_vec()),
        Header::Text(l) => PlainValue::Str(r.text(l)?.to_string()),
        Header::Array(len) => {
            // Either every item is a hash or every item is a list of hashes.
            let mut hashes = Vec::new();
            let mut lists = Vec::new();
            let mut read = 0;
            while r.has_next(len, read)? {
                read += 1;
                match r.header()? {
                    Header::Bytes(l) if lists.is_empty() => {
                        hashes.push(Hash::from_bytes(r.bytes(l)?).map_err(ValueError::Hash)?)
                    }
                    Header::Array(inner) if hashes.is_empty() => {
                        lists.push(decode_hash_list(r, inner)?)
                    }
                    _ => return Err(ValueError::InvalidListItem.into()),
                }
            }
            if lists.is_empty() {
                PlainValue::HashList(hashes)
            } else {
                PlainValue::HashListList(lists)
            }
        }
        Header::Tag(_) => return Err(ValueError::Tagged.into()),
        h => return Err(ValueError::UnsupportedType(h.kind()).into()),
    })
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

fn check_create_names(
    plain: &[(String, PlainValue)],
    schema: &Schema,
) -> Result<(), ValidationError> {
    let expected = schema.fields();
    if plain.len() == expected.len() {
        for ((found, _), (exp, _)) in plain.iter().zip(expected) {
            if found != exp {
                return Err(ValidationError::FieldNameMismatch {
                    found: found.clone(),
                    expected: exp.clone(),
                });
            }
        }
        return Ok(());
    }
    if let Some((name, ty)) = expected
        .iter()
        .find(|(n, _)| plain.binary_search_by(|(p, _)| p.as_str().cmp(n)).is_err())
    {
        if plain.len() < expected.len() {
            return Err(ValidationError::MissingField {
                name: name.clone(),
                ty: ty.clone(),
            });
        }
    }
    let unknown: Vec<String> = plain
        .iter()
        .filter(|(n, _)| schema.field(n).is_none())
        .map(|(n, _)| n.clone())
        .collect();
    Err(ValidationError::UnexpectedFields(unknown))
}

fn type_value(
    name: &str,
    value: &PlainValue,
    ty: &FieldType,
) -> Result<OperationValue, ValidationError> {
    let wrong = || ValidationError::InvalidFieldType {
        field: name.to_string(),
        found: value.type_name(),
        expected: ty.clone(),
    };
    let view_id = |ids: &[Hash]| {
        DocumentViewId::from_canonical(ids.to_vec()).map_err(|source| {
            ValidationError::NonCanonicalViewId {
                field: name.to_string(),
                source,
            }
        })
    };
    Ok(match (ty, value) {
        (FieldType::Bool, PlainValue::Bool(b)) => OperationValue::Bool(*b),
        (FieldType::Int, PlainValue::Int(i)) => OperationValue::Int(*i),
        (FieldType::Float, PlainValue::Float(f)) => OperationValue::Float(*f),
        (FieldType::Str, PlainValue::Str(s)) => OperationValue::Str(s.clone()),
        (FieldType::Bytes, PlainValue::Bytes(b)) => OperationValue::Bytes(b.clone()),
        (FieldType::Relation(_), PlainValue::Bytes(b)) => {
            OperationValue::Relation(Hash::from_bytes(b).map_err(|source| {
                ValidationError::InvalidRelation {
                    field: name.to_string(),
                    source,
                }
            })?)
        }
        (FieldType::RelationList(_), PlainValue::HashList(ids)) => {
            OperationValue::RelationList(ids.clone())
        }
        (FieldType::PinnedRelation(_), PlainValue::HashList(ids)) => {
            OperationValue::PinnedRelation(view_id(ids)?)
        }
        // `[]` is the empty list; upstream also turns a flat, non-empty hash
        // list into an empty list, silently losing it. We reject that.
        (FieldType::PinnedRelationList(_), PlainValue::HashList(ids)) if ids.is_empty() => {
            OperationValue::PinnedRelationList(Vec::new())
        }
        (FieldType::PinnedRelationList(_), PlainValue::HashListList(lists)) => {
            OperationValue::PinnedRelationList(
                lists.iter().map(|l| view_id(l)).collect::<Result<_, _>>()?,
            )
        }
        _ => return Err(wrong()),
    })
}

/// `^[a-z-]{1,12}/(([a-z0-9]{1,18})[.|+|-]){0,6}[a-z0-9]{1,16}$` (upstream's
/// MIME type pattern; `|` is a literal separator inside its character class).
fn is_valid_mime_type(s: &str) -> bool {
    let Some((top, rest)) = s.split_once('/') else {
        return false;
    };
    if top.is_empty() || top.len() > 12 || !top.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return false;
    }
    let segs: Vec<&str> = rest.split(['.', '|', '+', '-']).collect();
    let alnum = |seg: &str, max: usize| {
        !seg.is_empty()
            && seg.len() <= max
            && seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    segs.len() <= 7
        && segs[..segs.len() - 1].iter().all(|s| alnum(s, 18))
        && segs.last().is_some_and(|s| alnum(s, 16))
}

fn check_system_fields(kind: SystemSchema, fields: &Fields) -> Result<(), ValidationError> {
    let err = |field: &'static str, reason: &'static str| ValidationError::SystemSchema {
        schema: SchemaId::System(kind, 1),
        field,
        reason,
    };
    const BAD_FORMAT: &str = "is wrongly formatted";
    match kind {
        SystemSchema::SchemaDefinition => {
            if let Some(OperationValue::Str(name)) = fields.get("name") {
                if !crate::ids::is_valid_schema_name(name) {
                    return Err(err("name", BAD_FORMAT));
                }
            }
            if let Some(OperationValue::Str(d)) = fields.get("description") {
                if d.chars().count() > MAX_DESCRIPTION_LENGTH {
                    return Err(err("description", "is longer than 256 characters"));
                }
            }
            if let Some(OperationValue::PinnedRelationList(l)) = fields.get("fields") {
                if l.len() > MAX_SCHEMA_FIELDS {
                    return Err(err("fields", "has more than 1024 items"));
                }
            }
        }
        SystemSchema::SchemaFieldDefinition => {
            if let Some(OperationValue::Str(name)) = fields.get("name") {
                if !crate::ids::is_valid_field_name(name) {
                    return Err(err("name", BAD_FORMAT));
                }
            }
            if let Some(OperationValue::Str(t)) = fields.get("type") {
                if t.parse::<FieldType>().is_err() {
                    return Err(err("type", BAD_FORMAT));
                }
            }
        }
        SystemSchema::Blob => {
            if let Some(OperationValue::Str(m)) = fields.get("mime_type") {
                if !is_valid_mime_type(m) {
                    return Err(err("mime_type", BAD_FORMAT));
                }
            }
            if let Some(OperationValue::Int(l)) = fields.get("length") {
                if *l < 0 {
                    return Err(err("length", "is negative"));
                }
            }
            if let Some(OperationValue::PinnedRelationList(p)) = fields.get("pieces") {
                if p.is_empty() {
                    return Err(err("pieces", "is empty"));
                }
            }
        }
        SystemSchema::BlobPiece => {
            if let Some(OperationValue::Bytes(d)) = fields.get("data") {
                if d.len() > MAX_BLOB_PIECE_LENGTH {
                    return Err(err("data", "is over maximum allowed length"));
                }
            }
        }
    }
    Ok(())
}

/// An operation whose fields are typed by its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub action: OperationAction,
    pub schema_id: SchemaId,
    pub previous: Option<DocumentViewId>,
    pub fields: Option<Fields>,
}

impl Operation {
    pub fn create(schema_id: SchemaId, fields: Fields) -> Self {
        Self {
            action: OperationAction::Create,
            schema_id,
            previous: None,
            fields: Some(fields),
        }
    }

    pub fn update(schema_id: SchemaId, previous: DocumentViewId, fields: Fields) -> Self {
        Self {
            action: OperationAction::Update,
            schema_id,
            previous: Some(previous),
            fields: Some(fields),
        }
    }

    pub fn delete(schema_id: SchemaId, previous: DocumentViewId) -> Self {
        Self {
            action: OperationAction::Delete,
            schema_id,
            previous: Some(previous),
            fields: None,
        }
    }

    /// Encodes canonically, byte for byte as p2panda-rs and p2panda-js do.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let len = match self.action {
            OperationAction::Create => 4,
            OperationAction::Update => 5,
            OperationAction::Delete => 4,
        };
        w.array(len);
        w.unsigned(OPERATION_VERSION);
        w.unsigned(self.action.as_u64());
        w.text(&self.schema_id.to_string());
        if self.action != OperationAction::Create {
            let ids = self.previous.as_ref().map(|p| p.ids()).unwrap_or_default();
            write_ids(&mut w, ids);
        }
        if self.action != OperationAction::Delete {
            let empty = Fields::new();
            let fields = self.fields.as_ref().unwrap_or(&empty);
            w.map(fields.len());
            for (name, value) in fields {
                w.text(name);
                write_value(&mut w, value);
            }
        }
        w.into_bytes()
    }
}

fn write_ids(w: &mut Writer, ids: &[Hash]) {
    w.array(ids.len());
    for id in ids {
        w.bytes(id.as_bytes());
    }
}

fn write_value(w: &mut Writer, value: &OperationValue) {
    match value {
        OperationValue::Bool(b) => w.bool(*b),
        OperationValue::Int(i) => w.int(*i),
        OperationValue::Float(f) => w.float(*f),
        OperationValue::Str(s) => w.text(s),
        OperationValue::Bytes(b) => w.bytes(b),
        OperationValue::Relation(id) => w.bytes(id.as_bytes()),
        OperationValue::RelationList(ids) => write_ids(w, ids),
        OperationValue::PinnedRelation(view) => write_ids(w, view.ids()),
        OperationValue::PinnedRelationList(views) => {
            w.array(views.len());
            for v in views {
                write_ids(w, v.ids());
            }
        }
    }
}

impl fmt::Display for OperationAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types() {
        for ok in [
            "image/png",
            "text/plain",
            "application/vnd.ms-excel",
            "image/svg+xml",
        ] {
            assert!(is_valid_mime_type(ok), "{ok}");
        }
        for bad in [
            "",
            "image",
            "Image/png",
            "image/",
            "image/png.",
            "toolongtoplevel/x",
        ] {
            assert!(!is_valid_mime_type(bad), "{bad}");
        }
    }
}
