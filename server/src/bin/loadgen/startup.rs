//! `startup`: start-up time and idle memory of the `hoffnung` binary (built
//! beside this one) on an empty data dir and on one with N documents.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_server::{Node, NodeConfig};
use serde_json::json;

use crate::common::{http_client, load, presign_documents};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Documents in the second data dir.
    #[arg(long)]
    documents: usize,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    startup_bench(args.documents).await
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
    let client = http_client()?;
    let empty = tempfile::tempdir()?;
    measure_start(&binary, &client, empty.path(), "empty data dir").await?;

    let full = tempfile::tempdir()?;
    let url = format!("sqlite:{}", full.path().join("hoffnung.db").display());
    let node = Node::bind(NodeConfig::new(url)).await?;
    load(&node, &presign_documents(docs)).await?;
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
    let started = Instant::now();
    let (mut child, url) = spawn_node(binary, data_dir, 0, &[])?;
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

/// How long a started node may take to print its URL.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts `hoffnung node` (`binary`) on `data_dir` with `extra` flags, its
/// API on `http_port` (0: a free port) and no fixed node-to-node port; the
/// child and its GraphQL URL once it prints it. A node that prints no URL
/// within a minute is killed.
/// The node binary: `given`, else `hoffnung` beside this one; an error if
/// it is not there.
pub(crate) fn node_binary(given: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    let binary = match given {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("hoffnung"),
    };
    if !binary.is_file() {
        bail!("{} is missing: build it first", binary.display());
    }
    Ok(binary)
}

pub(crate) fn spawn_node(
    binary: &std::path::Path,
    data_dir: &std::path::Path,
    http_port: u16,
    extra: &[&str],
) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut command = std::process::Command::new(binary);
    command.args(["node", "--http-port", &http_port.to_string()]);
    if !extra.contains(&"--p2p-port") {
        command.args(["--p2p-port", "0"]);
    }
    let mut child = command
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("HOFFNUNG_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Read on until the node exits, so that it never writes into a
        // closed pipe.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        other => {
            let _ = child.kill();
            let status = child.wait()?;
            bail!("the node printed no URL ({other:?}); it exited: {status}");
        }
    };
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .context("no URL")?
        .to_string();
    Ok((child, url))
}

/// Waits until the node at `base` answers `/health` (at most a minute).
pub(crate) async fn wait_healthy(base: &str) -> anyhow::Result<()> {
    // A request of a node that hangs must not outlast the deadline.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let started = Instant::now();
    loop {
        match client.get(format!("{base}/health")).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            _ if started.elapsed() > Duration::from_secs(60) => bail!("no health in 60 s"),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// VmRSS of a process, in KiB (Linux).
pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// A line of `/proc/<pid>/status` (`pid` a number or `self`), in KiB
/// (Linux).
pub(crate) fn status_kib(pid: impl std::fmt::Display, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key}"))
}

/// Starts a process's VmHWM (peak RSS) over at its current RSS (Linux 4.0+).
pub(crate) fn reset_peak_rss(pid: impl std::fmt::Display) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("resetting the peak RSS")
}
