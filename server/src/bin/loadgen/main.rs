//! Load generator: measures a p2panda node under load, one subcommand per
//! benchmark (figures: docs/benchmarks.md):
//!
//! - `publish`: pre-signed entries published through the GraphQL API by K
//!   concurrent authors; entries/s and latency;
//! - `lag`: the same at a steady rate; publish-to-materialized lag;
//! - `query`: document queries against N bulk-loaded documents;
//! - `startup`: start-up time and idle memory of the `hoffnung` binary;
//! - `replicate`: catch-up and live replication between two nodes;
//! - `blob`: a file published as pieces, then served over HTTP;
//! - `hostile`: idle connections, oversized bodies and a memory spike
//!   against the `hoffnung` binary;
//! - `kills`: the `hoffnung` binary killed hard again and again while
//!   p2panda-js authors publish; no acknowledged entry may be lost;
//! - `schemas`: N schemas published one after the other; time per schema;
//! - `subscribe`: publish and `nextArgs` latency with N subscriptions open;
//! - `idle`: how often the `hoffnung` binary wakes up with nothing to do;
//! - `app`: how soon a publish shows in a query, and relation queries, as
//!   an app sees the `hoffnung` binary.
//!
//! Except `publish --url` and those that run the `hoffnung` binary
//! (`startup`, `hostile`, `kills`, `idle`, `app`), each starts its node(s) in this process
//! on a fresh, file-backed SQLite database (or `--database-url`) and talks
//! to it over loopback HTTP.

use clap::{Parser, Subcommand};

mod app;
mod blob;
mod common;
mod hostile;
mod idle;
mod kills;
mod lag;
mod publish;
mod query;
mod replicate;
mod schemas;
mod startup;
mod subscribe;

#[derive(Parser)]
#[command(about = "Load against a p2panda node, measured")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish pre-signed entries with K concurrent authors and report
    /// entries/s and latency.
    Publish(publish::Args),
    /// Publish at a steady rate and measure publish-to-materialized lag
    /// (in-process node).
    Lag(lag::Args),
    /// Bulk-load documents into an in-process node and measure document
    /// queries over HTTP.
    Query(query::Args),
    /// Measure start-up time and idle memory of the `hoffnung` binary (built
    /// beside this one) on an empty data dir and on one with documents.
    Startup(startup::Args),
    /// Replicate entries from one in-process node to a fresh one over
    /// libp2p (loopback), then measure live latency.
    Replicate(replicate::Args),
    /// Publish a file as blob pieces and a blob through the GraphQL API of
    /// an in-process node, then download it: MiB/s, time to servable, RSS.
    Blob(blob::Args),
    /// Idle connections, oversized bodies and a spike of large pages
    /// against the `hoffnung` binary: legitimate latency, peak and
    /// after-spike memory.
    Hostile(hostile::Args),
    /// Kill the `hoffnung` binary hard (SIGKILL) N times while p2panda-js
    /// authors (e2e/author.mjs) publish; then check that every acknowledged
    /// entry is stored and every document materialized at its last
    /// acknowledged view.
    Kills(kills::Args),
    /// Publish N schemas one after the other through the GraphQL API of
    /// an in-process node (as `hoffnung schema create`): time per schema.
    Schemas(schemas::Args),
    /// Hold N GraphQL subscriptions open over WebSocket on an in-process
    /// node while publishing: publish and `nextArgs` latency, deliveries.
    Subscribe(subscribe::Args),
    /// Watch the `hoffnung` binary with nothing to do: wakeups per thread
    /// and CPU ticks over N seconds (Linux /proc).
    Idle(idle::Args),
    /// Against the `hoffnung` binary, as an app sees it: publish until
    /// visible in a query (alone and under load), a document with a
    /// relation, pages of 100 with and without relations.
    App(app::Args),
}

/// Memory freed after a spike goes back to the system (see the allocator's
/// entry in the workspace Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs only when asked for (RUST_LOG=hoffnung_replication=debug, …).
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    match Cli::parse().command {
        Command::Publish(args) => publish::run(args).await,
        Command::Lag(args) => lag::run(args).await,
        Command::Query(args) => query::run(args).await,
        Command::Startup(args) => startup::run(args).await,
        Command::Replicate(args) => replicate::run(args).await,
        Command::Blob(args) => blob::run(args).await,
        Command::Hostile(args) => hostile::run(args).await,
        Command::Kills(args) => kills::run(args).await,
        Command::Schemas(args) => schemas::run(args).await,
        Command::Subscribe(args) => subscribe::run(args).await,
        Command::Idle(args) => idle::run(args).await,
        Command::App(args) => app::run(args).await,
    }
}
