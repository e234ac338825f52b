//! `kills`: a `hoffnung node` process (the binary beside this one, or
//! `--binary`) killed hard (SIGKILL) `--kills` times while `--authors` real
//! p2panda-js clients (`e2e/author.mjs`) publish updates as fast as they can
//! and the materializer works through them. Each time the node is restarted
//! at once on the same port and data. Then the authors stop, the
//! materializer catches up, and every author's journal is checked against
//! the node: each log holds every acknowledged entry, and each document is
//! materialized at its last acknowledged view with the fields written there.
//! Any difference fails the run. Meanwhile `--blob-authors` publish blobs
//! with shirokuma (`e2e/blob-author.mjs`): a blob served complete before a
//! kill must be served complete after it (see `blobs`). With
//! `--power-cut`, each kill also cuts the power of the disk the node's data
//! is on (see `power`), and about one stop in four is a clean one
//! (SIGTERM): the node then starts on a database whose WAL is gone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_core::KeyPair;
use serde_json::Value;

use crate::common::{http_client, GraphqlClient};
use crate::startup::{spawn_node, wait_healthy};
use authors::Authors;
use blobs::{BlobJournal, BlobWatch};
use check::{check, Journal};

mod authors;
mod blobs;
mod check;
#[cfg(target_os = "linux")]
mod power;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Hard kills (SIGKILL) of the node.
    #[arg(long, default_value_t = 50)]
    kills: usize,
    /// Concurrent p2panda-js authors, each with its own key.
    #[arg(long, default_value_t = 4)]
    authors: usize,
    /// Documents per author, each updated in a loop of its own.
    #[arg(long, default_value_t = 4)]
    documents: usize,
    /// Concurrent shirokuma blob authors, each publishing blobs of up to
    /// three pieces one after the other.
    #[arg(long, default_value_t = 1)]
    blob_authors: usize,
    /// Shortest time the node runs before a kill, ms.
    #[arg(long, default_value_t = 300)]
    min_wait_ms: u64,
    /// Longest time the node runs before a kill, ms.
    #[arg(long, default_value_t = 2000)]
    max_wait_ms: u64,
    /// Seed of the kill times and keys (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Database of the node (default: SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// The node binary (default: `hoffnung` beside this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Cut the power after each kill: the data dir is on a FUSE disk that
    /// then drops every write not made durable by an `fsync`, and may tear
    /// the last page of a file (Linux, SQLite only; needs /dev/fuse and
    /// the right to mount).
    #[arg(long)]
    power_cut: bool,
    /// The folder of `author.mjs`, its npm packages installed.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e"))]
    e2e: PathBuf,
}

/// How long the materializer may take to catch up after the authors stop.
const CATCH_UP: Duration = Duration::from_secs(600);

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    if args.min_wait_ms > args.max_wait_ms {
        bail!("--min-wait-ms is above --max-wait-ms");
    }
    let binary = crate::startup::node_binary(args.binary.as_deref())?;
    check_e2e(&args.e2e)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!("seed {seed} (kill times and keys; repeat with --seed {seed})");
    let mut rng = SplitMix64(seed);

    if args.power_cut && args.database_url.is_some() {
        bail!("--power-cut runs the node on SQLite in its data dir: leave out --database-url");
    }
    let dir = tempfile::tempdir()?;
    let data_dir = if args.power_cut {
        dir.path().join("disk").join("node")
    } else {
        dir.path().join("node")
    };
    // Declared before the node, so that it is unmounted after the node is gone.
    #[cfg(target_os = "linux")]
    let mut power = match args.power_cut {
        true => Some(power::PowerCut::mount(
            &dir.path().join("disk"),
            &data_dir,
            seed,
        )?),
        false => None,
    };
    #[cfg(not(target_os = "linux"))]
    if args.power_cut {
        bail!("--power-cut needs Linux (FUSE)");
    }
    // Fewer connections than the default, which the descriptor limit may
    // not fit (a warning at every restart otherwise).
    let mut extra = vec![
        "--no-replication".to_string(),
        "--http-max-connections".to_string(),
        "1000".to_string(),
    ];
    if let Some(url) = &args.database_url {
        extra.extend(["--database-url".to_string(), url.clone()]);
    }
    let mut node = Supervised {
        binary,
        data_dir,
        port: free_port()?,
        extra,
        child: None,
    };
    node.start().await?;
    #[cfg(target_os = "linux")]
    if let Some(power) = &mut power {
        power.remember_key()?;
    }
    let client = GraphqlClient {
        http: http_client()?,
        url: node.graphql_url(),
    };

    // The schema every author writes documents of.
    let key = KeyPair::from_private_key(&rng.key());
    let fields = [("title".to_string(), "str"), ("count".to_string(), "int")];
    let (schema, definition) = client.publish_schema(&key, "kills_note", &fields).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.has_schema(&schema, &definition).await {
        if Instant::now() > deadline {
            bail!("schema {schema} never appeared in the API");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let entries_before = status(&client).await?["entries"]
        .as_u64()
        .context("no entries in /status")?;

    let stop_file = dir.path().join("stop");
    let mut authors = Authors::new(&args.e2e);
    for a in 0..args.authors {
        let journal = dir.path().join(format!("author-{a}.json"));
        let documents = args.documents.to_string();
        let (url, schema) = (node.graphql_url(), schema.to_string());
        let argv: [&std::ffi::OsStr; 7] = [
            url.as_ref(),
            schema.as_ref(),
            journal.as_ref(),
            "--stop-file".as_ref(),
            stop_file.as_ref(),
            "--documents".as_ref(),
            documents.as_ref(),
        ];
        authors.spawn("author.mjs", &argv, rng.key(), journal.clone())?;
    }
    let mut blob_authors = Authors::new(&args.e2e);
    let mut blob_journals = Vec::with_capacity(args.blob_authors);
    for a in 0..args.blob_authors {
        let journal = dir.path().join(format!("blob-author-{a}.json"));
        let folder = dir.path().join(format!("blobs-{a}"));
        let url = node.graphql_url();
        let argv: [&std::ffi::OsStr; 5] = [
            url.as_ref(),
            journal.as_ref(),
            folder.as_ref(),
            "--stop-file".as_ref(),
            stop_file.as_ref(),
        ];
        blob_authors.spawn("blob-author.mjs", &argv, rng.key(), journal.clone())?;
        blob_journals.push(journal);
    }
    let mut blobs = BlobWatch::new(&node.graphql_url(), blob_journals);
    let started = Instant::now();

    let mut kills = Vec::with_capacity(args.kills);
    for k in 1..=args.kills {
        let wait = rng.between(args.min_wait_ms, args.max_wait_ms);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        authors.running()?;
        blob_authors.running()?;
        blobs.note_served(&client).await?;
        // What the materializer had left to do just before the kill.
        let backlog = tokio::time::timeout(Duration::from_secs(2), status(&client))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|s| s["materializer"]["backlog"].as_u64());
        let at = utc_now();
        // In a power-cut run, some stops are clean: the next start then
        // makes a new WAL, whose directory entry must be durable before
        // the first acknowledgement.
        #[cfg(target_os = "linux")]
        let clean = power.is_some() && rng.next() % 4 == 0;
        #[cfg(not(target_os = "linux"))]
        let clean = false;
        if clean {
            node.terminate();
        } else {
            node.kill()?;
        }
        #[cfg(target_os = "linux")]
        let cut = match &mut power {
            Some(power) => {
                let r = power.cut().await?;
                format!(
                    ", power cut: {} KiB unsynced in {} files and {} directories lost",
                    r.bytes / 1024,
                    r.files,
                    r.dirs
                )
            }
            None => String::new(),
        };
        #[cfg(not(target_os = "linux"))]
        let cut = "";
        let restart = node.start().await?;
        blobs.still_served(&client, k).await?;
        println!(
            "kill {k}/{} at {at} UTC{}: after {:.2} s, materializer backlog {}{cut}, healthy again in {:.2} s",
            args.kills,
            if clean { " (a clean stop, SIGTERM)" } else { "" },
            wait as f64 / 1000.0,
            backlog.map_or("?".to_string(), |b| b.to_string()),
            restart.as_secs_f64()
        );
        kills.push(Kill { restart, backlog });
    }

    std::fs::write(&stop_file, b"")?;
    let journals: Vec<Journal> = authors.finish().await?;
    let blob_journals: Vec<BlobJournal> = blob_authors.finish().await?;
    let published = started.elapsed();
    let stopped = Instant::now();
    let deadline = stopped + CATCH_UP;
    loop {
        let s = status(&client).await?;
        if s["materializer"]["backlog"].as_u64() == Some(0) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the materializer did not catch up within {CATCH_UP:?}: {s}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught_up = stopped.elapsed();
    let entries_after = status(&client).await?["entries"]
        .as_u64()
        .context("no entries in /status")?;

    blobs.all_served(&client, &blob_journals).await?;
    // Every blob author's entry is a CREATE in a log of its own, so its
    // next log id counts its entries the node holds, acknowledged or not.
    let mut blob_entries = 0;
    for j in &blob_journals {
        blob_entries += client.next_args(&j.public_key, None).await?.log_id;
    }

    report(&args, &kills, &journals, published, caught_up);
    report_blobs(&blob_journals, &blobs, blob_entries);
    #[cfg(target_os = "linux")]
    if let Some(power) = &power {
        let lost: u64 = power.cuts.iter().map(|c| c.bytes).sum();
        let busy = power.cuts.iter().filter(|c| c.files > 0).count();
        println!(
            "power cuts: {}, {busy} of them with unsynced writes, {} KiB of unsynced writes lost in all; \
             the node called fsync {} times; the database passed integrity_check after every cut",
            power.cuts.len(),
            lost / 1024,
            power.syncs()
        );
    }
    let outcome = check(
        &client,
        &schema,
        &journals,
        entries_after as i64 - entries_before as i64 - blob_entries as i64,
    )
    .await;
    node.terminate();
    match outcome {
        Ok(summary) => {
            println!("verification: ok: {summary}");
            Ok(())
        }
        Err(problems) => {
            for p in &problems {
                println!("  {p}");
            }
            bail!("verification FAILED: {} problems (above)", problems.len())
        }
    }
}

/// One kill: how long the node took to be healthy again, and the
/// materializer's backlog just before (if `/status` answered).
struct Kill {
    restart: Duration,
    backlog: Option<u64>,
}

/// Prints what the authors did and how the node came back.
fn report(
    args: &Args,
    kills: &[Kill],
    journals: &[Journal],
    published: Duration,
    caught_up: Duration,
) {
    let sum = |f: fn(&Journal) -> u64| journals.iter().map(f).sum::<u64>();
    let acknowledged = sum(|j| j.acknowledged);
    let mean = kills.iter().map(|k| k.restart).sum::<Duration>() / kills.len().max(1) as u32;
    let max = kills.iter().map(|k| k.restart).max().unwrap_or_default();
    let busy = kills
        .iter()
        .filter(|k| k.backlog.is_some_and(|b| b > 0))
        .count();
    let most = kills.iter().filter_map(|k| k.backlog).max().unwrap_or(0);
    println!(
        "kills: {}, healthy again after each in mean {:.2} s, max {:.2} s; \
         the materializer had a backlog at {busy} of them (at most {most} entries)",
        kills.len(),
        mean.as_secs_f64(),
        max.as_secs_f64()
    );
    println!(
        "authors: {} x {} documents for {:.1} s: {acknowledged} acknowledged publishes ({:.0}/s): \
         {} answered, {} proven by nextArgs; {} sent again",
        args.authors,
        args.documents,
        published.as_secs_f64(),
        acknowledged as f64 / published.as_secs_f64(),
        sum(|j| j.acknowledged_by_publish),
        sum(|j| j.acknowledged_by_next_args),
        sum(|j| j.resent),
    );
    let mut kinds = std::collections::BTreeMap::<&str, u64>::new();
    for j in journals {
        for (k, n) in &j.error_kinds {
            *kinds.entry(k).or_default() += n;
        }
    }
    println!(
        "errors seen by the authors: {} {kinds:?}",
        sum(|j| j.errors)
    );
    for (a, j) in journals.iter().enumerate() {
        for e in &j.unusual_errors {
            println!("  author {a}: {e}");
        }
    }
    println!(
        "materializer caught up {:.2} s after the authors stopped",
        caught_up.as_secs_f64()
    );
}

/// Prints what the blob authors did and how their blobs were served.
fn report_blobs(journals: &[BlobJournal], blobs: &BlobWatch, entries: u64) {
    if journals.is_empty() {
        return;
    }
    let sum = |f: fn(&BlobJournal) -> u64| journals.iter().map(f).sum::<u64>();
    let acknowledged: usize = journals.iter().map(|j| j.blobs.len()).sum();
    let mut kinds = std::collections::BTreeMap::<&str, u64>::new();
    for j in journals {
        for (k, n) in &j.error_kinds {
            *kinds.entry(k).or_default() += n;
        }
    }
    println!(
        "blobs: {acknowledged} acknowledged of {} begun ({entries} entries stored, pieces of \
         unfinished blobs included), errors {} {kinds:?}; {} served before a kill; after the \
         restarts and at the end {} reads byte for byte and {} HEAD requests, {} of them \
         answered only after a wait; every one served complete",
        sum(|j| j.attempts),
        sum(|j| j.errors),
        blobs.served(),
        blobs.read,
        blobs.measured,
        blobs.waited,
    );
    for (a, j) in journals.iter().enumerate() {
        for e in &j.unusual_errors {
            println!("  blob author {a}: {e}");
        }
    }
}

async fn status(client: &GraphqlClient) -> anyhow::Result<Value> {
    let base = client.url.trim_end_matches("/graphql");
    Ok(client
        .http
        .get(format!("{base}/status"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// The time of day (UTC) to the millisecond, to line kills up with the
/// authors' errors.
fn utc_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `author.mjs` can run: Node.js is there, and p2panda-js in `e2e`.
fn check_e2e(e2e: &Path) -> anyhow::Result<()> {
    if !e2e.join("author.mjs").is_file() || !e2e.join("node_modules/p2panda-js").is_dir() {
        bail!(
            "{} has no author.mjs or no p2panda-js: run `npm ci --prefix e2e`",
            e2e.display()
        );
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        bail!("Node.js (`node`) is needed to run the authors");
    }
    Ok(())
}

/// A port that was free a moment ago: the node gets the same one on every
/// restart, as its clients expect.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The node process, started again on the same port and data after each
/// kill; killed when dropped, on every way out of the run.
struct Supervised {
    binary: PathBuf,
    data_dir: PathBuf,
    port: u16,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Supervised {
    fn graphql_url(&self) -> String {
        format!("http://127.0.0.1:{}/graphql", self.port)
    }

    /// Starts the node and waits until it is healthy; how long that took.
    async fn start(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        // The port can stay taken for a moment after a kill.
        let mut attempt = 0;
        let child = loop {
            attempt += 1;
            match spawn_node(&self.binary, &self.data_dir, self.port, &extra) {
                Ok((child, _)) => break child,
                Err(e) if attempt < 20 => {
                    eprintln!("kills: the node did not start ({e:#}), again in 250 ms");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e.context("restarting the node")),
            }
        };
        self.child = Some(child);
        wait_healthy(&format!("http://127.0.0.1:{}", self.port)).await?;
        Ok(started.elapsed())
    }

    /// SIGKILL: nothing of the node's shutdown runs.
    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, and SIGKILL if it has not exited within 10 s.
    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SplitMix64: a small seeded generator, enough for kill times and keys.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn key(&mut self) -> [u8; 32] {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        key
    }
}
