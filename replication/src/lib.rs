//! Replication between nodes over libp2p.
//!
//! - Transports: QUIC and TCP (Noise, Yamux); identify and ping; mDNS
//!   discovery; known peers dialled with back-off.
//! - The p2panda log-height protocol (SPEC 10) on `/p2p/p2panda/1.0.0`: on
//!   connection each side announces the schemas it replicates; a session
//!   exchanges log heights (`Have`) and sends what the other lacks, in
//!   ingest order (so every entry after those it depends on).
//! - Live mode: every entry this node stores is also published with
//!   gossipsub on its schema's topic.
//! - Proofs of forked logs between hoffnung nodes on
//!   `/hoffnung/forks/1.0.0` (see `forks`).
//!
//! Received entries go through the store's bulk ingest path, like
//! `publish`: nothing unverified is stored. An entry whose dependencies
//! have not arrived yet is held back and retried; a peer that sends
//! invalid data is disconnected, and refused for a while after repeated
//! faults.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod forks;
mod ingest;
mod messages;
mod peer;
mod quiet;
mod service;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hoffnung_core::KeyPair;
use hoffnung_schema_registry::Pipeline;
pub use libp2p::metrics::Registry as MetricsRegistry;
pub use libp2p::Multiaddr;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The stream protocol of p2panda 0.8 nodes.
pub const PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/p2p/p2panda/1.0.0");
pub use forks::FORKS_PROTOCOL;

/// How a node replicates.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// The node key: its libp2p identity.
    pub key: KeyPair,
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/udp/2022/quic-v1`.
    pub listen: Vec<Multiaddr>,
    /// Peers to connect to and keep connected.
    pub peers: Vec<Multiaddr>,
    /// Discover peers on the local network.
    pub mdns: bool,
    /// How often each connected peer is asked for what is new.
    pub sync_interval: Duration,
    /// Faults after which a peer is refused for [`Self::ban`].
    pub max_faults: u32,
    pub ban: Duration,
}

impl ReplicationConfig {
    /// Listening on `bind`:`port` with QUIC and TCP, mDNS on, no known peers.
    pub fn new(key: KeyPair, bind: std::net::IpAddr, port: u16) -> Self {
        let ip = match bind {
            std::net::IpAddr::V4(ip) => format!("/ip4/{ip}"),
            std::net::IpAddr::V6(ip) => format!("/ip6/{ip}"),
        };
        let listen = [
            format!("{ip}/udp/{port}/quic-v1"),
            format!("{ip}/tcp/{port}"),
        ]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
        Self {
            key,
            listen,
            peers: Vec::new(),
            mdns: true,
            sync_interval: Duration::from_secs(5),
            max_faults: 3,
            ban: Duration::from_secs(600),
        }
    }
}

/// Turns `host:port` (QUIC, as upstream dials) or a multiaddr into a multiaddr.
pub fn parse_peer_address(s: &str) -> Result<Multiaddr, ReplicationError> {
    if s.starts_with('/') {
        return s
            .parse()
            .map_err(|e| ReplicationError::Address(format!("{s}: {e}")));
    }
    let addr: std::net::SocketAddr = match s.parse() {
        Ok(a) => a,
        Err(_) => {
            use std::net::ToSocketAddrs;
            s.to_socket_addrs()
                .map_err(|e| ReplicationError::Address(format!("{s}: {e}")))?
                .next()
                .ok_or_else(|| ReplicationError::Address(format!("{s}: no address")))?
        }
    };
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) => format!("/ip4/{ip}"),
        std::net::IpAddr::V6(ip) => format!("/ip6/{ip}"),
    };
    format!("{ip}/udp/{}/quic-v1", addr.port())
        .parse()
        .map_err(|e| ReplicationError::Address(format!("{s}: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("invalid peer address {0}")]
    Address(String),
    #[error("could not set up networking: {0}")]
    Setup(String),
    #[error("could not listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
}

/// Counters of the replication service.
#[derive(Debug, Default)]
pub struct Stats {
    pub entries_received: AtomicU64,
    pub entries_sent: AtomicU64,
    pub entries_rejected: AtomicU64,
    pub gossip_sent: AtomicU64,
    pub sessions_started: AtomicU64,
    pub sessions_open: AtomicU64,
    pub faults: AtomicU64,
    pub(crate) peers: Mutex<Vec<String>>,
}

/// A snapshot of [`Stats`] for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub peers: Vec<String>,
    pub entries_received: u64,
    pub entries_sent: u64,
    pub entries_rejected: u64,
    pub gossip_sent: u64,
    pub sessions_started: u64,
    pub sessions_open: u64,
    pub faults: u64,
}

impl Stats {
    fn snapshot(&self) -> StatsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            peers: self.peers.lock().map(|p| p.clone()).unwrap_or_default(),
            entries_received: get(&self.entries_received),
            entries_sent: get(&self.entries_sent),
            entries_rejected: get(&self.entries_rejected),
            gossip_sent: get(&self.gossip_sent),
            sessions_started: get(&self.sessions_started),
            sessions_open: get(&self.sessions_open),
            faults: get(&self.faults),
        }
    }
}

/// The running replication service.
pub struct Replication {
    peer_id: String,
    stats: Arc<Stats>,
    listening: watch::Receiver<Vec<Multiaddr>>,
    /// The configured listen addresses.
    listen: Vec<Multiaddr>,
    /// Cancelled at shutdown.
    stop: CancellationToken,
    /// The service, the ingester and every peer's tasks.
    tasks: TaskTracker,
}

impl Replication {
    /// Starts listening, dialling and replicating. libp2p's metrics (swarm,
    /// identify, ping, gossipsub, bandwidth) go into `metrics`, under
    /// `libp2p_`.
    pub async fn start(
        pipeline: Pipeline,
        config: ReplicationConfig,
        metrics: &mut MetricsRegistry,
    ) -> Result<Self, ReplicationError> {
        let stats = Arc::new(Stats::default());
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (listening_tx, listening) = watch::channel(Vec::new());
        let listen = config.listen.clone();
        let (service, peer_id) = service::Service::new(
            pipeline,
            tasks.clone(),
            stop.clone(),
            config,
            stats.clone(),
            listening_tx,
            metrics,
        )
        .await?;
        tasks.spawn(service.run());
        Ok(Self {
            peer_id,
            stats,
            listening,
            listen,
            stop,
            tasks,
        })
    }

    /// This node's libp2p peer id (`12D3KooW…`).
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// The addresses the node listens on. Waits (bounded) until every
    /// configured listener has reported one: the TCP listener may report
    /// before the QUIC one.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        // A listener's address has the protocols of its configured one
        // (`/ip4/0.0.0.0/udp/0/quic-v1` reports `/ip4/127.0.0.1/udp/4711/quic-v1`).
        fn kind(a: &Multiaddr) -> Vec<&'static str> {
            a.iter().map(|p| p.tag()).collect()
        }
        let wanted: Vec<_> = self.listen.iter().map(kind).collect();
        let mut rx = self.listening.clone();
        let all_reported = |got: &Vec<Multiaddr>| {
            !got.is_empty() && wanted.iter().all(|w| got.iter().any(|a| kind(a) == *w))
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(all_reported)).await;
        let addrs = rx.borrow().clone();
        addrs
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops networking and returns once every task of it has ended
    /// (entries received by then are stored).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The service's tasks (empty once it has stopped).
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
}
