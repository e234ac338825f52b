//! Real processes: the `hoffnung` binary killed hard after accepting
//! entries, and the real p2panda-js client publishing to a node.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use hoffnung_store::{backend_tests, Store, StoreConfig};

/// Starts `hoffnung node` on a free port; returns the child and its GraphQL URL.
fn spawn_node(database_url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hoffnung"))
        .args(["node", "--database-url", database_url, "--http-port", "0"])
        .env("HOFFNUNG_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hoffnung");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().expect("a line").expect("readable");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    client
        .post(url)
        .json(&serde_json::json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

backend_tests! {
    killed_node_keeps_every_accepted_entry(db) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let entries = vectors("publish_sequence")["entries"].as_array().unwrap().clone();
        let (mut child, url) = spawn_node(&db.url);
        let mut accepted = 0;
        for e in entries.iter().take(30) {
            let got = post(&client, &url, PUBLISH, serde_json::json!({
                "entry": s(&e["entry_hex"]), "operation": s(&e["operation_hex"]) })).await;
            assert!(got["errors"].is_null(), "{got}");
            accepted += 1;
        }
        // SIGKILL: no shutdown path runs.
        child.kill().expect("kill");
        child.wait().expect("reaped");
        let store = Store::connect(&db.url, StoreConfig::default()).await.unwrap();
        assert_eq!(store.entry_count().await.unwrap(), accepted);
        store.close().await;
        // A restarted node continues the logs.
        let (mut child, url) = spawn_node(&db.url);
        let e = &entries[30];
        let req = &e["next_args_request"];
        let got = post(&client, &url, NEXT_ARGS, serde_json::json!({
            "publicKey": s(&req["publicKey"]), "viewId": req["viewId"] })).await;
        assert_eq!(got["data"]["nextArgs"], e["next_args_response"], "{got}");
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }

    p2panda_js_publishes_schema_and_documents(db) {
        let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e");
        assert!(
            e2e.join("node_modules/p2panda-js").exists(),
            "p2panda-js is not installed: run `npm ci --prefix e2e` (.ci/run does)"
        );
        let node = TestNode::start(db).await;
        let url = node.node.graphql_url();
        let output = tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg("publish.mjs")
                .arg(url)
                .current_dir(e2e)
                .output()
                .expect("run node (Node.js)")
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "p2panda-js client failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(
            output.stdout.split(|b| *b == b'\n').rev().find(|l| !l.is_empty()).unwrap(),
        )
        .unwrap();
        assert_eq!(report["entries"], 6);
        assert_eq!(node.counts().await.0, 6);
        let schema_id: hoffnung_core::SchemaId = s(&report["schemaId"]).parse().unwrap();
        assert!(hoffnung_store::SchemaSource::schema(node.node.registry().as_ref(), &schema_id).is_some());
        for doc in report["documents"].as_array().unwrap() {
            let view: hoffnung_core::Hash = s(&doc["viewId"]).parse().unwrap();
            assert!(node.node.store().has_entry(&view).await.unwrap());
        }
        // The updated document continues its log at seq 3.
        let got = node.next_args(s(&report["publicKey"]), Some(s(&report["documents"][0]["viewId"]))).await;
        assert_eq!(got["data"]["nextArgs"]["seqNum"], "3", "{got}");
        node.stop().await;
    }
}
