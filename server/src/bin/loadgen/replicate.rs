//! `replicate`: catch-up of N entries from an in-process node to a fresh
//! one over libp2p on loopback, then the latency of live replication from
//! a `publish` on the first to materialized on the second.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_core::{EncodedEntry, KeyPair};
use hoffnung_server::{Node, NodeConfig};
use serde_json::json;

use crate::common::{load, presign, presign_documents, PUBLISH};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Entries on the first node, which the second one catches up on.
    #[arg(long)]
    entries: usize,
    /// Transport: `quic` or `tcp`.
    #[arg(long, default_value = "quic")]
    transport: String,
    /// Run the second node without its materializer (catch-up stores only;
    /// no live phase).
    #[arg(long)]
    no_materializer: bool,
    /// SQLite: both nodes' `StoreConfig::wal_restart_frames` (default: the
    /// store's).
    #[arg(long)]
    wal_restart_frames: Option<i64>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    replication_bench(
        args.entries,
        &args.transport,
        args.no_materializer,
        args.wal_restart_frames,
    )
    .await
}

/// A node on a fresh SQLite file that replicates on loopback.
async fn replicating_node(
    dir: &std::path::Path,
    peers: Vec<hoffnung_replication::Multiaddr>,
    materializer: bool,
    wal_restart_frames: Option<i64>,
) -> anyhow::Result<Node> {
    let url = format!("sqlite:{}", dir.join("hoffnung.db").display());
    let mut config = NodeConfig::new(url);
    if !materializer {
        config.materializer = None;
    }
    if let Some(frames) = wal_restart_frames {
        config.store.wal_restart_frames = frames;
    }
    let mut r = hoffnung_server::ReplicationConfig::new(
        KeyPair::generate(),
        std::net::IpAddr::from([127, 0, 0, 1]),
        0,
    );
    r.mdns = false;
    r.peers = peers;
    config.replication = Some(r);
    Ok(Node::bind(config).await?)
}

/// Catch-up of `entries` entries from a node to a fresh one, then the
/// latency from `publish` on the first to materialized on the second.
async fn replication_bench(
    entries: usize,
    transport: &str,
    no_materializer: bool,
    wal_restart_frames: Option<i64>,
) -> anyhow::Result<()> {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = replicating_node(da.path(), vec![], true, wal_restart_frames).await?;
    let signed = presign_documents(entries);
    load(&a, &signed).await?;
    let addr = a
        .replication()
        .context("replication")?
        .listen_addrs()
        .await
        .into_iter()
        .find(|m| m.to_string().contains(transport))
        .context("no address of that transport")?;
    println!("{entries} entries on A; B starts with A as its peer over {transport}");
    let started = Instant::now();
    let b = replicating_node(db.path(), vec![addr], !no_materializer, wal_restart_frames).await?;
    let bound = started.elapsed();
    let mut first = None;
    loop {
        // The in-memory count: a COUNT(*) every few ms would slow B down.
        let accepted = b.store().ingest_stats().accepted as usize;
        if first.is_none() && accepted > 0 {
            first = Some(started.elapsed());
        }
        if accepted >= entries {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("B did not catch up within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = started.elapsed();
    if let Some(first) = first {
        println!(
            "B bound after {:.0} ms, first entry stored after {:.0} ms",
            bound.as_secs_f64() * 1000.0,
            first.as_secs_f64() * 1000.0
        );
    }
    if no_materializer {
        println!(
            "catch-up: {entries} entries stored on B in {:.2} s ({:.0} entries/s), B without materializer",
            stored.as_secs_f64(),
            entries as f64 / stored.as_secs_f64()
        );
        return Ok(());
    }
    b.materializer()
        .context("materializer")?
        .caught_up()
        .await?;
    let materialized = started.elapsed();
    println!(
        "catch-up: {entries} entries stored on B in {:.2} s ({:.0} entries/s), materialized after {:.2} s",
        stored.as_secs_f64(),
        entries as f64 / stored.as_secs_f64(),
        materialized.as_secs_f64()
    );

    // Live: publish on A over HTTP, one entry every 20 ms, and time each
    // until B's materializer reports its document.
    let client = reqwest::Client::new();
    b.materializer().context("materializer")?;
    let mut events = b.store().view_changes();
    let (live, _) = presign(0x11ce, 200, 0);
    let mut latencies = Vec::with_capacity(live.len());
    for (entry_hex, op_hex) in &live {
        let hash = EncodedEntry::from_hex(entry_hex)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .hash();
        let t = Instant::now();
        let got: serde_json::Value = client
            .post(a.graphql_url())
            .json(&json!({ "query": PUBLISH, "variables": { "entry": entry_hex, "operation": op_hex } }))
            .send()
            .await?
            .json()
            .await?;
        if !got["errors"].is_null() {
            bail!("publish failed: {got}");
        }
        loop {
            let batch = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .context("no live delivery within 10 s")??;
            if batch.views.iter().any(|v| v.document_id == hash) {
                break;
            }
        }
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "live: publish on A to materialized on B, {} entries: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        latencies[latencies.len() - 1].as_secs_f64() * 1000.0
    );
    for n in [a, b] {
        n.shutdown();
        n.join().await?;
    }
    Ok(())
}
