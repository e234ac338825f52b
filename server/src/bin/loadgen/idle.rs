//! `idle`: a `hoffnung node` process (the binary beside this one, or
//! `--binary`) with nothing to do, and how often it wakes up anyway: the
//! context switches of each of its threads and its CPU ticks over
//! `--seconds`, read from /proc (Linux). A node on a low-power device
//! should sleep while nothing happens.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

use crate::startup::{spawn_node, wait_healthy};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// How long to watch the idle node.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Let the node settle this long after it answers `/health`.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Run the node without replication (`--no-replication`).
    #[arg(long)]
    no_replication: bool,
    /// Run the node without mDNS discovery (`--no-mdns`).
    #[arg(long)]
    no_mdns: bool,
    /// Connect a second node to the watched one (`--peer`, loopback) and
    /// watch both while nothing changes.
    #[arg(long)]
    peer: bool,
    /// The node binary (default: `hoffnung` beside this one).
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
}

/// Per thread name: (context switches, CPU ticks) summed over threads.
type Sample = BTreeMap<String, (u64, u64)>;

/// The context switches (voluntary and not) and CPU ticks (user and
/// system) of each thread of `pid`.
fn sample(pid: u32) -> anyhow::Result<Sample> {
    let mut out = Sample::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).context("/proc (Linux only)")?;
    for task in tasks {
        let path = task?.path();
        // A thread may end between the listing and the reads.
        let (Ok(name), Ok(status), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("status")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        let switches: u64 = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        // Fields after the command name (which may hold spaces): utime and
        // stime are the 12th and 13th after the closing parenthesis.
        let ticks: u64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        let entry = out.entry(name.trim().to_string()).or_default();
        entry.0 += switches;
        entry.1 += ticks;
    }
    Ok(out)
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let binary = crate::startup::node_binary(args.binary.as_deref())?;
    let dir = tempfile::tempdir()?;
    let mut extra: Vec<String> = Vec::new();
    if args.no_replication {
        extra.push("--no-replication".into());
    }
    if args.no_mdns || args.peer {
        extra.push("--no-mdns".into());
    }
    let p2p_port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut watched = extra.clone();
    if args.peer {
        watched.extend(["--p2p-port".into(), p2p_port.to_string()]);
    }
    let watched: Vec<&str> = watched.iter().map(String::as_str).collect();
    let mut children = Vec::new();
    let (child, url) = spawn_node(&binary, dir.path(), 0, &watched)?;
    let pid = child.id();
    children.push(child);
    let mut urls = vec![url];
    let peer_dir = tempfile::tempdir()?;
    if args.peer {
        let mut follower = extra.clone();
        follower.extend(["--peer".into(), format!("127.0.0.1:{p2p_port}")]);
        let follower: Vec<&str> = follower.iter().map(String::as_str).collect();
        let (child, url) = spawn_node(&binary, peer_dir.path(), 0, &follower)?;
        children.push(child);
        urls.push(url);
    }
    let pids: Vec<u32> = children.iter().map(std::process::Child::id).collect();
    let outcome = async {
        for url in &urls {
            let base = url.trim_end_matches("/graphql");
            wait_healthy(base).await?;
            if args.peer {
                wait_connected(base).await?;
            }
        }
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
        let before = pids
            .iter()
            .map(|p| sample(*p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let after = pids
            .iter()
            .map(|p| sample(*p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok::<_, anyhow::Error>((before, after))
    }
    .await;
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (before, after) = outcome?;
    for (i, (before, after)) in before.iter().zip(&after).enumerate() {
        if args.peer {
            let role = if pids[i] == pid {
                "watched node"
            } else {
                "its peer"
            };
            println!("{role}:");
        }
        report(before, after, args.seconds);
    }
    Ok(())
}

fn report(before: &Sample, after: &Sample, seconds: u64) {
    let (mut wakeups, mut ticks) = (0, 0);
    for (name, (switches, cpu)) in after {
        let (s0, c0) = before.get(name).copied().unwrap_or_default();
        let (w, t) = (switches.saturating_sub(s0), cpu.saturating_sub(c0));
        if w > 0 || t > 0 {
            println!("{name:<18} {w:>7} wakeups  {t:>4} ticks");
        }
        wakeups += w;
        ticks += t;
    }
    println!(
        "idle {seconds} s: {wakeups} wakeups ({:.1}/s), {ticks} CPU ticks",
        wakeups as f64 / seconds.max(1) as f64
    );
}

/// Waits until the node at `base` reports a connected peer (`/metrics`).
async fn wait_connected(base: &str) -> anyhow::Result<()> {
    let client = crate::common::http_client()?;
    for _ in 0..600 {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let peers = text
            .lines()
            .find_map(|l| l.strip_prefix("hoffnung_peers "))
            .and_then(|v| v.trim().parse::<u64>().ok());
        if peers.is_some_and(|p| p > 0) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{base} connected to no peer in 60 s")
}
