//! How a node starts and stops: what it leaves behind when it cannot.

use hoffnung_server::{Node, NodeConfig, NodeError};

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
