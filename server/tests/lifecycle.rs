//! How a node starts and stops: what it leaves behind when it cannot.

mod common;

use std::time::{Duration, Instant};

use common::ws::{connect, next_text_within, subscribe};
use common::{p2p_address, replication_config, TestNode};
use futures::StreamExt;
use hoffnung_core::{Fields, KeyPair, Operation, OperationValue};
use hoffnung_server::{Node, NodeConfig, NodeError};
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::TestDb;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_port_in_use_starts_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("node.db");
    let mut config = NodeConfig::new(format!("sqlite:{}", db.display()));
    config.http_bind = taken.local_addr().unwrap();
    match Node::bind(config).await {
        Err(NodeError::Bind { addr, .. }) => assert_eq!(addr, taken.local_addr().unwrap()),
        Err(e) => panic!("expected a bind error, got {e}"),
        Ok(_) => panic!("bound a port that is taken"),
    }
    // The port is checked before anything else starts: not even the
    // database was opened.
    assert!(!db.exists(), "the store was opened");
}

backend_tests! {
    a_node_with_a_subscriber_and_a_peer_stops_quickly_and_leaves_no_task(db) {
        let peer_db = TestDb::sqlite();
        let mut config = NodeConfig::new(peer_db.url.clone());
        config.replication = Some(replication_config(vec![]));
        let peer = TestNode::start_with(config).await;
        let mut config = NodeConfig::new(db.url.clone());
        config.replication = Some(replication_config(vec![p2p_address(&peer, "tcp").await]));
        let node = TestNode::start_with(config).await;

        // A schema from the peer, replicated; a subscriber to it on the node.
        let key = KeyPair::generate();
        let schema = peer.publish_schema(&key, "post", &[("title", "str")]).await;
        let mut waited = 0;
        while !node.node.registry().schemas().iter().any(|s| s.id() == &schema) {
            assert!(waited < 600, "the schema did not arrive");
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        node.wait_queryable(&schema).await;
        let mut socket = connect(&node).await;
        subscribe(&mut socket, "1", &format!("subscription {{ all_{schema} {{ fields {{ title }} }} }}")).await;
        let mut fields = Fields::new();
        fields.insert("title".into(), OperationValue::Str("hello".into()));
        peer.publish_operation(&key, &Operation::create(schema.clone(), fields)).await;
        // The subscriber hears of the peer's document: all parts are busy.
        // Gossip may miss it while the mesh forms; then the next session
        // (every 5 s) brings it, later than 10 s on a loaded machine.
        let msg = next_text_within(&mut socket, Duration::from_secs(60)).await;
        assert!(msg.contains("hello"), "{msg}");
        assert_eq!(node.node.replication().unwrap().stats().peers.len(), 1);

        let tasks = node.node.tasks();
        assert!(tasks.running() > 0);
        let started = Instant::now();
        node.node.shutdown();
        tokio::time::timeout(Duration::from_secs(2), node.node.join())
            .await
            .expect("stopped within 2 s")
            .expect("clean shutdown");
        assert_eq!(tasks.running(), 0, "tasks left after {:?}", started.elapsed());
        // The subscriber's connection ended with the node.
        let end = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match socket.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(end.is_ok(), "the WebSocket stayed open");
        peer.stop().await;
        peer_db.cleanup().await;
    }
}
