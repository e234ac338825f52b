//! The libp2p swarm: connections, discovery, known peers, faults and bans,
//! gossip in both directions, and a task per connected peer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hoffnung_core::replication::Message;
use hoffnung_core::Hash;
use hoffnung_schema_registry::{Pipeline, Published, SchemaRegistry};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity};
use libp2p::metrics::{Metrics, Recorder, Registry};
use libp2p::swarm::{behaviour::toggle::Toggle, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, mdns, noise, ping, tcp, yamux, Multiaddr, PeerId, Stream, Swarm};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ingest::Ingester;
use crate::messages::{Command, Ended, Incoming};
use crate::peer::{is_blob_schema, supported_schemas, PeerTask, Shared};
use crate::quiet::Quiet;
use crate::{ReplicationConfig, ReplicationError, Stats, PROTOCOL};

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    gossipsub: Quiet<gossipsub::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

/// A known peer address and when to dial it next.
struct Known {
    peer: Option<PeerId>,
    next: Instant,
    backoff: Duration,
}

struct PeerState {
    inbound: mpsc::Sender<Stream>,
    task: tokio::task::JoinHandle<()>,
    /// Tells this task's end from an earlier one's.
    n: u64,
}

pub(crate) struct Service {
    swarm: Swarm<Behaviour>,
    /// Swarm, identify, ping and gossip events, counted into the node's registry.
    metrics: Metrics,
    registry: Arc<SchemaRegistry>,
    config: ReplicationConfig,
    stats: Arc<Stats>,
    listening: watch::Sender<Vec<Multiaddr>>,
    commands: mpsc::Receiver<Command>,
    shared: Shared,
    peers: HashMap<PeerId, PeerState>,
    /// Peer tasks started so far.
    started: u64,
    known: HashMap<Multiaddr, Known>,
    faults: HashMap<PeerId, u32>,
    banned: HashMap<PeerId, Instant>,
    topics: HashSet<String>,
    schemas_changed: watch::Sender<u64>,
    /// Entries published on this node from now on (taken by the gossip task).
    published: Option<broadcast::Receiver<Arc<Published>>>,
}

/// Gossipsub's mesh upkeep, while peers are connected (libp2p's default;
/// entries published here reach every subscribed peer at once, mesh or
/// not, since gossipsub floods its own messages).
const HEARTBEAT: Duration = Duration::from_secs(1);

fn topic(schema: &str) -> IdentTopic {
    IdentTopic::new(format!("p2panda/{schema}"))
}

impl Service {
    pub(crate) async fn new(
        pipeline: Pipeline,
        tasks: TaskTracker,
        stop: CancellationToken,
        config: ReplicationConfig,
        stats: Arc<Stats>,
        listening: watch::Sender<Vec<Multiaddr>>,
        metrics: &mut Registry,
    ) -> Result<(Self, String), ReplicationError> {
        // What peer tasks, the ingester and the gossip task ask of the swarm.
        let (commands_tx, commands) = mpsc::channel(1024);
        let setup = |e: &dyn std::fmt::Display| ReplicationError::Setup(e.to_string());
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(config.key.private_key())
            .map_err(|e| setup(&e))?;
        let mdns_on = config.mdns;
        // Built before the swarm: the bandwidth metrics below keep the
        // registry borrowed until the behaviour is in place.
        let gossipsub = gossip_behaviour(&keypair, metrics)?;
        let event_metrics = Metrics::new(metrics);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup(&e))?
            .with_quic()
            .with_bandwidth_metrics(metrics)
            .with_behaviour(|key| {
                let peer_id = key.public().to_peer_id();
                let mdns = if mdns_on {
                    Some(mdns::tokio::Behaviour::new(
                        mdns::Config::default(),
                        peer_id,
                    )?)
                } else {
                    None
                };
                Ok(Behaviour {
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/p2panda/1.0.0".into(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::default(),
                    mdns: Toggle::from(mdns),
                    gossipsub: Quiet::new(gossipsub, HEARTBEAT),
                    stream: libp2p_stream::Behaviour::new(),
                })
            })
            .map_err(|e| setup(&e))?
            // Upstream's default idle timeout of 0 drops connections before
            // anything is said (SPEC 10.3); keep them.
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| ReplicationError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
        }
        let local_peer = *swarm.local_peer_id();
        let (schemas_changed, schemas_rx) = watch::channel(0);
        let (ingest_tx, ingest_rx) = mpsc::channel(8192);
        // Not cancelled: it ends when every sender (peer tasks, this
        // service) is gone, after the batches in flight are stored.
        tasks.spawn(
            Ingester::new(pipeline.clone(), stats.clone(), commands_tx.clone()).run(ingest_rx),
        );
        let shared = Shared {
            store: pipeline.store().clone(),
            registry: pipeline.registry().clone(),
            stats: stats.clone(),
            ingest: ingest_tx,
            commands: commands_tx,
            local_peer,
            sync_interval: config.sync_interval,
            schemas_changed: schemas_rx,
            tasks,
            stop,
        };
        let known = config
            .peers
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    Known {
                        peer: None,
                        next: Instant::now(),
                        backoff: Duration::from_secs(1),
                    },
                )
            })
            .collect();
        let published = Some(pipeline.published());
        let service = Self {
            swarm,
            metrics: event_metrics,
            registry: pipeline.registry().clone(),
            config,
            stats,
            listening,
            commands,
            shared,
            peers: HashMap::new(),
            started: 0,
            known,
            faults: HashMap::new(),
            banned: HashMap::new(),
            topics: HashSet::new(),
            schemas_changed,
            published,
        };
        Ok((service, local_peer.to_string()))
    }

    pub(crate) async fn run(mut self) {
        let stop = self.shared.stop.clone();
        let mut control = self.swarm.behaviour().stream.new_control();
        let mut incoming = match control.accept(PROTOCOL) {
            Ok(i) => i,
            Err(e) => {
                tracing::error!(error = %e, "cannot accept p2panda streams");
                return;
            }
        };
        let Some(mut fork_proofs) = crate::forks::accept(&mut control) else {
            return;
        };
        if let Some(published) = self.published.take() {
            self.shared
                .spawn(gossip_published(published, self.shared.commands.clone()));
        }
        let mut schemas = self.registry.subscribe();
        self.subscribe_topics();
        // Timers run only while there is something to do: the next dial
        // of a known peer that is not connected.
        self.dial_known();
        let mut next_dial = self.next_dial();
        let dial = tokio::time::sleep_until(next_dial.unwrap_or_else(Instant::now).into());
        tokio::pin!(dial);
        tracing::info!(peer_id = %self.swarm.local_peer_id(), "replication started");
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                Some((peer, stream)) = incoming.next() => self.on_inbound(peer, stream),
                Some((peer, stream)) = fork_proofs.next() => {
                    if !self.is_banned(&peer) {
                        self.shared.spawn(crate::forks::receive(peer, stream, self.shared.store.clone()));
                    }
                }
                Some(command) = self.commands.recv() => self.on_command(command),
                changed = schemas.changed() => {
                    if changed.is_ok() {
                        self.subscribe_topics();
                        self.schemas_changed.send_modify(|n| *n += 1);
                    }
                }
                () = &mut dial, if next_dial.is_some() => {
                    // Dialled peers are due later: the sleep is set anew below.
                    next_dial = None;
                    self.dial_known();
                }
                () = stop.cancelled() => break,
            }
            let due = self.next_dial();
            if due != next_dial {
                next_dial = due;
                if let Some(at) = due {
                    dial.as_mut().reset(at.into());
                }
            }
        }
        // The gossip tail and the peer tasks end with `stop` too.
        tracing::debug!("replication stopped");
    }

    fn subscribe_topics(&mut self) {
        for schema in supported_schemas(&self.registry) {
            // Blobs and their pieces travel only in sync sessions, which
            // offer them by what relates to them (SPEC 10.3): a blob is
            // usually related to by nothing yet when published.
            if is_blob_schema(&schema) {
                continue;
            }
            let name = schema.to_string();
            if self.topics.insert(name.clone()) {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .subscribe(&topic(&name))
                {
                    tracing::warn!(error = %e, schema = %name, "gossip subscription failed");
                }
            }
        }
    }

    fn is_banned(&mut self, peer: &PeerId) -> bool {
        match self.banned.get(peer) {
            Some(until) if Instant::now() < *until => true,
            Some(_) => {
                self.banned.remove(peer);
                self.faults.remove(peer);
                false
            }
            None => false,
        }
    }

    fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        self.metrics.record(event);
        if let SwarmEvent::Behaviour(event) = event {
            match event {
                BehaviourEvent::Identify(e) => self.metrics.record(e),
                BehaviourEvent::Ping(e) => self.metrics.record(e),
                BehaviourEvent::Gossipsub(e) => self.metrics.record(e),
                BehaviourEvent::Mdns(_) | BehaviourEvent::Stream(_) => {}
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
                self.listening.send_modify(|a| a.push(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.is_banned(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if let ConnectedPoint::Dialer { address, .. } = &endpoint {
                    if let Some(k) = self.known.get_mut(address) {
                        k.peer = Some(peer_id);
                        k.backoff = Duration::from_secs(1);
                    }
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, "peer connected");
                }
                // An inbound stream may have started the peer's task already.
                if !self.peers.contains_key(&peer_id) {
                    self.start_peer(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::info!(peer = %peer_id, "peer disconnected");
                if let Some(state) = self.peers.remove(&peer_id) {
                    state.task.abort();
                }
                for k in self.known.values_mut() {
                    if k.peer == Some(peer_id) {
                        k.next = Instant::now() + k.backoff;
                    }
                }
                self.update_peer_list();
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                tracing::debug!(%error, "dial failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) && !self.is_banned(&peer) {
                        tracing::debug!(%peer, %addr, "discovered by mDNS");
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message,
                ..
            })) => self.on_gossip(propagation_source, message.data),
            _ => {}
        }
    }

    fn start_peer(&mut self, peer: PeerId) {
        let (inbound, inbound_rx) = mpsc::channel(2);
        let mut control = self.swarm.behaviour().stream.new_control();
        let shared = self.shared.clone();
        self.started += 1;
        let n = self.started;
        let task = self.shared.spawn(async move {
            // Told however the task ends: returned, panicked or aborted.
            let _ended = Ended {
                commands: shared.commands.clone(),
                peer,
                n,
            };
            match control.open_stream(peer, PROTOCOL).await {
                Ok(stream) => {
                    tracing::debug!(%peer, "outbound stream open");
                    // Proofs of forks go along for as long as the peer's task runs.
                    let proofs = crate::forks::offer(control, peer, shared.store.clone());
                    tokio::select! {
                        () = PeerTask::run(peer, shared, stream, inbound_rx) => {}
                        () = proofs => {}
                    }
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "could not open a p2panda stream");
                }
            }
        });
        self.peers.insert(peer, PeerState { inbound, task, n });
        self.update_peer_list();
    }

    fn on_inbound(&mut self, peer: PeerId, stream: Stream) {
        if self.is_banned(&peer) {
            return;
        }
        if !self.peers.contains_key(&peer) {
            self.start_peer(peer);
        }
        tracing::debug!(%peer, "inbound stream");
        if let Some(state) = self.peers.get(&peer) {
            if state.inbound.try_send(stream).is_err() {
                tracing::debug!(%peer, "extra inbound stream ignored");
            }
        }
    }

    /// A peer task ended (its stream closed): the connection is closed
    /// too, so that the peer is replicated again once it reconnects.
    fn on_ended(&mut self, peer: PeerId, n: u64) {
        if self.peers.get(&peer).is_none_or(|s| s.n != n) {
            return; // a later task of the peer runs, or it was removed
        }
        self.peers.remove(&peer);
        if self.swarm.is_connected(&peer) {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        self.update_peer_list();
    }

    fn update_peer_list(&self) {
        if let Ok(mut list) = self.stats.peers.lock() {
            *list = self.peers.keys().map(|p| p.to_string()).collect();
            list.sort();
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Fault(peer, why) => {
                self.stats.faults.fetch_add(1, Ordering::Relaxed);
                let n = self.faults.entry(peer).or_default();
                *n += 1;
                if *n >= self.config.max_faults {
                    tracing::warn!(%peer, why, "peer refused for a while after repeated faults");
                    self.banned.insert(peer, Instant::now() + self.config.ban);
                } else {
                    tracing::warn!(%peer, why, "disconnecting a faulty peer");
                }
                if let Some(state) = self.peers.remove(&peer) {
                    state.task.abort();
                }
                let _ = self.swarm.disconnect_peer_id(peer);
                self.update_peer_list();
            }
            Command::Ended(peer, n) => self.on_ended(peer, n),
            Command::Gossip(topic, data) => {
                match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
                    Ok(_) => {
                        self.stats.gossip_sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                    Err(e) => tracing::debug!(error = %e, "gossip publish failed"),
                }
            }
        }
    }

    /// Dials the known peers that are due, and sets when each is due next.
    fn dial_known(&mut self) {
        let now = Instant::now();
        let mut to_dial = Vec::new();
        for (addr, k) in self.known.iter_mut() {
            let connected = k.peer.is_some_and(|p| self.swarm.is_connected(&p));
            if connected || now < k.next {
                continue;
            }
            if let Some(until) = k.peer.and_then(|p| self.banned.get(&p)) {
                if now < *until {
                    k.next = *until;
                    continue;
                }
            }
            to_dial.push(addr.clone());
            k.next = now + k.backoff;
            k.backoff = (k.backoff * 2).min(Duration::from_secs(30));
        }
        for addr in to_dial {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, error = %e, "dial failed");
            }
        }
    }

    /// When the next known peer that is not connected is to be dialled.
    fn next_dial(&self) -> Option<Instant> {
        self.known
            .values()
            .filter(|k| !k.peer.is_some_and(|p| self.swarm.is_connected(&p)))
            .map(|k| k.next)
            .min()
    }

    fn on_gossip(&mut self, from: PeerId, data: Vec<u8>) {
        let (entry, operation) = match Message::decode(&data) {
            Ok((
                Message::Entry {
                    entry,
                    operation: Some(operation),
                    ..
                },
                used,
            )) if used == data.len() => (entry, operation),
            _ => {
                self.on_command(Command::Fault(from, "malformed gossip"));
                return;
            }
        };
        let sender = self.shared.ingest.clone();
        let incoming = Incoming {
            peer: from,
            entry,
            operation,
        };
        if sender.try_send(incoming).is_err() {
            // Busy: the next sync session brings it.
            tracing::debug!("gossip dropped, ingest queue full");
        }
    }
}

/// Gossipsub for entries, its mesh and message metrics in `metrics`.
fn gossip_behaviour(
    key: &libp2p::identity::Keypair,
    metrics: &mut Registry,
) -> Result<gossipsub::Behaviour, ReplicationError> {
    let setup = |e: &dyn std::fmt::Display| ReplicationError::Setup(e.to_string());
    let config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(HEARTBEAT)
        // An entry with a maximal operation, as CBOR.
        .max_transmit_size(2 * 1024 * 1024)
        .validation_mode(gossipsub::ValidationMode::Strict)
        // The same entry from two nodes is one message.
        .message_id_fn(|m| gossipsub::MessageId::from(Hash::of(&m.data).as_bytes().to_vec()))
        .build()
        .map_err(|e| setup(&e))?;
    let behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
        .map_err(|e| setup(&e))?;
    // Series per topic, and a topic per schema: bounded, so that a node
    // with many schemas does not answer every scrape with thousands.
    let metrics_config = gossipsub::MetricsConfig {
        max_topics: 64,
        max_never_subscribed_topics: 8,
        ..Default::default()
    };
    Ok(behaviour.with_metrics(
        metrics.sub_registry_with_prefix("libp2p_gossipsub"),
        metrics_config,
    ))
}

/// Announces every entry published on this node on its schema's topic.
/// Entries that came from peers are not announced again: gossipsub
/// forwards them through the mesh itself, and sync sessions bring the rest.
async fn gossip_published(
    mut published: broadcast::Receiver<Arc<Published>>,
    commands: mpsc::Sender<Command>,
) {
    loop {
        let p = match published.recv().await {
            Ok(p) => p,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // Peers get these through their next sync session.
                tracing::debug!(missed = n, "gossip fell behind the publishes");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // Only sync sessions send blobs (see `subscribe_topics`).
        if is_blob_schema(&p.schema_id) {
            continue;
        }
        let data = Message::Entry {
            session: 0,
            entry: p.entry.clone(),
            operation: Some(p.operation.clone()),
        }
        .encode();
        let topic = topic(&p.schema_id.to_string());
        if commands.send(Command::Gossip(topic, data)).await.is_err() {
            return;
        }
    }
}
