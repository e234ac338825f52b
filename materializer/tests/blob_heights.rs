//! Which logs a replication target set offers when it holds the blob
//! schemas (SPEC 10.3): blobs only as far as application documents of the
//! target relate to them, pieces only as far as an offered blob pins them
//! in any of its views. Here because relations are read from materialized
//! views.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use hoffnung_core::{DocumentViewId, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{backend_tests, Ingested, Store};

type Log = ([u8; 32], u64);

/// Publishes and records the log's new height.
async fn put(
    store: &Store,
    registry: &SchemaRegistry,
    key: &KeyPair,
    op: &Operation,
    logs: &mut BTreeMap<Log, u64>,
) -> (Ingested, Log) {
    let done = publish(store, registry, key, op).await;
    let log = (*key.public_key().as_bytes(), done.next_args.log_id);
    logs.insert(log, done.next_args.seq_num - 1);
    (done, log)
}

fn blob(pieces: &[&Ingested]) -> Operation {
    Operation::create(
        SchemaId::BLOB_V1,
        fields(&[
            ("length", OperationValue::Int(3)),
            ("mime_type", s("text/plain")),
            (
                "pieces",
                OperationValue::PinnedRelationList(pieces.iter().map(|p| view(p)).collect()),
            ),
        ]),
    )
}

/// The heights `log_heights` must answer: these logs at their heights.
fn expect(logs: &BTreeMap<Log, u64>, included: &[Log]) -> Vec<([u8; 32], u64, u64)> {
    let mut out: Vec<_> = included
        .iter()
        .map(|log| (log.0, log.1, logs[log]))
        .collect();
    out.sort();
    out
}

backend_tests! {
    blobs_and_pieces_count_only_when_related(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let (key, other) = (KeyPair::from_private_key(&[7; 32]), KeyPair::from_private_key(&[8; 32]));
        let img = define_schema(&store, &registry, &key, "img", &[
            ("title", "str"),
            ("file", "relation(blob_v1)"),
            ("album", "pinned_relation_list(blob_v1)"),
        ]).await;
        let mut logs = BTreeMap::new();
        let l = &mut logs;

        // Blob x (related by a relation), updated by another author to pin
        // a third piece: only the pieces of its current view count (its
        // first view, which nothing pins, is collected).
        let (p1, _) = put(&store, &registry, &key, &piece(b"a"), l).await;
        let (p2, _) = put(&store, &registry, &key, &piece(b"b"), l).await;
        let (x, lx) = put(&store, &registry, &key, &blob(&[&p1, &p2]), l).await;
        let (p3, lp3) = put(&store, &registry, &key, &piece(b"c"), l).await;
        let update = Operation::update(SchemaId::BLOB_V1, view(&x), fields(&[
            ("pieces", OperationValue::PinnedRelationList(vec![view(&p3)])),
        ]));
        let (_, lx2) = put(&store, &registry, &other, &update, l).await;
        // Blob y (pinned from a list), blob w (related only from a replaced
        // view, which nothing pins: collected), blob z (related from
        // nowhere).
        let (p4, lp4) = put(&store, &registry, &key, &piece(b"d"), l).await;
        let (y, ly) = put(&store, &registry, &key, &blob(&[&p4]), l).await;
        let (p5, _) = put(&store, &registry, &key, &piece(b"e"), l).await;
        let (w, _) = put(&store, &registry, &key, &blob(&[&p5]), l).await;
        let (p6, lp6) = put(&store, &registry, &key, &piece(b"f"), l).await;
        let (z, lz) = put(&store, &registry, &key, &blob(&[&p6]), l).await;

        let img_doc = |title: &str, file: &Ingested, album: Vec<DocumentViewId>| Operation::create(
            img.id().clone(),
            fields(&[
                ("title", s(title)),
                ("file", OperationValue::Relation(file.document_id)),
                ("album", OperationValue::PinnedRelationList(album)),
            ]),
        );
        let (a, la) = put(&store, &registry, &key, &img_doc("a", &x, vec![]), l).await;
        let (_, lb) = put(&store, &registry, &key, &img_doc("b", &x, vec![view(&y)]), l).await;
        let (c, lc) = put(&store, &registry, &key, &img_doc("c", &w, vec![]), l).await;
        let moved = Operation::update(img.id().clone(), view(&c), fields(&[
            ("file", OperationValue::Relation(x.document_id)),
        ]));
        put(&store, &registry, &key, &moved, l).await;
        materializer.caught_up().await.unwrap();

        let heights = |target: Vec<SchemaId>| {
            let (store, registry) = (store.clone(), registry.clone());
            async move { store.log_heights(&target, registry.as_ref()).await.unwrap() }
        };
        let apps = [la, lb, lc];
        let blobs = [lx, lx2, ly];
        let pieces = [lp3, lp4];
        let (b, bp, app) = (SchemaId::BLOB_V1, SchemaId::BLOB_PIECE_V1, img.id().clone());

        let all: Vec<Log> = apps.iter().chain(&blobs).chain(&pieces).copied().collect();
        assert_eq!(heights(vec![app.clone(), b.clone(), bp.clone()]).await, expect(&logs, &all));
        let no_pieces: Vec<Log> = apps.iter().chain(&blobs).copied().collect();
        assert_eq!(heights(vec![app.clone(), b.clone()]).await, expect(&logs, &no_pieces));
        // Pieces only through blobs, blobs only with blob_v1.
        assert_eq!(heights(vec![app.clone(), bp.clone()]).await, expect(&logs, &apps));
        assert_eq!(heights(vec![app.clone()]).await, expect(&logs, &apps));
        // Without an application schema nothing relates to a blob.
        assert!(heights(vec![b.clone(), bp.clone()]).await.is_empty());
        let defs = heights(vec![SchemaId::SCHEMA_DEFINITION_V1, b.clone(), bp.clone()]).await;
        assert_eq!(defs.len(), 1, "only the definition of img: {defs:?}");

        // Relating z later includes it and its piece, once materialized.
        let link = Operation::update(img.id().clone(), view(&a), fields(&[
            ("album", OperationValue::PinnedRelationList(vec![view(&z)])),
        ]));
        put(&store, &registry, &key, &link, &mut logs).await;
        materializer.caught_up().await.unwrap();
        let mut now = all.clone();
        now.extend([lz, lp6]);
        assert_eq!(heights(vec![app.clone(), b.clone(), bp.clone()]).await, expect(&logs, &now));
        materializer.shutdown().await;
        store.close().await;
    }
}
