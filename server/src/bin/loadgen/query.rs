//! `query`: document queries over loopback HTTP against an in-process node
//! holding N documents: a filtered, ordered page of 25, a filtered count, a
//! `contains` search, and pages of 10,000 documents with a relation.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_core::{
    sign_entry, DocumentViewId, Fields, Hash, KeyPair, Operation, OperationValue, SchemaId,
};
use hoffnung_server::Node;
use serde_json::json;

use crate::common::{
    first_entry, http_client, load, presign_documents, run_requests, InProcessArgs,
};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Documents bulk-loaded into the node before measuring.
    #[arg(long)]
    documents: usize,
    /// How long the concurrent query phase runs, in seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    #[command(flatten)]
    node: InProcessArgs,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.node.start(true).await?;
    let url = n.node.graphql_url();
    let client = http_client()?;
    query_bench(&client, &url, &n.node, args.documents, args.seconds).await?;
    // The process ends right after: the node is told to stop, not waited
    // for (as before the subcommands).
    n.node.shutdown();
    Ok(())
}

/// Loads `docs` documents, then measures a filtered, ordered page of 25
/// (one client, then 8 concurrent) and a filtered `totalCount`.
async fn query_bench(
    client: &reqwest::Client,
    url: &str,
    node: &Node,
    docs: usize,
    seconds: f64,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let entries = presign_documents(docs);
    let signed = t.elapsed();
    let t = Instant::now();
    for chunk in entries.chunks(20_000) {
        for r in node.pipeline().ingest(chunk).await? {
            r?;
        }
    }
    let ingested = t.elapsed();
    let t = Instant::now();
    node.materializer()
        .context("needs the materializer")?
        .caught_up()
        .await?;
    println!(
        "{docs} documents: signed in {:.1} s, ingested in {:.1} s, materialized {:.1} s later",
        signed.as_secs_f64(),
        ingested.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    const PAGE: &str = "{ all_schema_field_definition_v1(filter: { type: { eq: \"int\" } }, orderBy: name, first: 25) { documents { meta { documentId } fields { name type } } } }";
    const COUNT: &str =
        "{ all_schema_field_definition_v1(filter: { type: { eq: \"int\" } }) { totalCount } }";
    let body = |q: &str| json!({ "query": q }).to_string();
    // Warm-up, and a check that the answers are what they should be.
    let check: serde_json::Value = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body(COUNT))
        .send()
        .await?
        .json()
        .await?;
    let count = check["data"]["all_schema_field_definition_v1"]["totalCount"]
        .as_u64()
        .unwrap_or(0);
    if count != docs.div_ceil(4) as u64 && count != (docs / 4) as u64 {
        bail!("unexpected totalCount {count}: {check}");
    }
    for (name, query, n) in [("page 25", PAGE, 300), ("count", COUNT, 50)] {
        let work = vec![vec![serde_json::from_str(&body(query))?; n]];
        run_requests(client, url, name, work).await?.print();
    }
    // 8 clients for `seconds`.
    let per_client = ((seconds * 8_000.0) as usize / 8).max(10);
    let mut eight = run_requests(
        client,
        url,
        "page x8",
        vec![vec![serde_json::from_str(&body(PAGE))?; per_client]; 8],
    )
    .await?;
    eight.print();
    contains_bench(client, url, docs).await?;
    big_pages(client, url, node, docs).await
}

/// A `contains` search with a page of 25 and the count of all matches, in
/// lower and in upper case (ASCII case is ignored: both find the same).
async fn contains_bench(client: &reqwest::Client, url: &str, docs: usize) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for needle in ["ab1", "AB1"] {
        let query = format!(
            "{{ all_schema_field_definition_v1(filter: {{ name: {{ contains: \"{needle}\" }} }}, first: 25) \
             {{ totalCount documents {{ fields {{ name }} }} }} }}"
        );
        let body = json!({ "query": query });
        let answer: serde_json::Value = client.post(url).json(&body).send().await?.json().await?;
        counts.push(answer["data"]["all_schema_field_definition_v1"]["totalCount"].clone());
        let name = if needle == "ab1" {
            "contains"
        } else {
            "CONTAINS"
        };
        run_requests(client, url, name, vec![vec![body; 50]])
            .await?
            .print();
    }
    println!(
        "contains \"ab1\" / \"AB1\": {} / {} of {docs} documents",
        counts[0], counts[1]
    );
    Ok(())
}

/// Publishes an `item` schema (`name: str`, `definition:
/// relation(schema_field_definition_v1)`) and `docs` items, each relating
/// to one of the field definitions; then asks for pages of 10,000 items
/// with their relation resolved, and reports time and the process's peak
/// memory while it answers them.
async fn big_pages(
    client: &reqwest::Client,
    url: &str,
    node: &Node,
    docs: usize,
) -> anyhow::Result<()> {
    let key = KeyPair::from_private_key(&[99; 32]);
    let mut schema_entries = Vec::new();
    let mut pinned = Vec::new();
    for (log, (name, ty)) in [
        ("name", "str"),
        ("definition", "relation(schema_field_definition_v1)"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut f = Fields::new();
        f.insert("name".into(), OperationValue::Str(name.into()));
        f.insert("type".into(), OperationValue::Str(ty.into()));
        let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
        let entry = sign_entry(&key, &first_entry(log as u64), &op)?;
        pinned.push(DocumentViewId::from_operation(entry.hash()));
        schema_entries.push((entry.as_bytes().to_vec(), op));
    }
    let mut d = Fields::new();
    d.insert("name".into(), OperationValue::Str("item".into()));
    d.insert("description".into(), OperationValue::Str("An item".into()));
    d.insert("fields".into(), OperationValue::PinnedRelationList(pinned));
    let op = Operation::create(SchemaId::SCHEMA_DEFINITION_V1, d).encode();
    let entry = sign_entry(&key, &first_entry(2), &op)?;
    let item = SchemaId::application("item", DocumentViewId::from_operation(entry.hash()))?;
    schema_entries.push((entry.as_bytes().to_vec(), op));
    // The pipeline registers the schema as the batch is stored.
    for r in node.pipeline().ingest(&schema_entries).await? {
        r?;
    }

    // The field definitions of `presign_documents` are the relations' targets.
    let targets: Vec<Hash> = presign_documents(docs)
        .iter()
        .map(|(entry, _)| Hash::of(entry))
        .collect();
    let item_key = KeyPair::from_private_key(&[98; 32]);
    let items: Vec<(Vec<u8>, Vec<u8>)> = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(format!("item {i:06}")));
            f.insert("definition".into(), OperationValue::Relation(*target));
            let op = Operation::create(item.clone(), f).encode();
            let entry = sign_entry(&item_key, &first_entry(i as u64), &op)?;
            Ok((entry.as_bytes().to_vec(), op))
        })
        .collect::<anyhow::Result<_>>()?;
    load(node, &items).await?;
    let query = format!(
        "{{ all_{item}(first: 10000) {{ documents {{ meta {{ documentId }} \
         fields {{ name definition {{ fields {{ name type }} }} }} }} }} }}"
    );
    let body = json!({ "query": query });
    // The GraphQL schema follows the registry asynchronously.
    let mut size = 0;
    for _ in 0..500 {
        let text = client.post(url).json(&body).send().await?.text().await?;
        if !text.contains("\"errors\"") {
            size = text.len();
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if size == 0 {
        bail!("all_{item} never answered");
    }
    // RSS counts SQLite's memory-mapped database pages too; the heap's share
    // (RssAnon) has no peak of its own in /proc, so a thread samples it.
    let before = (status_kib("VmRSS")?, status_kib("RssAnon")?);
    crate::startup::reset_peak_rss("self")?;
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_kib("RssAnon").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let t = Instant::now();
    let pages = run_requests(client, url, "page 10k", vec![vec![body; 10]]).await;
    let elapsed = t.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak_anon = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the memory sampler failed"))?;
    pages?.print();
    println!(
        "page of 10,000 with a relation ({} KiB of JSON, {docs} items): {:.0} ms per page; \
         RSS {} MiB before, peak {} MiB; of it heap (RssAnon) {} MiB before, peak {} MiB",
        size / 1024,
        elapsed.as_secs_f64() * 100.0,
        before.0 / 1024,
        status_kib("VmHWM")? / 1024,
        before.1 / 1024,
        peak_anon / 1024,
    );
    Ok(())
}

/// A line of /proc/self/status, in KiB (Linux).
pub(crate) fn status_kib(key: &str) -> anyhow::Result<u64> {
    crate::startup::status_kib("self", key)
}
