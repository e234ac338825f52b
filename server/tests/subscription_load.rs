//! Subscriptions by the thousand: identical subscriptions share one
//! evaluation, the caps refuse with `TOO_MANY_SUBSCRIPTIONS`, every
//! subscriber of many gets every document once, and publishing keeps
//! working while they are open.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::ws::{connect, next, subscribe, Socket};
use common::*;
use futures::SinkExt;
use hoffnung_core::{Fields, KeyPair, OperationValue, SchemaId};
use hoffnung_server::NodeConfig;
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::{presigned_documents, TestDb};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const NOTE: &str = "note_0020974b2f54e7557098470ad6ef648bb497e48a22a4e583787396a6075b824b5e14";

fn title(d: usize, r: usize) -> Fields {
    let mut f = Fields::new();
    f.insert(
        "title".into(),
        OperationValue::Str(format!("hello {d} {r}")),
    );
    f
}

/// The query of subscription group `g` (every group matches every note).
fn query(g: usize) -> String {
    format!(
        "subscription {{ all_{NOTE}(filter: {{ title: {{ notEq: \"group {g}\" }} }}) {{ meta {{ documentId }} fields {{ title }} }} }}"
    )
}

/// A node with the notes schema (from the publish sequence) and these caps.
async fn node(db: &TestDb, per_connection: usize, per_node: usize) -> TestNode {
    let mut config = NodeConfig::new(db.url.clone());
    config.max_subscriptions_per_connection = per_connection;
    config.max_subscriptions = per_node;
    let node = TestNode::start_with(config).await;
    node.replay_publish_sequence().await;
    node.node.materializer().unwrap().caught_up().await.unwrap();
    node
}

async fn metrics(node: &TestNode) -> Exposition {
    Exposition::parse(&node.get_text("/metrics").await)
}

/// Waits until the node holds `n` subscriptions (they register as the
/// socket's messages are read).
async fn wait_open(node: &TestNode, n: usize) {
    for _ in 0..1000 {
        if metrics(node).await.get("hoffnung_subscriptions_open") == n as f64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never {n} subscriptions open");
}

/// `docs` new notes by a fresh author, each published and materialized.
async fn publish_notes(node: &TestNode, seed: u8, docs: usize) -> Vec<String> {
    let schema: SchemaId = NOTE.parse().unwrap();
    let key = KeyPair::from_private_key(&[seed; 32]);
    let (entries, last) = presigned_documents(&key, &schema, 0, docs, 0, title);
    for (entry, op) in &entries {
        let got = node.publish(&hex::encode(entry), &hex::encode(op)).await;
        assert!(got["errors"].is_null(), "{got}");
    }
    node.node.materializer().unwrap().caught_up().await.unwrap();
    last.iter().map(|(d, _)| d.to_hex()).collect()
}

/// Reads `n` documents (skipping the `complete` of refused subscriptions).
async fn documents(socket: &mut Socket, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let msg = next(socket).await;
        if msg["type"] == "complete" {
            continue;
        }
        assert_eq!(msg["type"], "next", "{msg}");
        let doc = &msg["payload"]["data"][format!("all_{NOTE}")]["meta"]["documentId"];
        let doc = doc.as_str().unwrap_or_else(|| panic!("a document: {msg}"));
        out.push((msg["id"].as_str().unwrap().to_string(), doc.to_string()));
    }
    out
}

/// Each subscription got each document exactly once.
fn once_each(got: &[(String, String)], ids: usize, docs: &[String]) {
    let mut seen: HashMap<&(String, String), usize> = HashMap::new();
    for m in got {
        *seen.entry(m).or_default() += 1;
    }
    assert_eq!(got.len(), ids * docs.len());
    assert!(seen.values().all(|&n| n == 1), "a document delivered twice");
    for d in docs {
        assert_eq!(got.iter().filter(|(_, doc)| doc == d).count(), ids);
    }
}

/// The error a refused subscription gets (a `next` with errors).
async fn refusal(socket: &mut Socket, id: &str) -> Value {
    let msg = next(socket).await;
    assert_eq!(msg["id"], id, "{msg}");
    msg["payload"].clone()
}

backend_tests! {
    identical_subscriptions_share_one_query(db) {
        let node = node(db, 100, 10_000).await;
        let mut socket = connect(&node).await;
        // 60 subscriptions, 3 distinct filters.
        for i in 0..60 {
            subscribe(&mut socket, &format!("s{i}"), &query(i % 3)).await;
        }
        wait_open(&node, 60).await;
        let before = metrics(&node).await.get("hoffnung_subscription_queries_total");
        let docs = publish_notes(&node, 71, 1).await;
        once_each(&documents(&mut socket, 60).await, 60, &docs);
        let m = metrics(&node).await;
        // One query per group, not one per subscription.
        assert_eq!(m.get("hoffnung_subscription_queries_total") - before, 3.0);
        assert_eq!(m.get("hoffnung_subscription_groups"), 3.0);
        node.stop().await;
    }

    caps_refuse_with_a_code_and_released_subscriptions_free_room(db) {
        let node = node(db, 3, 5).await;
        let mut a = connect(&node).await;
        for i in 0..3 {
            subscribe(&mut a, &format!("a{i}"), &query(0)).await;
        }
        // (The connection starts the streams of its messages in any order.)
        wait_open(&node, 3).await;
        // The fourth on this connection is over its cap.
        subscribe(&mut a, "a3", &query(0)).await;
        let refused = refusal(&mut a, "a3").await;
        assert_eq!(error_code(&refused), Some("TOO_MANY_SUBSCRIPTIONS"), "{refused}");
        // Two more on another connection fill the node; the next is over.
        let mut b = connect(&node).await;
        subscribe(&mut b, "b0", &query(1)).await;
        subscribe(&mut b, "b1", &query(1)).await;
        wait_open(&node, 5).await;
        subscribe(&mut b, "b2", &query(1)).await;
        let refused = refusal(&mut b, "b2").await;
        assert_eq!(error_code(&refused), Some("TOO_MANY_SUBSCRIPTIONS"), "{refused}");
        // A completed subscription and a closed connection free their room.
        a.send(Message::text(json!({ "id": "a0", "type": "complete" }).to_string())).await.unwrap();
        wait_open(&node, 4).await;
        a.close(None).await.unwrap();
        drop(a);
        wait_open(&node, 2).await;
        subscribe(&mut b, "b3", &query(1)).await;
        wait_open(&node, 3).await;
        let docs = publish_notes(&node, 72, 1).await;
        let got = documents(&mut b, 3).await;
        once_each(&got, 3, &docs);
        assert!(got.iter().any(|(id, _)| id == "b3"));
        node.stop().await;
    }

    a_thousand_subscriptions_on_one_connection_each_get_every_document(db) {
        let node = node(db, 1_000, 10_000).await;
        let mut socket = connect(&node).await;
        for i in 0..1_000 {
            subscribe(&mut socket, &format!("s{i}"), &query(i % 7)).await;
        }
        wait_open(&node, 1_000).await;
        let docs = publish_notes(&node, 73, 3).await;
        once_each(&documents(&mut socket, 3_000).await, 1_000, &docs);
        node.stop().await;
    }

    publishing_works_with_many_subscriptions_open(db) {
        let node = node(db, 100, 10_000).await;
        // 1,000 subscriptions on ten connections, each its own filter.
        let mut sockets = Vec::new();
        for c in 0..10 {
            let mut socket = connect(&node).await;
            for i in 0..100 {
                subscribe(&mut socket, &format!("s{i}"), &query(c * 100 + i)).await;
            }
            sockets.push(socket);
        }
        wait_open(&node, 1_000).await;
        // Every publish and `nextArgs` answers while the subscribers are
        // served, and every subscriber gets every document.
        let key = KeyPair::from_private_key(&[74; 32]);
        let schema: SchemaId = NOTE.parse().unwrap();
        let (entries, last) = presigned_documents(&key, &schema, 0, 10, 0, title);
        for (entry, op) in &entries {
            let got = node.publish(&hex::encode(entry), &hex::encode(op)).await;
            assert!(got["errors"].is_null(), "{got}");
            let args = node.next_args(&key.public_key().to_hex(), None).await;
            assert!(args["errors"].is_null(), "{args}");
        }
        let docs: Vec<String> = last.iter().map(|(d, _)| d.to_hex()).collect();
        for socket in &mut sockets {
            once_each(&documents(socket, 1_000).await, 100, &docs);
        }
        node.stop().await;
    }
}
