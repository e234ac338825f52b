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
        let other = KeyPair::generate();
        let bulk: Vec<(Vec<u8>, Vec<u8>)> = (0..300u64)
            .map(|log_id| {
                let mut f = Fields::new();
                f.insert("name".into(), OperationValue::Str(format!("bulk{log_id}")));
                f.insert("type".into(), OperationValue::Str("int".into()));
                let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
                let args = NextArgs { log_id, seq_num: 1, backlink: None, skiplink: None };
                (sign_entry(&other, &args, &op).unwrap().as_bytes().to_vec(), op)
            })
            .collect();
        let results = a.node.store().ingest_bulk(&bulk, a.node.registry().as_ref()).await.unwrap();
        assert!(results.iter().all(|r| r.is_ok()));
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
            "SELECT public_key, log_id FROM entries GROUP BY public_key, log_id \
             ORDER BY MAX(seq_num) DESC, public_key, log_id LIMIT 1",
        )
        .await
        .unwrap();
    let (k1, l1): (Vec<u8>, i64) = (first.get(0), first.get(1));
    let second = sqlx::query(
        "SELECT public_key, log_id FROM entries WHERE schema_id NOT LIKE 'schema_%' \
         AND NOT (public_key = ? AND log_id = ?) GROUP BY public_key, log_id \
         HAVING MAX(seq_num) >= 2 ORDER BY MAX(seq_num) DESC, public_key, log_id LIMIT 1",
    )
    .bind(&k1)
    .bind(l1)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let (k2, l2): (Vec<u8>, i64) = (second.get(0), second.get(1));
    let forged_row = sqlx::query(
        "SELECT entry FROM entries WHERE public_key = ? AND log_id = ? AND seq_num = 2",
    )
    .bind(&k1)
    .bind(l1)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let mut forged: Vec<u8> = forged_row.get(0);
    let n = forged.len();
    forged[n - 1] ^= 0x01;
    sqlx::query("UPDATE entries SET entry = ? WHERE public_key = ? AND log_id = ? AND seq_num = 2")
        .bind(&forged)
        .bind(&k1)
        .bind(l1)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM entries WHERE public_key = ? AND log_id = ? AND seq_num = 1")
        .bind(&k2)
        .bind(l2)
        .execute(&mut conn)
        .await
        .unwrap();
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
