//! `blob`: a file of N MiB published as shirokuma does (pieces of 256,000
//! bytes, each in its own log, signed beforehand by K authors, then the
//! `blob_v1`), against an in-process node: piece ingest in MiB/s, the time
//! from the accepted `blob_v1` to its file being served, download
//! throughput from the warm file, and the memory that serving it to C
//! clients at once adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_core::{schema::MAX_BLOB_PIECE_LENGTH, SchemaId};
use hoffnung_core::{sign_entry, DocumentViewId, Fields, KeyPair, Operation, OperationValue};
use serde_json::json;

use crate::common::{first_entry, http_client, InProcessArgs, Signed, PUBLISH};
use crate::query::status_kib;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Size of the file in MiB.
    #[arg(long, default_value_t = 100)]
    mib: usize,
    /// Authors publishing pieces at once.
    #[arg(long, default_value_t = 4)]
    authors: usize,
    /// Full downloads, one after the other, for the throughput.
    #[arg(long, default_value_t = 5)]
    downloads: usize,
    /// Clients downloading at once, for the memory it adds.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    #[command(flatten)]
    node: InProcessArgs,
}

fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64()
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let authors = args.authors.max(1);
    let length = args.mib * 1024 * 1024;
    let keys: Vec<KeyPair> = (0..authors)
        .map(|a| KeyPair::from_private_key(&[a as u8 + 1; 32]))
        .collect();
    // Signed beforehand: piece i by author i % K in its log i / K.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut work: Vec<Vec<Signed>> = vec![Vec::new(); authors];
    let mut pieces = Vec::new();
    for (i, start) in (0..length).step_by(MAX_BLOB_PIECE_LENGTH).enumerate() {
        let len = MAX_BLOB_PIECE_LENGTH.min(length - start);
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut f = Fields::new();
        f.insert("data".into(), OperationValue::Bytes(data));
        let op = Operation::create(SchemaId::BLOB_PIECE_V1, f).encode();
        let entry = sign_entry(&keys[i % authors], &first_entry((i / authors) as u64), &op)?;
        pieces.push(DocumentViewId::from_operation(entry.hash()));
        work[i % authors].push((entry.to_hex(), hex::encode(&op)));
    }
    let mut f = Fields::new();
    f.insert("length".into(), OperationValue::Int(length as i64));
    f.insert("mime_type".into(), OperationValue::Str("video/mp4".into()));
    f.insert(
        "pieces".into(),
        OperationValue::PinnedRelationList(pieces.clone()),
    );
    let blob_op = Operation::create(SchemaId::BLOB_V1, f).encode();
    let blob_log = work[0].len() as u64;
    let blob = sign_entry(&keys[0], &first_entry(blob_log), &blob_op)?;

    let n = args.node.start(true).await?;
    let url = n.node.graphql_url();
    let client = http_client()?;
    println!(
        "blob of {} MiB: {} pieces by {authors} authors",
        args.mib,
        pieces.len()
    );

    // Pieces through the GraphQL API, each author one request at a time.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for list in work {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for (entry, operation) in list {
                publish(&client, &url, entry, operation).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ingest = started.elapsed();
    let materializer = n.node.materializer().context("needs the materializer")?;
    materializer.caught_up().await?;
    let materialized = started.elapsed();
    println!(
        "pieces   {:>8.1} MiB/s accepted ({:.2} s)   materialized after {:.2} s",
        mib_per_s(length as u64, ingest),
        ingest.as_secs_f64(),
        materialized.as_secs_f64()
    );

    // The blob, then its file as soon as a client can have it.
    publish(&client, &url, blob.to_hex(), hex::encode(&blob_op)).await?;
    let accepted = Instant::now();
    let file_url = format!("http://{}/blobs/{}", n.node.addr(), blob.hash());
    loop {
        let r = client.head(&file_url).send().await?;
        if r.status() == 200 {
            break;
        }
        if accepted.elapsed() > Duration::from_secs(120) {
            bail!("the blob was not served within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "servable {:>8.0} ms after the blob_v1 was accepted",
        accepted.elapsed().as_secs_f64() * 1000.0
    );

    // Downloads from the warm file.
    let started = Instant::now();
    for _ in 0..args.downloads {
        let got = download(&client, &file_url).await?;
        if got != length as u64 {
            bail!("downloaded {got} of {length} bytes");
        }
    }
    println!(
        "download {:>8.1} MiB/s, {} downloads one after the other",
        mib_per_s((length * args.downloads) as u64, started.elapsed()),
        args.downloads
    );

    // C clients at once; the peak RSS of this process (node and clients).
    let before = status_kib("VmRSS")?;
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(kib) = status_kib("VmRSS") {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, file_url) = (client.clone(), file_url.clone());
        tasks.push(tokio::spawn(
            async move { download(&client, &file_url).await },
        ));
    }
    for t in tasks {
        let got = t.await??;
        if got != length as u64 {
            bail!("downloaded {got} of {length} bytes");
        }
    }
    let took = started.elapsed();
    sampler.abort();
    println!(
        "{} clients at once: {:>6.1} MiB/s together; RSS {} MiB before, peak +{:.1} MiB",
        args.clients,
        mib_per_s((length * args.clients) as u64, took),
        before / 1024,
        peak.load(Ordering::Relaxed).saturating_sub(before) as f64 / 1024.0
    );
    n.stop().await
}

async fn publish(
    client: &reqwest::Client,
    url: &str,
    entry: String,
    operation: String,
) -> anyhow::Result<()> {
    let body = json!({ "query": PUBLISH, "variables": { "entry": entry, "operation": operation } });
    let response = client.post(url).json(&body).send().await?.bytes().await?;
    if response.windows(8).any(|w| w == b"\"errors\"") {
        bail!("publish failed: {}", String::from_utf8_lossy(&response));
    }
    Ok(())
}

/// Streams a download to nowhere; the bytes received.
async fn download(client: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let mut response = client.get(url).send().await?.error_for_status()?;
    let mut n = 0;
    while let Some(chunk) = response.chunk().await? {
        n += chunk.len() as u64;
    }
    Ok(n)
}
