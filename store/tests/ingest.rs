//! The store on its own: replay, bulk ingest with batch verification,
//! reopening, on SQLite and (when configured) PostgreSQL.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use hoffnung_core::entry::NextArgs;
use hoffnung_core::{
    sign_entry, FieldType, Fields, KeyPair, Operation, OperationValue, Schema, SchemaId,
};
use hoffnung_store::test_utils::field_definitions;
use hoffnung_store::{
    backend_tests, IngestError, SchemaSource, Store, StoreConfig, SystemSchemas, ViewKey,
};
use serde_json::Value;

fn vectors(name: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/vectors/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// The system schemas plus the application schemas of `schemas.json`.
struct VectorSchemas(HashMap<SchemaId, Arc<Schema>>);

impl VectorSchemas {
    fn new() -> Self {
        let mut map = HashMap::new();
        for schema in Schema::system_schemas() {
            map.insert(schema.id().clone(), Arc::new(schema));
        }
        for app in vectors("schemas")["application_schemas"]
            .as_array()
            .unwrap()
        {
            let sch = &app["schema"];
            let fields = sch["fields"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, t)| (k.clone(), s(t).parse::<FieldType>().unwrap()))
                .collect();
            let schema = Schema::new(
                s(&sch["id"]).parse().unwrap(),
                s(&sch["description"]),
                fields,
            )
            .unwrap();
            map.insert(schema.id().clone(), Arc::new(schema));
        }
        Self(map)
    }
}

impl SchemaSource for VectorSchemas {
    fn schema(&self, id: &SchemaId) -> Option<Arc<Schema>> {
        self.0.get(id).cloned()
    }
}

fn sequence() -> Vec<(Vec<u8>, Vec<u8>)> {
    vectors("publish_sequence")["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                hex::decode(s(&e["entry_hex"])).unwrap(),
                hex::decode(s(&e["operation_hex"])).unwrap(),
            )
        })
        .collect()
}

fn next_args_json(a: &NextArgs) -> Value {
    serde_json::json!({
        "logId": a.log_id.to_string(),
        "seqNum": a.seq_num.to_string(),
        "backlink": a.backlink.map(|h| h.to_string()),
        "skiplink": a.skiplink.map(|h| h.to_string()),
    })
}

backend_tests! {
    replay_one_by_one(db) {
        let store = db.store().await;
        let schemas = VectorSchemas::new();
        for e in vectors("publish_sequence")["entries"].as_array().unwrap() {
            let req = &e["next_args_request"];
            let pk = s(&req["publicKey"]).parse().unwrap();
            let view = req["viewId"].as_str().map(|v| v.parse().unwrap());
            let args = store.next_args(&pk, view.as_ref()).await.unwrap();
            assert_eq!(next_args_json(&args), e["next_args_response"], "{}", s(&e["name"]));
            let got = store
                .ingest(&hex::decode(s(&e["entry_hex"])).unwrap(), &hex::decode(s(&e["operation_hex"])).unwrap(), &schemas)
                .await
                .unwrap();
            assert_eq!(next_args_json(&got.next_args), e["publish_response"]);
            assert_eq!(got.operation_id.to_string(), s(&e["operation_id"]));
            assert_eq!(got.document_id.to_string(), s(&e["document_id"]));
        }
        assert_eq!(store.entry_count().await.unwrap(), 64);
        assert_eq!(store.operation_count().await.unwrap(), 64);
        store.close().await;
    }

    bulk_ingest_in_one_batch(db) {
        let store = db.store().await;
        let results = store.ingest_bulk(&sequence(), &VectorSchemas::new()).await.unwrap();
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        assert_eq!(store.entry_count().await.unwrap(), 64);
        // Log heights (what a replication session announces): the highest
        // seq num of each log, by author and log id, of the given schemas.
        let mut expected = std::collections::BTreeMap::new();
        let mut schema_ids = std::collections::BTreeSet::new();
        for (e, o) in sequence() {
            let entry = hoffnung_core::entry::EncodedEntry::decode(&e).unwrap();
            let entry = entry.entry();
            let h = expected.entry((*entry.public_key.as_bytes(), entry.log_id)).or_insert(0);
            *h = entry.seq_num.max(*h);
            schema_ids.insert(hoffnung_core::PlainOperation::decode(&o).unwrap().schema_id);
        }
        let expected: Vec<([u8; 32], u64, u64)> =
            expected.into_iter().map(|((k, l), s)| (k, l, s)).collect();
        assert!(expected.iter().any(|h| h.2 > 1), "a log with several entries");
        let schema_ids: Vec<SchemaId> = schema_ids.into_iter().collect();
        assert_eq!(store.log_heights(&schema_ids, &VectorSchemas::new()).await.unwrap(), expected);
        assert!(store.log_heights(&[], &SystemSchemas).await.unwrap().is_empty());
        let one = store.log_heights(&[SchemaId::SCHEMA_FIELD_DEFINITION_V1], &SystemSchemas).await.unwrap();
        assert!(!one.is_empty() && one.len() < expected.len());
        // What a peer at seq 1 of the longest log, and at nothing of
        // another, lacks: the rest of both logs, in ingest order.
        let longest = *expected.iter().max_by_key(|h| h.2).unwrap();
        let other = *expected.iter().find(|h| h.1 != longest.1 || h.0 != longest.0).unwrap();
        let got = store
            .entries_of_logs(&[(longest.0, longest.1, 1), (other.0, other.1, 0)])
            .await
            .unwrap();
        assert_eq!(got.len() as u64, longest.2 - 1 + other.2);
        assert!(got.windows(2).all(|w| w[0].id < w[1].id), "ingest order");
        let of_longest: Vec<u64> = got
            .iter()
            .filter(|e| (e.public_key, e.log_id) == (longest.0, longest.1))
            .map(|e| e.seq_num)
            .collect();
        assert_eq!(of_longest, (2..=longest.2).collect::<Vec<_>>());
        let all = store.entries_after(0, 1000, &Default::default()).await.unwrap();
        for e in &got {
            let same = all.iter().find(|a| a.id == e.id).unwrap();
            assert_eq!((&same.entry, &same.operation), (&e.entry, &e.operation));
        }
        assert!(store.entries_of_logs(&[(longest.0, longest.1, longest.2)]).await.unwrap().is_empty());
        // Again: every entry is a duplicate now, nothing changes.
        let again = store.ingest_bulk(&sequence(), &VectorSchemas::new()).await.unwrap();
        assert!(again.iter().all(|r| matches!(r, Err(IngestError::Duplicate(_)))));
        assert_eq!(store.entry_count().await.unwrap(), 64);
        store.close().await;
    }

    bulk_batches_begun_together_append_in_order(db) {
        // The second half builds on the first (backlinks, previous): both
        // are queued before either is finished.
        let store = db.store().await;
        let schemas = VectorSchemas::new();
        let items = sequence();
        let first = store.begin_bulk(&items[..32], &schemas).await.unwrap();
        let second = store.begin_bulk(&items[32..], &schemas).await.unwrap();
        let second = second.finish().await.unwrap();
        let first = first.finish().await.unwrap();
        assert!(first.iter().chain(&second).all(|r| r.is_ok()), "{first:?} {second:?}");
        assert_eq!(store.entry_count().await.unwrap(), 64);
        assert_eq!(store.ingest_stats().accepted, 64);
        store.close().await;
    }

    bulk_ingest_rejects_only_the_bad_entries(db) {
        let store = db.store().await;
        let mut items = sequence();
        // Entry 2 gets a forged signature; entry 5 (which builds on nothing
        // of entry 2's log) still goes in. Later entries of entry 2's log fail.
        let last = items[2].0.len() - 1;
        items[2].0[last] ^= 0x01;
        let results = store.ingest_bulk(&items, &VectorSchemas::new()).await.unwrap();
        assert_eq!(results[2].as_ref().unwrap_err().code().as_str(), "INVALID_SIGNATURE");
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
        assert_eq!(store.entry_count().await.unwrap(), ok);
        store.close().await;
    }

    reopen_keeps_everything(db) {
        let store = db.store().await;
        store.ingest_bulk(&sequence(), &VectorSchemas::new()).await.unwrap();
        store.close().await;
        drop(store);
        let store = Store::connect(&db.url, StoreConfig::default()).await.unwrap();
        assert_eq!(store.entry_count().await.unwrap(), 64);
        store.close().await;
    }

    second_writer_on_one_database_cannot_fork_a_log(db) {
        // One node per database is required; if two write anyway, the
        // unique log position still keeps a log from forking.
        let first = db.store().await;
        let second = db.store().await;
        let schemas = VectorSchemas::new();
        let key = KeyPair::from_private_key(&[42; 32]);
        let entry = |log_id: u64, name: &str| {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(name.into()));
            f.insert("type".into(), OperationValue::Str("int".into()));
            let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
            let args = NextArgs { log_id, seq_num: 1, backlink: None, skiplink: None };
            (sign_entry(&key, &args, &op).unwrap().as_bytes().to_vec(), op)
        };
        // The second store learns the author's logs (none at log 0 yet)...
        let (e, o) = entry(5, "warm");
        second.ingest(&e, &o, &schemas).await.unwrap();
        // ...then the first one takes log 0, seq 1...
        let (e, o) = entry(0, "x");
        first.ingest(&e, &o, &schemas).await.unwrap();
        // ...and the second, with its stale view, tries another entry there.
        let (e, o) = entry(0, "y");
        let err = second.ingest(&e, &o, &schemas).await.unwrap_err();
        assert_eq!(err.code().as_str(), "INTERNAL", "{err}");
        assert_eq!(second.entry_count().await.unwrap(), 2, "the fork was not stored");
        // Its caches were dropped with the failed batch: now it knows.
        let err = second.ingest(&e, &o, &schemas).await.unwrap_err();
        assert_eq!(err.code().as_str(), "SEQ_NUM_TAKEN", "{err}");
        first.close().await;
        second.close().await;
    }

    second_writer_on_one_database_cannot_open_a_second_log_for_a_document(db) {
        // The other line of defence: one log per author and document (the
        // unique first entry of `(public_key, document_id)`, migration 0005).
        let first = db.store().await;
        let second = db.store().await;
        let schemas = VectorSchemas::new();
        let owner = KeyPair::from_private_key(&[44; 32]);
        let editor = KeyPair::from_private_key(&[45; 32]);
        let fields = |name: &str| {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(name.into()));
            f.insert("type".into(), OperationValue::Str("int".into()));
            f
        };
        let new_log = |log_id: u64| NextArgs { log_id, seq_num: 1, backlink: None, skiplink: None };
        let create = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, fields("doc")).encode();
        let created = sign_entry(&owner, &new_log(0), &create).unwrap();
        first.ingest(created.as_bytes(), &create, &schemas).await.unwrap();
        let update = |name: &str| {
            Operation::update(
                SchemaId::SCHEMA_FIELD_DEFINITION_V1,
                hoffnung_core::DocumentViewId::from_operation(created.hash()),
                fields(name),
            )
            .encode()
        };
        // The second store learns the editor's logs (none for the document)...
        let warm = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, fields("warm")).encode();
        let e = sign_entry(&editor, &new_log(9), &warm).unwrap();
        second.ingest(e.as_bytes(), &warm, &schemas).await.unwrap();
        // ...then the first one takes the editor's update in a log of its own...
        let u = update("x");
        let e = sign_entry(&editor, &new_log(0), &u).unwrap();
        first.ingest(e.as_bytes(), &u, &schemas).await.unwrap();
        // ...and the second, with its stale view, opens another log for it.
        let u = update("y");
        let e = sign_entry(&editor, &new_log(1), &u).unwrap();
        let err = second.ingest(e.as_bytes(), &u, &schemas).await.unwrap_err();
        assert_eq!(err.code().as_str(), "INTERNAL", "{err}");
        assert_eq!(second.entry_count().await.unwrap(), 3, "the second log was not stored");
        assert_eq!(second.log_count().await.unwrap(), 3);
        // Its caches were dropped with the failed batch: now it knows.
        let err = second.ingest(e.as_bytes(), &u, &schemas).await.unwrap_err();
        assert_eq!(err.code().as_str(), "LOG_ID_MISMATCH", "{err}");
        first.close().await;
        second.close().await;
    }

    log_ids_beyond_bigint_are_refused(db) {
        let store = db.store().await;
        let mut f = Fields::new();
        f.insert("name".into(), OperationValue::Str("huge".into()));
        f.insert("type".into(), OperationValue::Str("int".into()));
        let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
        let args = NextArgs { log_id: 1 << 63, seq_num: 1, backlink: None, skiplink: None };
        let entry = sign_entry(&KeyPair::from_private_key(&[43; 32]), &args, &op).unwrap();
        let err = store.ingest(entry.as_bytes(), &op, &VectorSchemas::new()).await.unwrap_err();
        assert_eq!(err.code().as_str(), "UNSUPPORTED_NUMBER", "{err}");
        assert_eq!(store.entry_count().await.unwrap(), 0);
        store.close().await;
    }

    concurrent_ingest_from_many_authors(db) {
        let store = db.store().await;
        let schemas = Arc::new(VectorSchemas::new());
        let mut tasks = Vec::new();
        for a in 0..8u8 {
            let store = store.clone();
            let schemas = schemas.clone();
            tasks.push(tokio::spawn(async move {
                let key = KeyPair::from_private_key(&[a + 1; 32]);
                for log_id in 0..25u64 {
                    let mut f = Fields::new();
                    f.insert("name".into(), OperationValue::Str(format!("field{log_id}")));
                    f.insert("type".into(), OperationValue::Str("int".into()));
                    let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
                    let args = NextArgs { log_id, seq_num: 1, backlink: None, skiplink: None };
                    let entry = sign_entry(&key, &args, &op).unwrap();
                    store.ingest(entry.as_bytes(), &op, schemas.as_ref()).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.entry_count().await.unwrap(), 200);
        assert_eq!(store.log_count().await.unwrap(), 200);
        // Log ids sort as numbers (10 after 9), authors by key.
        let mut expected: Vec<([u8; 32], u64, u64)> = (0..8u8)
            .flat_map(|a| {
                let pk = *KeyPair::from_private_key(&[a + 1; 32]).public_key().as_bytes();
                (0..25u64).map(move |l| (pk, l, 1))
            })
            .collect();
        expected.sort();
        let heights = store.log_heights(&[SchemaId::SCHEMA_FIELD_DEFINITION_V1], &SystemSchemas).await.unwrap();
        assert_eq!(heights, expected);
        store.close().await;
    }
}

#[tokio::test]
async fn unsupported_url_is_a_clear_error() {
    let err = Store::connect("oracle://localhost/x", StoreConfig::default())
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("unsupported database url"),
        "{err}"
    );
}

backend_tests! {
    planner_statistics_refresh(db) {
        let store = db.store().await;
        let schema = hoffnung_core::Schema::system(&hoffnung_core::SchemaId::SCHEMA_FIELD_DEFINITION_V1).unwrap();
        let mut writer = store.view_writer();
        writer.ensure_table(&schema).await.unwrap();
        let table = store.views().table(&schema);
        store.analyze(&[&table]).await.unwrap();
        // Queries run on connections opened after the refresh.
        assert!(store.current_views(&table).await.unwrap().is_empty());
        store.close().await;
    }
}

/// One field definition published by the key of `seed`: its reduced view,
/// its schema's view table, and a view writer that made that table.
async fn one_field_definition(
    store: &Store,
    seed: u8,
) -> (
    hoffnung_core::DocumentView,
    Arc<hoffnung_store::ViewTable>,
    hoffnung_store::ViewWriter,
) {
    let key = KeyPair::from_private_key(&[seed; 32]);
    let items = field_definitions(&key, 0, 1);
    let results = store
        .ingest_bulk(&items, &hoffnung_store::SystemSchemas)
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let schema = Schema::system(&SchemaId::SCHEMA_FIELD_DEFINITION_V1).unwrap();
    let doc = hoffnung_core::Hash::of(&items[0].0);
    let ops = store.document_operations(&doc, &schema).await.unwrap();
    assert_eq!(ops.len(), 1);
    let view = hoffnung_core::reduce(&ops).unwrap();
    let mut writer = store.view_writer();
    writer.ensure_table(&schema).await.unwrap();
    (view, store.views().table(&schema), writer)
}

backend_tests! {
    views_by_view_id_answer_each_view_once(db) {
        let store = db.store().await;
        let (view, table, mut writer) = one_field_definition(&store, 8).await;
        let key = ViewKey::View(view.view_id.clone());

        // Current views are kept in the current table only, and found by
        // view id through the document of the view id's first operation.
        let batch = hoffnung_store::ViewBatch { current: vec![&view], ..Default::default() };
        writer.write(&batch, 0, 0).await.unwrap();
        let found = store.read_views(&table, std::slice::from_ref(&key)).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, key);
        assert_eq!(found[0].1.view_id, view.view_id);
        // View ids that name no stored operation find nothing (and are no
        // SQL error); view and document keys are read together.
        let unknown = ViewKey::View(hoffnung_core::DocumentViewId::from_operation(hoffnung_core::Hash::of(b"zz")));
        assert!(store.read_views(&table, std::slice::from_ref(&unknown)).await.unwrap().is_empty());
        let both = [unknown, ViewKey::Document(view.document_id), key.clone()];
        let found = store.read_views(&table, &both).await.unwrap();
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|(_, row)| row.view_id == view.view_id));

        // A database written before that change also holds current views
        // in the history table: each view id still answers once.
        let batch = hoffnung_store::ViewBatch { current: vec![&view], history: vec![&view], ..Default::default() };
        writer.write(&batch, 0, 0).await.unwrap();
        let found = store.read_views(&table, std::slice::from_ref(&key)).await.unwrap();
        assert_eq!(found.len(), 1);
        store.close().await;
    }
}

backend_tests! {
    an_update_rewrites_only_the_columns_that_changed(db) {
        let store = db.store().await;
        let (stored, table, mut writer) = one_field_definition(&store, 10).await;
        let doc = stored.document_id;
        let batch = hoffnung_store::ViewBatch { current: vec![&stored], ..Default::default() };
        writer.write(&batch, 0, 0).await.unwrap();

        let set = |view: &hoffnung_core::DocumentView, field: &str, value: &str| {
            let mut view = view.clone();
            let f = view.fields.as_mut().unwrap().get_mut(field).unwrap();
            f.value = OperationValue::Str(value.into());
            view
        };
        let read = |store: Store, table: Arc<hoffnung_store::ViewTable>| async move {
            let (_, row) = store.read_views(&table, &[ViewKey::Document(doc)]).await.unwrap().remove(0);
            let fields = row.fields.unwrap();
            let text = |f: &str| match fields.get(f) {
                Some(OperationValue::Str(s)) => s.clone(),
                other => panic!("{f}: {other:?}"),
            };
            (row.view_id, text("name"), text("type"))
        };
        // The row holds name "field0", type "int". The next view renames it
        // and sets type "str"; the batch says the row already holds type
        // "str" (it does not): only the name and the view id are written.
        let mut next = set(&set(&stored, "name", "renamed"), "type", "str");
        next.view_id = hoffnung_core::DocumentViewId::from_operation(hoffnung_core::Hash::of(b"next"));
        let claimed = set(&stored, "type", "str");
        let batch = hoffnung_store::ViewBatch {
            current: vec![&next],
            replaced: vec![Some(&claimed)],
            ..Default::default()
        };
        writer.write(&batch, 0, 0).await.unwrap();
        let (view_id, name, ty) = read(store.clone(), table.clone()).await;
        assert_eq!((view_id, name.as_str(), ty.as_str()), (next.view_id.clone(), "renamed", "int"));

        // Without a replaced view the whole row is written.
        let batch = hoffnung_store::ViewBatch { current: vec![&next], ..Default::default() };
        writer.write(&batch, 0, 0).await.unwrap();
        let (_, name, ty) = read(store.clone(), table.clone()).await;
        assert_eq!((name.as_str(), ty.as_str()), ("renamed", "str"));

        // Nothing changed: the row stays as it is.
        let batch = hoffnung_store::ViewBatch {
            current: vec![&next],
            replaced: vec![Some(&next)],
            ..Default::default()
        };
        writer.write(&batch, 0, 0).await.unwrap();
        assert_eq!(read(store.clone(), table.clone()).await.2, "str");
        store.close().await;
    }
}

backend_tests! {
    publish_timings_add_up(db) {
        let store = db.store().await;
        let key = KeyPair::from_private_key(&[9; 32]);
        let items = field_definitions(&key, 0, 3);
        let schemas = hoffnung_store::SystemSchemas;
        // Bulk ingest (replication, import) is not a publish.
        let results = store.ingest_bulk(&items[..1], &schemas).await.unwrap();
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert_eq!(store.publish_timings().publishes, 0);
        let before = store.publish_timings();
        for (entry, operation) in &items[1..] {
            store.ingest(entry, operation, &schemas).await.unwrap();
        }
        // A duplicate reaches the writer too, and is timed.
        let duplicate = store.ingest(&items[1].0, &items[1].1, &schemas).await;
        assert!(duplicate.is_err());
        let t = store.publish_timings().since(&before);
        assert_eq!(t.publishes, 3);
        assert!(t.checks > std::time::Duration::ZERO);
        assert!(t.appending > std::time::Duration::ZERO);
        // The answer comes after the writer took and appended the batch.
        assert!(t.answered >= t.waiting + t.appending, "{t:?}");
        store.close().await;
    }
}
