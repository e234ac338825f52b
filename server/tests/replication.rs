//! Replication between real nodes (in this process, each on its own
//! database and ports) over libp2p on loopback: convergence through a
//! middle node, catching up after a restart, concurrent updates, schema
//! filters, and a peer that sends forged or out-of-order entries.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use hoffnung_core::entry::NextArgs;
use hoffnung_core::{
    sign_entry, DocumentViewId, EncodedEntry, Fields, Hash, KeyPair, Operation, OperationValue,
    SchemaId,
};
use hoffnung_replication::Multiaddr;
use hoffnung_server::NodeConfig;
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::TestDb;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

async fn start(db: &TestDb, peers: Vec<Multiaddr>) -> TestNode {
    start_allowing(db, peers, None).await
}

async fn start_allowing(
    db: &TestDb,
    peers: Vec<Multiaddr>,
    allow: Option<Vec<SchemaId>>,
) -> TestNode {
    let mut config = NodeConfig::new(db.url.clone());
    config.replication = Some(replication_config(peers));
    config.allow_schema_ids = allow.map(|a| a.into_iter().collect());
    TestNode::start_with(config).await
}

/// What a node serves: every collection's documents and views.
async fn snapshot(node: &TestNode) -> Value {
    node.node.materializer().unwrap().caught_up().await.unwrap();
    let mut out = serde_json::Map::new();
    for schema in node.node.registry().schemas() {
        let id = schema.id().to_string();
        let q = format!("{{ all_{id}(first: 1000) {{ totalCount documents {{ meta {{ documentId viewId isDeleted }} }} }} }}");
        let got = node.graphql(&q, json!({})).await;
        out.insert(id, got["data"].clone());
    }
    Value::Object(out)
}

/// Waits (bounded) until both nodes hold the same entries and serve the same documents.
async fn converge(a: &TestNode, b: &TestNode) {
    let start = Instant::now();
    loop {
        let (ea, eb) = (a.counts().await.0, b.counts().await.0);
        if ea == eb && ea > 0 {
            let (sa, sb) = (snapshot(a).await, snapshot(b).await);
            if sa == sb {
                return;
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "no convergence: {ea} vs {eb} entries"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A one-field schema published on `node`.
async fn title_schema(node: &TestNode, key: &KeyPair) -> SchemaId {
    node.publish_schema(key, "post", &[("title", "str")]).await
}

fn title(t: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("title".into(), OperationValue::Str(t.into()));
    f
}

/// Imports `n` field definitions of a new author into `node`, one log
/// each: more logs than a session reads one by one.
async fn import_field_definitions(node: &TestNode, n: u64) {
    let other = KeyPair::generate();
    let bulk: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
        .map(|log_id| {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(format!("bulk{log_id}")));
            f.insert("type".into(), OperationValue::Str("int".into()));
            let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
            let args = NextArgs {
                log_id,
                seq_num: 1,
                backlink: None,
                skiplink: None,
            };
            (
                sign_entry(&other, &args, &op).unwrap().as_bytes().to_vec(),
                op,
            )
        })
        .collect();
    let results = node
        .node
        .store()
        .ingest_bulk(&bulk, node.node.registry().as_ref())
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()));
}

/// Publishes a blob of `pieces` pieces on `node`: (blob, its pieces).
async fn publish_blob(node: &TestNode, key: &KeyPair, pieces: usize) -> (Hash, Vec<Hash>) {
    let mut ids = Vec::new();
    for i in 0..pieces {
        let mut f = Fields::new();
        f.insert("data".into(), OperationValue::Bytes(vec![i as u8; 4]));
        ids.push(
            node.publish_operation(key, &Operation::create(SchemaId::BLOB_PIECE_V1, f))
                .await,
        );
    }
    let mut f = Fields::new();
    f.insert("length".into(), OperationValue::Int(4 * pieces as i64));
    f.insert("mime_type".into(), OperationValue::Str("image/png".into()));
    f.insert(
        "pieces".into(),
        OperationValue::PinnedRelationList(
            ids.iter()
                .map(|p| DocumentViewId::from_operation(*p))
                .collect(),
        ),
    );
    let blob = node
        .publish_operation(key, &Operation::create(SchemaId::BLOB_V1, f))
        .await;
    (blob, ids)
}

/// The documents of a schema a node holds.
async fn documents(node: &TestNode, schema: &SchemaId) -> HashSet<Hash> {
    node.node
        .store()
        .documents_of_schema(schema)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

backend_tests! {
    three_nodes_converge_through_the_middle_one(db) {
        // A <- B <- C: C never talks to A. B is on the backend under test.
        let (da, dc) = (TestDb::sqlite(), TestDb::sqlite());
        let a = start(&da, vec![]).await;
        let b = start(db, vec![p2p_address(&a, "tcp").await]).await;
        let c = start(&dc, vec![p2p_address(&b, "quic").await]).await;
        a.replay_publish_sequence().await;
        converge(&a, &b).await;
        converge(&b, &c).await;
        let snap = snapshot(&c).await;
        assert_eq!(snap, snapshot(&a).await);
        // Every application schema of the vectors arrived and is queryable on C.
        assert!(c.node.registry().schemas().len() > 4);

        // Live: a new document on A shows up on C without a restart.
        let key = KeyPair::generate();
        let schema = title_schema(&a, &key).await;
        let doc = a.publish_operation(&key, &Operation::create(schema.clone(), title("live"))).await;
        let q = format!("{{ {schema}(id: \"{doc}\") {{ fields {{ title }} }} }}");
        wait_for("the live document on C", async || {
            c.graphql(&q, json!({})).await["data"][schema.to_string()]["fields"]["title"] == "live"
        }).await;
        let stats = b.node.replication().unwrap().stats();
        assert_eq!(stats.peers.len(), 2, "{stats:?}");
        assert!(stats.entries_received > 0 && stats.entries_sent > 0, "{stats:?}");
        assert_eq!(stats.faults, 0);
        for n in [a, b, c] { n.stop().await; }
        dc.cleanup().await;
        da.cleanup().await;
    }

    a_node_that_was_offline_catches_up_after_restart(db) {
        let da = TestDb::sqlite();
        let a = start(&da, vec![]).await;
        let a_addr = p2p_address(&a, "tcp").await;
        let b = start(db, vec![a_addr.clone()]).await;
        let key = KeyPair::generate();
        let schema = title_schema(&a, &key).await;
        a.publish_operation(&key, &Operation::create(schema.clone(), title("before"))).await;
        converge(&a, &b).await;
        b.stop().await;
        // While B is down, A keeps publishing.
        let mut last = None;
        for i in 0..20 {
            last = Some(a.publish_operation(&key, &Operation::create(schema.clone(), title(&format!("while away {i}")))).await);
        }
        // ...and more logs than a session reads one by one (300 documents
        // of another author, imported in bulk): B is behind on 320 logs.
        import_field_definitions(&a, 300).await;
        let b = start(db, vec![a_addr]).await;
        converge(&a, &b).await;
        let q = format!("{{ {schema}(id: \"{}\") {{ fields {{ title }} }} }}", last.unwrap());
        assert_eq!(b.graphql(&q, json!({})).await["data"][schema.to_string()]["fields"]["title"], "while away 19");
        // Caught up, further sessions (every 300 ms) send nothing.
        let before = a.node.replication().unwrap().stats();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = a.node.replication().unwrap().stats();
        assert!(after.sessions_started > before.sessions_started, "{after:?}");
        assert_eq!(after.entries_sent, before.entries_sent, "a session of a caught-up peer sent entries");
        a.stop().await;
        b.stop().await;
        da.cleanup().await;
    }

    concurrent_updates_on_two_nodes_converge(db) {
        let da = TestDb::sqlite();
        let a = start(&da, vec![]).await;
        let b = start(db, vec![p2p_address(&a, "quic").await]).await;
        let (ka, kb) = (KeyPair::generate(), KeyPair::generate());
        let schema = title_schema(&a, &ka).await;
        let doc = a.publish_operation(&ka, &Operation::create(schema.clone(), title("v0"))).await;
        converge(&a, &b).await;
        // Both edit the same view at once, several rounds, each on its node.
        let view = DocumentViewId::from_operation(doc);
        let (oa, ob) = (
            Operation::update(schema.clone(), view.clone(), title("from a")),
            Operation::update(schema.clone(), view.clone(), title("from b")),
        );
        let ua = a.publish_operation(&ka, &oa);
        let ub = b.publish_operation(&kb, &ob);
        let (ha, hb) = tokio::join!(ua, ub);
        converge(&a, &b).await;
        let q = format!("{{ {schema}(id: \"{doc}\") {{ meta {{ viewId }} fields {{ title }} }} }}");
        let (va, vb) = (a.graphql(&q, json!({})).await, b.graphql(&q, json!({})).await);
        assert_eq!(va, vb);
        // The view holds both branches' heads.
        let view_id = va["data"][schema.to_string()]["meta"]["viewId"].as_str().unwrap().to_string();
        let mut heads = [ha.to_string(), hb.to_string()];
        heads.sort();
        assert_eq!(view_id, heads.join("_"));
        a.stop().await;
        b.stop().await;
        da.cleanup().await;
    }

    a_schema_received_over_replication_is_usable_at_once(db) {
        let da = TestDb::sqlite();
        let a = start(&da, vec![]).await;
        let b = start(db, vec![p2p_address(&a, "tcp").await]).await;
        let key = KeyPair::generate();
        // A field definition and the schema definition: two entries.
        let schema = title_schema(&a, &key).await;
        let replication = b.node.replication().unwrap();
        wait_for("both definition entries on B", async || replication.stats().entries_received >= 2).await;
        // Counted only after the pipeline applied the batch to the registry:
        // no waiting for the schema beyond the entries themselves.
        assert!(b.node.registry().schemas().iter().any(|s| s.id() == &schema));
        let other = KeyPair::generate();
        let doc = b.publish_operation(&other, &Operation::create(schema.clone(), title("on b"))).await;
        b.wait_queryable(&schema).await;
        let q = format!("{{ {schema}(id: \"{doc}\") {{ fields {{ title }} }} }}");
        assert_eq!(b.graphql(&q, json!({})).await["data"][schema.to_string()]["fields"]["title"], "on b");
        a.stop().await;
        b.stop().await;
        da.cleanup().await;
    }

    a_node_accepting_one_schema_gets_nothing_else(db) {
        let da = TestDb::sqlite();
        let a = start(&da, vec![]).await;
        let key = KeyPair::generate();
        let wanted = title_schema(&a, &key).await;
        // A second schema with a different name, and documents of both.
        let mut f = Fields::new();
        f.insert("name".into(), OperationValue::Str("body".into()));
        f.insert("type".into(), OperationValue::Str("str".into()));
        let field = a.publish_operation(&key, &Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f)).await;
        let mut d = Fields::new();
        d.insert("name".into(), OperationValue::Str("secret".into()));
        d.insert("description".into(), OperationValue::Str("not for b".into()));
        d.insert("fields".into(), OperationValue::PinnedRelationList(vec![DocumentViewId::from_operation(field)]));
        let def = a.publish_operation(&key, &Operation::create(SchemaId::SCHEMA_DEFINITION_V1, d)).await;
        let other = SchemaId::application("secret", DocumentViewId::from_operation(def)).unwrap();
        let mut wanted_docs = HashSet::new();
        for i in 0..3 {
            wanted_docs.insert(a.publish_operation(&key, &Operation::create(wanted.clone(), title(&format!("{i}")))).await);
            let mut body = Fields::new();
            body.insert("body".into(), OperationValue::Str("hidden".into()));
            a.publish_operation(&key, &Operation::create(other.clone(), body)).await;
        }
        let allow = vec![SchemaId::SCHEMA_DEFINITION_V1, SchemaId::SCHEMA_FIELD_DEFINITION_V1, wanted.clone()];
        let b = start_allowing(db, vec![p2p_address(&a, "tcp").await], Some(allow)).await;
        let q = format!("{{ all_{wanted} {{ totalCount }} }}");
        wait_for("the wanted documents on B", async || {
            b.graphql(&q, json!({})).await["data"][format!("all_{wanted}")]["totalCount"] == 3
        }).await;
        // Give B further sync rounds, then: nothing of the other schema.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let docs = b.node.store().documents_of_schema(&other).await.unwrap();
        assert!(docs.is_empty(), "B stored documents of a schema it does not accept");
        let theirs = b.node.store().documents_of_schema(&wanted).await.unwrap();
        assert_eq!(theirs.into_iter().collect::<HashSet<Hash>>(), wanted_docs);
        assert_eq!(b.node.replication().unwrap().stats().faults, 0, "A only sent what B asked for");
        a.stop().await;
        b.stop().await;
        da.cleanup().await;
    }

    blobs_travel_only_with_the_documents_relating_to_them(db) {
        let da = TestDb::sqlite();
        let a = start(&da, vec![]).await;
        let key = KeyPair::generate();
        let img = a.publish_schema(&key, "img", &[("title", "str"), ("file", "relation(blob_v1)")]).await;
        let image = async |node: &TestNode, blob: Hash| {
            let mut f = title("a picture");
            f.insert("file".into(), OperationValue::Relation(blob));
            node.publish_operation(&key, &Operation::create(img.clone(), f)).await
        };
        let (related, pieces) = publish_blob(&a, &key, 3).await;
        let (unrelated, lone) = publish_blob(&a, &key, 1).await;
        let doc = image(&a, related).await;
        // B's first session sends the whole store in one pass (more logs
        // than it reads one by one): that path keeps to the rule too.
        import_field_definitions(&a, 300).await;
        a.node.materializer().unwrap().caught_up().await.unwrap();
        let b = start(db, vec![p2p_address(&a, "tcp").await]).await;
        let (blob, piece) = (SchemaId::BLOB_V1, SchemaId::BLOB_PIECE_V1);
        wait_for("the related blob and its pieces on B", async || {
            documents(&b, &blob).await.contains(&related)
                && documents(&b, &piece).await.is_superset(&pieces.iter().copied().collect())
                && documents(&b, &img).await.contains(&doc)
        }).await;
        // Later sessions read just the logs B lacks: the same rule.
        let (later, later_pieces) = publish_blob(&a, &key, 2).await;
        let (later_unrelated, _) = publish_blob(&a, &key, 1).await;
        image(&a, later).await;
        wait_for("the later related blob on B", async || {
            let got = documents(&b, &piece).await;
            documents(&b, &blob).await.contains(&later) && later_pieces.iter().all(|p| got.contains(p))
        }).await;
        // Further sessions, then: nothing of the unrelated blobs.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let blobs = documents(&b, &blob).await;
        assert!(!blobs.contains(&unrelated) && !blobs.contains(&later_unrelated), "an unrelated blob was sent");
        assert_eq!(blobs, HashSet::from([related, later]));
        let got = documents(&b, &piece).await;
        assert!(!got.contains(&lone[0]), "a piece of an unrelated blob was sent");
        assert_eq!(got, pieces.iter().chain(&later_pieces).copied().collect());
        let q = "{ all_blob_v1 { totalCount } all_blob_piece_v1 { totalCount } }";
        b.node.materializer().unwrap().caught_up().await.unwrap();
        let counts = b.graphql(q, json!({})).await;
        assert_eq!(counts["data"]["all_blob_v1"]["totalCount"], 2, "{counts}");
        assert_eq!(counts["data"]["all_blob_piece_v1"]["totalCount"], 5, "{counts}");
        // The peer serves the replicated blobs byte for byte.
        for (blob, bytes) in [(related, vec![0u8, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]), (later, vec![0, 0, 0, 0, 1, 1, 1, 1])] {
            let there = a.wait_blob(&blob.to_hex()).await.bytes().await.unwrap();
            let here = b.wait_blob(&blob.to_hex()).await;
            assert_eq!(here.headers()["content-type"], "image/png");
            let here = here.bytes().await.unwrap();
            assert_eq!(here, there);
            assert_eq!(here.to_vec(), bytes);
        }
        let r = b.client.get(b.blob_url(&unrelated.to_hex())).send().await.unwrap();
        assert_eq!(r.status(), 404);
        for n in [&a, &b] {
            assert_eq!(n.node.replication().unwrap().stats().faults, 0);
        }
        a.stop().await;
        b.stop().await;
        da.cleanup().await;
    }
}

/// Opens a SQLite database of a stopped node for tampering.
async fn raw(url: &str) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    sqlx::SqliteConnection::connect(url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_forged_or_out_of_order_entries_is_refused() {
    use sqlx::{Executor, Row};
    // M: a node whose database was tampered with behind its back, so that
    // its real replication code sends invalid data.
    let dm = TestDb::sqlite();
    let m = TestNode::start(&dm).await;
    m.replay_publish_sequence().await;
    let valid: HashSet<Vec<u8>> = m
        .node
        .store()
        .entries_after(0, 100_000, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.entry)
        .collect();
    m.stop().await;
    let mut conn = raw(&dm.url).await;
    // The longest log: seq 2 gets a forged signature, and in another log
    // seq 1 disappears (its later entries come out of order).
    // (Ties broken so that the same logs are picked every run; the
    // second is an application document, so its absence hides no schema.)
    let first = conn
        .fetch_one(
            "SELECT author, log_id FROM entries GROUP BY author, log_id \
             ORDER BY MAX(seq_num) DESC, author, log_id LIMIT 1",
        )
        .await
        .unwrap();
    let (k1, l1): (i64, i64) = (first.get(0), first.get(1));
    let second = sqlx::query(
        "SELECT author, log_id FROM entries WHERE schema_ref IN \
         (SELECT id FROM schema_ids WHERE schema_id NOT LIKE 'schema_%') \
         AND NOT (author = ? AND log_id = ?) GROUP BY author, log_id \
         HAVING MAX(seq_num) >= 2 ORDER BY MAX(seq_num) DESC, author, log_id LIMIT 1",
    )
    .bind(k1)
    .bind(l1)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let (k2, l2): (i64, i64) = (second.get(0), second.get(1));
    let forged_row =
        sqlx::query("SELECT entry FROM entries WHERE author = ? AND log_id = ? AND seq_num = 2")
            .bind(k1)
            .bind(l1)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let mut forged: Vec<u8> = forged_row.get(0);
    let n = forged.len();
    forged[n - 1] ^= 0x01;
    sqlx::query("UPDATE entries SET entry = ? WHERE author = ? AND log_id = ? AND seq_num = 2")
        .bind(&forged)
        .bind(k1)
        .bind(l1)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM entries WHERE author = ? AND log_id = ? AND seq_num = 1")
        .bind(k2)
        .bind(l2)
        .execute(&mut conn)
        .await
        .unwrap();
    let key_of = async |conn: &mut sqlx::SqliteConnection, author: i64| -> Vec<u8> {
        sqlx::query_scalar("SELECT public_key FROM authors WHERE id = ?")
            .bind(author)
            .fetch_one(conn)
            .await
            .unwrap()
    };
    let (k1, k2) = (key_of(&mut conn, k1).await, key_of(&mut conn, k2).await);
    drop(conn);

    let m = start(&dm, vec![]).await;
    let dn = TestDb::sqlite();
    let n_node = start(&dn, vec![p2p_address(&m, "tcp").await]).await;
    let m_peer = m.node.replication().unwrap().peer_id().to_string();
    // M keeps coming back (it is a known peer of N); after three faults N refuses it.
    wait_for("N to refuse M", async || {
        let s = n_node.node.replication().unwrap().stats();
        s.faults >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = n_node.node.replication().unwrap().stats();
    assert!(!stats.peers.contains(&m_peer), "M is refused: {stats:?}");
    assert!(stats.entries_rejected >= 1, "{stats:?}");
    // Everything N stored is one of M's original, valid entries: not the
    // forged one, nothing of the log whose first entry is missing.
    let stored = n_node
        .node
        .store()
        .entries_after(0, 100_000, &Default::default())
        .await
        .unwrap();
    for e in &stored {
        assert!(
            valid.contains(&e.entry),
            "N stored an entry M never validly had"
        );
        EncodedEntry::decode_and_verify(&e.entry).unwrap();
        assert!(
            !(e.public_key.as_slice() == k2.as_slice() && e.log_id == l2 as u64),
            "an entry without its log's start"
        );
        assert!(
            !(e.public_key.as_slice() == k1.as_slice() && e.log_id == l1 as u64 && e.seq_num >= 2)
        );
    }
    assert!(
        !stored.is_empty(),
        "valid entries before the faults were kept"
    );
    n_node.stop().await;
    m.stop().await;
}
