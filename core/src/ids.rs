//! Identifiers: operation and document ids, document view ids, schema ids.

use std::fmt;
use std::str::FromStr;

use crate::hash::{Hash, HashError, HASH_SIZE};

/// An operation id is the hash of the entry that carries the operation.
pub type OperationId = Hash;
/// A document id is the operation id of the document's CREATE.
pub type DocumentId = Hash;

/// Why a document view id is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewIdError {
    #[error("expected one or more operation ids")]
    Empty,
    #[error("expected sorted operation ids in document view id")]
    Unsorted,
    #[error("invalid operation id in document view id: {0}")]
    Hash(#[from] HashError),
    #[error("operation ids in an operation must be lower-case hex")]
    NotLowerCase,
}

/// The tips of a document graph that define one view of it: a non-empty,
/// strictly ascending set of operation ids. String form: ids joined by `_`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentViewId(Vec<OperationId>);

impl DocumentViewId {
    /// Builds a view id from any ids: sorts and deduplicates them.
    pub fn new(mut ids: Vec<OperationId>) -> Result<Self, ViewIdError> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Err(ViewIdError::Empty);
        }
        Ok(Self(ids))
    }

    /// A view id of a single operation.
    pub fn from_operation(id: OperationId) -> Self {
        Self(vec![id])
    }

    /// Accepts ids only in canonical form (non-empty, strictly ascending).
    pub fn from_canonical(ids: Vec<OperationId>) -> Result<Self, ViewIdError> {
        if ids.is_empty() {
            return Err(ViewIdError::Empty);
        }
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ViewIdError::Unsorted);
        }
        Ok(Self(ids))
    }

    pub fn ids(&self) -> &[OperationId] {
        &self.0
    }

    pub fn into_ids(self) -> Vec<OperationId> {
        self.0
    }

    /// The document view hash: the hash of the concatenated 34-byte ids.
    pub fn view_hash(&self) -> Hash {
        let mut hasher = blake3::Hasher::new();
        for id in &self.0 {
            hasher.update(id.as_bytes());
        }
        Hash::from_digest(*hasher.finalize().as_bytes())
    }
}

impl FromStr for DocumentViewId {
    type Err = ViewIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ViewIdError::Empty);
        }
        let ids = s
            .split('_')
            .map(Hash::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_canonical(ids)
    }
}

impl fmt::Display for DocumentViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("_")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DocumentViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentViewId({self})")
    }
}

/// The four system schemas of this protocol generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SystemSchema {
    SchemaDefinition,
    SchemaFieldDefinition,
    Blob,
    BlobPiece,
}

impl SystemSchema {
    pub const ALL: [SystemSchema; 4] = [
        SystemSchema::SchemaDefinition,
        SystemSchema::SchemaFieldDefinition,
        SystemSchema::Blob,
        SystemSchema::BlobPiece,
    ];

    /// The name without version, e.g. `schema_definition`.
    pub fn name(&self) -> &'static str {
        match self {
            SystemSchema::SchemaDefinition => "schema_definition",
            SystemSchema::SchemaFieldDefinition => "schema_field_definition",
            SystemSchema::Blob => "blob",
            SystemSchema::BlobPiece => "blob_piece",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Why a schema id (or schema or field name) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaIdError {
    #[error("malformed schema id `{0}`: doesn't contain an underscore")]
    NoUnderscore(String),
    #[error("unsupported system schema: {0}")]
    UnsupportedSystemSchema(String),
    #[error("malformed schema id `{0}`: invalid version")]
    InvalidVersion(String),
    #[error("malformed schema id `{id}`: invalid document view id: {source}")]
    ViewId {
        id: String,
        #[source]
        source: ViewIdError,
    },
    #[error("malformed schema id `{0}`: invalid schema name")]
    InvalidName(String),
}

/// A schema id: a versioned system schema or `<name>_<view id>` of an
/// application schema (the view id of its `schema_definition_v1` document).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SchemaId {
    System(SystemSchema, u32),
    Application(String, DocumentViewId),
}

impl SchemaId {
    pub const SCHEMA_DEFINITION_V1: SchemaId = SchemaId::System(SystemSchema::SchemaDefinition, 1);
    pub const SCHEMA_FIELD_DEFINITION_V1: SchemaId =
        SchemaId::System(SystemSchema::SchemaFieldDefinition, 1);
    pub const BLOB_V1: SchemaId = SchemaId::System(SystemSchema::Blob, 1);
    pub const BLOB_PIECE_V1: SchemaId = SchemaId::System(SystemSchema::BlobPiece, 1);

    /// An application schema id; the name must be a valid schema name.
    pub fn application(name: &str, view_id: DocumentViewId) -> Result<Self, SchemaIdError> {
        if !is_valid_schema_name(name) {
            return Err(SchemaIdError::InvalidName(name.to_string()));
        }
        Ok(SchemaId::Application(name.to_string(), view_id))
    }

    /// The schema's name (`schema_definition` for `schema_definition_v1`).
    pub fn name(&self) -> &str {
        match self {
            SchemaId::System(s, _) => s.name(),
            SchemaId::Application(name, _) => name,
        }
    }

    /// The "hash id": `<name>__<view hash>` or `<name>__<version>`.
    pub fn hash_id(&self) -> String {
        match self {
            SchemaId::System(s, v) => format!("{}__{v}", s.name()),
            SchemaId::Application(name, view) => format!("{name}__{}", view.view_hash()),
        }
    }
}

/// The order upstream uses for schema id sets on the wire: system schemas
/// first in declaration order, then application schemas by name, then by
/// view id (not plain string order).
impl Ord for SchemaId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (SchemaId::System(a, va), SchemaId::System(b, vb)) => (a, va).cmp(&(b, vb)),
            (SchemaId::System(..), SchemaId::Application(..)) => Ordering::Less,
            (SchemaId::Application(..), SchemaId::System(..)) => Ordering::Greater,
            (SchemaId::Application(na, va), SchemaId::Application(nb, vb)) => {
                (na, va).cmp(&(nb, vb))
            }
        }
    }
}

impl PartialOrd for SchemaId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for SchemaId {
    type Err = SchemaIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(last_us) = s.rfind('_') else {
            return Err(SchemaIdError::NoUnderscore(s.to_string()));
        };
        let suffix = &s[last_us + 1..];
        if suffix.starts_with('v') && suffix.len() < HASH_SIZE * 2 {
            let name = &s[..last_us];
            let system = SystemSchema::from_name(name)
                .ok_or_else(|| SchemaIdError::UnsupportedSystemSchema(name.to_string()))?;
            let digits = &suffix[1..];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SchemaIdError::InvalidVersion(s.to_string()));
            }
            let version = digits
                .parse::<u32>()
                .map_err(|_| SchemaIdError::InvalidVersion(s.to_string()))?;
            return Ok(SchemaId::System(system, version));
        }
        // Peel `_<68 hex>` operation ids off the right; what remains is the name.
        const ID_LEN: usize = HASH_SIZE * 2;
        let view_err = |source| SchemaIdError::ViewId {
            id: s.to_string(),
            source,
        };
        let mut rest = s;
        let mut ids = Vec::new();
        while rest.len() >= ID_LEN {
            let split = rest.len() - ID_LEN;
            if !rest.is_char_boundary(split) {
                return Err(view_err(ViewIdError::Hash(HashError::InvalidHex)));
            }
            let (head, id) = rest.split_at(split);
            ids.push(Hash::from_str(id).map_err(|e| view_err(e.into()))?);
            match head.strip_suffix('_') {
                Some(h) => rest = h,
                None => return Err(SchemaIdError::InvalidName(s.to_string())),
            }
        }
        if ids.is_empty() {
            return Err(view_err(ViewIdError::Empty));
        }
        ids.reverse();
        let view_id = DocumentViewId::from_canonical(ids).map_err(view_err)?;
        if !is_valid_schema_name(rest) {
            return Err(SchemaIdError::InvalidName(s.to_string()));
        }
        Ok(SchemaId::Application(rest.to_string(), view_id))
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaId::System(s, v) => write!(f, "{}_v{v}", s.name()),
            SchemaId::Application(name, view) => write!(f, "{name}_{view}"),
        }
    }
}

impl fmt::Debug for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchemaId({self})")
    }
}

/// `^[A-Za-z][A-Za-z0-9_]{0,62}[A-Za-z0-9]$`: 2–64 characters.
pub fn is_valid_schema_name(name: &str) -> bool {
    let b = name.as_bytes();
    (2..=64).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `^[A-Za-z][A-Za-z0-9_]{0,63}$`: 1–64 characters, may end with `_`.
pub fn is_valid_field_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_schema_name("ab"));
        assert!(!is_valid_schema_name("a"));
        assert!(!is_valid_schema_name("ab_"));
        assert!(!is_valid_schema_name("1ab"));
        assert!(is_valid_field_name("a"));
        assert!(is_valid_field_name("a_"));
        assert!(!is_valid_field_name("_a"));
    }

    #[test]
    fn system_schema_ids() {
        for id in [
            "schema_definition_v1",
            "schema_field_definition_v1",
            "blob_v1",
            "blob_piece_v1",
        ] {
            assert_eq!(
                id.parse::<SchemaId>().map(|s| s.to_string()),
                Ok(id.to_string())
            );
        }
        assert!(matches!(
            "schema_definition_v2".parse::<SchemaId>(),
            Ok(SchemaId::System(SystemSchema::SchemaDefinition, 2))
        ));
        assert_eq!(
            "key_group_v1".parse::<SchemaId>(),
            Err(SchemaIdError::UnsupportedSystemSchema("key_group".into()))
        );
        assert_eq!(
            "not a schema".parse::<SchemaId>(),
            Err(SchemaIdError::NoUnderscore("not a schema".into()))
        );
    }

    #[test]
    fn application_schema_id() {
        let id = "note_0020974b2f54e7557098470ad6ef648bb497e48a22a4e583787396a6075b824b5e14";
        let parsed: SchemaId = id.parse().expect("valid");
        assert_eq!(parsed.name(), "note");
        assert_eq!(parsed.to_string(), id);
        let two = format!("my_schema_{}_{}", Hash::of(b"a"), Hash::of(b"b"));
        let parsed: Result<SchemaId, _> = two.parse();
        // Sorted or not depends on the hashes; either way the name is peeled correctly.
        if let Ok(p) = parsed {
            assert_eq!(p.name(), "my_schema");
        }
    }
}
