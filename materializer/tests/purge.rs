//! Deleted documents are purged after their grace period: the payloads of
//! their CREATEs and UPDATEs and every view row go, their entries and
//! DELETEs stay (every log still verifies, `nextArgs` answers as before),
//! and what arrives for them later is purged as it comes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hoffnung_core::{sign_entry, DocumentViewId, KeyPair, NextArgs, Operation};
use hoffnung_materializer::MaterializerConfig;
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::test_utils::verify_logs;
use hoffnung_store::{backend_tests, NextArgsError};

/// Text that does not compress much, as written text would not.
fn text(seed: &str, chars: usize) -> String {
    let mut out = String::with_capacity(chars + 64);
    let mut h = hoffnung_core::Hash::of(seed.as_bytes());
    while out.len() < chars {
        out.push_str(&h.to_hex()[4..]);
        h = hoffnung_core::Hash::of(h.as_bytes());
    }
    out.truncate(chars);
    out
}

backend_tests! {
    purging_ten_thousand_deleted_documents_returns_their_space(db) {
        const DOCS: usize = 10_000;
        let t = std::time::Instant::now();
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start_with(&store, &registry, purging(Duration::from_secs(3600))).await;
        let alice = KeyPair::from_private_key(&[1; 32]);
        let schema = define_schema(&store, &registry, &alice, "post", &[("title", "str"), ("body", "str")]).await;
        let first_log = store.next_args(&alice.public_key(), None).await.unwrap().log_id;
        // Each post: a create and two updates of 2,000 characters of text,
        // then a delete.
        let entries = hoffnung_store::test_utils::presigned_deleted_documents(
            &alice, schema.id(), first_log, DOCS, 2, |d, r| {
                fields(&[("title", s(&format!("post {d}"))), ("body", s(&text(&format!("{d}/{r}"), 2000)))])
            },
        );
        // What the purge is to give back: the operations' bytes (DELETEs
        // included, a few percent).
        let payloads: u64 = entries.iter().map(|(_, op)| op.len() as u64).sum();
        eprintln!("signed {:?}", t.elapsed());
        for chunk in entries.chunks(4096) {
            let results = store.ingest_bulk(chunk, registry.as_ref()).await.unwrap();
            assert!(results.iter().all(|r| r.is_ok()));
        }
        eprintln!("ingested {:?}", t.elapsed());
        materializer.caught_up().await.unwrap();
        eprintln!("materialized {:?}", t.elapsed());
        assert_eq!(store.deletion_counts().await.unwrap(), (0, DOCS as u64));
        materializer.shutdown().await;
        store.compact().await.unwrap();
        let before = store.database_bytes().await.unwrap();
        eprintln!("compacted {:?}", t.elapsed());
        let (stored, _) = verify_logs(&store).await;
        eprintln!("verified {:?}", t.elapsed());

        // The grace period over: everything is purged.
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
        let mut counts = (0, 0);
        for _ in 0..1200 {
            counts = store.deletion_counts().await.unwrap();
            if counts == (DOCS as u64, 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(counts, (DOCS as u64, 0), "(purged, waiting)");
        eprintln!("purged {:?}", t.elapsed());
        materializer.shutdown().await;
        store.compact().await.unwrap();
        let after = store.database_bytes().await.unwrap();
        eprintln!("{:?}: {before} bytes before the purge, {after} after; {payloads} bytes of operations", store.backend());
        // At least the payloads' own size comes back (their pages, indexes
        // and the views that go with them make it more). The share of the
        // whole is in docs/benchmarks.md: what stays is every entry.
        assert!(
            before.saturating_sub(after) >= payloads,
            "{after} bytes after the purge, {before} before: less than the {payloads} bytes of operations returned"
        );
        // What stays is every entry: at most a fifth of the whole on SQLite
        // and PostgreSQL (docs/benchmarks.md has the figures of each).
        if store.backend() != hoffnung_store::Backend::MySql {
            assert!(
                after * 5 <= before,
                "{after} bytes after the purge, {before} before: less than 80 % returned"
            );
        }
        // Every entry is still there and verifies; only the DELETEs keep
        // their operations; nextArgs hands out the same new log as before.
        assert_eq!(verify_logs(&store).await, (stored, 3 * DOCS as u64));
        assert_eq!(
            store.next_args(&alice.public_key(), None).await.unwrap().log_id,
            first_log + DOCS as u64
        );
        store.close().await;
    }

    deleted_documents_are_purged_and_logs_still_verify(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
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
        let create = |title: &str| Operation::create(schema.id().clone(), fields(&[("title", s(title))]));
        let kept = publish(&store, &registry, &alice, &create("kept")).await;
        let kept_update = publish(&store, &registry, &alice, &update(kept.operation_id, "kept 2")).await;
        // Alice creates and updates, Bob updates, Alice deletes.
        let gone = publish(&store, &registry, &alice, &create("gone")).await;
        let second = publish(&store, &registry, &alice, &update(gone.operation_id, "gone 2")).await;
        let old_view = DocumentViewId::from_operation(second.operation_id);
        let bob_log = store.next_args(&bob.public_key(), Some(&old_view)).await.unwrap().log_id;
        let bobs = publish(&store, &registry, &bob, &update(second.operation_id, "bob")).await;
        let fresh_log = store.next_args(&alice.public_key(), None).await.unwrap().log_id;
        let delete = Operation::delete(schema.id().clone(), DocumentViewId::from_operation(bobs.operation_id));
        publish(&store, &registry, &alice, &delete).await;
        materializer.caught_up().await.unwrap();
        let (entries, _) = verify_logs(&store).await;

        // The create and update of Alice and Bob's update are purged; the
        // DELETE and every entry stay, and every log verifies.
        wait_purged_entries(&store, 3).await;
        assert_eq!(verify_logs(&store).await, (entries, 3));
        let (purged, waiting) = store.deletion_counts().await.unwrap();
        assert_eq!((purged, waiting), (1, 0));
        let table = store.views().table(&schema);
        assert!(row(&store, &schema, &gone.document_id).await.is_none(), "the current row is gone");
        assert!(store.stored_view(&table, &old_view).await.unwrap().is_none(), "history is gone");
        assert!(store.document_operations(&gone.document_id, &schema).await.unwrap().len() == 1, "only the DELETE is left");
        // The other document is untouched.
        assert_eq!(
            row(&store, &schema, &kept.document_id).await.unwrap().view_id,
            DocumentViewId::from_operation(kept_update.operation_id)
        );

        // `nextArgs` answers as before the purge.
        let fresh = store.next_args(&alice.public_key(), None).await.unwrap();
        assert_eq!(fresh.log_id, fresh_log, "the purged document's log is not handed out again");
        let deleted = store
            .next_args(&alice.public_key(), Some(&DocumentViewId::from_operation(bobs.operation_id)))
            .await;
        assert!(matches!(deleted, Err(NextArgsError::DocumentDeleted)), "{deleted:?}");

        // Bob's update concurrent to the DELETE (signed before he saw it)
        // arrives late: it is taken, and purged too.
        let late = update(bobs.operation_id, "late").encode();
        let args = NextArgs { log_id: bob_log, seq_num: 2, backlink: Some(bobs.operation_id), skiplink: None };
        let entry = sign_entry(&bob, &args, &late).unwrap();
        ingest(&store, &registry, &(entry.as_bytes().to_vec(), late)).await;
        materializer.caught_up().await.unwrap();
        wait_purged_entries(&store, 4).await;
        assert!(row(&store, &schema, &gone.document_id).await.is_none());

        // A new worker on the same database brings nothing back.
        materializer.shutdown().await;
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
        materializer.caught_up().await.unwrap();
        assert!(row(&store, &schema, &gone.document_id).await.is_none());
        assert_eq!(verify_logs(&store).await, (entries + 1, 4));
        materializer.shutdown().await;
        store.close().await;
    }

    the_grace_period_holds_the_purge_back(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start_with(&store, &registry, purging(Duration::from_secs(3600))).await;
        let alice = KeyPair::from_private_key(&[1; 32]);
        let schema = define_schema(&store, &registry, &alice, "note", &[("title", "str")]).await;
        let doc = publish(&store, &registry, &alice, &Operation::create(
            schema.id().clone(), fields(&[("title", s("x"))]),
        )).await;
        let delete = Operation::delete(schema.id().clone(), DocumentViewId::from_operation(doc.operation_id));
        publish(&store, &registry, &alice, &delete).await;
        materializer.caught_up().await.unwrap();
        // Deleted, not purged: the row says deleted, the payload is there.
        let mut counts = (0, 0);
        for _ in 0..500 {
            counts = store.deletion_counts().await.unwrap();
            if counts == (0, 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(counts, (0, 1), "(purged, waiting)");
        let stored = row(&store, &schema, &doc.document_id).await.expect("the deleted row");
        assert!(stored.is_deleted);
        assert_eq!(verify_logs(&store).await.1, 0);
        materializer.shutdown().await;

        // With a shorter grace period, it is due at start.
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
        wait_purged_entries(&store, 1).await;
        assert_eq!(store.deletion_counts().await.unwrap(), (1, 0));
        assert!(row(&store, &schema, &doc.document_id).await.is_none());

        // With none, nothing is ever purged.
        let other = publish(&store, &registry, &alice, &Operation::create(
            schema.id().clone(), fields(&[("title", s("y"))]),
        )).await;
        materializer.shutdown().await;
        let never = MaterializerConfig { purge_after: None, ..quick_config() };
        let materializer = start_with(&store, &registry, never).await;
        let delete = Operation::delete(schema.id().clone(), DocumentViewId::from_operation(other.operation_id));
        publish(&store, &registry, &alice, &delete).await;
        materializer.caught_up().await.unwrap();
        assert_eq!(verify_logs(&store).await.1, 1);
        assert!(row(&store, &schema, &other.document_id).await.expect("kept").is_deleted);
        materializer.shutdown().await;
        store.close().await;
    }
}
