//! Shared helpers of the node's integration tests: vectors, a node on a
//! fresh database, GraphQL over real HTTP.
//!
//! `cli`: the helpers of the command-line tests (`cli_*.rs`); `blob`: blobs
//! as apps publish them; `e2e`: the Node.js clients of `e2e/`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use hoffnung_server::{Node, NodeConfig};
use hoffnung_store::test_utils::TestDb;
use serde_json::{json, Value};

pub mod blob;
pub mod cli;
pub mod e2e;
pub mod golden;

/// Replication on loopback with fast sync rounds, no mDNS, dialling `peers`.
pub fn replication_config(
    peers: Vec<hoffnung_replication::Multiaddr>,
) -> hoffnung_server::ReplicationConfig {
    let key = hoffnung_core::KeyPair::generate();
    let mut c = hoffnung_server::ReplicationConfig::new(key, "127.0.0.1".parse().unwrap(), 0);
    c.mdns = false;
    c.peers = peers;
    c.sync_interval = Duration::from_millis(300);
    c
}

/// A node's replication address of one transport (`tcp` or `quic`).
pub async fn p2p_address(node: &TestNode, transport: &str) -> hoffnung_replication::Multiaddr {
    let addrs = node.node.replication().unwrap().listen_addrs().await;
    addrs
        .into_iter()
        .find(|a| a.to_string().contains(transport))
        .unwrap_or_else(|| panic!("no {transport} address"))
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn vectors(name: &str) -> Value {
    fixture(&format!("vectors/{name}"))
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The GraphQL documents exactly as shirokuma 0.1.3 sends them.
pub const NEXT_ARGS: &str = "query NextArgs($publicKey: String!, $viewId: String) {
  nextArgs(publicKey: $publicKey, viewId: $viewId) {
    logId
    seqNum
    backlink
    skiplink
  }
}";

pub const PUBLISH: &str = "mutation Publish($entry: String!, $operation: String!) {
  publish(entry: $entry, operation: $operation) {
    logId
    seqNum
    backlink
    skiplink
  }
}";

/// A node on a test database, with an HTTP client.
pub struct TestNode {
    pub node: Node,
    pub client: reqwest::Client,
    /// The blob folder `start_with` made when the config named none.
    _blobs: Option<tempfile::TempDir>,
}

impl TestNode {
    pub async fn start(db: &TestDb) -> Self {
        Self::start_with(NodeConfig::new(db.url.clone())).await
    }

    /// Starts a node; one without a blob folder gets a temporary one.
    pub async fn start_with(mut config: NodeConfig) -> Self {
        // `HOFFNUNG_TEST_LOG=debug` shows the node's logs of a test; its
        // errors are shown by default (a failing test prints them).
        let filter = std::env::var("HOFFNUNG_TEST_LOG").unwrap_or_else(|_| "error".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
        let blobs = match config.blobs_dir {
            Some(_) => None,
            None => {
                let dir = tempfile::tempdir().unwrap();
                config.blobs_dir = Some(dir.path().to_path_buf());
                Some(dir)
            }
        };
        let node = Node::bind(config).await.expect("node starts");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            node,
            client,
            _blobs: blobs,
        }
    }

    pub async fn stop(self) {
        self.node.shutdown();
        self.node.join().await.expect("clean shutdown");
    }

    /// `GET` of one of the node's paths (`/metrics`, `/status`): the body.
    pub async fn get_text(&self, path: &str) -> String {
        let url = format!("http://{}{path}", self.node.addr());
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Sends a GraphQL request, returns the whole JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql_text(query, variables).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("JSON response ({e}): {body}"))
    }

    /// Sends a GraphQL request, returns the response body as sent (for
    /// checks that parsed JSON cannot make, such as `1.0` against `1`).
    pub async fn graphql_text(&self, query: &str, variables: Value) -> String {
        self.client
            .post(self.node.graphql_url())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("HTTP request")
            .text()
            .await
            .expect("a body")
    }

    pub async fn next_args(&self, public_key: &str, view_id: Option<&str>) -> Value {
        self.graphql(
            NEXT_ARGS,
            json!({ "publicKey": public_key, "viewId": view_id }),
        )
        .await
    }

    pub async fn publish(&self, entry_hex: &str, operation_hex: &str) -> Value {
        self.graphql(
            PUBLISH,
            json!({ "entry": entry_hex, "operation": operation_hex }),
        )
        .await
    }

    /// (entries, operations, logs) stored.
    pub async fn counts(&self) -> (u64, u64, u64) {
        let st = self.node.store();
        (
            st.entry_count().await.unwrap(),
            st.operation_count().await.unwrap(),
            st.log_count().await.unwrap(),
        )
    }

    /// Publishes every entry of `publish_sequence.json` through GraphQL and
    /// checks each answer against the recorded one.
    pub async fn replay_publish_sequence(&self) {
        for e in vectors("publish_sequence")["entries"].as_array().unwrap() {
            let name = s(&e["name"]);
            let req = &e["next_args_request"];
            let got = self
                .next_args(s(&req["publicKey"]), req["viewId"].as_str())
                .await;
            assert_eq!(
                got["data"]["nextArgs"], e["next_args_response"],
                "nextArgs before {name}: {got}"
            );
            let got = self
                .publish(s(&e["entry_hex"]), s(&e["operation_hex"]))
                .await;
            assert_eq!(
                got["data"]["publish"], e["publish_response"],
                "publish of {name}: {got}"
            );
        }
    }
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

/// One GraphQL request over HTTP; the JSON answer.
pub async fn post(
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

/// The samples of a `/metrics` exposition by series, as written
/// (`name{label="value",…}`); comment lines (HELP, TYPE, UNIT, EOF) are skipped.
pub struct Exposition(std::collections::HashMap<String, f64>);

impl Exposition {
    pub fn parse(text: &str) -> Self {
        let mut samples = std::collections::HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            let dup = samples.insert(series.to_string(), value);
            assert!(dup.is_none(), "{series} twice in\n{text}");
        }
        Self(samples)
    }

    /// The value of one series, e.g. `x_total{code="A"}`.
    pub fn get(&self, series: &str) -> f64 {
        *self.0.get(series).unwrap_or_else(|| {
            let mut known: Vec<_> = self.0.keys().collect();
            known.sort();
            panic!("no {series} in {known:#?}")
        })
    }

    /// The sum of every series of `name`, whatever their labels.
    pub fn sum(&self, name: &str) -> f64 {
        let labelled = format!("{name}{{");
        self.0
            .iter()
            .filter(|(s, _)| *s == name || s.starts_with(&labelled))
            .map(|(_, v)| v)
            .sum()
    }
}

/// A `hoffnung` command with a clean environment: no `HOFFNUNG_*`
/// variables of the caller, and config and data directories inside `home`
/// (nothing of the user's is read or written).
pub fn hoffnung(home: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hoffnung"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HOFFNUNG_") || k.starts_with("XDG_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("HOFFNUNG_LOG_LEVEL", "warn")
        // Tests stay on loopback, on free ports, and never find each other.
        .env("HOFFNUNG_P2P_BIND", "127.0.0.1")
        .env("HOFFNUNG_P2P_PORT", "0")
        .env("HOFFNUNG_MDNS", "false");
    cmd
}

/// A `hoffnung node` process; killed when dropped.
pub struct NodeProcess {
    pub child: std::process::Child,
    /// The GraphQL endpoint.
    pub url: String,
    /// The node's base URL.
    pub base: String,
}

impl NodeProcess {
    /// Starts `cmd` (a `hoffnung node` command; `--http-port 0` is added) and
    /// waits for the line with its GraphQL URL.
    pub fn start(mut cmd: std::process::Command) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = cmd
            .args(["--http-port", "0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn hoffnung");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = match lines.next() {
            Some(Ok(line)) => line,
            other => {
                let status = child.wait();
                panic!("hoffnung node printed no URL ({other:?}); exit: {status:?}");
            }
        };
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        let base = url.trim_end_matches("/graphql").to_string();
        Self { child, url, base }
    }

    /// Sends SIGTERM and waits; returns whether the node exited cleanly.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "kill -TERM {pid}");
        // Bounded: a node that ignores SIGTERM fails the test.
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestNode {
    /// Signs `operation` with `key` after asking `nextArgs`, publishes it,
    /// and returns the operation id.
    pub async fn publish_operation(
        &self,
        key: &hoffnung_core::KeyPair,
        operation: &hoffnung_core::Operation,
    ) -> hoffnung_core::Hash {
        let view = operation.previous.as_ref().map(|v| v.to_string());
        let got = self
            .next_args(&key.public_key().to_hex(), view.as_deref())
            .await;
        let a = &got["data"]["nextArgs"];
        let hash = |k: &str| a[k].as_str().map(|h| h.parse().unwrap());
        let args = hoffnung_core::entry::NextArgs {
            log_id: s(&a["logId"]).parse().unwrap(),
            seq_num: s(&a["seqNum"]).parse().unwrap(),
            backlink: hash("backlink"),
            skiplink: hash("skiplink"),
        };
        let payload = operation.encode();
        let entry = hoffnung_core::sign_entry(key, &args, &payload).unwrap();
        let got = self.publish(&entry.to_hex(), &hex::encode(&payload)).await;
        assert!(got["errors"].is_null(), "{got}");
        entry.hash()
    }
}

impl TestNode {
    /// Publishes a schema (its field definitions, then the definition) with
    /// `key` and returns its id. `fields`: (name, type as in
    /// `schema_field_definition_v1`, e.g. `str` or `relation(<schema id>)`).
    pub async fn publish_schema(
        &self,
        key: &hoffnung_core::KeyPair,
        name: &str,
        fields: &[(&str, &str)],
    ) -> hoffnung_core::SchemaId {
        use hoffnung_core::{DocumentViewId, Fields, Operation, OperationValue, SchemaId};
        let mut pinned = Vec::new();
        for (field, ty) in fields {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(field.to_string()));
            f.insert("type".into(), OperationValue::Str(ty.to_string()));
            let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f);
            pinned.push(DocumentViewId::from_operation(
                self.publish_operation(key, &op).await,
            ));
        }
        let mut d = Fields::new();
        d.insert("name".into(), OperationValue::Str(name.into()));
        d.insert(
            "description".into(),
            OperationValue::Str(format!("A {name}")),
        );
        d.insert("fields".into(), OperationValue::PinnedRelationList(pinned));
        let def = self
            .publish_operation(key, &Operation::create(SchemaId::SCHEMA_DEFINITION_V1, d))
            .await;
        SchemaId::application(name, DocumentViewId::from_operation(def)).unwrap()
    }

    /// Waits until the materializer has caught up and `all_<schema>` can be
    /// queried (the GraphQL schema is rebuilt after the registry changes).
    pub async fn wait_queryable(&self, schema: &hoffnung_core::SchemaId) {
        self.wait_queryable_within(schema, Duration::from_secs(5))
            .await;
    }

    /// [`Self::wait_queryable`] for a schema whose tables take long to make
    /// (a thousand columns and indexes, on a busy machine).
    pub async fn wait_queryable_within(&self, schema: &hoffnung_core::SchemaId, limit: Duration) {
        self.node.materializer().unwrap().caught_up().await.unwrap();
        let query = format!("{{ all_{schema} {{ totalCount }} }}");
        let polls = limit.as_millis() / 10;
        for _ in 0..polls {
            if self.graphql(&query, Value::Null).await["errors"].is_null() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("all_{schema} never became queryable");
    }
}

/// GraphQL subscriptions over a real WebSocket (graphql-transport-ws).
pub mod ws {
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    pub type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// A socket to `node`'s GraphQL endpoint, its connection acknowledged.
    pub async fn connect(node: &super::TestNode) -> Socket {
        let url = node.node.graphql_url().replace("http://", "ws://");
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        socket
            .send(Message::text(
                json!({ "type": "connection_init" }).to_string(),
            ))
            .await
            .unwrap();
        assert_eq!(next(&mut socket).await["type"], "connection_ack");
        socket
    }

    /// Starts subscription `id` with `query`.
    pub async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
        let msg = json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
        socket.send(Message::text(msg.to_string())).await.unwrap();
    }

    /// The next text message as sent, waiting at most 10 s.
    pub async fn next_text(socket: &mut Socket) -> String {
        next_text_within(socket, Duration::from_secs(10)).await
    }

    /// The next text message as sent, waiting at most `wait`.
    pub async fn next_text_within(socket: &mut Socket, wait: Duration) -> String {
        loop {
            let msg = tokio::time::timeout(wait, socket.next())
                .await
                .unwrap_or_else(|_| panic!("a message within {wait:?}"))
                .expect("socket open")
                .expect("readable");
            if let Message::Text(t) = msg {
                return t.to_string();
            }
        }
    }

    /// The next JSON message, waiting at most 10 s.
    pub async fn next(socket: &mut Socket) -> Value {
        serde_json::from_str(&next_text(socket).await).unwrap()
    }
}
