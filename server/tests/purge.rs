//! A node that purged a deleted document, replicating with nodes that did
//! not: a peer that held the document gets its DELETE, a peer that never
//! had it gets nothing of it, and every log on every node still verifies.
//! And a `hoffnung node` process killed (SIGKILL) while it purges: nothing
//! that must stay is lost, and the purge completes after the restart.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hoffnung_core::{DocumentViewId, Fields, Hash, KeyPair, Operation, OperationValue};
use hoffnung_materializer::MaterializerConfig;
use hoffnung_replication::Multiaddr;
use hoffnung_server::NodeConfig;
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::{verify_logs, TestDb};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

async fn start(db: &TestDb, peers: Vec<Multiaddr>, purge_after: Option<Duration>) -> TestNode {
    let mut config = NodeConfig::new(db.url.clone());
    config.replication = Some(replication_config(peers));
    config.materializer = Some(MaterializerConfig {
        purge_after,
        ..Default::default()
    });
    TestNode::start_with(config).await
}

/// The schema as the registry of a fresh store builds it.
async fn store_schema(
    store: &hoffnung_store::Store,
    id: &hoffnung_core::SchemaId,
) -> hoffnung_core::Schema {
    let registry = hoffnung_schema_registry::SchemaRegistry::load(store, None)
        .await
        .unwrap();
    use hoffnung_store::SchemaSource;
    registry.schema(id).unwrap().as_ref().clone()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn title(t: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("title".into(), OperationValue::Str(t.into()));
    f
}

/// `isDeleted` of a document as a node serves it (`Null` if it serves none).
async fn is_deleted(node: &TestNode, schema: &str, doc: &Hash) -> serde_json::Value {
    let q = format!("{{ {schema}(id: \"{doc}\") {{ meta {{ isDeleted }} }} }}");
    node.graphql(&q, json!({})).await["data"][schema]["meta"]["isDeleted"].clone()
}

/// Purged documents, read beside the node (a store would take the writer's lock).
async fn purged_count(url: &str) -> i64 {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT documents FROM purge_total WHERE id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    n
}

backend_tests! {
    export_marks_purged_entries_and_import_leaves_them_out(db) {
        let node = start(db, vec![], Some(Duration::ZERO)).await;
        let key = KeyPair::generate();
        let schema = node.publish_schema(&key, "post", &[("title", "str")]).await;
        let kept = node.publish_operation(&key, &Operation::create(schema.clone(), title("kept"))).await;
        node.publish_operation(&key, &Operation::update(schema.clone(), DocumentViewId::from_operation(kept), title("kept 2"))).await;
        let gone = node.publish_operation(&key, &Operation::create(schema.clone(), title("gone"))).await;
        let second = node.publish_operation(&key, &Operation::update(schema.clone(), DocumentViewId::from_operation(gone), title("gone 2"))).await;
        node.publish_operation(&key, &Operation::delete(schema.clone(), DocumentViewId::from_operation(second))).await;
        let store = node.node.store().clone();
        wait_for("the purge", async || store.deletion_counts().await.unwrap() == (1, 0)).await;
        let (total, _) = verify_logs(&store).await;
        node.stop().await;

        // The export holds every entry; the purged ones alone, marked.
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let file = h.join("export.jsonl");
        common::cli::ok(h, &["export", file.to_str().unwrap(), "--database-url", &db.url]);
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len() as u64, total);
        let purged: Vec<_> = lines.iter().filter(|l| l["purged"] == true).collect();
        assert_eq!(purged.len(), 2);
        assert!(purged.iter().all(|l| l.get("operation").is_none()));

        // A fresh node takes everything but the purged document's log.
        let fresh = TestDb::sqlite();
        let out = hoffnung(h).args(["import", file.to_str().unwrap(), "--database-url", &fresh.url]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains(&format!("imported {} entries, 0 already present, 0 rejected", total - 3)), "{stderr}");
        assert!(stderr.contains("3 of deleted documents left out (purged)"), "{stderr}");
        let fresh_store = fresh.store().await;
        assert_eq!(verify_logs(&fresh_store).await, (total - 3, 0));
        assert_eq!(fresh_store.documents_of_schema(&schema).await.unwrap(), vec![kept]);
        fresh_store.close().await;

        // Back into the node that purged: nothing new, nothing refused.
        let out = hoffnung(h).args(["import", file.to_str().unwrap(), "--database-url", &db.url]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains(&format!("imported 0 entries, {} already present, 0 rejected", total - 3)), "{stderr}");
        fresh.cleanup().await;
    }

    a_node_killed_while_it_purges_loses_nothing_that_must_stay(db) {
        const DOCS: usize = 5_000;
        // Deleted documents, recorded and waiting out a long grace period.
        let node = start(db, vec![], Some(Duration::from_secs(3600))).await;
        let key = KeyPair::generate();
        let schema = node.publish_schema(&key, "post", &[("title", "str")]).await;
        let kept = node.publish_operation(&key, &Operation::create(schema.clone(), title("kept"))).await;
        let store = node.node.store().clone();
        let first_log = store.next_args(&key.public_key(), None).await.unwrap().log_id;
        let entries = hoffnung_store::test_utils::presigned_deleted_documents(
            &key, &schema, first_log, DOCS, 1, |d, r| title(&format!("post {d}, version {r}")),
        );
        for chunk in entries.chunks(4096) {
            let results = store.ingest_bulk(chunk, node.node.registry().as_ref()).await.unwrap();
            assert!(results.iter().all(|r| r.is_ok()));
        }
        wait_for("the deletions", async || store.deletion_counts().await.unwrap() == (0, DOCS as u64)).await;
        let (stored, _) = verify_logs(&store).await;
        node.stop().await;

        // A node process that purges at once, killed in the middle of it.
        let home = tempfile::tempdir().unwrap();
        let args = ["--database-url", db.url.as_str(), "--purge-deleted-after", "0", "--no-replication"];
        let mut process = common::cli::start_node(home.path(), &args);
        let started = Instant::now();
        let mut seen = 0;
        while seen == 0 {
            assert!(started.elapsed() < WAIT, "the node never purged");
            seen = purged_count(&db.url).await;
        }
        process.child.kill().unwrap();
        process.child.wait().unwrap();
        let at_kill = purged_count(&db.url).await;
        assert!(at_kill < DOCS as i64, "the purge ended before the kill: more documents are needed");
        drop(process);

        // After a restart the purge completes.
        let process = common::cli::start_node(home.path(), &args);
        let status = format!("{}/status", process.base);
        wait_for("the rest of the purge", async || {
            let s: serde_json::Value = reqwest::get(&status).await.unwrap().json().await.unwrap();
            s["deletedDocuments"] == json!({ "waiting": 0, "purged": DOCS })
        }).await;
        assert!(process.terminate(), "a clean stop");
        let store = db.store().await;
        assert_eq!(store.deletion_counts().await.unwrap(), (DOCS as u64, 0));
        // Every entry is there and verifies; each purged document lost its
        // create and update, nothing else did.
        assert_eq!(verify_logs(&store).await, (stored, 2 * DOCS as u64));
        let rows = store.current_views(&store.views().table(&store_schema(&store, &schema).await)).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.document_id).collect::<Vec<_>>(), vec![kept]);
        eprintln!("killed with {at_kill} of {DOCS} documents purged");
        store.close().await;
    }

    a_node_that_purged_sends_the_delete_and_nothing_purged(db) {
        // A (the backend under test) purges deleted documents at once.
        let a = start(db, vec![], Some(Duration::ZERO)).await;
        let a_addr = p2p_address(&a, "tcp").await;
        let key = KeyPair::generate();
        let schema = a.publish_schema(&key, "post", &[("title", "str")]).await;
        let name = schema.to_string();
        let kept = a.publish_operation(&key, &Operation::create(schema.clone(), title("kept"))).await;
        let gone = a.publish_operation(&key, &Operation::create(schema.clone(), title("gone"))).await;
        let second = a
            .publish_operation(&key, &Operation::update(schema.clone(), DocumentViewId::from_operation(gone), title("gone 2")))
            .await;

        // B takes everything before the delete, then goes offline.
        let db_b = TestDb::sqlite();
        let b = start(&db_b, vec![a_addr.clone()], None).await;
        wait_for("B holding A's entries", async || b.counts().await.0 == a.counts().await.0).await;
        wait_for("B serving the document", async || is_deleted(&b, &name, &gone).await == false).await;
        b.stop().await;

        // A deletes it and purges it.
        let delete = Operation::delete(schema.clone(), DocumentViewId::from_operation(second));
        a.publish_operation(&key, &delete).await;
        let store = a.node.store().clone();
        wait_for("A's purge", async || store.deletion_counts().await.unwrap() == (1, 0)).await;
        assert_eq!(is_deleted(&a, &name, &gone).await, serde_json::Value::Null);

        // B comes back and gets the DELETE; C, which never had the
        // document, gets everything else and nothing of it.
        let b = start(&db_b, vec![a_addr.clone()], None).await;
        let db_c = TestDb::sqlite();
        let c = start(&db_c, vec![a_addr], None).await;
        // (A deleted document is served as `null`: B records it deleted.)
        let b_store = b.node.store().clone();
        wait_for("the DELETE on B", async || b_store.deletion_counts().await.unwrap() == (0, 1)).await;
        assert_eq!(b.counts().await.0, a.counts().await.0, "B holds every entry A holds");
        wait_for("the kept document on C", async || is_deleted(&c, &name, &kept).await == false).await;
        let c_store = c.node.store().clone();
        let on_c = c_store.documents_of_schema(&schema).await.unwrap();
        assert_eq!(on_c, vec![kept], "C holds nothing of the purged document");
        assert_eq!(is_deleted(&c, &name, &gone).await, serde_json::Value::Null);

        // Every log verifies everywhere: A's with purged operations, B's
        // whole, C's without the purged document's log.
        let (on_a, purged) = verify_logs(a.node.store()).await;
        assert_eq!(purged, 2);
        assert_eq!(verify_logs(b.node.store()).await, (on_a, 0));
        assert_eq!(verify_logs(c.node.store()).await, (on_a - 3, 0));
        for n in [&a, &b, &c] {
            let stats = n.node.replication().unwrap().stats();
            assert_eq!(stats.faults, 0, "{stats:?}");
        }
        for n in [a, b, c] {
            n.stop().await;
        }
        db_b.cleanup().await;
        db_c.cleanup().await;
    }
}
