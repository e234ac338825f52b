//! `lag`: the `publish` workload at a steady rate against an in-process
//! node, measuring for each entry the time from its accepted `publish` to
//! the materializer's commit of its view.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_server::Node;
use serde_json::json;

use crate::common::{http_client, percentile_ms, InProcessArgs, Signed, PUBLISH};
use crate::publish::{prepare, Workload};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Publish at this steady rate (entries/s, all authors together).
    #[arg(long)]
    rate: f64,
    #[command(flatten)]
    node: InProcessArgs,
    #[command(flatten)]
    workload: Workload,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.node.start(true).await?;
    let url = n.node.graphql_url();
    let client = http_client()?;
    let (creates, updates) = prepare(&client, &url, &args.workload).await?;
    run_paced(&client, &url, &n.node, "creates", creates, args.rate).await?;
    if args.workload.updates > 0 {
        run_paced(&client, &url, &n.node, "updates", updates, args.rate).await?;
    }
    n.stop().await
}

/// Publishes at a steady `rate` (the authors' sends interleaved) and
/// measures, for each entry, the time from its accepted `publish` answer to
/// the materializer's commit of the view it makes.
async fn run_paced(
    client: &reqwest::Client,
    url: &str,
    node: &Node,
    name: &'static str,
    work: Vec<Vec<Signed>>,
    rate: f64,
) -> anyhow::Result<()> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    // The store's change feed tells each committed view.
    let materializer = node
        .materializer()
        .context("the lag needs the node's materializer")?
        .clone();
    let mut events = node.store().view_changes();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let collector = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(batch) = events.recv().await {
                let now = Instant::now();
                let mut seen = seen.lock().expect("not poisoned");
                for v in &batch.views {
                    seen.insert(v.view_id.to_string(), now);
                }
            }
        })
    };
    let clients = work.len().max(1);
    let interval = Duration::from_secs_f64(clients as f64 / rate);
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::new();
    for (i, list) in work.into_iter().enumerate() {
        let client = client.clone();
        let url = url.to_string();
        let offset = interval.mul_f64(i as f64 / clients as f64);
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::with_capacity(list.len());
            for (k, (entry, operation)) in list.into_iter().enumerate() {
                tokio::time::sleep_until((start + offset + interval * k as u32).into()).await;
                let hash = hoffnung_core::EncodedEntry::from_hex(&entry)?.hash().to_hex();
                let body = json!({ "query": PUBLISH, "variables": { "entry": entry, "operation": operation } });
                let response = client.post(&url).json(&body).send().await?.bytes().await?;
                if response.windows(8).any(|w| w == b"\"errors\"") {
                    bail!("request failed: {}", String::from_utf8_lossy(&response));
                }
                accepted.push((hash, Instant::now()));
            }
            Ok::<_, anyhow::Error>(accepted)
        }));
    }
    let mut accepted = Vec::new();
    for t in tasks {
        accepted.extend(t.await??);
    }
    let elapsed = start.elapsed();
    materializer.caught_up().await?;
    // Let the collector take the last batch.
    tokio::time::sleep(Duration::from_millis(50)).await;
    collector.abort();
    let seen = seen.lock().expect("not poisoned");
    let mut lags: Vec<Duration> = accepted
        .iter()
        .filter_map(|(hash, at)| seen.get(hash).map(|m| m.saturating_duration_since(*at)))
        .collect();
    lags.sort();
    let pct = |p: f64| percentile_ms(&lags, p);
    println!(
        "{name:<8} {:>8} entries at {:>6.0}/s: lag to materialized p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms   ({} measured)",
        accepted.len(),
        accepted.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        lags.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        lags.len(),
    );
    Ok(())
}
