//! The ingest path: every entry (publish, replication, import) goes through
//! here. CPU work (decoding, signatures, schema validation) happens in the
//! caller's task; the checks against stored state and the append happen in
//! the writer, in one transaction per batch.

use hoffnung_core::entry::{EncodedEntry, EntryError, NextArgs};
use hoffnung_core::{
    verify_batch, DocumentId, OperationAction, OperationId, PlainOperation, SchemaId,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::{Failure, IngestError, StoreError};
use crate::ErrorCode;
use crate::{SchemaSource, Store};

/// What an accepted entry became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub operation_id: OperationId,
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    pub action: OperationAction,
    /// The arguments for the author's next entry in the same log.
    pub next_args: NextArgs,
}

/// Counts of ingest outcomes, for metrics.
#[derive(Debug, Default)]
pub(crate) struct IngestStats {
    accepted: AtomicU64,
    rejected: Mutex<BTreeMap<ErrorCode, u64>>,
    /// Where the time of single publishes went, in nanoseconds.
    publishes: AtomicU64,
    checks: AtomicU64,
    waiting: AtomicU64,
    appending: AtomicU64,
    answered: AtomicU64,
}

/// Where the time of the entries ingested one by one ([`Store::ingest`]:
/// publishes) went, summed over all of them since the store opened. What
/// `answered` holds beyond `waiting` and `appending` is the wait for the
/// flush of the commit and the hand-over of the answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishTimings {
    /// Entries ingested one by one that reached the writer (not those
    /// refused by their own checks).
    pub publishes: u64,
    /// Decoding, signature and schema checks, before the writer.
    pub checks: Duration,
    /// Queued until the writer took the entry's batch.
    pub waiting: Duration,
    /// The writer's checks against stored state and the append of the batch.
    pub appending: Duration,
    /// From handing the entry to the writer to its durable answer.
    pub answered: Duration,
}

impl PublishTimings {
    /// What accrued after `earlier`.
    pub fn since(&self, earlier: &PublishTimings) -> PublishTimings {
        PublishTimings {
            publishes: self.publishes.saturating_sub(earlier.publishes),
            checks: self.checks.saturating_sub(earlier.checks),
            waiting: self.waiting.saturating_sub(earlier.waiting),
            appending: self.appending.saturating_sub(earlier.appending),
            answered: self.answered.saturating_sub(earlier.answered),
        }
    }
}

fn add_nanos(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// A snapshot of [`IngestStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestCounts {
    pub accepted: u64,
    /// Rejections by [`IngestError::code`].
    pub rejected: BTreeMap<ErrorCode, u64>,
}

impl IngestStats {
    fn record<'a>(&self, results: impl IntoIterator<Item = &'a Result<Ingested, IngestError>>) {
        let mut accepted = 0;
        let mut rejected: Vec<ErrorCode> = Vec::new();
        for r in results {
            match r {
                Ok(_) => accepted += 1,
                Err(e) => rejected.push(e.code()),
            }
        }
        self.accepted.fetch_add(accepted, Ordering::Relaxed);
        if !rejected.is_empty() {
            if let Ok(mut map) = self.rejected.lock() {
                for code in rejected {
                    *map.entry(code).or_default() += 1;
                }
            }
        }
    }

    /// A publish job's time in the writer: queued, then appending.
    pub(crate) fn record_append(&self, waiting: Duration, appending: Duration) {
        add_nanos(&self.waiting, waiting);
        add_nanos(&self.appending, appending);
    }

    fn record_publish(&self, checks: Duration, answered: Duration) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        add_nanos(&self.checks, checks);
        add_nanos(&self.answered, answered);
    }

    pub(crate) fn timings(&self) -> PublishTimings {
        let d = |c: &AtomicU64| Duration::from_nanos(c.load(Ordering::Relaxed));
        PublishTimings {
            publishes: self.publishes.load(Ordering::Relaxed),
            checks: d(&self.checks),
            waiting: d(&self.waiting),
            appending: d(&self.appending),
            answered: d(&self.answered),
        }
    }

    pub(crate) fn snapshot(&self) -> IngestCounts {
        IngestCounts {
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.lock().map(|m| m.clone()).unwrap_or_default(),
        }
    }
}

/// An entry whose own checks passed; what remains needs stored state.
pub(crate) struct Checked {
    pub(crate) entry: EncodedEntry,
    pub(crate) operation: PlainOperation,
    pub(crate) payload: Vec<u8>,
}

pub(crate) type JobResult = Result<Vec<Result<Ingested, IngestError>>, StoreError>;

/// A bulk ingest queued to the writer (see [`Store::begin_bulk`]).
#[must_use = "the entries' results arrive through `finish`"]
pub struct BulkIngest {
    store: Store,
    replies: Vec<oneshot::Receiver<JobResult>>,
    len: usize,
}

impl BulkIngest {
    /// Waits until the writer has appended (or rejected) every entry; one
    /// result per entry, in the given order.
    pub async fn finish(self) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        let mut out = Vec::with_capacity(self.len);
        for reply in self.replies {
            out.extend(reply.await.map_err(|_| StoreError::Closed)??);
        }
        self.store.stats().record(&out);
        Ok(out)
    }
}

pub(crate) struct Job {
    pub(crate) items: Vec<Result<Checked, IngestError>>,
    pub(crate) reply: oneshot::Sender<JobResult>,
    /// When a publish (not a bulk chunk) was queued: its time in the writer
    /// is recorded in [`PublishTimings`].
    pub(crate) publish_queued: Option<Instant>,
    /// Proofs of forks to record (from peers, imports), before the items.
    pub(crate) forks: Vec<hoffnung_core::ForkProof>,
}

impl Store {
    /// Ingests one entry and its operation: decodes and verifies both, checks
    /// them against the schema and the stored logs and documents, and
    /// appends them durably. A rejected input stores nothing.
    pub async fn ingest(
        &self,
        entry: &[u8],
        operation: &[u8],
        schemas: &dyn SchemaSource,
    ) -> Result<Ingested, IngestError> {
        let started = Instant::now();
        let entry = EncodedEntry::decode(entry);
        let result =
            match precheck(
                entry,
                operation,
                schemas,
                self.config().max_payload_size,
                true,
            ) {
                Ok(checked) => {
                    let checks = started.elapsed();
                    let queued = Instant::now();
                    let answer = self.submit(vec![Ok(checked)], Some(queued)).await;
                    self.stats().record_publish(checks, queued.elapsed());
                    match answer {
                        Ok(mut results) => results.pop().unwrap_or(Err(IngestError::Store(
                            StoreError::WriteFailed(Failure::new("no result")),
                        ))),
                        Err(e) => Err(e.into()),
                    }
                }
                Err(e) => Err(e),
            };
        self.stats().record([&result]);
        result
    }

    /// Ingests many entries at once (replication, import): signatures are
    /// verified in batches on all cores, and entries are appended in the
    /// given order (entries of a log must come in seq order) in transactions
    /// of up to `bulk_batch` entries. Each entry gets its own result; a
    /// rejected one stores nothing and does not stop the others.
    pub async fn ingest_bulk(
        &self,
        items: &[(Vec<u8>, Vec<u8>)],
        schemas: &dyn SchemaSource,
    ) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        self.begin_bulk(items, schemas).await?.finish().await
    }

    /// The first half of [`Store::ingest_bulk`]: checks the entries and
    /// queues them to the writer, without waiting for the append. A caller
    /// streaming entries (replication) checks the next batch while the
    /// writer appends this one; batches are appended in the order they
    /// were begun, so later ones see earlier ones.
    pub async fn begin_bulk(
        &self,
        items: &[(Vec<u8>, Vec<u8>)],
        schemas: &dyn SchemaSource,
    ) -> Result<BulkIngest, StoreError> {
        // Chunk by chunk: while the writer appends one chunk, the next is
        // verified.
        let mut replies = Vec::new();
        for chunk in items.chunks(self.config().bulk_batch.max(1)) {
            let checked = self.precheck_bulk(chunk, schemas);
            replies.push(self.enqueue(checked, None).await?);
        }
        Ok(BulkIngest {
            store: self.clone(),
            replies,
            len: items.len(),
        })
    }

    /// Decodes, batch-verifies and schema-checks a chunk of a bulk ingest.
    fn precheck_bulk(
        &self,
        items: &[(Vec<u8>, Vec<u8>)],
        schemas: &dyn SchemaSource,
    ) -> Vec<Result<Checked, IngestError>> {
        let max = self.config().max_payload_size;
        let decoded: Vec<Result<EncodedEntry, EntryError>> =
            items.iter().map(|(e, _)| EncodedEntry::decode(e)).collect();
        let ok: Vec<&EncodedEntry> = decoded.iter().filter_map(|d| d.as_ref().ok()).collect();
        let bad_signatures = verify_parallel(&ok);
        let mut ok_index = 0;
        items
            .iter()
            .zip(decoded)
            .map(|((_, operation), decoded)| {
                let decoded = decoded.and_then(|d| {
                    let i = ok_index;
                    ok_index += 1;
                    if bad_signatures.contains(&i) {
                        Err(EntryError::InvalidSignature)
                    } else {
                        Ok(d)
                    }
                });
                precheck(decoded, operation, schemas, max, false)
            })
            .collect()
    }

    async fn enqueue(
        &self,
        items: Vec<Result<Checked, IngestError>>,
        publish_queued: Option<Instant>,
    ) -> Result<oneshot::Receiver<JobResult>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer()
            .send(Job {
                items,
                reply,
                publish_queued,
                forks: Vec::new(),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    async fn submit(
        &self,
        items: Vec<Result<Checked, IngestError>>,
        publish_queued: Option<Instant>,
    ) -> JobResult {
        self.enqueue(items, publish_queued)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }
}

/// Batch-verifies signatures on all cores; returns the indices that failed.
fn verify_parallel(entries: &[&EncodedEntry]) -> Vec<usize> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Below a few dozen signatures a thread costs more than it saves.
    let per = entries.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(per)
            .enumerate()
            .map(|(i, chunk)| {
                scope.spawn(move || match verify_batch(chunk) {
                    Ok(()) => Vec::new(),
                    Err(e) => e.failed.into_iter().map(|f| f + i * per).collect(),
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// The checks that need no stored state, in upstream's order: operation,
/// schema, entry (and signature unless verified in a batch), sizes, fields.
fn precheck(
    entry: Result<EncodedEntry, EntryError>,
    payload: &[u8],
    schemas: &dyn SchemaSource,
    max_payload_size: u64,
    verify: bool,
) -> Result<Checked, IngestError> {
    let operation = PlainOperation::decode(payload)?;
    schemas.admit(&operation, entry.as_ref().ok().map(EncodedEntry::entry))?;
    let schema = schemas
        .schema(&operation.schema_id)
        .ok_or_else(|| IngestError::SchemaNotFound(operation.schema_id.clone()))?;
    let entry = entry?;
    if verify {
        entry.verify_signature()?;
    }
    let e = entry.entry();
    e.check_payload_limit(max_payload_size)?;
    for (what, value) in [("log id", e.log_id), ("seq num", e.seq_num)] {
        if value > i64::MAX as u64 {
            return Err(IngestError::NumberTooLarge { what, value });
        }
    }
    operation.validate(&schema)?;
    Ok(Checked {
        entry,
        operation,
        payload: payload.to_vec(),
    })
}
