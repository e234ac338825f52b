//! One connected peer: our outbound stream (a writer task), their inbound
//! stream (read here), and the log-height sessions between us (SPEC 10.3).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use hoffnung_core::replication::{LogHeights, Message, MessageError, MODE_LOG_HEIGHT};
use hoffnung_core::{PlainOperation, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{EntryFilter, Store, StoredEntry};
use libp2p::{PeerId, Stream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::messages::{Command, Incoming};
use crate::Stats;

/// Largest message we read (an entry with a maximal operation, plus room).
const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// A session that has not finished by then is given up.
const SESSION_TIMEOUT: Duration = Duration::from_secs(120);
/// Entries read from the store per step of a send.
const SEND_BATCH: u32 = 1000;
/// Up to this many logs and entries behind, a send reads just those logs
/// (holding their entries in memory, to send them in ingest order); beyond,
/// it reads the whole store once.
const PER_LOG_READS: usize = 256;
const PER_LOG_ENTRIES: u64 = 10_000;

/// What every peer task shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) registry: Arc<SchemaRegistry>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) ingest: mpsc::Sender<Incoming>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) local_peer: PeerId,
    pub(crate) sync_interval: Duration,
    /// Changes when the set of schemas we replicate changes.
    pub(crate) schemas_changed: watch::Receiver<u64>,
    /// Every task of the service; shutdown waits for all of them.
    pub(crate) tasks: TaskTracker,
    /// Cancelled at shutdown.
    pub(crate) stop: CancellationToken,
}

impl Shared {
    /// Spawns a task that ends at shutdown at the latest (dropped where it
    /// waits); shutdown waits for it.
    pub(crate) fn spawn(
        &self,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> JoinHandle<()> {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = task => {}
                () = stop.cancelled() => {}
            }
        })
    }
}

/// The schemas this node replicates: its allow list, else every schema it knows.
pub(crate) fn supported_schemas(registry: &SchemaRegistry) -> Vec<SchemaId> {
    match registry.allow_list() {
        Some(ids) => ids,
        None => {
            let mut ids: Vec<SchemaId> =
                registry.schemas().iter().map(|s| s.id().clone()).collect();
            ids.sort();
            ids.dedup();
            ids
        }
    }
}

/// The schemas a session includes only as far as other documents relate
/// to them (SPEC 10.3).
pub(crate) fn is_blob_schema(id: &SchemaId) -> bool {
    *id == SchemaId::BLOB_V1 || *id == SchemaId::BLOB_PIECE_V1
}

struct Session {
    target: Vec<SchemaId>,
    started: Instant,
    /// We started it (else the peer did).
    ours: bool,
    /// The peer's `Have` arrived (our entries are on their way).
    have_received: bool,
    their_done: bool,
    our_done: bool,
}

/// Why a peer is dropped.
#[derive(Debug)]
enum PeerError {
    Fault(&'static str),
    Closed,
}

pub(crate) struct PeerTask {
    peer: PeerId,
    shared: Shared,
    out: mpsc::Sender<Vec<u8>>,
    /// Tells send jobs that the session finished sending (session id).
    sent_tx: mpsc::Sender<u64>,
    sent_rx: mpsc::Receiver<u64>,
    their_schemas: Option<Vec<SchemaId>>,
    sessions: HashMap<u64, Session>,
    next_session: u64,
}

impl PeerTask {
    /// Runs until the connection ends or the peer misbehaves.
    pub(crate) async fn run(
        peer: PeerId,
        shared: Shared,
        outbound: Stream,
        mut inbound: mpsc::Receiver<Stream>,
    ) {
        let (out, out_rx) = mpsc::channel(256);
        let writer = shared.spawn(write_loop(outbound, out_rx));
        let (sent_tx, sent_rx) = mpsc::channel(16);
        let mut task = PeerTask {
            peer,
            shared: shared.clone(),
            out,
            sent_tx,
            sent_rx,
            their_schemas: None,
            sessions: HashMap::new(),
            next_session: 0,
        };
        let result = async {
            task.announce().await?;
            // The peer's own outbound stream is our inbound one.
            let stream = tokio::time::timeout(Duration::from_secs(30), inbound.recv())
                .await
                .map_err(|_| PeerError::Fault("no stream opened within 30 s"))?
                .ok_or(PeerError::Closed)?;
            task.serve(stream).await
        }
        .await;
        writer.abort();
        let open = task.sessions.len() as u64;
        shared
            .stats
            .sessions_open
            .fetch_sub(open, Ordering::Relaxed);
        match result {
            Err(PeerError::Fault(why)) => {
                tracing::warn!(%peer, why, "dropping peer");
                let _ = shared.commands.send(Command::Fault(peer, why)).await;
            }
            Err(PeerError::Closed) | Ok(()) => {
                tracing::debug!(%peer, "peer stream ended");
            }
        }
    }

    async fn send(&self, message: Message) -> Result<(), PeerError> {
        self.out
            .send(message.encode())
            .await
            .map_err(|_| PeerError::Closed)
    }

    async fn announce(&mut self) -> Result<(), PeerError> {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.send(Message::Announce {
            version: hoffnung_core::replication::PROTOCOL_VERSION,
            timestamp,
            schemas: supported_schemas(&self.shared.registry),
        })
        .await
    }

    async fn serve(&mut self, mut stream: Stream) -> Result<(), PeerError> {
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut tick = tokio::time::interval(self.shared.sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut schemas = self.shared.schemas_changed.clone();
        loop {
            // Every whole message in the buffer first (one drain at the end).
            let mut at = 0;
            loop {
                match Message::decode(&buf[at..]) {
                    Ok((message, used)) => {
                        at += used;
                        self.handle(message).await?;
                    }
                    Err(MessageError::Incomplete) => break,
                    Err(e) => {
                        tracing::warn!(peer = %self.peer, error = %e, "malformed message");
                        return Err(PeerError::Fault("malformed message"));
                    }
                }
            }
            buf.drain(..at);
            if buf.len() > MAX_MESSAGE {
                return Err(PeerError::Fault("message too large"));
            }
            tokio::select! {
                read = stream.read(&mut chunk) => {
                    match read {
                        Ok(0) | Err(_) => return Err(PeerError::Closed),
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                _ = tick.tick() => {
                    self.expire_sessions();
                    self.start_session().await?;
                }
                changed = schemas.changed() => {
                    if changed.is_ok() {
                        self.announce().await?;
                    }
                }
                Some(session) = self.sent_rx.recv() => {
                    if let Some(s) = self.sessions.get_mut(&session) {
                        s.our_done = true;
                    }
                    self.finish_if_done(session);
                }
            }
        }
    }

    fn expire_sessions(&mut self) {
        let before = self.sessions.len();
        self.sessions
            .retain(|_, s| s.started.elapsed() < SESSION_TIMEOUT);
        let gone = (before - self.sessions.len()) as u64;
        self.shared
            .stats
            .sessions_open
            .fetch_sub(gone, Ordering::Relaxed);
    }

    fn open_session(&mut self, id: u64, target: Vec<SchemaId>, ours: bool) {
        self.sessions.insert(
            id,
            Session {
                target,
                started: Instant::now(),
                ours,
                have_received: false,
                their_done: false,
                our_done: false,
            },
        );
        self.shared
            .stats
            .sessions_open
            .fetch_add(1, Ordering::Relaxed);
        self.shared
            .stats
            .sessions_started
            .fetch_add(1, Ordering::Relaxed);
    }

    fn finish_if_done(&mut self, id: u64) {
        if self
            .sessions
            .get(&id)
            .is_some_and(|s| s.our_done && s.their_done)
        {
            self.sessions.remove(&id);
            self.shared
                .stats
                .sessions_open
                .fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Asks the peer for what is new, unless a session is already running.
    async fn start_session(&mut self) -> Result<(), PeerError> {
        let Some(theirs) = &self.their_schemas else {
            return Ok(());
        };
        let ours: HashSet<SchemaId> = supported_schemas(&self.shared.registry)
            .into_iter()
            .collect();
        let target: Vec<SchemaId> = theirs
            .iter()
            .filter(|s| ours.contains(*s))
            .cloned()
            .collect();
        // One session of ours at a time, and none while the peer runs one
        // over the same schemas: its entries would come twice.
        if target.is_empty() || self.sessions.values().any(|s| s.ours || s.target == target) {
            return Ok(());
        }
        // Ids are per connection and both sides pick them: skip the ones
        // in use (e.g. by a session the peer started).
        let mut id = self.next_session;
        while self.sessions.contains_key(&id) {
            id += 1;
        }
        self.next_session = id + 1;
        self.open_session(id, target.clone(), true);
        self.send(Message::SyncRequest {
            session: id,
            mode: MODE_LOG_HEIGHT,
            target,
        })
        .await
    }

    async fn handle(&mut self, message: Message) -> Result<(), PeerError> {
        tracing::trace!(peer = %self.peer, ?message, "received");
        match message {
            Message::Announce {
                version, schemas, ..
            } => {
                if version != hoffnung_core::replication::PROTOCOL_VERSION {
                    return Err(PeerError::Fault("unsupported protocol version"));
                }
                self.their_schemas = Some(schemas);
                self.start_session().await?;
            }
            Message::SyncRequest {
                session,
                mode,
                target,
            } => {
                if mode != MODE_LOG_HEIGHT {
                    tracing::debug!(peer = %self.peer, mode, "unsupported replication mode");
                    return Ok(());
                }
                let ours: HashSet<SchemaId> = supported_schemas(&self.shared.registry)
                    .into_iter()
                    .collect();
                if let Some(s) = target.iter().find(|s| !ours.contains(*s)) {
                    tracing::debug!(peer = %self.peer, schema = %s, "sync request outside our schemas, refused");
                    return Ok(());
                }
                if let Some(existing) = self.sessions.get(&session) {
                    // Both sides started session `id` at once: the side with
                    // the smaller peer id gives its own up (SPEC 10.3).
                    if existing.ours && self.shared.local_peer < self.peer {
                        self.sessions.remove(&session);
                        self.shared
                            .stats
                            .sessions_open
                            .fetch_sub(1, Ordering::Relaxed);
                    } else {
                        return Ok(());
                    }
                }
                self.open_session(session, target.clone(), false);
                let logs = self.heights(&target).await?;
                self.send(Message::Have { session, logs }).await?;
            }
            Message::Have { session, logs } => {
                let Some(s) = self.sessions.get_mut(&session) else {
                    return Ok(());
                };
                if s.have_received {
                    tracing::debug!(peer = %self.peer, session, "second Have in a session ignored");
                    return Ok(());
                }
                s.have_received = true;
                let (target, ours) = (s.target.clone(), s.ours);
                if ours {
                    let mine = self.heights(&target).await?;
                    self.send(Message::Have {
                        session,
                        logs: mine,
                    })
                    .await?;
                }
                self.spawn_send(session, target, logs);
            }
            Message::Entry {
                session,
                entry,
                operation,
            } => {
                let Some(operation) = operation else {
                    return Err(PeerError::Fault("entry without its operation"));
                };
                let Some(s) = self.sessions.get(&session) else {
                    return Err(PeerError::Fault("entry outside a session"));
                };
                let schema = PlainOperation::decode(&operation)
                    .map_err(|_| PeerError::Fault("undecodable operation"))?
                    .schema_id;
                if !s.target.contains(&schema) {
                    return Err(PeerError::Fault("entry outside the session's schemas"));
                }
                self.shared
                    .ingest
                    .send(Incoming {
                        peer: self.peer,
                        entry,
                        operation,
                    })
                    .await
                    .map_err(|_| PeerError::Closed)?;
            }
            Message::SyncDone { session, .. } => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.their_done = true;
                }
                self.finish_if_done(session);
            }
        }
        Ok(())
    }

    async fn heights(&self, target: &[SchemaId]) -> Result<LogHeights, PeerError> {
        let rows = self
            .shared
            .store
            .log_heights(target, self.shared.registry.as_ref())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading log heights failed");
                PeerError::Closed
            })?;
        let mut out: LogHeights = Vec::new();
        for (key, log, seq) in rows {
            match out.last_mut() {
                Some((k, logs)) if *k == key => logs.push((log, seq)),
                _ => out.push((key, vec![(log, seq)])),
            }
        }
        Ok(out)
    }

    /// Sends the entries of `target` the peer lacks, then `SyncDone`, from
    /// a task of its own (the peer may be sending to us at the same time).
    fn spawn_send(&self, session: u64, target: Vec<SchemaId>, theirs: LogHeights) {
        let store = self.shared.store.clone();
        let registry = self.shared.registry.clone();
        let out = self.out.clone();
        let stats = self.shared.stats.clone();
        let done = self.sent_tx.clone();
        self.shared.spawn(async move {
            let heights: HashMap<([u8; 32], u64), u64> = theirs
                .into_iter()
                .flat_map(|(key, logs)| logs.into_iter().map(move |(l, s)| ((key, l), s)))
                .collect();
            // Which logs are ahead here: in the steady state none, and the
            // session costs two height lists rather than a read of
            // everything stored.
            // The same rule as our `Have`: nothing outside it is sent.
            let ours = match store.log_heights(&target, registry.as_ref()).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "reading log heights failed");
                    return;
                }
            };
            // A scan by schema would also meet blobs the rule leaves out:
            // with blob schemas in the target, it sends only logs offered.
            let offered: Option<HashSet<([u8; 32], u64)>> = target
                .iter()
                .any(is_blob_schema)
                .then(|| ours.iter().map(|&(key, log, _)| (key, log)).collect());
            let mut missing = 0u64;
            let behind: Vec<([u8; 32], u64, u64)> = ours
                .into_iter()
                .filter_map(|(key, log, seq)| {
                    let have = heights.get(&(key, log)).copied().unwrap_or(0);
                    missing += seq.saturating_sub(have);
                    (seq > have).then_some((key, log, have))
                })
                .collect();
            let send = |e: StoredEntry| Message::Entry {
                session,
                entry: e.entry,
                operation: Some(e.operation),
            };
            // An entry whose payload was purged (its document was deleted)
            // is never sent: upstream nodes cannot take an entry without
            // its operation. Nor is anything after it in its log, which
            // the peer could not take without it.
            let mut cut: HashSet<([u8; 32], u64)> = HashSet::new();
            let mut sendable = |e: &StoredEntry| {
                let log = (e.public_key, e.log_id);
                if e.is_purged() {
                    cut.insert(log);
                }
                !cut.contains(&log)
            };
            if behind.len() <= PER_LOG_READS && missing <= PER_LOG_ENTRIES {
                // A few logs, a few entries: read just what the peer lacks
                // (at once, to send them in ingest order).
                let entries = match store.entries_of_logs(&behind).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(error = %e, "reading entries to send failed");
                        return;
                    }
                };
                for e in entries {
                    if !sendable(&e) {
                        continue;
                    }
                    if out.send(send(e).encode()).await.is_err() {
                        return;
                    }
                    stats.entries_sent.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                // Many (a new peer): one pass over the store in ingest order.
                let filter = EntryFilter {
                    schemas: target,
                    authors: Vec::new(),
                };
                let mut after = 0;
                loop {
                    let batch = match store.entries_after(after, SEND_BATCH, &filter).await {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::error!(error = %e, "reading entries to send failed");
                            return;
                        }
                    };
                    let Some(last) = batch.last() else { break };
                    after = last.id;
                    for e in batch {
                        if offered
                            .as_ref()
                            .is_some_and(|o| !o.contains(&(e.public_key, e.log_id)))
                        {
                            continue;
                        }
                        let have = heights.get(&(e.public_key, e.log_id)).copied().unwrap_or(0);
                        if e.seq_num <= have || !sendable(&e) {
                            continue;
                        }
                        if out.send(send(e).encode()).await.is_err() {
                            return;
                        }
                        stats.entries_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let _ = out
                .send(
                    Message::SyncDone {
                        session,
                        live: false,
                    }
                    .encode(),
                )
                .await;
            let _ = done.send(session).await;
        });
    }
}

/// Writes queued messages to the stream: whatever is queued goes out in
/// one write (many small writes cost more than the bytes), then a flush.
async fn write_loop(mut stream: Stream, mut rx: mpsc::Receiver<Vec<u8>>) {
    const CHUNK: usize = 256 * 1024;
    let mut buf = Vec::with_capacity(CHUNK);
    while let Some(first) = rx.recv().await {
        buf.clear();
        buf.extend_from_slice(&first);
        while buf.len() < CHUNK {
            match rx.try_recv() {
                Ok(next) => buf.extend_from_slice(&next),
                Err(_) => break,
            }
        }
        if stream.write_all(&buf).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
    let _ = stream.close().await;
}
