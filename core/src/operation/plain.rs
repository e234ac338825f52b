//! Schema-less decoding: CBOR bytes into a [`PlainOperation`], checking only
//! the shape, the canonical `previous` and the field order.

use crate::cbor::{CborError, Header, Reader};
use crate::hash::Hash;
use crate::ids::{DocumentViewId, SchemaId, ViewIdError};
use crate::operation::action::{OperationAction, OPERATION_VERSION};
use crate::operation::error::{OperationError, ValueError};

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
