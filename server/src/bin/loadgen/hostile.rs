//! `hostile`: a `hoffnung node` process (the binary beside this one, or
//! `--binary`) under what a hostile client does, and how legitimate
//! requests fare meanwhile:
//!
//! 1. `--idle N` connections held open (reopened as soon as the node closes
//!    one): `/health` and `nextArgs` latency on fresh connections;
//! 2. `--bodies K` concurrent bodies of `--body-mib` MiB to `/graphql`: the
//!    node's peak resident memory;
//! 3. a spike of `--spike` concurrent page queries of 10,000 documents: the
//!    node's memory at the peak and 10 s after.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use hoffnung_server::{Node, NodeConfig};
use serde_json::json;

use crate::common::{load, percentile_ms, presign_documents};
use crate::startup::{rss_kib, spawn_node, wait_healthy};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Idle connections held open during the latency measurement.
    #[arg(long, default_value_t = 6000)]
    idle: usize,
    /// Requests of each kind measured while they are held.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Concurrent oversized bodies.
    #[arg(long, default_value_t = 4)]
    bodies: usize,
    /// Size of each body, MiB.
    #[arg(long, default_value_t = 300)]
    body_mib: usize,
    /// Documents loaded before the spike.
    #[arg(long, default_value_t = 10_000)]
    documents: usize,
    /// Concurrent page queries of the spike.
    #[arg(long, default_value_t = 32)]
    spike: usize,
    /// The node binary (default: `hoffnung` beside this one).
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let binary = crate::startup::node_binary(args.binary.as_deref())?;
    // The documents of the spike, written before the node process starts.
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("hoffnung.db").display());
    let node = Node::bind(NodeConfig::new(url)).await?;
    load(&node, &presign_documents(args.documents)).await?;
    node.shutdown();
    node.join().await?;

    let (mut child, url) = spawn_node(&binary, dir.path(), 0, &["--no-replication"])?;
    let base = url.trim_end_matches("/graphql").to_string();
    let pid = child.id();
    let outcome = async {
        wait_healthy(&base).await?;
        idle_connections(&base, &url, args.idle, args.requests).await?;
        oversized_bodies(&url, pid, args.bodies, args.body_mib).await?;
        spike(&url, pid, args.spike).await
    }
    .await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    child.wait()?;
    outcome
}

async fn idle_connections(
    base: &str,
    url: &str,
    idle: usize,
    requests: usize,
) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicU64::new(0));
    let reopened = Arc::new(AtomicU64::new(0));
    let mut holders = Vec::new();
    for _ in 0..idle {
        let (stop, open, reopened) = (stop.clone(), open.clone(), reopened.clone());
        holders.push(tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while !stop.load(Ordering::Relaxed) {
                let connect = tokio::net::TcpStream::connect(addr);
                let Ok(Ok(mut stream)) =
                    tokio::time::timeout(Duration::from_secs(5), connect).await
                else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                open.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 64];
                // Held until the node closes it (or the phase ends).
                loop {
                    match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf))
                        .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(_)) => continue,
                        Err(_) if stop.load(Ordering::Relaxed) => break,
                        Err(_) => continue,
                    }
                }
                open.fetch_sub(1, Ordering::Relaxed);
                reopened.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Until every holder has its connection (or 30 s).
    let started = Instant::now();
    while (open.load(Ordering::Relaxed) as usize) < idle
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "idle: {} of {idle} connections open after {:.1} s",
        open.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    // A fresh connection per request, as a new visitor's.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()?;
    for (name, health) in [("/health", true), ("nextArgs", false)] {
        let mut latencies = Vec::with_capacity(requests);
        let mut failed = 0;
        for _ in 0..requests {
            let t = Instant::now();
            let ok = if health {
                client
                    .get(format!("{base}/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            } else {
                let q = json!({ "query": "{ nextArgs(publicKey: \"2f8e50c2ede6d936ecc3144187ff1c273808185cfbc5ff3d3748d1ff7353fc96\") { logId } }" });
                client
                    .post(url)
                    .json(&q)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            };
            if ok {
                latencies.push(t.elapsed());
            } else {
                failed += 1;
            }
        }
        latencies.sort();
        println!(
            "idle {idle}: {name} on a fresh connection: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {failed} of {requests} failed",
            percentile_ms(&latencies, 0.5),
            percentile_ms(&latencies, 0.99),
            percentile_ms(&latencies, 1.0),
        );
    }
    println!(
        "idle: {} connections open at the end, {} closed by the node and reopened",
        open.load(Ordering::Relaxed),
        reopened.load(Ordering::Relaxed)
    );
    stop.store(true, Ordering::Relaxed);
    for h in holders {
        let _ = h.await;
    }
    Ok(())
}

async fn oversized_bodies(url: &str, pid: u32, bodies: usize, mib: usize) -> anyhow::Result<()> {
    let before = rss_kib(pid)?;
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let started = Instant::now();
    let sends = (0..bodies).map(|i| {
        let client = client.clone();
        async move {
            // A JSON string of spaces: valid JSON once complete.
            let head = futures::stream::once(async {
                Ok::<_, std::io::Error>(b"{\"query\": \"".to_vec())
            });
            let middle = futures::stream::iter(0..mib).map(|_| Ok(vec![b' '; 1 << 20]));
            let tail = futures::stream::once(async { Ok(b"{ __typename }\"}".to_vec()) });
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(head.chain(middle).chain(tail)));
            // Half of them declare their length, half are chunked.
            if i % 2 == 0 {
                request = request.header("content-length", (mib * (1 << 20) + 11 + 16).to_string());
            }
            match request.send().await {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_request() || e.is_body() => "closed".to_string(),
                Err(e) => format!("{e}"),
            }
        }
    });
    let statuses: Vec<String> = futures::future::join_all(sends).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    println!(
        "{bodies} bodies of {mib} MiB: answers {statuses:?} in {:.2} s; node RSS {:.1} MiB before, peak {:.1} MiB",
        started.elapsed().as_secs_f64(),
        before as f64 / 1024.0,
        peak.load(Ordering::Relaxed) as f64 / 1024.0
    );
    Ok(())
}

async fn spike(url: &str, pid: u32, concurrent: usize) -> anyhow::Result<()> {
    let before = rss_kib(pid)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let query = json!({ "query": "{ all_schema_field_definition_v1(first: 10000) { totalCount documents { meta { documentId viewId owner } fields { name type } } } }" });
    let mut peak = before;
    for _ in 0..3 {
        let runs = (0..concurrent).map(|_| {
            let (client, query) = (client.clone(), query.clone());
            async move {
                let r = client.post(url).json(&query).send().await?;
                r.bytes().await.map(|b| b.len())
            }
        });
        let sizes: Vec<_> = futures::future::join_all(runs).await;
        let failed = sizes.iter().filter(|r| r.is_err()).count();
        if failed > 0 {
            bail!("{failed} spike queries failed");
        }
        peak = peak.max(rss_kib(pid)?);
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = rss_kib(pid).context("RSS after the spike")?;
    println!(
        "spike of {concurrent} concurrent 10,000-document pages (3 rounds): node RSS {:.1} MiB before, {:.1} MiB at the peak, {:.1} MiB 10 s after",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(())
}
