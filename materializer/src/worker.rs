//! The worker: follows the event store from the cursor, reduces each
//! changed document and writes its views in one transaction with the
//! cursor.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use hoffnung_core::{DocumentId, DocumentView, OperationAction, Schema, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{SchemaSource, Store, StoredOperation, ViewBatch, ViewWriter};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

mod forks;
mod load;
mod pins;
mod purge;
use load::{decode, load, reduce_logged};
use purge::PURGE_RETRY;
mod refused;
#[cfg(test)]
mod tests;

use crate::cache::ViewCache;
use crate::{MaterializerConfig, MaterializerError};

pub(crate) struct Worker {
    store: Store,
    registry: Arc<SchemaRegistry>,
    writer: ViewWriter,
    cache: ViewCache,
    cursor: i64,
    config: MaterializerConfig,
    progress: watch::Sender<i64>,
    /// Bumped each time every active schema has its tables.
    tables: watch::Sender<u64>,
    /// Operations materialized by this worker, and at the last statistics
    /// refresh.
    done: u64,
    analyzed_at: u64,
    /// Schemas written since the last refresh.
    grown: std::collections::HashSet<SchemaId>,
    /// The batch whose write is queued and not yet committed.
    in_flight: Option<InFlight>,
    /// After the database refused a batch's data: up to this entry,
    /// operations are materialized one at a time, each write awaited, and
    /// the one it refuses is passed over (0: batches as usual).
    isolate_until: i64,
    /// The last entry of the last batch read.
    read_to: i64,
    refused: Arc<AtomicU64>,
    /// Schemas whose view tables the database refused to create.
    refused_tables: std::collections::HashSet<SchemaId>,
    /// Forks (author, log, seq num) whose documents were reduced again.
    refreshed: std::collections::HashSet<([u8; 32], u64, Option<u64>)>,
    /// When the next deleted document is due to be purged, if any is
    /// known (see `purge`).
    purge_at: Option<Instant>,
}

/// A batch queued to the writer, with what to tell once it commits.
struct InFlight {
    write: hoffnung_store::QueuedWrite,
    to: i64,
    count: usize,
}

/// Statistics are refreshed when the work done doubles from this on.
const ANALYZE_FIRST: u64 = 1_000;

/// One document's part of a batch.
struct DocumentWork {
    document_id: DocumentId,
    schema: Arc<Schema>,
    operations: Vec<StoredOperation>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        registry: Arc<SchemaRegistry>,
        writer: ViewWriter,
        config: MaterializerConfig,
        cursor: i64,
        progress: watch::Sender<i64>,
        tables: watch::Sender<u64>,
        refused: Arc<AtomicU64>,
    ) -> Self {
        Self {
            refused,
            refused_tables: Default::default(),
            refreshed: Default::default(),
            // Checked at start: deletions may have come due while stopped.
            purge_at: config.purge_after.map(|_| Instant::now()),
            isolate_until: 0,
            read_to: cursor,
            store,
            registry,
            writer,
            cache: ViewCache::new(config.cache_bytes),
            cursor,
            config,
            progress,
            done: 0,
            analyzed_at: 0,
            grown: Default::default(),
            in_flight: None,
            tables,
        }
    }

    pub(crate) async fn run(mut self, stop: CancellationToken) {
        let mut appended = self.store.appended();
        let mut schemas = self.registry.subscribe();
        // `start` made the tables of the schemas known then.
        schemas.borrow_and_update();
        let mut forks = self.store.forks_changed();
        // Forks recorded before this start may have no refreshed views yet.
        let mut forks_due = true;
        let mut new_schemas = false;
        let mut last_commit = Instant::now() - self.config.min_interval;
        loop {
            if stop.is_cancelled() {
                break;
            }
            if new_schemas || schemas.has_changed().unwrap_or(false) {
                schemas.borrow_and_update();
                new_schemas = false;
                if let Err(e) = self.settle().await {
                    tracing::error!(error = %e, "materializing failed");
                    self.recover().await;
                }
                if let Err(e) = self.ensure_tables().await {
                    tracing::error!(error = %e, "creating view tables failed");
                }
            }
            if forks_due || forks.has_changed().unwrap_or(false) {
                forks.borrow_and_update();
                forks_due = false;
                if let Err(e) = self.refresh_forked().await {
                    tracing::error!(error = %e, "reducing forked documents failed");
                    self.recover().await;
                    forks_due = true;
                }
            }
            if self.purge_at.is_some_and(|at| at <= Instant::now()) {
                self.purge_at = match self.purge_due().await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::error!(error = %e, "purging deleted documents failed");
                        self.recover().await;
                        Some(Instant::now() + PURGE_RETRY)
                    }
                };
            }
            match self.step().await {
                Ok(0) => {
                    // Idle: sleep until new entries, a new schema, the next
                    // purge or stop (no timer unless a deleted document
                    // waits for its purge: an idle node does not wake up).
                    let purge_at = self.purge_at;
                    tokio::select! {
                        _ = appended.changed() => {}
                        _ = forks.changed() => forks_due = true,
                        _ = schemas.changed() => new_schemas = true,
                        _ = sleep_until(purge_at), if purge_at.is_some() => {}
                        _ = stop.cancelled() => {}
                    }
                }
                Ok(n) => {
                    // The next batch takes what arrived meanwhile; under
                    // steady publishing, wait a share of `min_interval`
                    // that grows with this batch, so that the next
                    // transaction carries more of them.
                    if n < self.config.batch as usize {
                        let next = last_commit + pause(&self.config, n);
                        tokio::select! {
                            _ = tokio::time::sleep_until(next.into()) => {}
                            _ = stop.cancelled() => {}
                        }
                    }
                    last_commit = Instant::now();
                }
                Err(e) => {
                    tracing::error!(error = %e, cursor = self.cursor, "materializing failed, retrying");
                    if e.is_refused_data() {
                        // Retrying the batch fails again: find the operation.
                        self.isolate_until = self.read_to;
                    }
                    self.recover().await;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.cancelled() => {}
                    }
                }
            }
        }
        if let Err(e) = self.settle().await {
            tracing::error!(error = %e, "the last views did not commit");
        }
        tracing::debug!(cursor = self.cursor, "materializer stopped");
    }

    /// After a failure: lets a queued write end (telling its progress if
    /// it committed), then starts again from the database's cursor, since
    /// the cached views and `self.cursor` may be ahead of it.
    async fn recover(&mut self) {
        if let Err(e) = self.settle().await {
            tracing::debug!(error = %e, "the queued views did not commit either");
        }
        self.cache.clear();
        if let Ok(c) = self.store.materializer_cursor().await {
            self.cursor = c;
            // A write whose answer was lost may have committed.
            self.progress.send_if_modified(|p| {
                let ahead = c > *p;
                if ahead {
                    *p = c;
                }
                ahead
            });
        }
    }

    /// Creates the tables of every active schema (so that collections of
    /// a new schema exist before its first document). A schema whose tables
    /// are new while the cursor has passed documents of it (it was not
    /// allowed before) gets those documents materialized now. One schema
    /// failing holds up neither the others nor the news that theirs exist;
    /// the first failure is returned.
    pub(crate) async fn ensure_tables(&mut self) -> Result<(), MaterializerError> {
        let mut failed = None;
        for schema in self.registry.schemas() {
            let made = match self.ensure_table(&schema).await {
                Ok(made) => made,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            if made == Some(true) && self.cursor > 0 {
                if let Err(e) = self.backfill(schema).await {
                    failed.get_or_insert(e);
                }
            }
        }
        self.tables.send_modify(|n| *n += 1);
        failed.map_or(Ok(()), Err)
    }

    async fn backfill(&mut self, schema: Arc<Schema>) -> Result<(), MaterializerError> {
        let documents = self.store.documents_of_schema(schema.id()).await?;
        if documents.is_empty() {
            return Ok(());
        }
        let until = self.cursor;
        let mut views = Vec::new();
        for document_id in documents {
            let Some(ops) = load(&self.store, &document_id, &schema, until).await? else {
                continue; // purged
            };
            if ops.is_empty() {
                continue; // all of it comes after the cursor
            }
            if let Some(view) = reduce_logged(&document_id, &ops) {
                views.push(view);
            }
        }
        if views.is_empty() {
            return Ok(());
        }
        let batch = ViewBatch {
            current: views.iter().collect(),
            ..Default::default()
        };
        self.writer.write(&batch, until, until).await?;
        tracing::info!(schema = %schema.id(), documents = views.len(), "backfilled view tables");
        Ok(())
    }

    /// Materializes the next batch; the number of operations it held.
    async fn step(&mut self) -> Result<usize, MaterializerError> {
        let started = Instant::now();
        let isolating = self.cursor < self.isolate_until;
        let limit = if isolating { 1 } else { self.config.batch };
        let ops = self.store.operations_after(self.cursor, limit).await?;
        let Some(last) = ops.last() else {
            // Nothing new: the last write is the end of this run of work.
            self.settle().await?;
            return Ok(0);
        };
        let (from, to, count) = (self.cursor, last.entry_id, ops.len());
        self.read_to = to;
        let read = started.elapsed();

        // Group by document, keeping each document's ingest order.
        let mut work: Vec<DocumentWork> = Vec::new();
        let mut index: HashMap<DocumentId, usize> = HashMap::new();
        for op in ops {
            if let Some(&i) = index.get(&op.document_id) {
                work[i].operations.push(op);
                continue;
            }
            let Some(schema) = self.registry.schema(&op.schema_id) else {
                // Not (or no longer) allowed here: if it is allowed later,
                // its tables are backfilled then.
                tracing::debug!(schema = %op.schema_id, "skipping operation of an inactive schema");
                continue;
            };
            if self.ensure_table(&schema).await?.is_none() {
                continue;
            }
            index.insert(op.document_id, work.len());
            work.push(DocumentWork {
                document_id: op.document_id,
                schema,
                operations: vec![op],
            });
        }

        // The documents' views before this batch: taken out of the cache
        // (all at once: putting back the views advanced first could evict
        // ones still to come), or loaded concurrently.
        let mut states: HashMap<DocumentId, Option<DocumentView>> = work
            .iter()
            .filter_map(|w| Some((w.document_id, Some(self.cache.take(&w.document_id)?))))
            .collect();
        let missing: Vec<(DocumentId, Arc<Schema>)> = work
            .iter()
            // A document whose CREATE is in this batch has nothing before it.
            .filter(|w| !states.contains_key(&w.document_id) && w.operations[0].id != w.document_id)
            .map(|w| (w.document_id, w.schema.clone()))
            .collect();
        let misses = missing.len();
        let store = &self.store;
        let loaded: Vec<(DocumentId, Option<Option<DocumentView>>)> =
            futures::stream::iter(missing)
                .map(|(doc, schema)| async move {
                    let view = load(store, &doc, &schema, from).await?.map(|ops| {
                        if ops.is_empty() {
                            None
                        } else {
                            reduce_logged(&doc, &ops)
                        }
                    });
                    Ok::<_, MaterializerError>((doc, view))
                })
                .buffer_unordered(self.config.parallel_loads.max(1))
                .try_collect()
                .await?;
        // Documents purged before this batch: what arrives for them now
        // (operations concurrent to their DELETE) is purged too.
        let mut purged: std::collections::HashSet<DocumentId> = Default::default();
        for (doc, view) in loaded {
            match view {
                Some(view) => {
                    states.insert(doc, view);
                }
                None => {
                    purged.insert(doc);
                }
            }
        }

        // Apply, document by document.
        let mut current = Vec::with_capacity(work.len());
        let mut replaced = Vec::with_capacity(work.len());
        let mut history = Vec::new();
        let mut deleted = Vec::new();
        let mut purge = Vec::new();
        'documents: for w in &work {
            if purged.contains(&w.document_id) || w.operations.iter().any(|o| o.is_purged()) {
                purge.push((w.schema.id().clone(), w.document_id));
                continue;
            }
            let mut state = states.remove(&w.document_id).flatten();
            // What the document's row holds now: the view written last (the
            // cache's) or the one reduced as of the cursor.
            let before = state.as_ref().map(snapshot);
            let passed_from = history.len();
            for stored in &w.operations {
                let Some(op) = decode(stored, &w.schema) else {
                    continue;
                };
                let advanced = match (&mut state, op.operation.action) {
                    (Some(view), _) => view.advance(&op),
                    (None, OperationAction::Create) => {
                        state = reduce_logged(&w.document_id, std::slice::from_ref(&op));
                        state.is_some()
                    }
                    (None, _) => false,
                };
                if !advanced {
                    // A merge, a branch, or an operation concurrent to a
                    // delete: reduce the whole document as of this operation.
                    let Some(ops) =
                        load(&self.store, &w.document_id, &w.schema, stored.entry_id).await?
                    else {
                        history.truncate(passed_from);
                        purge.push((w.schema.id().clone(), w.document_id));
                        continue 'documents;
                    };
                    match reduce_logged(&w.document_id, &ops) {
                        Some(view) => state = Some(view),
                        // Keep the last good view; the next operation retries.
                        None => continue,
                    }
                }
                if let Some(view) = &state {
                    history.push(snapshot(view));
                }
            }
            if let Some(view) = state {
                // The final view is the current one, not history (the
                // current view it replaces moves there in the write).
                let mut passed = history.split_off(passed_from);
                passed.retain(|v| v.view_id != view.view_id);
                history.append(&mut passed);
                if view.is_deleted && !keeps_payloads(&view.schema_id) {
                    // Its grace period starts (a repeat keeps the first time).
                    deleted.push((view.schema_id.clone(), view.document_id));
                }
                current.push(snapshot(&view));
                replaced.push(before);
                self.cache.put(w.document_id, view);
            }
        }
        // A new piece, or a blob's new view, may leave pieces unused: they
        // are recorded with the batch (see the store's `views/pieces.rs`).
        let blobs = current.iter().any(|v| {
            v.schema_id == hoffnung_core::SchemaId::BLOB_PIECE_V1
                || v.schema_id == hoffnung_core::SchemaId::BLOB_V1
        });
        if !deleted.is_empty() || blobs {
            self.purge_soon();
        }
        let written: std::collections::HashSet<&hoffnung_core::DocumentViewId> =
            current.iter().chain(&history).map(|v| &v.view_id).collect();
        let pinned = self
            .unstored_pins(&current, &replaced, &written, to)
            .await?;
        history.extend(pinned);

        let batch = ViewBatch {
            current: current.iter().collect(),
            history: history.iter().collect(),
            replaced: replaced.iter().map(Option::as_ref).collect(),
            deleted,
            purged: purge,
            ..Default::default()
        };
        let reduced = started.elapsed();
        // Queue this batch's write, then wait for the previous one: the
        // writer commits one batch while this worker reads and reduces the
        // next. Writes run in queue order, and each moves the cursor from
        // where the one before left it, so a failure fails the later too.
        let queued = self.writer.begin_write(&batch, from, to).await;
        let settled = self.settle().await;
        let queued = queued?;
        settled?;
        self.cursor = to;
        self.grown
            .extend(current.iter().map(|v| v.schema_id.clone()));
        self.in_flight = Some(InFlight {
            write: queued,
            to,
            count,
        });
        tracing::debug!(
            operations = count,
            documents = current.len(),
            cursor = to,
            read_ms = read.as_millis() as u64,
            reduce_ms = (reduced - read).as_millis() as u64,
            // Documents whose view was not cached and was reduced from the
            // database; then what the cache holds.
            loaded = misses,
            cached = self.cache.len(),
            cache_bytes = self.cache.bytes(),
            "materialized, write queued"
        );
        if isolating {
            let document = current.first().map(|v| v.document_id);
            self.settle_isolated(from, to, document).await?;
        } else if count < self.config.batch as usize {
            // Caught up: nothing to overlap with, and readers wait for it.
            self.settle().await?;
        }
        Ok(count)
    }

    /// Waits for the write in flight, then tells its progress.
    async fn settle(&mut self) -> Result<(), MaterializerError> {
        let Some(done) = self.in_flight.take() else {
            return Ok(());
        };
        let started = Instant::now();
        done.write.finish().await?;
        self.done += done.count as u64;
        if self.done >= ANALYZE_FIRST.max(self.analyzed_at * 2) {
            // Tables grew: let the planner know (log only; queries still work).
            let tables: Vec<Arc<hoffnung_store::ViewTable>> = std::mem::take(&mut self.grown)
                .iter()
                .filter_map(|id| self.writer.table(id))
                .collect();
            let tables: Vec<&hoffnung_store::ViewTable> =
                tables.iter().map(|t| t.as_ref()).collect();
            match self.store.analyze(&tables).await {
                Ok(()) => tracing::debug!(operations = self.done, "planner statistics refreshed"),
                Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
            }
            self.analyzed_at = self.done;
        }
        let _ = self.progress.send(done.to);
        tracing::debug!(
            cursor = done.to,
            waited_ms = started.elapsed().as_millis() as u64,
            "views committed"
        );
        Ok(())
    }
}

/// Schema definitions are never purged: the registry builds schemas from
/// every view they had, and documents of a schema outlive its definition.
fn keeps_payloads(schema: &SchemaId) -> bool {
    *schema == SchemaId::SCHEMA_DEFINITION_V1 || *schema == SchemaId::SCHEMA_FIELD_DEFINITION_V1
}

/// Sleeps until `at`; forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The least time from the previous commit to the next one after a batch
/// of `n` operations: none after a lone operation, `(n - 1) / fill` of
/// `min_interval` up to `fill` operations, all of it beyond.
fn pause(config: &MaterializerConfig, n: usize) -> Duration {
    let fill = config.fill.max(1) as usize;
    let share = n.saturating_sub(1).min(fill) as u32;
    config.min_interval * share / fill as u32
}

/// A view without its operation order (which the tables do not keep):
/// cheap to copy however long the document is.
fn snapshot(view: &DocumentView) -> DocumentView {
    DocumentView {
        document_id: view.document_id,
        schema_id: view.schema_id.clone(),
        owner: view.owner,
        view_id: view.view_id.clone(),
        is_deleted: view.is_deleted,
        is_edited: view.is_edited,
        sorted_operation_ids: Vec::new(),
        fields: view.fields.clone(),
    }
}
