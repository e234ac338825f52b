//! A document whose log is forked keeps the state from below the fork:
//! its views are reduced again without the frozen entries, and without
//! what other authors built on them, also after a restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hoffnung_core::{sign_entry, DocumentId, DocumentViewId, KeyPair, Operation, Schema};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{backend_tests, ForkedAuthors, Store, StoreConfig};

async fn title(store: &Store, schema: &Schema, doc: &DocumentId) -> String {
    let row = row(store, schema, doc).await.expect("materialized");
    match &row.fields.expect("not deleted")["title"] {
        hoffnung_core::OperationValue::Str(s) => s.clone(),
        other => panic!("{other:?}"),
    }
}

/// Waits (bounded) until the document's title is `want`.
async fn wait_title(store: &Store, schema: &Schema, doc: &DocumentId, want: &str) {
    let mut seen = String::new();
    for _ in 0..500 {
        // (No row yet counts as not yet.)
        if row(store, schema, doc).await.is_some() {
            seen = title(store, schema, doc).await;
        }
        if seen == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("title stayed {seen:?}, expected {want:?}");
}

/// Waits (bounded) until the document has no row.
async fn wait_gone(store: &Store, schema: &Schema, doc: &DocumentId) {
    for _ in 0..500 {
        if common::row(store, schema, doc).await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the row of {doc} stayed");
}

backend_tests! {
    a_forked_document_keeps_its_state_from_below_the_fork(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let alice = KeyPair::from_private_key(&[1; 32]);
        let bob = KeyPair::from_private_key(&[2; 32]);
        let schema = define_schema(&store, &registry, &alice, "note", &[("title", "str")]).await;
        let update = |previous: hoffnung_core::Hash, title: &str| {
            Operation::update(
                schema.id().clone(),
                DocumentViewId::from_operation(previous),
                fields(&[("title", s(title))]),
            )
        };
        // Alice: create (seq 1), two updates (seq 2, 3); Bob builds on seq 3.
        let created = publish(&store, &registry, &alice, &Operation::create(
            schema.id().clone(), fields(&[("title", s("first"))]),
        )).await;
        let doc = created.document_id;
        // The args of seq 2, kept to sign the other branch with.
        let seq2_args = store
            .next_args(&alice.public_key(), Some(&DocumentViewId::from_operation(created.operation_id)))
            .await
            .unwrap();
        let second = publish(&store, &registry, &alice, &update(created.operation_id, "second")).await;
        let third = publish(&store, &registry, &alice, &update(second.operation_id, "third")).await;
        publish(&store, &registry, &bob, &update(third.operation_id, "bob")).await;
        materializer.caught_up().await.unwrap();
        assert_eq!(title(&store, &schema, &doc).await, "bob");

        // Alice signs another seq 2; it arrives from a peer.
        let other = update(created.operation_id, "other").encode();
        let entry = sign_entry(&alice, &seq2_args, &other).unwrap();
        let results = store
            .ingest_bulk(&[(entry.as_bytes().to_vec(), other)], registry.as_ref())
            .await
            .unwrap();
        assert_eq!(results[0].as_ref().unwrap_err().code().as_str(), "LOG_FORKED");

        // Neither branch counts from seq 2 on, nor Bob's update on it.
        wait_title(&store, &schema, &doc, "first").await;
        let row = row(&store, &schema, &doc).await.unwrap();
        assert_eq!(row.view_id, DocumentViewId::from_operation(created.operation_id));

        // Bob goes on from the state below the fork: that counts.
        let fresh = publish(&store, &registry, &bob, &update(created.operation_id, "again")).await;
        wait_title(&store, &schema, &doc, "again").await;
        assert_eq!(
            common::row(&store, &schema, &doc).await.unwrap().view_id,
            DocumentViewId::from_operation(fresh.operation_id)
        );

        // A new worker on the same database agrees.
        materializer.shutdown().await;
        let materializer = start(&store, &registry).await;
        materializer.caught_up().await.unwrap();
        assert_eq!(title(&store, &schema, &doc).await, "again");
        materializer.shutdown().await;
        store.close().await;
    }

    a_fork_recorded_while_stopped_is_applied_at_start(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let alice = KeyPair::from_private_key(&[1; 32]);
        let schema = define_schema(&store, &registry, &alice, "note", &[("title", "str")]).await;
        let created = publish(&store, &registry, &alice, &Operation::create(
            schema.id().clone(), fields(&[("title", s("first"))]),
        )).await;
        let view = DocumentViewId::from_operation(created.operation_id);
        let args = store.next_args(&alice.public_key(), Some(&view)).await.unwrap();
        let op = |t: &str| Operation::update(schema.id().clone(), view.clone(), fields(&[("title", s(t))])).encode();
        let (a, b) = (op("a"), op("b"));
        let entry_a = sign_entry(&alice, &args, &a).unwrap();
        let entry_b = sign_entry(&alice, &args, &b).unwrap();
        ingest(&store, &registry, &(entry_a.as_bytes().to_vec(), a)).await;
        materializer.caught_up().await.unwrap();
        wait_title(&store, &schema, &created.document_id, "a").await;
        materializer.shutdown().await;

        let proof = hoffnung_core::ForkProof::new(entry_a.as_bytes(), entry_b.as_bytes()).unwrap();
        store.record_forks(vec![proof]).await.unwrap();
        let materializer = start(&store, &registry).await;
        wait_title(&store, &schema, &created.document_id, "first").await;
        materializer.shutdown().await;
        store.close().await;
    }

    a_document_forked_from_its_create_is_gone(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let alice = KeyPair::from_private_key(&[1; 32]);
        let schema = define_schema(&store, &registry, &alice, "note", &[("title", "str")]).await;
        // Two devices with one key both create "their first note" in the
        // same new log.
        let args = store.next_args(&alice.public_key(), None).await.unwrap();
        let create = |t: &str| Operation::create(schema.id().clone(), fields(&[("title", s(t))])).encode();
        let (a, b) = (create("device a"), create("device b"));
        let entry_a = sign_entry(&alice, &args, &a).unwrap();
        let entry_b = sign_entry(&alice, &args, &b).unwrap();
        let done = ingest(&store, &registry, &(entry_a.as_bytes().to_vec(), a)).await;
        let doc = done.document_id;
        materializer.caught_up().await.unwrap();
        wait_title(&store, &schema, &doc, "device a").await;
        let table = store.views().table(&schema);
        assert!(store.stored_view(&table, &DocumentViewId::from_operation(done.operation_id)).await.unwrap().is_some());
        let results = store.ingest_bulk(&[(entry_b.as_bytes().to_vec(), b)], registry.as_ref()).await.unwrap();
        assert_eq!(results[0].as_ref().unwrap_err().code().as_str(), "LOG_FORKED");
        // Nothing is below seq 1: the document's rows go, history included.
        wait_gone(&store, &schema, &doc).await;
        assert!(store.stored_view(&table, &DocumentViewId::from_operation(done.operation_id)).await.unwrap().is_none());
        materializer.shutdown().await;
        store.close().await;
    }

    a_node_that_blocks_forked_authors_shows_nothing_of_theirs(db) {
        let block = StoreConfig { forked_authors: ForkedAuthors::Block, ..StoreConfig::default() };
        let store = db.store_with(block).await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let (alice, bob, carol) = (
            KeyPair::from_private_key(&[1; 32]),
            KeyPair::from_private_key(&[2; 32]),
            KeyPair::from_private_key(&[3; 32]),
        );
        let schema = define_schema(&store, &registry, &carol, "note", &[("title", "str")]).await;
        let create = |t: &str| Operation::create(schema.id().clone(), fields(&[("title", s(t))]));
        let update = |previous: hoffnung_core::Hash, t: &str| {
            Operation::update(schema.id().clone(), DocumentViewId::from_operation(previous), fields(&[("title", s(t))]))
        };
        // Alice's two notes (logs 0 and 1); Bob edits the second one and
        // writes his own.
        let forked = publish(&store, &registry, &alice, &create("forked")).await;
        let second = publish(&store, &registry, &alice, &create("second")).await;
        publish(&store, &registry, &bob, &update(second.operation_id, "bob on second")).await;
        let own = publish(&store, &registry, &bob, &create("bob's own")).await;
        materializer.caught_up().await.unwrap();
        wait_title(&store, &schema, &second.document_id, "bob on second").await;

        // Alice forks log 0: two entries at seq 2.
        let view = DocumentViewId::from_operation(forked.operation_id);
        let args = store.next_args(&alice.public_key(), Some(&view)).await.unwrap();
        let (a, b) = (update(forked.operation_id, "a").encode(), update(forked.operation_id, "b").encode());
        let entry_a = sign_entry(&alice, &args, &a).unwrap();
        let entry_b = sign_entry(&alice, &args, &b).unwrap();
        ingest(&store, &registry, &(entry_a.as_bytes().to_vec(), a)).await;
        let results = store.ingest_bulk(&[(entry_b.as_bytes().to_vec(), b)], registry.as_ref()).await.unwrap();
        assert_eq!(results[0].as_ref().unwrap_err().code().as_str(), "LOG_FORKED");

        // Both of her notes go, Bob's edit with the one it built on; Bob's
        // own note stays, and she can publish nothing more.
        wait_gone(&store, &schema, &forked.document_id).await;
        wait_gone(&store, &schema, &second.document_id).await;
        assert_eq!(title(&store, &schema, &own.document_id).await, "bob's own");
        let next = sign_entry(
            &alice,
            &hoffnung_core::publish::next_args_new_log(Some(1)),
            &create("more").encode(),
        )
        .unwrap();
        let e = store.ingest(next.as_bytes(), &create("more").encode(), registry.as_ref()).await.unwrap_err();
        assert_eq!(e.code().as_str(), "AUTHOR_FORKED", "{e}");
        materializer.shutdown().await;
        store.close().await;
        drop(store);

        // Freezing instead (the setting is read at start): her second note
        // and Bob's edit of it are back, her first at its create.
        let store = db.store().await;
        let materializer = start(&store, &registry).await;
        wait_title(&store, &schema, &second.document_id, "bob on second").await;
        wait_title(&store, &schema, &forked.document_id, "forked").await;
        materializer.shutdown().await;
        store.close().await;
    }
}
