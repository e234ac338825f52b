//! Received entries into the store: one task, batches through the bulk
//! ingest path, entries whose dependencies are missing held back and
//! retried, faults reported against the peer that sent them.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use hoffnung_core::{Hash, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{IngestError, Store};
use libp2p::PeerId;
use tokio::sync::mpsc;

use crate::service::Command;
use crate::Stats;

/// Entries held back at most (the oldest go first beyond this).
const MAX_PENDING: usize = 200_000;
/// Entries per ingest transaction.
const BATCH: usize = 4096;
/// How long a batch waits for more entries.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// A received entry and where it came from.
pub(crate) struct Incoming {
    pub(crate) peer: PeerId,
    pub(crate) entry: Vec<u8>,
    pub(crate) operation: Vec<u8>,
}

/// Rejections that mean "not yet": something it builds on is missing.
fn depends_on_missing(e: &IngestError) -> bool {
    matches!(
        e.code(),
        "SEQ_NUM_GAP"
            | "SKIPLINK_ENTRY_MISSING"
            | "PREVIOUS_NOT_FOUND"
            | "LOG_NOT_FOUND"
            | "SCHEMA_NOT_FOUND"
    )
}

/// Rejections that are nobody's fault: already here, or a lost race.
fn harmless(e: &IngestError) -> bool {
    matches!(e.code(), "DUPLICATE_ENTRY" | "SEQ_NUM_TAKEN" | "INTERNAL")
}

pub(crate) struct Ingester {
    pub(crate) store: Store,
    pub(crate) registry: Arc<SchemaRegistry>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) commands: mpsc::Sender<Command>,
    /// Hashes of entries stored from peers (the gossip tail skips them).
    pub(crate) received: Arc<Mutex<HashSet<Hash>>>,
    pending: VecDeque<Incoming>,
}

impl Ingester {
    pub(crate) fn new(
        store: Store,
        registry: Arc<SchemaRegistry>,
        stats: Arc<Stats>,
        commands: mpsc::Sender<Command>,
        received: Arc<Mutex<HashSet<Hash>>>,
    ) -> Self {
        Self {
            store,
            registry,
            stats,
            commands,
            received,
            pending: VecDeque::new(),
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Incoming>) {
        while let Some(first) = rx.recv().await {
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
            let progress = self.ingest(batch).await;
            if progress > 0 && !self.pending.is_empty() {
                self.retry_pending().await;
            }
        }
    }

    /// Retries held-back entries while that stores any.
    async fn retry_pending(&mut self) {
        loop {
            let items: Vec<Incoming> = self.pending.drain(..).collect();
            let mut progress = 0;
            for chunk in chunks(items, BATCH) {
                progress += self.ingest(chunk).await;
            }
            if progress == 0 || self.pending.is_empty() {
                return;
            }
        }
    }

    /// Ingests a batch; returns how many entries were stored.
    async fn ingest(&mut self, batch: Vec<Incoming>) -> usize {
        // Entries of schemas this node does not accept are refused outright
        // (SCHEMA_NOT_FOUND would hold them back forever).
        let (batch, refused): (Vec<Incoming>, Vec<Incoming>) = batch.into_iter().partition(|i| {
            hoffnung_core::PlainOperation::decode(&i.operation)
                .map(|op| self.registry.allows(&op.schema_id))
                .unwrap_or(true)
        });
        for item in refused {
            self.fault(item.peer, "an entry of a schema this node does not accept")
                .await;
        }
        if batch.is_empty() {
            return 0;
        }
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = batch
            .iter()
            .map(|i| (i.entry.clone(), i.operation.clone()))
            .collect();
        let results = match self.store.ingest_bulk(&pairs, self.registry.as_ref()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "storing replicated entries failed");
                return 0;
            }
        };
        let mut stored = 0;
        let mut system = Vec::new();
        for (item, result) in batch.into_iter().zip(results) {
            match result {
                Ok(ingested) => {
                    stored += 1;
                    self.stats.entries_received.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut r) = self.received.lock() {
                        r.insert(ingested.operation_id);
                    }
                    if matches!(ingested.schema_id, SchemaId::System(..)) {
                        system.push(ingested);
                    }
                }
                Err(e) if depends_on_missing(&e) => {
                    if self.pending.len() >= MAX_PENDING {
                        self.pending.pop_front();
                    }
                    self.pending.push_back(item);
                }
                Err(e) if harmless(&e) => {}
                Err(e) => {
                    self.stats.entries_rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(peer = %item.peer, code = e.code(), error = %e, "peer sent an invalid entry");
                    self.fault(item.peer, e.code()).await;
                }
            }
        }
        if !system.is_empty() {
            if let Err(e) = self.registry.on_ingested_batch(&self.store, &system).await {
                tracing::error!(error = %e, "schema registry update failed");
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
