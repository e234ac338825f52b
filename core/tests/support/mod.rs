//! Test support: the vectors, JSON → core types, and an in-memory model of a
//! node's publish path built only from core's pure functions.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use hoffnung_core::entry::{EntryError, LogPosition, NextArgs};
use hoffnung_core::operation::OperationError;
use hoffnung_core::publish::{self, PreviousOperation, PublishError};
use hoffnung_core::*;
use serde_json::Value;

/// Reads a vector file from `fixtures/vectors/`.
pub fn load(name: &str) -> Value {
    load_fixture(&format!("vectors/{name}"))
}

/// Reads a JSON file from `fixtures/`.
pub fn load_fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

pub fn hash(v: &Value) -> Hash {
    s(v).parse().unwrap()
}

pub fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

pub fn opt_hash(v: &Value) -> Option<Hash> {
    if v.is_null() {
        None
    } else {
        Some(hash(v))
    }
}

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(s(v)).unwrap()
}

/// A typed value of the vectors' JSON form.
pub fn typed_value(v: &Value) -> OperationValue {
    let value = &v["value"];
    match s(&v["type"]) {
        "bool" => OperationValue::Bool(value.as_bool().unwrap()),
        "int" => OperationValue::Int(s(value).parse().unwrap()),
        "float" => {
            let bits = u64::from_str_radix(s(&v["f64_bits"]), 16).unwrap();
            OperationValue::Float(f64::from_bits(bits))
        }
        "str" => OperationValue::Str(s(value).to_string()),
        "bytes" => OperationValue::Bytes(unhex(value)),
        "relation" => OperationValue::Relation(hash(value)),
        "relation_list" => OperationValue::RelationList(hashes(value)),
        "pinned_relation" => {
            OperationValue::PinnedRelation(DocumentViewId::from_canonical(hashes(value)).unwrap())
        }
        "pinned_relation_list" => OperationValue::PinnedRelationList(
            value
                .as_array()
                .unwrap()
                .iter()
                .map(|l| DocumentViewId::from_canonical(hashes(l)).unwrap())
                .collect(),
        ),
        other => panic!("unknown type {other}"),
    }
}

/// Values equal, with floats compared bit for bit (NaN, -0.0).
pub fn same_value(a: &OperationValue, b: &OperationValue) -> bool {
    match (a, b) {
        (OperationValue::Float(x), OperationValue::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// An operation of the vectors' JSON form.
pub fn json_operation(v: &Value) -> Operation {
    let schema_id: SchemaId = s(&v["schema_id"]).parse().unwrap();
    let fields = v["fields"].as_object().map(|m| {
        m.iter()
            .map(|(k, f)| (k.clone(), typed_value(f)))
            .collect::<Fields>()
    });
    let previous = if v["previous"].is_null() {
        None
    } else {
        Some(DocumentViewId::from_canonical(hashes(&v["previous"])).unwrap())
    };
    let action = match s(&v["action"]) {
        "create" => OperationAction::Create,
        "update" => OperationAction::Update,
        _ => OperationAction::Delete,
    };
    Operation {
        action,
        schema_id,
        previous,
        fields,
    }
}

pub fn key_pairs() -> HashMap<String, KeyPair> {
    load("keys")["key_pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                s(&k["name"]).to_string(),
                KeyPair::from_private_key_hex(s(&k["private_key"])).unwrap(),
            )
        })
        .collect()
}

/// Every way the model node refuses input, by stage.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid hex")]
    Hex,
    #[error(transparent)]
    Operation(#[from] OperationError),
    #[error("Schema not found")]
    SchemaNotFound,
    #[error(transparent)]
    Entry(#[from] EntryError),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("Document is deleted")]
    DocumentDeleted,
}

impl NodeError {
    /// The vectors' `error_class` for this error.
    pub fn class(&self) -> &'static str {
        match self {
            NodeError::Hex => "hex",
            NodeError::Operation(_) => "operation_decode",
            NodeError::SchemaNotFound => "schema_not_found",
            NodeError::Entry(EntryError::InvalidSignature) => "entry_signature",
            NodeError::Entry(
                EntryError::SkiplinkEqualsBacklink
                | EntryError::MissingBacklink(_)
                | EntryError::MissingSkiplink(_)
                | EntryError::UnexpectedSkiplink(_)
                | EntryError::UnexpectedLinks(_),
            ) => "entry_links",
            NodeError::Entry(_) => "entry_decode",
            NodeError::Validation(_) => "schema_validation",
            NodeError::Publish(PublishError::Payload(_)) => "payload_mismatch",
            NodeError::Publish(PublishError::LogIntegrity(_)) => "log_integrity",
            NodeError::Publish(
                PublishError::SeqNum { .. } | PublishError::SkiplinkEntryMissing { .. },
            ) => "seq_num",
            NodeError::Publish(
                PublishError::LogIdMismatch { .. } | PublishError::LogNotFound { .. },
            ) => "log_id",
            NodeError::Publish(PublishError::BuildsOnDelete) | NodeError::DocumentDeleted => {
                "document_deleted"
            }
            NodeError::Publish(_) => "document",
        }
    }
}

#[derive(Clone)]
struct Stored {
    entry: EncodedEntry,
    operation: Vec<u8>,
    document_id: DocumentId,
}

/// A node's publish path in memory, using only core's functions, in the
/// order upstream checks. The store crate implements the same on SQL.
#[derive(Clone, Default)]
pub struct MemoryNode {
    entries: HashMap<Hash, Stored>,
    logs: HashMap<(PublicKey, LogId), Vec<Hash>>,
    document_logs: HashMap<(PublicKey, DocumentId), LogId>,
    documents: HashMap<DocumentId, Vec<DocumentOperation>>,
    previous_meta: HashMap<OperationId, PreviousOperation>,
    schemas: HashMap<SchemaId, Schema>,
}

impl MemoryNode {
    pub fn new() -> Self {
        let mut node = Self::default();
        for schema in Schema::system_schemas() {
            node.schemas.insert(schema.id().clone(), schema);
        }
        node
    }

    pub fn schema(&self, id: &SchemaId) -> Option<&Schema> {
        self.schemas.get(id)
    }

    pub fn document_operations(&self, id: &DocumentId) -> &[DocumentOperation] {
        self.documents
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, hash: &Hash) -> LogPosition {
        self.entries[hash].entry.position()
    }

    fn log_entry(&self, public_key: PublicKey, log_id: LogId, seq: SeqNum) -> Option<LogPosition> {
        let log = self.logs.get(&(public_key, log_id))?;
        let idx = usize::try_from(seq.checked_sub(1)?).ok()?;
        log.get(idx).map(|h| self.position(h))
    }

    pub fn next_args(
        &self,
        public_key: PublicKey,
        view_id: Option<&DocumentViewId>,
    ) -> Result<NextArgs, NodeError> {
        let new_log = || {
            let max = self
                .logs
                .keys()
                .filter(|(pk, _)| *pk == public_key)
                .map(|(_, l)| *l)
                .max();
            publish::next_args_new_log(max)
        };
        let Some(view_id) = view_id else {
            return Ok(new_log());
        };
        let mut document = None;
        for id in view_id.ids() {
            let meta = self
                .previous_meta
                .get(id)
                .ok_or(PublishError::PreviousNotFound(*id))?;
            if document.is_some_and(|d| d != meta.document_id) {
                return Err(PublishError::PreviousFromDifferentDocuments.into());
            }
            document = Some(meta.document_id);
        }
        let document = document.expect("view ids are non-empty");
        if self.documents[&document]
            .iter()
            .any(|o| o.operation.action == OperationAction::Delete)
        {
            return Err(NodeError::DocumentDeleted);
        }
        match self.document_logs.get(&(public_key, document)) {
            None => Ok(new_log()),
            Some(log_id) => {
                let latest = *self.logs[&(public_key, *log_id)]
                    .last()
                    .expect("logs are non-empty");
                let latest = self.position(&latest);
                let skiplink = publish::next_skiplink_seq_num(latest.seq_num)
                    .and_then(|seq| self.log_entry(public_key, *log_id, seq))
                    .map(|p| p.hash);
                Ok(publish::next_args_after(&latest, skiplink))
            }
        }
    }

    pub fn publish_hex(&mut self, entry: &str, operation: &str) -> Result<NextArgs, NodeError> {
        let entry = hex::decode(entry).map_err(|_| NodeError::Hex)?;
        let operation = hex::decode(operation).map_err(|_| NodeError::Hex)?;
        self.publish(&entry, &operation)
    }

    pub fn publish(
        &mut self,
        entry_bytes: &[u8],
        operation_bytes: &[u8],
    ) -> Result<NextArgs, NodeError> {
        let plain = PlainOperation::decode(operation_bytes)?;
        let schema = self
            .schemas
            .get(&plain.schema_id)
            .ok_or(NodeError::SchemaNotFound)?
            .clone();
        let encoded = EncodedEntry::decode_and_verify(entry_bytes)?;
        let entry = encoded.entry().clone();
        let log = self.logs.get(&(entry.public_key, entry.log_id));
        let head = log.and_then(|l| l.last()).map(|h| self.position(h));
        let skip = entry
            .skiplink_seq_num()
            .and_then(|seq| self.log_entry(entry.public_key, entry.log_id, seq));
        publish::check_entry_in_log(&entry, operation_bytes, head.as_ref(), skip.as_ref())?;
        let operation = plain.validate(&schema)?;
        let found: Vec<PreviousOperation> = plain
            .previous
            .iter()
            .flat_map(|p| p.ids())
            .filter_map(|id| self.previous_meta.get(id).cloned())
            .collect();
        let document_id = publish::document_of(encoded.hash(), &plain, &found)?;
        let doc_log = self
            .document_logs
            .get(&(entry.public_key, document_id))
            .copied();
        publish::check_log_id(&entry, &document_id, doc_log)?;

        // Append.
        let id = encoded.hash();
        self.logs
            .entry((entry.public_key, entry.log_id))
            .or_default()
            .push(id);
        self.document_logs
            .insert((entry.public_key, document_id), entry.log_id);
        self.previous_meta.insert(
            id,
            PreviousOperation {
                id,
                document_id,
                schema_id: plain.schema_id.clone(),
                action: plain.action,
            },
        );
        self.documents
            .entry(document_id)
            .or_default()
            .push(DocumentOperation {
                id,
                public_key: entry.public_key,
                operation,
            });
        self.entries.insert(
            id,
            Stored {
                entry: encoded.clone(),
                operation: operation_bytes.to_vec(),
                document_id,
            },
        );
        if matches!(plain.schema_id, SchemaId::System(..)) {
            self.build_schemas();
        }
        let latest = encoded.position();
        let skiplink = publish::next_skiplink_seq_num(latest.seq_num)
            .and_then(|seq| self.log_entry(entry.public_key, entry.log_id, seq))
            .map(|p| p.hash);
        Ok(publish::next_args_after(&latest, skiplink))
    }

    /// A view of a document at `view_id` (any document holding those ops).
    pub fn view(&self, view_id: &DocumentViewId) -> Option<DocumentView> {
        let meta = self.previous_meta.get(&view_id.ids()[0])?;
        reduce_to_view(&self.documents[&meta.document_id], view_id).ok()
    }

    /// Builds every schema whose definition and pinned field definitions exist.
    fn build_schemas(&mut self) {
        let mut built = Vec::new();
        for ops in self.documents.values() {
            if ops[0].operation.schema_id != SchemaId::SCHEMA_DEFINITION_V1 {
                continue;
            }
            let Ok(definition) = reduce(ops) else {
                continue;
            };
            let Some(Some(ViewField {
                value: OperationValue::PinnedRelationList(pinned),
                ..
            })) = definition.fields.as_ref().map(|f| f.get("fields"))
            else {
                continue;
            };
            let field_views: Vec<DocumentView> =
                pinned.iter().filter_map(|v| self.view(v)).collect();
            let refs: Vec<&DocumentView> = field_views.iter().collect();
            if let Ok(schema) = Schema::from_views(&definition, &refs) {
                built.push(schema);
            }
        }
        for schema in built {
            self.schemas.entry(schema.id().clone()).or_insert(schema);
        }
    }
}

pub fn next_args_json(args: &NextArgs) -> Value {
    serde_json::json!({
        "logId": args.log_id.to_string(),
        "seqNum": args.seq_num.to_string(),
        "backlink": args.backlink.map(|h| h.to_string()),
        "skiplink": args.skiplink.map(|h| h.to_string()),
    })
}

/// A node holding exactly the state of `publish_sequence.json`.
pub fn reference_node() -> MemoryNode {
    let mut node = MemoryNode::new();
    for e in load("publish_sequence")["entries"].as_array().unwrap() {
        node.publish_hex(s(&e["entry_hex"]), s(&e["operation_hex"]))
            .unwrap_or_else(|err| panic!("{}: {err}", s(&e["name"])));
    }
    node
}
