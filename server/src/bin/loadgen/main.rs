//! Load generator: publishes pre-signed entries through the GraphQL API of a
//! node with K concurrent authors and reports entries/s and latency.
//!
//! Without `--url` it starts a node in this process on a fresh, file-backed
//! SQLite database (or `--database-url`), and talks to it over loopback HTTP.
//! Figures: docs/benchmarks.md.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use hoffnung_core::publish::{next_args_after, next_skiplink_seq_num};
use hoffnung_core::{
    sign_entry, DocumentViewId, EncodedEntry, Fields, KeyPair, Operation, OperationValue, SchemaId,
};
use hoffnung_server::{Node, NodeConfig};
use serde_json::json;

mod queries;
use queries::presign_documents;

#[derive(Parser)]
#[command(about = "Publish load against a p2panda node and measure it")]
struct Args {
    /// GraphQL endpoint of a running node; default: an in-process node.
    #[arg(long)]
    url: Option<String>,
    /// Database of the in-process node (default: SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Concurrent authors.
    #[arg(long, default_value_t = 8)]
    authors: usize,
    /// Documents each author creates.
    #[arg(long, default_value_t = 500)]
    creates: usize,
    /// Updates per document after the creates.
    #[arg(long, default_value_t = 1)]
    updates: usize,
    /// Documents published before measuring (the collection size).
    #[arg(long, default_value_t = 0)]
    prefill: usize,
    /// Also measure a read-only `nextArgs` query the same way: the floor of
    /// HTTP and GraphQL handling without ingest.
    #[arg(long)]
    probe: bool,
    /// Requests each author keeps in flight, on different documents (each
    /// document's entries stay in order).
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Publish at this steady rate (entries/s, all authors together) and
    /// measure publish-to-materialized lag (in-process node only).
    #[arg(long)]
    rate: Option<f64>,
    /// Run the in-process node without its materializer (the publish path alone).
    #[arg(long)]
    no_materializer: bool,
    /// Instead of publishing: bulk-load this many documents into the
    /// in-process node and measure document queries over HTTP.
    #[arg(long)]
    queries: Option<usize>,
    /// Instead of publishing: measure start-up time and idle memory of the
    /// `hoffnung` binary (built beside this one) on an empty data dir and
    /// on one with this many documents.
    #[arg(long)]
    startup: Option<usize>,
    /// Instead of publishing: replicate this many entries from one in-process
    /// node to a fresh one over libp2p (loopback), then measure live latency.
    #[arg(long)]
    replicate: Option<usize>,
    /// Transport of the replication bench: `quic` or `tcp`.
    #[arg(long, default_value = "quic")]
    transport: String,
    /// SQLite: the in-process nodes' `StoreConfig::wal_restart_frames`
    /// (default: the store's); also for `--replicate`.
    #[arg(long)]
    wal_restart_frames: Option<i64>,
    /// How long the concurrent query phase runs, in seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

/// Splits an author's entries into `streams` lists by document (log), so
/// that the lists can be sent concurrently; entry `i` belongs to log
/// `i % logs` (creates, then update rounds, see [`presign`]).
fn split(list: Vec<Signed>, logs: usize, streams: usize) -> Vec<Vec<Signed>> {
    let streams = streams.clamp(1, logs.max(1));
    let mut out = vec![Vec::new(); streams];
    for (i, entry) in list.into_iter().enumerate() {
        out[(i % logs.max(1)) % streams].push(entry);
    }
    out
}

const PUBLISH: &str = "mutation Publish($entry: String!, $operation: String!) { publish(entry: $entry, operation: $operation) { logId seqNum backlink skiplink } }";

type Signed = (String, String);

/// One author's entries: `creates` new documents (one log each), then
/// `updates` rounds updating every document.
fn presign(seed: u64, creates: usize, updates: usize) -> (Vec<Signed>, Vec<Signed>) {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[8] = 0x5a;
    let key = KeyPair::from_private_key(&bytes);
    let mut logs: Vec<Vec<EncodedEntry>> = Vec::with_capacity(creates);
    let mut create_entries = Vec::with_capacity(creates);
    for d in 0..creates {
        let mut f = Fields::new();
        f.insert(
            "name".into(),
            OperationValue::Str(format!("field_{seed}_{d}")),
        );
        f.insert("type".into(), OperationValue::Str("str".into()));
        let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
        let entry = sign_entry(&key, &queries::first_entry(d as u64), &op).expect("valid args");
        create_entries.push((entry.to_hex(), hex::encode(&op)));
        logs.push(vec![entry]);
    }
    let mut update_entries = Vec::with_capacity(creates * updates);
    for round in 0..updates {
        for log in logs.iter_mut() {
            let last = log.last().expect("non-empty").clone();
            let mut f = Fields::new();
            f.insert(
                "name".into(),
                OperationValue::Str(format!("renamed_{round}")),
            );
            let op = Operation::update(
                SchemaId::SCHEMA_FIELD_DEFINITION_V1,
                DocumentViewId::from_operation(last.hash()),
                f,
            )
            .encode();
            let pos = last.position();
            let skip = next_skiplink_seq_num(pos.seq_num).map(|s| log[(s - 1) as usize].hash());
            let entry = sign_entry(&key, &next_args_after(&pos, skip), &op).expect("valid args");
            update_entries.push((entry.to_hex(), hex::encode(&op)));
            log.push(entry);
        }
    }
    (create_entries, update_entries)
}

struct Phase {
    name: &'static str,
    entries: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn print(&mut self) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 * p).ceil() as usize)
                .clamp(1, self.latencies.len().max(1))
                - 1;
            self.latencies
                .get(i)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "{:<8} {:>8} entries {:>7.2} s {:>9.0} entries/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            self.name,
            self.entries,
            self.elapsed.as_secs_f64(),
            self.entries as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
        );
    }

    /// Where the mean publish's time went: on the node's ingest path, and
    /// the rest (HTTP, GraphQL, this client).
    fn print_timings(&self, t: &hoffnung_store::PublishTimings) {
        let n = t.publishes.max(1) as f64;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n;
        let mean = self
            .latencies
            .iter()
            .map(Duration::as_secs_f64)
            .sum::<f64>()
            * 1000.0
            / self.latencies.len().max(1) as f64;
        let waiting = ms(t.waiting);
        let appending = ms(t.appending);
        let answered = ms(t.answered);
        let checks = ms(t.checks);
        println!(
            "         mean {mean:.2} ms: checks {checks:.2}, waiting for the writer {waiting:.2}, appending {appending:.2}, \
             flush and answer {:.2}, HTTP, GraphQL and client {:.2}",
            answered - waiting - appending,
            mean - answered - checks,
        );
    }
}

/// Sends every client's requests in order, the clients concurrently;
/// any GraphQL error stops the run. Bodies are serialized beforehand, so
/// the client spends as little of the shared CPU as possible.
async fn run_requests(
    client: &reqwest::Client,
    url: &str,
    name: &'static str,
    work: Vec<Vec<serde_json::Value>>,
) -> anyhow::Result<Phase> {
    let work: Vec<Vec<String>> = work
        .into_iter()
        .map(|list| list.iter().map(|b| b.to_string()).collect())
        .collect();
    let entries = work.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for list in work {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(list.len());
            for body in list {
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?
                    .bytes()
                    .await?;
                latencies.push(t.elapsed());
                // A successful answer has no `errors` member.
                if response.windows(8).any(|w| w == b"\"errors\"") {
                    bail!("request failed: {}", String::from_utf8_lossy(&response));
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(entries);
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Phase {
        name,
        entries,
        elapsed: start.elapsed(),
        latencies,
    })
}

/// Publishes every author's entries in order, the authors concurrently.
async fn run(
    client: &reqwest::Client,
    url: &str,
    name: &'static str,
    work: Vec<Vec<Signed>>,
) -> anyhow::Result<Phase> {
    let bodies = work
        .into_iter()
        .map(|list| {
            list.into_iter()
                .map(|(entry, operation)| {
                    json!({ "query": PUBLISH, "variables": { "entry": entry, "operation": operation } })
                })
                .collect()
        })
        .collect();
    run_requests(client, url, name, bodies).await
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
    let materializer = node
        .materializer()
        .context("--rate needs the node's materializer")?
        .clone();
    let mut events = materializer.subscribe();
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
    let pct = |p: f64| {
        let i = ((lags.len() as f64 * p).ceil() as usize).clamp(1, lags.len().max(1)) - 1;
        lags.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
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

/// Start-up time and idle memory of `hoffnung node` (the real binary) on
/// an empty data dir and on one holding `docs` materialized documents.
async fn startup_bench(docs: usize) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?.with_file_name("hoffnung");
    if !binary.is_file() {
        bail!(
            "{} is missing: build it first (cargo build --release -p hoffnung)",
            binary.display()
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let empty = tempfile::tempdir()?;
    measure_start(&binary, &client, empty.path(), "empty data dir").await?;

    let full = tempfile::tempdir()?;
    let url = format!("sqlite:{}", full.path().join("hoffnung.db").display());
    let node = Node::bind(NodeConfig::new(url)).await?;
    queries::load(&node, &presign_documents(docs)).await?;
    node.shutdown();
    node.join().await?;
    let label = format!("{docs} documents");
    measure_start(&binary, &client, full.path(), &label).await
}

/// Starts the binary on `data_dir`, times it until `/health` answers, and
/// reads its resident memory after 5 idle seconds and after a query.
async fn measure_start(
    binary: &std::path::Path,
    client: &reqwest::Client,
    data_dir: &std::path::Path,
    label: &str,
) -> anyhow::Result<()> {
    use std::io::BufRead;
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .args(["node", "--http-port", "0", "--p2p-port", "0", "--data-dir"])
        .arg(data_dir)
        .env("HOFFNUNG_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let line = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .context("no output")??;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .context("no URL")?
        .to_string();
    let base = url.trim_end_matches("/graphql");
    loop {
        match client.get(format!("{base}/health")).send().await {
            Ok(r) if r.status().is_success() => break,
            _ if started.elapsed() > Duration::from_secs(60) => bail!("no health in 60 s"),
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    let up = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = rss_kib(child.id())?;
    let count: serde_json::Value = client
        .post(&url)
        .json(&json!({ "query": "{ all_schema_field_definition_v1 { totalCount } }" }))
        .send()
        .await?
        .json()
        .await?;
    let after_query = rss_kib(child.id())?;
    println!(
        "{label}: ready in {:.0} ms; idle RSS {:.1} MiB; after a totalCount query ({}) {:.1} MiB",
        up.as_secs_f64() * 1000.0,
        idle as f64 / 1024.0,
        count["data"]["all_schema_field_definition_v1"]["totalCount"],
        after_query as f64 / 1024.0
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait()?;
    Ok(())
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
    for chunk in signed.chunks(20_000) {
        for r in a.store().ingest_bulk(chunk, a.registry().as_ref()).await? {
            r?;
        }
    }
    a.materializer()
        .context("materializer")?
        .caught_up()
        .await?;
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
    let mut events = b.materializer().context("materializer")?.subscribe();
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

/// VmRSS of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

/// `authors` concurrent clients sending `count` `nextArgs` queries each.
async fn probe(
    client: &reqwest::Client,
    url: &str,
    authors: usize,
    count: usize,
) -> anyhow::Result<Phase> {
    const NEXT_ARGS: &str =
        "query NextArgs($publicKey: String!) { nextArgs(publicKey: $publicKey) { logId seqNum backlink skiplink } }";
    let bodies = (0..authors)
        .map(|a| {
            let pk = KeyPair::from_private_key(&[a as u8 + 1; 32])
                .public_key()
                .to_hex();
            vec![json!({ "query": NEXT_ARGS, "variables": { "publicKey": pk } }); count]
        })
        .collect();
    run_requests(client, url, "nextArgs", bodies).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs only when asked for (RUST_LOG=hoffnung_replication=debug, …).
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let args = Args::parse();
    if let Some(docs) = args.startup {
        return startup_bench(docs).await;
    }
    if let Some(n) = args.replicate {
        return replication_bench(
            n,
            &args.transport,
            args.no_materializer,
            args.wal_restart_frames,
        )
        .await;
    }
    let mut _dir = None;
    let mut node = None;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let database_url = match &args.database_url {
                Some(u) => u.clone(),
                None => {
                    let dir = tempfile::tempdir()?;
                    let url = format!("sqlite:{}", dir.path().join("loadgen.db").display());
                    _dir = Some(dir);
                    url
                }
            };
            let mut config = NodeConfig::new(database_url);
            if args.no_materializer {
                config.materializer = None;
            }
            if let Some(frames) = args.wal_restart_frames {
                config.store.wal_restart_frames = frames;
            }
            let n = Node::bind(config).await.context("starting the node")?;
            let url = n.graphql_url();
            node = Some(n);
            url
        }
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;

    if let Some(docs) = args.queries {
        let n = node
            .as_ref()
            .context("--queries measures the in-process node: leave out --url")?;
        queries::query_bench(&client, &url, n, docs, args.seconds).await?;
        n.shutdown();
        return Ok(());
    }
    if args.prefill > 0 {
        let per = args.prefill.div_ceil(args.authors);
        let lists = (0..args.authors)
            .map(|a| presign(seed ^ (1 << 40) ^ a as u64, per, 0).0)
            .collect();
        let mut p = run(&client, &url, "prefill", lists).await?;
        p.print();
    }
    let signed: Vec<(Vec<Signed>, Vec<Signed>)> = (0..args.authors)
        .map(|a| presign(seed ^ a as u64, args.creates, args.updates))
        .collect();
    let (creates, updates): (Vec<_>, Vec<_>) = signed.into_iter().unzip();
    let streams = |lists: Vec<Vec<Signed>>| -> Vec<Vec<Signed>> {
        lists
            .into_iter()
            .flat_map(|l| split(l, args.creates, args.inflight))
            .collect()
    };
    let (creates, updates) = (streams(creates), streams(updates));
    println!(
        "{} authors x {} in flight, {} documents before, loopback HTTP to {url}",
        args.authors, args.inflight, args.prefill
    );
    if args.probe {
        probe(&client, &url, args.authors, args.creates)
            .await?
            .print();
    }
    match (args.rate, &node) {
        (Some(rate), Some(n)) => {
            run_paced(&client, &url, n, "creates", creates, rate).await?;
            if args.updates > 0 {
                run_paced(&client, &url, n, "updates", updates, rate).await?;
            }
        }
        (Some(_), None) => bail!("--rate measures the in-process node: leave out --url"),
        (None, _) => {
            let timed = |name, work| {
                let (client, url, node) = (&client, &url, node.as_ref());
                async move {
                    let before = node.map(|n| n.store().publish_timings());
                    let mut phase = run(client, url, name, work).await?;
                    phase.print();
                    if let (Some(n), Some(before)) = (node, before) {
                        phase.print_timings(&n.store().publish_timings().since(&before));
                    }
                    Ok::<_, anyhow::Error>(())
                }
            };
            timed("creates", creates).await?;
            if args.updates > 0 {
                timed("updates", updates).await?;
            }
        }
    }
    if let Some(n) = node {
        n.shutdown();
        n.join().await?;
    }
    Ok(())
}
