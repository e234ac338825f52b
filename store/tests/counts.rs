//! What the store counts (entries, logs, documents), on SQLite and (when
//! configured) PostgreSQL.

use hoffnung_core::entry::NextArgs;
use hoffnung_core::publish::next_args_after;
use hoffnung_core::{
    sign_entry, DocumentViewId, EncodedEntry, Fields, KeyPair, Operation, OperationValue, SchemaId,
};
use hoffnung_store::{backend_tests, Store, SystemSchemas};

fn field(name: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("name".into(), OperationValue::Str(name.into()));
    f.insert("type".into(), OperationValue::Str("int".into()));
    f
}

/// Signs `op` at `args` and ingests it.
async fn ingest(store: &Store, key: &KeyPair, args: &NextArgs, op: &Operation) -> EncodedEntry {
    let payload = op.encode();
    let entry = sign_entry(key, args, &payload).unwrap();
    store
        .ingest(entry.as_bytes(), &payload, &SystemSchemas)
        .await
        .unwrap();
    entry
}

fn new_log(log_id: u64) -> NextArgs {
    NextArgs {
        log_id,
        seq_num: 1,
        backlink: None,
        skiplink: None,
    }
}

fn update(previous: &EncodedEntry, name: &str) -> Operation {
    Operation::update(
        SchemaId::SCHEMA_FIELD_DEFINITION_V1,
        DocumentViewId::from_operation(previous.hash()),
        field(name),
    )
}

backend_tests! {
    documents_are_counted_once_whoever_updates_them(db) {
        let store = db.store().await;
        let owner = KeyPair::from_private_key(&[51; 32]);
        let editor = KeyPair::from_private_key(&[52; 32]);
        let create = |name: &str| Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, field(name));
        assert_eq!(store.document_count().await.unwrap(), 0);
        // Two documents of the owner, one of the editor.
        let a = ingest(&store, &owner, &new_log(0), &create("a")).await;
        ingest(&store, &owner, &new_log(1), &create("b")).await;
        ingest(&store, &editor, &new_log(0), &create("c")).await;
        assert_eq!(store.document_count().await.unwrap(), 3);
        // The owner updates its document in its log...
        let a2 = ingest(&store, &owner, &next_args_after(&a.position(), None), &update(&a, "a2")).await;
        assert_eq!(store.document_count().await.unwrap(), 3);
        // ...and the editor updates it too, in a log of its own: a new log,
        // not a new document.
        let e1 = ingest(&store, &editor, &new_log(1), &update(&a2, "a3")).await;
        ingest(&store, &editor, &next_args_after(&e1.position(), None), &update(&e1, "a4")).await;
        assert_eq!(store.log_count().await.unwrap(), 4);
        assert_eq!(store.entry_count().await.unwrap(), 6);
        assert_eq!(store.document_count().await.unwrap(), 3);
        store.close().await;
    }
}
