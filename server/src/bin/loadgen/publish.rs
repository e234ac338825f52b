//! `publish`: pre-signed entries published through GraphQL by K concurrent
//! authors (creates, then updates), reporting entries/s and latency, and
//! on an in-process node where the publish's time went.
//!
//! The workload (authors, documents, prefill, in-flight requests, the
//! `nextArgs` probe) is shared with `lag`.

use hoffnung_core::KeyPair;
use serde_json::json;

use crate::common::{
    http_client, presign, run_publishes, run_requests, InProcessArgs, Phase, Signed,
};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// GraphQL endpoint of a running node; default: an in-process node.
    #[arg(long)]
    url: Option<String>,
    #[command(flatten)]
    node: InProcessArgs,
    /// Run the in-process node without its materializer (the publish path alone).
    #[arg(long)]
    no_materializer: bool,
    #[command(flatten)]
    workload: Workload,
}

/// What is published, by how many authors, how many requests at a time.
#[derive(clap::Args)]
pub(crate) struct Workload {
    /// Concurrent authors.
    #[arg(long, default_value_t = 8)]
    pub(crate) authors: usize,
    /// Documents each author creates.
    #[arg(long, default_value_t = 500)]
    pub(crate) creates: usize,
    /// Updates per document after the creates.
    #[arg(long, default_value_t = 1)]
    pub(crate) updates: usize,
    /// Documents published before measuring (the collection size).
    #[arg(long, default_value_t = 0)]
    pub(crate) prefill: usize,
    /// Also measure a read-only `nextArgs` query the same way: the floor of
    /// HTTP and GraphQL handling without ingest.
    #[arg(long)]
    pub(crate) probe: bool,
    /// Requests each author keeps in flight, on different documents (each
    /// document's entries stay in order).
    #[arg(long, default_value_t = 1)]
    pub(crate) inflight: usize,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let (url, node) = match args.url {
        Some(url) => (url, None),
        None => {
            let n = args.node.start(!args.no_materializer).await?;
            (n.node.graphql_url(), Some(n))
        }
    };
    let client = http_client()?;
    let (creates, updates) = prepare(&client, &url, &args.workload).await?;
    let timed = |name, work| {
        let (client, url, node) = (&client, &url, node.as_ref().map(|n| &n.node));
        async move {
            let before = node.map(|n| n.store().publish_timings());
            let mut phase = run_publishes(client, url, name, work).await?;
            phase.print();
            if let (Some(n), Some(before)) = (node, before) {
                phase.print_timings(&n.store().publish_timings().since(&before));
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    timed("creates", creates).await?;
    if args.workload.updates > 0 {
        timed("updates", updates).await?;
    }
    if let Some(n) = node {
        n.stop().await?;
    }
    Ok(())
}

/// Publishes the prefill, signs every author's creates and updates and
/// splits them into the streams sent concurrently; prints the set-up and,
/// with `--probe`, the `nextArgs` floor. Returns (creates, updates).
pub(crate) async fn prepare(
    client: &reqwest::Client,
    url: &str,
    w: &Workload,
) -> anyhow::Result<(Vec<Vec<Signed>>, Vec<Vec<Signed>>)> {
    // A new seed each run: a node given by `--url` may hold earlier runs' logs.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    if w.prefill > 0 {
        let per = w.prefill.div_ceil(w.authors);
        let lists = (0..w.authors)
            .map(|a| presign(seed ^ (1 << 40) ^ a as u64, per, 0).0)
            .collect();
        let mut p = run_publishes(client, url, "prefill", lists).await?;
        p.print();
    }
    let signed: Vec<(Vec<Signed>, Vec<Signed>)> = (0..w.authors)
        .map(|a| presign(seed ^ a as u64, w.creates, w.updates))
        .collect();
    let (creates, updates): (Vec<_>, Vec<_>) = signed.into_iter().unzip();
    let streams = |lists: Vec<Vec<Signed>>| -> Vec<Vec<Signed>> {
        lists
            .into_iter()
            .flat_map(|l| split(l, w.creates, w.inflight))
            .collect()
    };
    let (creates, updates) = (streams(creates), streams(updates));
    println!(
        "{} authors x {} in flight, {} documents before, loopback HTTP to {url}",
        w.authors, w.inflight, w.prefill
    );
    if w.probe {
        probe(client, url, w.authors, w.creates).await?.print();
    }
    Ok((creates, updates))
}

/// Splits an author's entries into `streams` lists by document (log), so
/// that the lists can be sent concurrently; entry `i` belongs to log
/// `i % logs` (creates, then update rounds, see [`presign`](crate::common::presign)).
fn split(list: Vec<Signed>, logs: usize, streams: usize) -> Vec<Vec<Signed>> {
    let streams = streams.clamp(1, logs.max(1));
    let mut out = vec![Vec::new(); streams];
    for (i, entry) in list.into_iter().enumerate() {
        out[(i % logs.max(1)) % streams].push(entry);
    }
    out
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
