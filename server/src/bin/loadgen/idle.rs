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
    let mut extra = Vec::new();
    if args.no_replication {
        extra.push("--no-replication");
    }
    if args.no_mdns {
        extra.push("--no-mdns");
    }
    let (mut child, url) = spawn_node(&binary, dir.path(), 0, &extra)?;
    let pid = child.id();
    let outcome = async {
        wait_healthy(url.trim_end_matches("/graphql")).await?;
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
        let before = sample(pid)?;
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let after = sample(pid)?;
        Ok::<_, anyhow::Error>((before, after))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let (before, after) = outcome?;
    let (mut wakeups, mut ticks) = (0, 0);
    for (name, (switches, cpu)) in &after {
        let (s0, c0) = before.get(name).copied().unwrap_or_default();
        let (w, t) = (switches.saturating_sub(s0), cpu.saturating_sub(c0));
        if w > 0 || t > 0 {
            println!("{name:<18} {w:>7} wakeups  {t:>4} ticks");
        }
        wakeups += w;
        ticks += t;
    }
    println!(
        "idle {} s: {wakeups} wakeups ({:.1}/s), {ticks} CPU ticks",
        args.seconds,
        wakeups as f64 / args.seconds.max(1) as f64
    );
    Ok(())
}
