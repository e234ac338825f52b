//! Blob pieces that no blob uses are purged after the grace period, as
//! deleted documents are: a piece no blob ever listed, the pieces of a
//! deleted blob, and those a blob's new view no longer lists. A piece that
//! a live blob, or an old blob view a document pins, lists stays.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hoffnung_core::{DocumentViewId, Hash, KeyPair, Operation, OperationValue, Schema, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::test_utils::verify_logs;
use hoffnung_store::{backend_tests, Ingested, Store, UnusedPieces};

fn blob_fields(pieces: &[&Ingested]) -> hoffnung_core::Fields {
    fields(&[
        ("length", OperationValue::Int(3 * pieces.len() as i64)),
        ("mime_type", s("text/plain")),
        (
            "pieces",
            OperationValue::PinnedRelationList(pieces.iter().map(|p| view(p)).collect()),
        ),
    ])
}

fn blob(pieces: &[&Ingested]) -> Operation {
    Operation::create(SchemaId::BLOB_V1, blob_fields(pieces))
}

fn blob_update(previous: Hash, pieces: &[&Ingested]) -> Operation {
    Operation::update(
        SchemaId::BLOB_V1,
        DocumentViewId::from_operation(previous),
        blob_fields(pieces),
    )
}

/// Waits (bounded) until no deletion or unused piece waits for its time.
async fn wait_no_candidates(store: &Store) {
    for _ in 0..500 {
        if store
            .deletions_due(i64::MAX, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "candidates still wait: {:?}",
        store.deletions_due(i64::MAX, i64::MAX, 10).await.unwrap()
    );
}

async fn has_row(store: &Store, done: &Ingested) -> bool {
    let schema = Schema::system(&SchemaId::BLOB_PIECE_V1).unwrap();
    row(store, &schema, &done.document_id).await.is_some()
}

backend_tests! {
    pieces_no_blob_uses_are_purged_after_the_grace_period(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let key = KeyPair::from_private_key(&[7; 32]);
        // A long grace period first: nothing goes, a sweep sees the orphan.
        let materializer = start_with(&store, &registry, purging(Duration::from_secs(3600))).await;
        let a = publish(&store, &registry, &key, &piece(b"aaa")).await;
        let b = publish(&store, &registry, &key, &piece(b"bbb")).await;
        publish(&store, &registry, &key, &blob(&[&a, &b])).await;
        let orphan = publish(&store, &registry, &key, &piece(b"ccc")).await;
        // A deleted blob: its own piece goes, one another blob lists stays.
        let d = publish(&store, &registry, &key, &piece(b"ddd")).await;
        let e = publish(&store, &registry, &key, &piece(b"eee")).await;
        let gone = publish(&store, &registry, &key, &blob(&[&d, &e])).await;
        publish(&store, &registry, &key, &blob(&[&e])).await;
        publish(&store, &registry, &key, &Operation::delete(SchemaId::BLOB_V1, view(&gone))).await;
        // A blob whose new view lists another piece.
        let f = publish(&store, &registry, &key, &piece(b"fff")).await;
        let g = publish(&store, &registry, &key, &piece(b"ggg")).await;
        let changed = publish(&store, &registry, &key, &blob(&[&f])).await;
        publish(&store, &registry, &key, &blob_update(changed.operation_id, &[&g])).await;
        materializer.caught_up().await.unwrap();
        assert_eq!(verify_logs(&store).await.1, 0, "nothing is purged within the grace period");
        assert_eq!(
            store.unused_pieces(true).await.unwrap(),
            UnusedPieces { pieces: 3, bytes: 9 },
            "the orphan, the deleted blob's own piece and the one a blob no longer lists"
        );
        materializer.shutdown().await;

        // The grace period over: the three pieces and the deleted blob's
        // CREATE are purged; their entries stay and every log verifies.
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
        wait_purged_entries(&store, 4).await;
        let pieces = [("a", &a, true), ("b", &b, true), ("orphan", &orphan, false), ("d", &d, false), ("e", &e, true), ("f", &f, false), ("g", &g, true)];
        for (name, done, kept) in pieces {
            assert_eq!(has_row(&store, done).await, kept, "piece {name}");
            assert_eq!(store.piece_unused(&done.document_id).await.unwrap(), !kept, "piece {name}");
        }
        // Pieces do not count as deleted documents.
        assert_eq!(store.deletion_counts().await.unwrap(), (1, 0));
        assert_eq!(store.unused_pieces(true).await.unwrap(), UnusedPieces::default());
        // A new worker brings nothing back.
        materializer.shutdown().await;
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
        materializer.caught_up().await.unwrap();
        assert!(!has_row(&store, &orphan).await);
        assert_eq!(verify_logs(&store).await.1, 4);
        materializer.shutdown().await;
        store.close().await;
    }

    a_piece_an_old_pinned_blob_view_lists_stays_until_the_pin_goes(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let key = KeyPair::from_private_key(&[8; 32]);
        // Pieces come before their blob: with no grace period they would
        // go before it arrives. Published within one, checked after it.
        let materializer = start_with(&store, &registry, purging(Duration::from_secs(3600))).await;
        let post = define_schema(&store, &registry, &key, "post", &[("image", "pinned_relation(blob_v1)")]).await;
        let f = publish(&store, &registry, &key, &piece(b"fff")).await;
        let g = publish(&store, &registry, &key, &piece(b"ggg")).await;
        let image = publish(&store, &registry, &key, &blob(&[&f])).await;
        let pinning = |v: DocumentViewId| fields(&[("image", OperationValue::PinnedRelation(v))]);
        let p = publish(&store, &registry, &key, &Operation::create(post.id().clone(), pinning(view(&image)))).await;
        // The blob's new view lists g; the post still pins the old one, so
        // f stays.
        let second = publish(&store, &registry, &key, &blob_update(image.operation_id, &[&g])).await;
        materializer.caught_up().await.unwrap();
        materializer.shutdown().await;
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
        // Each candidate (the new pieces, f when the blob changed) was
        // checked at once and found used.
        wait_no_candidates(&store).await;
        assert!(has_row(&store, &f).await);
        assert!(!store.piece_unused(&f.document_id).await.unwrap());
        assert_eq!(verify_logs(&store).await.1, 0);

        // The post pins the new view: the old one is collected, and f with
        // it once a sweep (`hoffnung gc`) has recorded it.
        let update = Operation::update(post.id().clone(), view(&p), pinning(view(&second)));
        publish(&store, &registry, &key, &update).await;
        materializer.caught_up().await.unwrap();
        assert!(store.piece_unused(&f.document_id).await.unwrap());
        assert_eq!(verify_logs(&store).await.1, 0, "nothing recorded f");
        materializer.shutdown().await;
        // As `hoffnung gc` does: the sweep records f, due at once at the
        // node's next start.
        assert_eq!(store.unused_pieces(false).await.unwrap(), UnusedPieces { pieces: 1, bytes: 3 });
        let materializer = start_with(&store, &registry, purging(Duration::ZERO)).await;
        wait_purged_entries(&store, 1).await;
        assert!(!has_row(&store, &f).await);
        assert!(has_row(&store, &g).await);
        materializer.shutdown().await;
        store.close().await;
    }
}
