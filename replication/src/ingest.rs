//! Received entries into the store: one task, batches through the bulk
//! ingest path, entries whose dependencies are missing held back and
//! retried, faults reported against the peer that sent them.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hoffnung_schema_registry::{Batch, Pipeline};
use hoffnung_store::IngestError;
use libp2p::PeerId;
use tokio::sync::mpsc;

use crate::messages::{Command, Incoming};
use crate::Stats;

/// Entries held back at most (the oldest go first beyond this).
const MAX_PENDING: usize = 200_000;
/// Entries per ingest transaction.
const BATCH: usize = 4096;
/// How long a batch waits for more entries.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// Batches in flight at once: one appended while the next is verified.
const DEPTH: usize = 2;

/// A batch queued to the store's writer.
struct InFlight {
    peers: Vec<PeerId>,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    batch: Batch,
}

/// Rejections that mean "not yet": something it builds on is missing.
fn depends_on_missing(e: &IngestError) -> bool {
    e.code().is_missing_dependency()
}

/// Rejections that are nobody's fault: already here, a lost race, or a
/// failure inside this node.
fn harmless(e: &IngestError) -> bool {
    !e.code().blames_the_sender()
}

pub(crate) struct Ingester {
    pub(crate) pipeline: Pipeline,
    pub(crate) stats: Arc<Stats>,
    pub(crate) commands: mpsc::Sender<Command>,
    pending: VecDeque<Incoming>,
}

impl Ingester {
    pub(crate) fn new(
        pipeline: Pipeline,
        stats: Arc<Stats>,
        commands: mpsc::Sender<Command>,
    ) -> Self {
        Self {
            pipeline,
            stats,
            commands,
            pending: VecDeque::new(),
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Incoming>) {
        // Batches begun in the store and not finished yet: the next batch
        // is verified while the writer appends the previous one.
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        // Something was stored since held-back entries were last retried.
        let mut retry_due = false;
        loop {
            if retry_due && !self.pending.is_empty() {
                // Held-back entries may wait for what was just stored (a
                // schema, an earlier seq num): everything in flight ends,
                // then they are retried, before anything new is begun.
                while let Some(batch) = in_flight.pop_front() {
                    self.finish(batch).await;
                }
                retry_due = false;
                self.retry_pending().await;
            }
            let first = if in_flight.len() >= DEPTH {
                None
            } else if in_flight.is_empty() {
                match rx.recv().await {
                    Some(item) => Some(item),
                    None => break,
                }
            } else {
                match rx.try_recv() {
                    Ok(item) => Some(item),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            };
            let Some(first) = first else {
                // Full, or nothing new: finish the oldest batch.
                if let Some(batch) = in_flight.pop_front() {
                    retry_due |= self.finish(batch).await > 0;
                }
                continue;
            };
            // Linger a moment for more: one transaction (and fsync) per
            // few entries would cap a catch-up at the disk's commit rate.
            let deadline = tokio::time::Instant::now() + LINGER;
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(item)) => batch.push(item),
                        Ok(None) | Err(_) => break,
                    },
                }
            }
            if let Some(begun) = self.begin(batch).await {
                in_flight.push_back(begun);
            }
        }
        while let Some(batch) = in_flight.pop_front() {
            self.finish(batch).await;
        }
    }

    /// Retries held-back entries while that stores any.
    async fn retry_pending(&mut self) {
        loop {
            let items: Vec<Incoming> = self.pending.drain(..).collect();
            let mut progress = 0;
            for chunk in chunks(items, BATCH) {
                if let Some(begun) = self.begin(chunk).await {
                    progress += self.finish(begun).await;
                }
            }
            if progress == 0 || self.pending.is_empty() {
                return;
            }
        }
    }

    /// Checks a batch and queues it to the store's writer.
    async fn begin(&mut self, batch: Vec<Incoming>) -> Option<InFlight> {
        let mut peers = Vec::with_capacity(batch.len());
        let mut pairs = Vec::with_capacity(batch.len());
        for item in batch {
            peers.push(item.peer);
            pairs.push((item.entry, item.operation));
        }
        // The pipeline's policy refuses entries of schemas this node does
        // not accept (a fault of the peer, not held back).
        match self.pipeline.begin(&pairs).await {
            Ok(batch) => Some(InFlight {
                peers,
                pairs,
                batch,
            }),
            Err(e) => {
                tracing::error!(error = %e, "storing replicated entries failed");
                None
            }
        }
    }

    /// Waits for a begun batch and sorts its results; returns how many
    /// entries were stored.
    async fn finish(&mut self, batch: InFlight) -> usize {
        let InFlight {
            peers,
            pairs,
            batch,
        } = batch;
        // Schemas among the entries are usable once this returns.
        let results = match batch.finish().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "storing replicated entries failed");
                return 0;
            }
        };
        let mut stored = 0;
        for ((peer, (entry, operation)), result) in peers.into_iter().zip(pairs).zip(results) {
            match result {
                Ok(_) => {
                    stored += 1;
                    self.stats.entries_received.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if depends_on_missing(&e) => {
                    if self.pending.len() >= MAX_PENDING {
                        self.pending.pop_front();
                    }
                    self.pending.push_back(Incoming {
                        peer,
                        entry,
                        operation,
                    });
                }
                Err(e) if harmless(&e) => {}
                Err(e) => {
                    self.stats.entries_rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(peer = %peer, code = %e.code(), error = %e, "peer sent an invalid entry");
                    self.fault(peer, e.code().as_str()).await;
                }
            }
        }
        stored
    }

    async fn fault(&self, peer: PeerId, why: &'static str) {
        let _ = self.commands.send(Command::Fault(peer, why)).await;
    }
}

fn chunks(items: Vec<Incoming>, size: usize) -> Vec<Vec<Incoming>> {
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(size);
    for item in items {
        current.push(item);
        if current.len() == size {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
