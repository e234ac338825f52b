//! `hoffnung node`: starts a node from the configuration and runs it until
//! SIGINT or SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{bail, Context};
use hoffnung_server::{Node, NodeConfig, NodeError, ReplicationConfig};

use crate::args::{load_config, NodeArgs};
use crate::logging::init_logs;
use crate::{config, keys};

pub async fn run_node(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let (config, file) = load_config(&args)?;
    if config.profile == crate::config::Profile::Small {
        crate::allocator::return_freed_pages_at_once();
    }
    init_logs(&config)?;
    let signals = Signals::register()?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    for var in config::unknown_variables(&env) {
        tracing::warn!(variable = %var, "unknown HOFFNUNG_ environment variable, ignored");
    }
    if let Some(file) = &file {
        tracing::info!(path = %file.display(), "config file");
    }
    super::durable::create_dir(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let (node_key, created) = keys::node_key(&config.data_dir)?;
    if created {
        tracing::info!(public_key = %node_key.public_key().to_hex(), "generated the node key");
    }
    let allow = config.allow_schema_ids()?;
    let mut node_config = NodeConfig::new(config.database_url());
    node_config.http_bind = SocketAddr::new(config.http_bind, config.http_port);
    node_config.allow_schema_ids = allow;
    node_config.max_page_size = config.max_page_size;
    node_config.max_subscriptions = config.max_subscriptions;
    node_config.max_subscriptions_per_connection = config.max_subscriptions_per_connection;
    node_config.materializer = config.materializer_config();
    node_config.store = config.store_config();
    node_config.blobs_dir = Some(config.blobs_dir());
    node_config.http = config.http_limits();
    node_config.apps = config.apps;
    // Each connection takes a descriptor: allow as many as the system lets
    // this process have (the connection cap is sized to what is left).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the descriptor limit"),
    }
    if config.replication {
        let mut r = ReplicationConfig::new(node_key.clone(), config.p2p_bind, config.p2p_port);
        r.mdns = config.mdns;
        r.peers = config
            .peers
            .iter()
            .map(|p| hoffnung_replication::parse_peer_address(p))
            .collect::<Result<_, _>>()?;
        node_config.replication = Some(r);
    }
    let node = match Node::bind(node_config).await {
        Ok(node) => node,
        Err(NodeError::Bind { addr, source }) if source.kind() == std::io::ErrorKind::AddrInUse => {
            bail!(
                "port {} on {} is in use (another node?); choose another with --http-port",
                addr.port(),
                addr.ip()
            );
        }
        Err(e) => return Err(e).context("starting the node"),
    };
    tracing::info!(
        node_key = %node_key.public_key().to_hex(),
        data_dir = %config.data_dir.display(),
        "node started"
    );
    if let Some(r) = node.replication() {
        let addrs: Vec<String> = r
            .listen_addrs()
            .await
            .iter()
            .map(|a| a.to_string())
            .collect();
        tracing::info!(peer_id = r.peer_id(), listen = ?addrs, "replicating");
    }
    println!("hoffnung: GraphQL on {}", node.graphql_url());
    if config.apps {
        // A log line, not stdout: scripts read only the first line there.
        let base = node.graphql_url();
        let app = format!("{}/apps/chat/", base.trim_end_matches("/graphql"));
        tracing::info!(%app, "the chat app");
    }
    signals.wait().await;
    tracing::info!("shutting down");
    node.shutdown();
    node.join().await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT and SIGTERM, registered at once: a signal that comes right after
/// start-up (before the node waits for it) must not kill the process.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
