//! The materializer against real databases: schema lifecycle, updates and
//! deletes, concurrent branches, relation lists, restarts, no view cache,
//! and any delivery order giving the same row.

mod common;

use std::sync::Arc;

use common::*;
use hoffnung_core::{DocumentViewId, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_materializer::{Materializer, MaterializerConfig};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{backend_tests, ViewRow};

backend_tests! {
    schema_lifecycle_create_update_delete(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let key = KeyPair::from_private_key(&[1; 32]);
        let schema = define_schema(&store, &registry, &key, "note", &[("title", "str"), ("stars", "int")]).await;
        // The tables exist as soon as the schema is active, before any document.
        let mut tries = 0;
        while !store.has_view_table(schema.id()).await.unwrap() {
            tries += 1;
            assert!(tries < 200, "tables of an active schema were never created");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let table = store.views().table(&schema);
        assert!(store.current_views(&table).await.unwrap().is_empty());

        let created = publish(&store, &registry, &key, &Operation::create(
            schema.id().clone(),
            fields(&[("title", s("first")), ("stars", OperationValue::Int(1))]),
        )).await;
        let doc = created.document_id;
        let v1 = DocumentViewId::from_operation(created.operation_id);
        let updated = publish(&store, &registry, &key, &Operation::update(
            schema.id().clone(), v1.clone(), fields(&[("stars", OperationValue::Int(5))]),
        )).await;
        let v2 = DocumentViewId::from_operation(updated.operation_id);
        materializer.caught_up().await.unwrap();

        let row = row(&store, &schema, &doc).await.expect("document materialized");
        assert_eq!(row.view_id, v2);
        assert!(row.is_edited && !row.is_deleted);
        assert_eq!(row.owner, key.public_key().to_hex());
        let f = row.fields.clone().unwrap();
        assert_eq!(f["title"], s("first"));
        assert_eq!(f["stars"], OperationValue::Int(5));
        assert_eq!(row, expected_row(&store, &schema, &doc).await);
        // Only the current view is stored: nothing pins the first one (a
        // `viewId` query reduces it on request).
        assert!(store.stored_view(&table, &v1).await.unwrap().is_none());
        assert!(store.stored_view(&table, &v2).await.unwrap().is_some());

        let deleted = publish(&store, &registry, &key, &Operation::delete(schema.id().clone(), v2)).await;
        materializer.caught_up().await.unwrap();
        let row = common::row(&store, &schema, &doc).await.unwrap();
        assert!(row.is_deleted && row.is_edited && row.fields.is_none());
        assert_eq!(row.view_id, DocumentViewId::from_operation(deleted.operation_id));

        // The system schemas' documents are materialized too.
        let defs = store.views().table(&hoffnung_core::Schema::system(&SchemaId::SCHEMA_DEFINITION_V1).unwrap());
        let rows = store.current_views(&defs).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].fields.as_ref().unwrap()["name"], s("note"));
        materializer.shutdown().await;
        store.close().await;
    }

    concurrent_branches_from_two_authors(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let a = KeyPair::from_private_key(&[2; 32]);
        let b = KeyPair::from_private_key(&[3; 32]);
        let schema = define_schema(&store, &registry, &a, "shared", &[("x", "int"), ("y", "str")]).await;
        let create = publish(&store, &registry, &a, &Operation::create(
            schema.id().clone(), fields(&[("x", OperationValue::Int(0)), ("y", s("start"))]),
        )).await;
        let root = DocumentViewId::from_operation(create.operation_id);
        // Both authors build on the CREATE without seeing each other.
        let ua = publish(&store, &registry, &a, &Operation::update(
            schema.id().clone(), root.clone(), fields(&[("x", OperationValue::Int(1))]),
        )).await;
        let ub = publish(&store, &registry, &b, &Operation::update(
            schema.id().clone(), root.clone(), fields(&[("x", OperationValue::Int(2)), ("y", s("b"))]),
        )).await;
        materializer.caught_up().await.unwrap();
        let doc = create.document_id;
        let row = row(&store, &schema, &doc).await.unwrap();
        let tips = DocumentViewId::new(vec![ua.operation_id, ub.operation_id]).unwrap();
        assert_eq!(row.view_id, tips, "view id is the sorted tips of both branches");
        assert_eq!(row, expected_row(&store, &schema, &doc).await);
        // A merge by b over both tips.
        let merge = publish(&store, &registry, &b, &Operation::update(
            schema.id().clone(), tips, fields(&[("y", s("merged"))]),
        )).await;
        materializer.caught_up().await.unwrap();
        let row = common::row(&store, &schema, &doc).await.unwrap();
        assert_eq!(row.view_id, DocumentViewId::from_operation(merge.operation_id));
        assert_eq!(row.fields.as_ref().unwrap()["y"], s("merged"));
        assert_eq!(row, expected_row(&store, &schema, &doc).await);
        // An update concurrent to a delete: the delete wins (SPEC 13.1).
        // (`nextArgs` refuses a deleted document, so the update is signed first.)
        let late = publish(&store, &registry, &b, &Operation::update(
            schema.id().clone(), DocumentViewId::from_operation(merge.operation_id), fields(&[("x", OperationValue::Int(9))]),
        )).await;
        let del = publish(&store, &registry, &a, &Operation::delete(
            schema.id().clone(), DocumentViewId::from_operation(merge.operation_id),
        )).await;
        materializer.caught_up().await.unwrap();
        let row = common::row(&store, &schema, &doc).await.unwrap();
        assert!(row.is_deleted);
        assert_eq!(row.view_id, DocumentViewId::new(vec![del.operation_id, late.operation_id]).unwrap());
        assert_eq!(row, expected_row(&store, &schema, &doc).await);
        materializer.shutdown().await;
        store.close().await;
    }

    relation_lists_are_stored_for_joins(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let key = KeyPair::from_private_key(&[4; 32]);
        let item = define_schema(&store, &registry, &key, "item", &[("label", "str")]).await;
        let mut items = Vec::new();
        for label in ["a", "b", "c"] {
            let done = publish(&store, &registry, &key, &Operation::create(
                item.id().clone(), fields(&[("label", s(label))]),
            )).await;
            items.push(done.document_id);
        }
        let list_type = format!("relation_list({})", item.id());
        let pinned_type = format!("pinned_relation({})", item.id());
        let bag = define_schema(&store, &registry, &key, "bag", &[
            ("things", list_type.as_str()),
            ("first", pinned_type.as_str()),
            ("flag", "bool"),
            ("weight", "float"),
            ("raw", "bytes"),
        ]).await;
        // Duplicates and order are the author's.
        let list = vec![items[2], items[0], items[2]];
        let done = publish(&store, &registry, &key, &Operation::create(bag.id().clone(), fields(&[
            ("things", OperationValue::RelationList(list.clone())),
            ("first", OperationValue::PinnedRelation(DocumentViewId::from_operation(items[1]))),
            ("flag", OperationValue::Bool(true)),
            ("weight", OperationValue::Float(-2.5)),
            ("raw", OperationValue::Bytes(vec![0, 255, 7])),
        ]))).await;
        materializer.caught_up().await.unwrap();
        let table = store.views().table(&bag);
        let stored = store.list_items(&table, &done.document_id, "things").await.unwrap();
        assert_eq!(stored, list.iter().map(|d| d.to_hex()).collect::<Vec<_>>());
        let row = row(&store, &bag, &done.document_id).await.unwrap();
        assert_eq!(row, expected_row(&store, &bag, &done.document_id).await, "every type reads back as written");
        // A new list replaces the old items.
        let upd = publish(&store, &registry, &key, &Operation::update(
            bag.id().clone(), DocumentViewId::from_operation(done.operation_id),
            fields(&[("things", OperationValue::RelationList(vec![items[1]]))]),
        )).await;
        materializer.caught_up().await.unwrap();
        assert_eq!(
            store.list_items(&table, &done.document_id, "things").await.unwrap(),
            vec![items[1].to_hex()]
        );
        assert_eq!(common::row(&store, &bag, &upd.document_id).await.unwrap(), expected_row(&store, &bag, &done.document_id).await);
        // Deleted rows hold typed NULLs; rows after them hold values again
        // (PostgreSQL caches statements by their parameter types).
        publish(&store, &registry, &key, &Operation::delete(
            bag.id().clone(), DocumentViewId::from_operation(upd.operation_id),
        )).await;
        materializer.caught_up().await.unwrap();
        let other = publish(&store, &registry, &key, &Operation::create(bag.id().clone(), fields(&[
            ("things", OperationValue::RelationList(vec![])),
            ("first", OperationValue::PinnedRelation(DocumentViewId::from_operation(items[0]))),
            ("flag", OperationValue::Bool(false)),
            ("weight", OperationValue::Float(f64::MAX)),
            ("raw", OperationValue::Bytes(vec![])),
        ]))).await;
        materializer.caught_up().await.unwrap();
        assert!(common::row(&store, &bag, &done.document_id).await.unwrap().is_deleted);
        assert_eq!(common::row(&store, &bag, &other.document_id).await.unwrap(), expected_row(&store, &bag, &other.document_id).await);
        materializer.shutdown().await;
        store.close().await;
    }

    resumes_a_backlog_after_a_stop(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let key = KeyPair::from_private_key(&[5; 32]);
        let schema = define_schema(&store, &registry, &key, "counter", &[("n", "int")]).await;
        // A backlog built while no materializer runs: 60 documents, 5 updates each.
        let mut docs = Vec::new();
        for i in 0..60 {
            let c = publish(&store, &registry, &key, &Operation::create(
                schema.id().clone(), fields(&[("n", OperationValue::Int(i))]),
            )).await;
            docs.push((c.document_id, DocumentViewId::from_operation(c.operation_id)));
        }
        for round in 1..=5 {
            for (doc, view) in docs.iter_mut() {
                let u = publish(&store, &registry, &key, &Operation::update(
                    schema.id().clone(), view.clone(), fields(&[("n", OperationValue::Int(1000 * round))]),
                )).await;
                assert_eq!(u.document_id, *doc);
                *view = DocumentViewId::from_operation(u.operation_id);
            }
        }
        let last = store.last_entry_id().await.unwrap();
        // Small batches, stopped as soon as the first one is committed.
        let config = MaterializerConfig { batch: 16, ..quick_config() };
        let m = Materializer::start(store.clone(), registry.clone(), config.clone()).await.unwrap();
        let mut progress = m.progress();
        progress.wait_for(|c| *c > 0).await.unwrap();
        m.shutdown().await;
        let stopped_at = store.materializer_cursor().await.unwrap();
        assert!(stopped_at > 0 && stopped_at < last, "stopped mid-way: {stopped_at} of {last}");
        // A new worker takes over from the stored cursor.
        let m = Materializer::start(store.clone(), registry.clone(), config).await.unwrap();
        m.caught_up().await.unwrap();
        assert_eq!(store.materializer_cursor().await.unwrap(), last);
        for (doc, view) in &docs {
            let row = row(&store, &schema, doc).await.unwrap();
            assert_eq!(&row.view_id, view);
            assert_eq!(row.fields.as_ref().unwrap()["n"], OperationValue::Int(5000));
        }
        m.shutdown().await;
        store.close().await;
    }

    a_second_worker_cannot_move_the_cursor_backwards(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let key = KeyPair::from_private_key(&[6; 32]);
        define_schema(&store, &registry, &key, "solo", &[("n", "int")]).await;
        let mut writer = store.view_writer();
        let m = start(&store, &registry).await;
        m.caught_up().await.unwrap();
        let cursor = store.materializer_cursor().await.unwrap();
        assert!(cursor > 0);
        // A writer that believes the cursor is still at 0 is refused.
        let err = writer.write(&Default::default(), 0, 1).await.unwrap_err();
        assert!(err.to_string().contains("cursor"), "{err}");
        assert_eq!(store.materializer_cursor().await.unwrap(), cursor);
        m.shutdown().await;
        store.close().await;
    }

    schema_allowed_later_is_backfilled(db) {
        let store = db.store().await;
        let key = KeyPair::from_private_key(&[7; 32]);
        let open = Arc::new(SchemaRegistry::new(None));
        let schema = define_schema(&store, &open, &key, "later", &[("n", "int")]).await;
        let doc = publish(&store, &open, &key, &Operation::create(
            schema.id().clone(), fields(&[("n", OperationValue::Int(3))]),
        )).await.document_id;
        // A node that does not accept the schema passes over its documents.
        let system_only: std::collections::HashSet<SchemaId> = hoffnung_core::Schema::system_schemas()
            .iter().map(|s| s.id().clone()).collect();
        let closed = Arc::new(SchemaRegistry::load(&store, Some(system_only)).await.unwrap());
        let m = start(&store, &closed).await;
        m.caught_up().await.unwrap();
        m.shutdown().await;
        assert!(!store.has_view_table(schema.id()).await.unwrap());
        // Restarted with the schema allowed: its tables are made and filled.
        let reopened = Arc::new(SchemaRegistry::load(&store, None).await.unwrap());
        let m = start(&store, &reopened).await;
        let mut tries = 0;
        while !store.has_view_table(schema.id()).await.unwrap()
            || row(&store, &schema, &doc).await.is_none()
        {
            tries += 1;
            assert!(tries < 200, "document of a newly allowed schema never materialized");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(row(&store, &schema, &doc).await.unwrap(), expected_row(&store, &schema, &doc).await);
        m.shutdown().await;
        store.close().await;
    }

    updates_without_a_view_cache_reread_their_documents(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        // A cache of 0 bytes keeps no view: every update reduces its
        // document from the stored operations.
        let config = MaterializerConfig { cache_bytes: 0, ..quick_config() };
        let m = Materializer::start(store.clone(), registry.clone(), config).await.unwrap();
        let key = KeyPair::from_private_key(&[6; 32]);
        let schema = define_schema(&store, &registry, &key, "uncached", &[("n", "int"), ("t", "str")]).await;
        let mut docs = Vec::new();
        for i in 0..3 {
            let c = publish(&store, &registry, &key, &Operation::create(
                schema.id().clone(), fields(&[("n", OperationValue::Int(i)), ("t", s("new"))]),
            )).await;
            docs.push((c.document_id, DocumentViewId::from_operation(c.operation_id)));
        }
        for round in 1..=3 {
            // One batch per round, so that each update finds its document
            // materialized and not cached.
            m.caught_up().await.unwrap();
            for (doc, view) in docs.iter_mut() {
                let u = publish(&store, &registry, &key, &Operation::update(
                    schema.id().clone(), view.clone(), fields(&[("n", OperationValue::Int(10 * round))]),
                )).await;
                assert_eq!(u.document_id, *doc);
                *view = DocumentViewId::from_operation(u.operation_id);
            }
        }
        m.caught_up().await.unwrap();
        for (doc, view) in &docs {
            let got = row(&store, &schema, doc).await.expect("materialized");
            assert_eq!(&got.view_id, view);
            assert_eq!(got.fields.as_ref().unwrap()["n"], OperationValue::Int(30));
            assert_eq!(got.fields.as_ref().unwrap()["t"], s("new"));
            assert_eq!(got, expected_row(&store, &schema, doc).await);
        }
        m.shutdown().await;
        store.close().await;
    }
}

#[test]
fn row_of_a_view_keeps_values_not_writers() {
    let key = KeyPair::from_private_key(&[1; 32]);
    let op = hoffnung_core::DocumentOperation {
        id: hoffnung_core::Hash::of(b"x"),
        public_key: key.public_key(),
        operation: Operation::create(
            SchemaId::SCHEMA_FIELD_DEFINITION_V1,
            fields(&[("name", s("a")), ("type", s("str"))]),
        ),
    };
    let view = hoffnung_core::reduce(&[op]).unwrap();
    let row = ViewRow::of(&view);
    assert_eq!(row.fields.unwrap()["type"], s("str"));
}
