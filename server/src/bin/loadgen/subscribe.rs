//! `subscribe`: N GraphQL subscriptions open over WebSocket against an
//! in-process node while documents are published at a steady rate:
//! publish and `nextArgs` latency with the subscriptions open, and whether
//! every subscriber got every document.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{http_client, percentile_ms, presign, InProcessArgs, PUBLISH};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Subscriptions held open while publishing.
    #[arg(long, default_value_t = 5000)]
    subscriptions: usize,
    /// Subscriptions per WebSocket connection.
    #[arg(long, default_value_t = 100)]
    per_connection: usize,
    /// Distinct filters among the subscriptions (each matches every
    /// published document): subscription i uses filter i mod K.
    #[arg(long, default_value_t = 10)]
    filters: usize,
    /// Documents published while the subscriptions are open.
    #[arg(long, default_value_t = 100)]
    publishes: usize,
    /// Publishes per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Run the subscribers' WebSocket clients on threads of a lower
    /// priority, as if they were on other machines: they take only the CPU
    /// the node leaves (by default they compete with it as equals).
    #[arg(long)]
    nice_clients: bool,
    #[command(flatten)]
    node: InProcessArgs,
}

const NEXT_ARGS: &str =
    "query NextArgs($publicKey: String!) { nextArgs(publicKey: $publicKey) { logId seqNum } }";

/// What the connections' readers count.
#[derive(Default)]
struct Received {
    /// Measured documents delivered.
    next: AtomicU64,
    /// Subscriptions that delivered a warm-up document (so are registered).
    ready: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Names of the measured documents start so (`presign` names them
/// `field_<seed>_<n>`); the warm-up documents have another seed.
const MEASURED: &str = "\"field_7_";
const WARM_UP_SEED: u64 = 8;

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    if args.subscriptions == 0 || args.per_connection == 0 || args.filters == 0 {
        bail!("--subscriptions, --per-connection and --filters must be at least 1");
    }
    let (subscriptions, per_connection) = (args.subscriptions, args.per_connection);
    let n = args
        .node
        .start_with(true, |config| {
            // The caps fit the run (the defaults would refuse it).
            config.max_subscriptions = subscriptions;
            config.max_subscriptions_per_connection = per_connection;
        })
        .await?;
    let url = n.node.graphql_url();
    let client = http_client()?;
    let (entries, _) = presign(7, args.publishes, 0);
    let public_key = {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&7u64.to_be_bytes());
        bytes[8] = 0x5a;
        hoffnung_core::KeyPair::from_private_key(&bytes)
            .public_key()
            .to_hex()
    };

    // Open the connections, then every subscription.
    let received = Arc::new(Received::default());
    let t = Instant::now();
    let connections = args.subscriptions.div_ceil(args.per_connection);
    let mut readers = Vec::with_capacity(connections);
    let clients = match args.nice_clients {
        true => Some(hoffnung_server::low_priority_runtime("loadgen-clients")?),
        false => None,
    };
    for c in 0..connections {
        let mut socket = connect(&url).await?;
        let from = c * args.per_connection;
        let to = ((c + 1) * args.per_connection).min(args.subscriptions);
        for i in from..to {
            let query = format!(
                "subscription {{ all_schema_field_definition_v1(filter: {{ name: {{ notEq: \"group {}\" }} }}) {{ meta {{ documentId viewId }} fields {{ name type }} }} }}",
                i % args.filters
            );
            let msg = json!({ "id": format!("s{i}"), "type": "subscribe", "payload": { "query": query } });
            socket.send(Message::text(msg.to_string())).await?;
        }
        let received = received.clone();
        let reader = async move {
            let mut ready = std::collections::HashSet::new();
            while let Some(Ok(msg)) = socket.next().await {
                let Message::Text(text) = msg else { continue };
                if text.contains("\"type\":\"next\"") && !text.contains("\"errors\"") {
                    if text.contains(MEASURED) {
                        received.next.fetch_add(1, Ordering::Relaxed);
                    } else if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                        if ready.insert(v["id"].as_str().unwrap_or_default().to_string()) {
                            received.ready.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                } else if text.contains("\"errors\"") || text.contains("\"type\":\"error\"") {
                    received.errors.fetch_add(1, Ordering::Relaxed);
                    let mut first = received.first_error.lock().expect("not poisoned");
                    first.get_or_insert_with(|| text.to_string());
                }
            }
        };
        readers.push(match &clients {
            Some(runtime) => runtime.spawn(reader),
            None => tokio::spawn(reader),
        });
    }
    // Warm-up documents until every subscription heard of one: then all
    // are registered.
    let (warm_up, _) = presign(WARM_UP_SEED, 60, 0);
    let mut warm_up = warm_up.iter();
    while received.ready.load(Ordering::Relaxed) < args.subscriptions as u64 {
        let Some(signed) = warm_up.next() else {
            bail!(
                "only {} of {} subscriptions delivered after 60 warm-up documents",
                received.ready.load(Ordering::Relaxed),
                args.subscriptions
            );
        };
        publish(&client, &url, signed).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let work = &entries[..];
    let expected = args.subscriptions as u64;
    println!(
        "{} subscriptions on {connections} connections ({} distinct filters): open and delivering after {:.1} s",
        args.subscriptions,
        args.filters,
        t.elapsed().as_secs_f64()
    );

    // Publishes at a steady rate, `nextArgs` probed beside them.
    let done = Arc::new(tokio::sync::Notify::new());
    let probe = {
        let (client, url, done) = (client.clone(), url.clone(), done.clone());
        tokio::spawn(async move {
            let body =
                json!({ "query": NEXT_ARGS, "variables": { "publicKey": public_key } }).to_string();
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            loop {
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .and_then(|r| r.error_for_status());
                match ok {
                    Ok(r) => match r.bytes().await {
                        Ok(b) if !b.windows(8).any(|w| w == b"\"errors\"") => {
                            latencies.push(t.elapsed())
                        }
                        _ => failed += 1,
                    },
                    Err(_) => failed += 1,
                }
                tokio::select! {
                    () = done.notified() => break,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
            (latencies, failed)
        })
    };
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(work.len());
    let mut failed = 0usize;
    for (k, signed) in work.iter().enumerate() {
        tokio::time::sleep_until((start + interval * k as u32).into()).await;
        let t = Instant::now();
        match publish(&client, &url, signed).await {
            Ok(()) => latencies.push(t.elapsed()),
            Err(e) => {
                failed += 1;
                eprintln!("publish failed: {e:#}");
            }
        }
    }
    let published = Instant::now();
    done.notify_one();
    let (mut probes, probe_failed) = probe.await?;
    let expected = expected * work.len() as u64;
    let all = wait_for(&received, expected, Duration::from_secs(300)).await;
    let delivered_after = published.elapsed();

    latencies.sort();
    probes.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    println!(
        "publish  {:>5} at {:.0}/s: p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>8.2} ms   ({failed} failed)",
        latencies.len(),
        args.rate,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        ms(latencies.last()),
    );
    println!(
        "nextArgs {:>5} probes:  p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>8.2} ms   ({probe_failed} failed)",
        probes.len(),
        percentile_ms(&probes, 0.50),
        percentile_ms(&probes, 0.99),
        ms(probes.last()),
    );
    println!(
        "delivered {} of {expected} documents ({} errors){}, the last {:.2} s after the last publish",
        received.next.load(Ordering::Relaxed),
        received.errors.load(Ordering::Relaxed),
        if all.is_ok() { "" } else { " [timed out]" },
        delivered_after.as_secs_f64(),
    );
    if let Some(e) = received.first_error.lock().expect("not poisoned").as_ref() {
        println!("first error: {e}");
    }
    for r in readers {
        r.abort();
    }
    if let Some(runtime) = clients {
        runtime.shutdown_background();
    }
    n.node.shutdown();
    Ok(())
}

/// A graphql-transport-ws connection to `url`, acknowledged.
async fn connect(
    url: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let mut request = url.replace("http://", "ws://").into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket
        .send(Message::text(
            json!({ "type": "connection_init" }).to_string(),
        ))
        .await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => return Ok(socket),
            Some(Ok(_)) => {}
            other => bail!("no connection_ack: {other:?}"),
        }
    }
}

async fn publish(
    client: &reqwest::Client,
    url: &str,
    (entry, operation): &(String, String),
) -> anyhow::Result<()> {
    let body = json!({ "query": PUBLISH, "variables": { "entry": entry, "operation": operation } });
    let response = client.post(url).json(&body).send().await?.bytes().await?;
    if response.windows(8).any(|w| w == b"\"errors\"") {
        bail!("publish failed: {}", String::from_utf8_lossy(&response));
    }
    Ok(())
}

/// Waits until `expected` documents were delivered, at most `limit`.
async fn wait_for(received: &Received, expected: u64, limit: Duration) -> anyhow::Result<()> {
    let t = Instant::now();
    while received.next.load(Ordering::Relaxed) < expected {
        if t.elapsed() > limit {
            bail!(
                "{} of {expected} documents delivered after {limit:?}",
                received.next.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
