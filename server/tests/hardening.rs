//! The HTTP server against hostile clients: idle and slow connections,
//! oversized and non-JSON bodies, foreign origins, queries built to be
//! expensive, WebSockets that misbehave. Each was once a way to stall or
//! exhaust a node.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};
use hoffnung_server::{HttpLimits, NodeConfig};
use hoffnung_store::test_utils::TestDb;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

async fn node_with(limits: HttpLimits) -> (TestNode, TestDb) {
    let db = TestDb::sqlite();
    let mut config = NodeConfig::new(db.url.clone());
    config.http = limits;
    (TestNode::start_with(config).await, db)
}

fn short_timeouts() -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(2),
        init_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    }
}

/// Reads until the server closes the connection; `false` if it is still
/// open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed() {
    let (node, _db) = node_with(short_timeouts()).await;
    let addr = node.node.addr();

    // Never sends a byte.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(10)).await);

    // A header sent a byte at a time, 60 bytes over 6 s: closed long before
    // it is complete.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let header = b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: slowly\r\nX: y\r\n\r\n";
    let started = Instant::now();
    let mut closed_early = false;
    for byte in header {
        if slow.write_all(&[*byte]).await.is_err() {
            closed_early = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !closed_early {
        // Writes can succeed into the socket buffer after the close: the
        // server must not have answered.
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut buf)).await;
        closed_early = !String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200");
    }
    assert!(
        closed_early,
        "a header dribbled over {:?} was served",
        started.elapsed()
    );

    // An idle keep-alive connection after a request is closed too.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut kept, Duration::from_secs(10)).await);
    node.stop().await;
}

/// A real node process with a low descriptor limit: clients holding more
/// idle connections than it has descriptors must not stop `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_descriptor_limit_leave_health_answering() {
    let home = tempfile::tempdir().unwrap();
    // The node under util-linux's `prlimit`, with hoffnung's environment.
    let node_cmd = hoffnung(home.path());
    let mut cmd = std::process::Command::new("prlimit");
    if cmd.arg("--version").output().is_err() {
        eprintln!("skipped: no prlimit here to lower the node's descriptor limit");
        return;
    }
    let mut cmd = std::process::Command::new("prlimit");
    for (k, v) in node_cmd.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.arg("--nofile=512:512")
        .arg("--")
        .arg(node_cmd.get_program())
        .args(["node", "--no-replication", "--http-timeout", "1"]);
    let node = NodeProcess::start(cmd);
    let addr: std::net::SocketAddr = node.base.trim_start_matches("http://").parse().unwrap();

    // 700 connections, more than the node has descriptors; each is held
    // (never sends a byte) until the node closes it or the test ends.
    let mut holders = Vec::new();
    for _ in 0..700 {
        holders.push(tokio::spawn(async move {
            let Ok(Ok(mut s)) =
                tokio::time::timeout(Duration::from_secs(20), TcpStream::connect(addr)).await
            else {
                return;
            };
            let _ = closed_within(&mut s, Duration::from_secs(60)).await;
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let health = client.get(format!("{}/health", node.base)).send().await;
    let status = health.map(|r| r.status().as_u16());
    assert_eq!(status.as_ref().ok(), Some(&200), "{status:?}");
    // And GraphQL.
    let answer = post(&client, &node.url, "{ __typename }", json!({})).await;
    assert_eq!(answer["data"]["__typename"], "Query", "{answer}");
    for h in holders {
        h.abort();
    }
    assert!(node.terminate(), "the node stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_before_they_are_read() {
    let (node, _db) = node_with(HttpLimits::default()).await;
    let url = node.node.graphql_url();

    // A declared 300 MB body: refused at the header, almost none of it sent.
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let chunks = futures::stream::iter(0..300).map(move |_| {
        counter.fetch_add(1 << 20, std::sync::atomic::Ordering::Relaxed);
        Ok::<_, std::io::Error>(vec![b' '; 1 << 20])
    });
    let response = node
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("content-length", (300usize << 20).to_string())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    if let Ok(r) = response {
        assert_eq!(r.status().as_u16(), 413);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(error_code(&body), Some("PAYLOAD_TOO_LARGE"), "{body}");
    }
    // (The node may close the connection while the client still sends;
    // either way it did not take the body.)
    let taken = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        taken < 64 << 20,
        "{taken} bytes were taken of a refused body"
    );

    // Without a declared length (chunked): refused once over the limit.
    // (Refused once over the limit; the client may see the answer or, still
    // sending, a closed connection.)
    let chunks = futures::stream::iter(0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1 << 20]));
    let response = node
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    match response {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }

    // Just under the limit still runs (whitespace around a query).
    let mut body = json!({ "query": "{ __typename }" }).to_string();
    body.push_str(&" ".repeat(HttpLimits::default().max_body - body.len()));
    let response = node
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_json_bodies_run() {
    let (node, _db) = node_with(HttpLimits::default()).await;
    let url = node.node.graphql_url();
    let body = json!({ "query": "{ __typename }" }).to_string();
    // What a page of another site can send without a CORS preflight, and
    // no type at all.
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = node.client.post(&url).body(body.clone());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 415, "{content_type:?}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error_code(&answer), Some("UNSUPPORTED_MEDIA_TYPE"));
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ] {
        let response = node
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{content_type}");
    }
    // Not JSON at all: a 400 with a code, not a 500.
    let response = node
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    node.stop().await;
}

async fn websocket_with_origin(
    node: &TestNode,
    origin: Option<&str>,
) -> Result<common::ws::Socket, tokio_tungstenite::tungstenite::Error> {
    let url = node.node.graphql_url().replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_are_checked_for_cors_and_websockets() {
    let app = "https://app.example";
    let (node, _db) = node_with(HttpLimits {
        origins: Some(vec![app.into()]),
        ..HttpLimits::default()
    })
    .await;
    let url = node.node.graphql_url();
    let preflight = |origin: &'static str| {
        node.client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight(app).await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some(app)
    );
    let foreign = preflight("https://evil.example").await.unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let refused = websocket_with_origin(&node, Some("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a WebSocket from a foreign origin: {:?}", other.map(|_| ())),
    }
    assert!(websocket_with_origin(&node, Some(app)).await.is_ok());
    // Not a browser: no Origin header.
    assert!(websocket_with_origin(&node, None).await.is_ok());
    node.stop().await;

    // By default, any origin (as upstream: web apps call nodes from their
    // own origin).
    let (node, _db) = node_with(HttpLimits::default()).await;
    assert!(websocket_with_origin(&node, Some("https://evil.example"))
        .await
        .is_ok());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_no_files() {
    let db = TestDb::sqlite();
    let node = TestNode::start(&db).await;
    let status = node.get_text("/status").await;
    let path = db.url.trim_start_matches("sqlite:");
    assert!(!status.contains(path), "{status}");
    assert!(!status.contains("sqlite:"), "{status}");
    assert!(status.contains("\"backend\":\"sqlite\""), "{status}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typename_and_aliases_count_and_parse_errors_are_short() {
    let (node, _db) = node_with(HttpLimits::default()).await;
    // 6,000 aliased `__typename`s: over the limit of 5,000 fields.
    let fields: String = (0..6000).map(|i| format!(" a{i}: __typename")).collect();
    let answer = node.graphql(&format!("{{{fields} }}"), json!({})).await;
    assert!(answer["data"].is_null(), "answered");
    assert_eq!(error_code(&answer), Some("INVALID_QUERY"));
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{answer}"
    );

    // The same through fragments that multiply.
    let mut q = String::from("{ ...F0 }");
    for i in 0..13 {
        q.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    q.push_str(" fragment F13 on Query { __typename }");
    let answer = node.graphql(&q, json!({})).await;
    assert_eq!(error_code(&answer), Some("INVALID_QUERY"), "{answer}");

    // Within the limit: answered.
    let fields: String = (0..100).map(|i| format!(" a{i}: __typename")).collect();
    let answer = node.graphql(&format!("{{{fields} }}"), json!({})).await;
    assert_eq!(answer["data"]["a99"], "Query");

    // A 1 MB query that does not parse: a short answer.
    let broken = format!("{{ {} (", "a ".repeat(500_000));
    let text = node.graphql_text(&broken, json!({})).await;
    assert!(text.len() < 4096, "{} bytes answered", text.len());
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error_code(&answer), Some("INVALID_QUERY"), "{answer}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_must_initialise_and_get_valid_close_frames() {
    let (node, _db) = node_with(short_timeouts()).await;

    // No `connection_init`: closed with 4408.
    let mut socket = websocket_with_origin(&node, None).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("closed within 10 s");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::Library(4408))
        }
        other => panic!("{other:?}"),
    }

    // An unknown message type with a long name: the close frame the client
    // gets is one the protocol allows (a reason of at most 123 bytes).
    let mut socket = common::ws::connect(&node).await;
    let bogus = json!({ "type": "x".repeat(500) }).to_string();
    socket.send(Message::text(bogus)).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("closed within 10 s");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert!(frame.reason.len() <= 123),
        other => panic!("not a valid close frame: {other:?}"),
    }
    node.stop().await;
}

/// SIGTERM with a WebSocket subscriber, an idle keep-alive connection and
/// a replication peer connected: the node stops without waiting for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_does_not_wait_for_clients_or_peers() {
    use common::cli::{ok, start_node};
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node = start_node(ha.path(), &[]);
    let status: serde_json::Value =
        serde_json::from_str(&ok(ha.path(), &["status", "--json", "--node", &node.base])).unwrap();
    let quic = status["replication"]["listen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .find(|a| a.contains("/quic-v1"))
        .unwrap()
        .to_string();
    let port = quic.split('/').nth(4).unwrap();
    let peer = start_node(hb.path(), &["--peer", &format!("127.0.0.1:{port}")]);
    // Bounded wait until the peer is connected.
    let mut peers = 0;
    for _ in 0..200 {
        let status: serde_json::Value =
            serde_json::from_str(&ok(ha.path(), &["status", "--json", "--node", &node.base]))
                .unwrap();
        peers = status["replication"]["peers"]
            .as_array()
            .map_or(0, Vec::len);
        if peers > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(peers, 1, "the peer connected");

    let url = node.url.replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(
            json!({ "type": "connection_init" }).to_string(),
        ))
        .await
        .unwrap();
    let addr: std::net::SocketAddr = node.base.trim_start_matches("http://").parse().unwrap();
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // `terminate` waits 10 s at most: a node that waits for its clients
    // (they never leave) fails here.
    let clean = tokio::task::spawn_blocking(move || node.terminate())
        .await
        .unwrap();
    assert!(clean, "the node stops cleanly");
    // The close frame the subscriber got says why.
    let mut got_close = false;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await
    {
        if let Message::Close(Some(frame)) = msg {
            assert_eq!(frame.code, CloseCode::Away);
            got_close = true;
        }
    }
    assert!(
        got_close,
        "stopped after {:?} without a close frame",
        started.elapsed()
    );
    assert!(peer.terminate());
}
