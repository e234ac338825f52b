//! The `hoffnung` command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hoffnung_server::{Node, NodeConfig};

#[derive(Parser)]
#[command(
    name = "hoffnung",
    version,
    about = "A fast, wire-compatible p2panda node"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (the default).
    Node(NodeArgs),
}

#[derive(clap::Args)]
struct NodeArgs {
    /// Directory for the node's data (the SQLite database).
    #[arg(long, env = "HOFFNUNG_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: `sqlite:<path>` or `postgres://…` (default: SQLite in the data dir).
    #[arg(long, env = "HOFFNUNG_DATABASE_URL")]
    database_url: Option<String>,
    /// HTTP port of the GraphQL API.
    #[arg(long, env = "HOFFNUNG_HTTP_PORT", default_value_t = 2020)]
    http_port: u16,
    /// Address to bind the HTTP server to.
    #[arg(long, env = "HOFFNUNG_HTTP_BIND", default_value = "127.0.0.1")]
    http_bind: IpAddr,
    /// Accept only these schema ids (repeatable; default: all).
    #[arg(
        long = "allow-schema",
        env = "HOFFNUNG_ALLOW_SCHEMA",
        value_delimiter = ','
    )]
    allow_schema: Vec<String>,
}

fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("hoffnung");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/hoffnung"),
        None => PathBuf::from("hoffnung-data"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOFFNUNG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Node(args)) => args,
        None => NodeArgs::parse_default(),
    };
    run_node(args).await
}

impl NodeArgs {
    fn parse_default() -> Self {
        // `hoffnung` without a subcommand runs a node with defaults and env.
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: NodeArgs,
        }
        Only::parse_from(["hoffnung"]).args
    }
}

async fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            let dir = args.data_dir.unwrap_or_else(default_data_dir);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
            format!("sqlite:{}", dir.join("hoffnung.db").display())
        }
    };
    let allow = if args.allow_schema.is_empty() {
        None
    } else {
        Some(
            args.allow_schema
                .iter()
                .map(|s| s.parse().with_context(|| format!("--allow-schema {s}")))
                .collect::<anyhow::Result<_>>()?,
        )
    };
    let mut config = NodeConfig::new(database_url);
    config.http_bind = SocketAddr::new(args.http_bind, args.http_port);
    config.allow_schema_ids = allow;
    let node = Node::bind(config).await.context("starting the node")?;
    println!("hoffnung: GraphQL on {}", node.graphql_url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    node.shutdown();
    node.join().await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
