//! Helpers: authors that publish through a real store (asking it for the
//! next arguments, as clients do), and schema set-up.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hoffnung_core::{
    reduce, sign_entry, DocumentId, DocumentViewId, Fields, KeyPair, Operation, OperationValue,
    Schema, SchemaId,
};
use hoffnung_materializer::{Materializer, MaterializerConfig};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{Ingested, SchemaSource, Store, ViewRow};

pub type Signed = (Vec<u8>, Vec<u8>);

pub fn s(v: &str) -> OperationValue {
    OperationValue::Str(v.to_string())
}

pub fn fields(items: &[(&str, OperationValue)]) -> Fields {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Signs `op` as the next entry of `key` (a new log for a CREATE).
pub async fn sign(store: &Store, key: &KeyPair, op: &Operation) -> Signed {
    let args = store
        .next_args(&key.public_key(), op.previous.as_ref())
        .await
        .unwrap();
    let bytes = op.encode();
    (
        sign_entry(key, &args, &bytes).unwrap().as_bytes().to_vec(),
        bytes,
    )
}

pub async fn ingest(store: &Store, registry: &SchemaRegistry, item: &Signed) -> Ingested {
    let ingested = store.ingest(&item.0, &item.1, registry).await.unwrap();
    registry.on_ingested(store, &ingested).await.unwrap();
    ingested
}

/// Signs and ingests.
pub async fn publish(
    store: &Store,
    registry: &SchemaRegistry,
    key: &KeyPair,
    op: &Operation,
) -> Ingested {
    let item = sign(store, key, op).await;
    ingest(store, registry, &item).await
}

/// Publishes the field definitions and the definition of a schema; returns it.
pub async fn define_schema(
    store: &Store,
    registry: &SchemaRegistry,
    key: &KeyPair,
    name: &str,
    field_types: &[(&str, &str)],
) -> Arc<Schema> {
    let mut pinned = Vec::new();
    for (field, ty) in field_types {
        let op = Operation::create(
            SchemaId::SCHEMA_FIELD_DEFINITION_V1,
            fields(&[("name", s(field)), ("type", s(ty))]),
        );
        let done = publish(store, registry, key, &op).await;
        pinned.push(DocumentViewId::from_operation(done.operation_id));
    }
    let op = Operation::create(
        SchemaId::SCHEMA_DEFINITION_V1,
        fields(&[
            ("name", s(name)),
            ("description", s("a test schema")),
            ("fields", OperationValue::PinnedRelationList(pinned)),
        ]),
    );
    let done = publish(store, registry, key, &op).await;
    let id =
        SchemaId::application(name, DocumentViewId::from_operation(done.operation_id)).unwrap();
    registry.schema(&id).expect("schema active")
}

pub fn quick_config() -> MaterializerConfig {
    MaterializerConfig {
        min_interval: std::time::Duration::from_millis(1),
        ..MaterializerConfig::default()
    }
}

pub async fn start(store: &Store, registry: &Arc<SchemaRegistry>) -> Materializer {
    Materializer::start(store.clone(), registry.clone(), quick_config())
        .await
        .unwrap()
}

/// What a full reduction of the stored operations says the row must be.
pub async fn expected_row(store: &Store, schema: &Schema, document: &DocumentId) -> ViewRow {
    let ops = store.document_operations(document, schema).await.unwrap();
    ViewRow::of(&reduce(&ops).unwrap())
}

/// The stored current row of a document.
pub async fn row(store: &Store, schema: &Schema, document: &DocumentId) -> Option<ViewRow> {
    store
        .current_view(&store.views().table(schema), document)
        .await
        .unwrap()
}

/// A worker that purges deleted documents and unused blob pieces `after`
/// this long.
pub fn purging(after: std::time::Duration) -> MaterializerConfig {
    MaterializerConfig {
        purge_after: Some(after),
        unused_pieces_after: Some(after),
        ..quick_config()
    }
}

pub async fn start_with(
    store: &Store,
    registry: &Arc<SchemaRegistry>,
    config: MaterializerConfig,
) -> Materializer {
    Materializer::start(store.clone(), registry.clone(), config)
        .await
        .unwrap()
}

/// Waits (bounded) until the store holds `want` purged entries.
pub async fn wait_purged_entries(store: &Store, want: u64) {
    let mut seen = 0;
    for _ in 0..500 {
        seen = hoffnung_store::test_utils::verify_logs(store).await.1;
        if seen == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{seen} purged entries, expected {want}");
}

/// The view an operation made (the document's, for a CREATE).
pub fn view(done: &Ingested) -> DocumentViewId {
    DocumentViewId::from_operation(done.operation_id)
}

/// A blob piece holding `data`.
pub fn piece(data: &[u8]) -> Operation {
    Operation::create(
        SchemaId::BLOB_PIECE_V1,
        fields(&[("data", OperationValue::Bytes(data.to_vec()))]),
    )
}
