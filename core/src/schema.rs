//! Schemas: field types and the system schemas.
//!
//! Building an application schema from its materialized definition
//! documents is in `schema_definition`: it needs document views, and
//! `document` (through `operation`) needs this module.

use std::fmt;
use std::str::FromStr;

use crate::ids::{is_valid_field_name, DocumentViewId, SchemaId, SchemaIdError};

/// Most fields a schema may have.
pub const MAX_SCHEMA_FIELDS: usize = 1024;
/// Longest schema description, in Unicode scalar values.
pub const MAX_DESCRIPTION_LENGTH: usize = 256;
/// Largest `blob_piece_v1.data`.
pub const MAX_BLOB_PIECE_LENGTH: usize = 256_000;

/// The type of a schema field.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum FieldType {
    Bool,
    Int,
    Float,
    Str,
    Bytes,
    Relation(SchemaId),
    RelationList(SchemaId),
    PinnedRelation(SchemaId),
    PinnedRelationList(SchemaId),
}

/// Why a field type string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldTypeError {
    #[error("unknown field type `{0}`")]
    Unknown(String),
    #[error("invalid schema id in field type `{ty}`: {source}")]
    SchemaId {
        ty: String,
        #[source]
        source: SchemaIdError,
    },
}

impl FieldType {
    /// The schema a relation field points at.
    pub fn relation_target(&self) -> Option<&SchemaId> {
        match self {
            FieldType::Relation(s)
            | FieldType::RelationList(s)
            | FieldType::PinnedRelation(s)
            | FieldType::PinnedRelationList(s) => Some(s),
            _ => None,
        }
    }
}

impl FromStr for FieldType {
    type Err = FieldTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "bool" => FieldType::Bool,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "str" => FieldType::Str,
            "bytes" => FieldType::Bytes,
            _ => {
                let (kind, rest) = s
                    .split_once('(')
                    .ok_or_else(|| FieldTypeError::Unknown(s.to_string()))?;
                let inner = rest
                    .strip_suffix(')')
                    .ok_or_else(|| FieldTypeError::Unknown(s.to_string()))?;
                let make: fn(SchemaId) -> FieldType = match kind {
                    "relation" => FieldType::Relation,
                    "relation_list" => FieldType::RelationList,
                    "pinned_relation" => FieldType::PinnedRelation,
                    "pinned_relation_list" => FieldType::PinnedRelationList,
                    // Upstream accepts any kind here; we refuse what cannot be built.
                    _ => return Err(FieldTypeError::Unknown(s.to_string())),
                };
                let id = inner.parse().map_err(|source| FieldTypeError::SchemaId {
                    ty: s.to_string(),
                    source,
                })?;
                make(id)
            }
        })
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Bool => f.write_str("bool"),
            FieldType::Int => f.write_str("int"),
            FieldType::Float => f.write_str("float"),
            FieldType::Str => f.write_str("str"),
            FieldType::Bytes => f.write_str("bytes"),
            FieldType::Relation(s) => write!(f, "relation({s})"),
            FieldType::RelationList(s) => write!(f, "relation_list({s})"),
            FieldType::PinnedRelation(s) => write!(f, "pinned_relation({s})"),
            FieldType::PinnedRelationList(s) => write!(f, "pinned_relation_list({s})"),
        }
    }
}

impl fmt::Debug for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldType({self})")
    }
}

/// A schema: its id, description and fields sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    id: SchemaId,
    description: String,
    fields: Vec<(String, FieldType)>,
}

/// Why a schema cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("a schema needs between 1 and {MAX_SCHEMA_FIELDS} fields, got {0}")]
    FieldCount(usize),
    #[error("invalid field name `{0}`")]
    FieldName(String),
    #[error("duplicate field name `{0}`")]
    DuplicateField(String),
    #[error("invalid schema name `{0}`")]
    Name(String),
    #[error("description is longer than {MAX_DESCRIPTION_LENGTH} characters")]
    Description,
    #[error("document of schema {found} is not a {expected} document")]
    WrongSchema { found: SchemaId, expected: SchemaId },
    #[error("schema definition is deleted")]
    Deleted,
    #[error("field `{0}` missing or of the wrong type in definition document")]
    MalformedDefinition(&'static str),
    #[error("schema definition pins field definition {0} which was not given")]
    MissingFieldDefinition(DocumentViewId),
    #[error("invalid field type: {0}")]
    FieldType(#[from] FieldTypeError),
}

impl Schema {
    /// A schema from its parts; checks names, counts and duplicates.
    pub fn new(
        id: SchemaId,
        description: &str,
        fields: Vec<(String, FieldType)>,
    ) -> Result<Self, SchemaError> {
        if fields.is_empty() || fields.len() > MAX_SCHEMA_FIELDS {
            return Err(SchemaError::FieldCount(fields.len()));
        }
        if description.chars().count() > MAX_DESCRIPTION_LENGTH {
            return Err(SchemaError::Description);
        }
        let mut fields = fields;
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        for w in fields.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(SchemaError::DuplicateField(w[0].0.clone()));
            }
        }
        if let Some((bad, _)) = fields.iter().find(|(n, _)| !is_valid_field_name(n)) {
            return Err(SchemaError::FieldName(bad.clone()));
        }
        Ok(Self {
            id,
            description: description.to_string(),
            fields,
        })
    }

    /// The schema of a system schema id (version 1 only), if it exists.
    pub fn system(id: &SchemaId) -> Option<Schema> {
        use crate::ids::SystemSchema as S;
        let SchemaId::System(kind, 1) = id else {
            return None;
        };
        let (description, fields): (&str, Vec<(&str, FieldType)>) = match kind {
            S::SchemaDefinition => (
                "Publish data schemas for your application.",
                vec![
                    ("description", FieldType::Str),
                    (
                        "fields",
                        FieldType::PinnedRelationList(SchemaId::SCHEMA_FIELD_DEFINITION_V1),
                    ),
                    ("name", FieldType::Str),
                ],
            ),
            S::SchemaFieldDefinition => (
                "Define fields for application data schemas.",
                vec![("name", FieldType::Str), ("type", FieldType::Str)],
            ),
            S::Blob => (
                "Definition of a blob file.",
                vec![
                    ("length", FieldType::Int),
                    ("mime_type", FieldType::Str),
                    (
                        "pieces",
                        FieldType::PinnedRelationList(SchemaId::BLOB_PIECE_V1),
                    ),
                ],
            ),
            S::BlobPiece => (
                "Representation of the (partial) binary data of a file.",
                vec![("data", FieldType::Bytes)],
            ),
        };
        Some(Schema {
            id: id.clone(),
            description: description.to_string(),
            fields: fields
                .into_iter()
                .map(|(n, t)| (n.to_string(), t))
                .collect(),
        })
    }

    /// All system schemas, in wire order.
    pub fn system_schemas() -> Vec<Schema> {
        crate::ids::SystemSchema::ALL
            .iter()
            .filter_map(|s| Schema::system(&SchemaId::System(*s, 1)))
            .collect()
    }

    pub fn id(&self) -> &SchemaId {
        &self.id
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Fields sorted by name.
    pub fn fields(&self) -> &[(String, FieldType)] {
        &self.fields
    }

    /// The type of a field.
    pub fn field(&self, name: &str) -> Option<&FieldType> {
        self.fields
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &self.fields[i].1)
    }
}
