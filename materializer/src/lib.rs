//! The materializer: a worker that follows the event store in ingest order
//! and reduces each document's operations into its schema's view tables.
//!
//! The record of work is the cursor in the database (the id of the last
//! entry reflected in the views), moved in the same transaction as the
//! view rows: the worker resumes from it after a restart or a crash. It is
//! woken by the store's append signal (no timer runs while there is
//! nothing to do): the store's single writer makes every append of this
//! node. Entries another process appends (`hoffnung import` into the
//! database of a running node) are materialized once the node restarts,
//! as the README asks. An operation that builds on
//! the document's current view is applied to it (O(its fields)); anything
//! else (merges, concurrent branches, a cold cache) re-reduces the
//! document from the event store.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cache;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hoffnung_core::DocumentId;
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{Store, StoreError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use worker::Worker;

const MIB: u64 = 1024 * 1024;

/// The default size of the view cache, in MiB.
pub const DEFAULT_CACHE_MIB: u64 = 128;

/// Tunables of the worker.
#[derive(Debug, Clone)]
pub struct MaterializerConfig {
    /// Most operations read and written per transaction.
    pub batch: u32,
    /// Bytes of current views kept in memory, by an estimate of the heap
    /// bytes each holds (field values, ids, fixed overhead); 0 keeps none.
    pub cache_bytes: u64,
    /// Least time between two commits under steady publishing: lets
    /// writes of many publishes share one transaction.
    pub min_interval: Duration,
    /// Operations in a batch beyond which the whole `min_interval` applies;
    /// a smaller batch waits its share of it (a lone publish: none), so that
    /// the wait grows with the load and a person who saves and reloads
    /// does not wait for it.
    pub fill: u32,
    /// Documents loaded from the database at once.
    pub parallel_loads: usize,
    /// How long after a document is seen deleted its payloads and rows are
    /// purged (`worker/purge.rs`); `None`: never.
    pub purge_after: Option<Duration>,
    /// How long a blob piece no blob uses is kept before it is purged the
    /// same way; `None`: never. Pieces are published before their blob, so
    /// this must outlast the longest upload.
    pub unused_pieces_after: Option<Duration>,
}

/// The default grace period of deleted documents: a week.
pub const DEFAULT_PURGE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for MaterializerConfig {
    fn default() -> Self {
        Self {
            batch: 4096,
            // Views of this weight are updated without reading their
            // operations back (a miss costs an update about a fifth of its
            // throughput): ~70,000 small views (~1.9 KB each), so that the
            // 50,000 used last are still there, as when the cache counted
            // 50,000 documents (docs/benchmarks.md), `materializer_cache`.
            cache_bytes: DEFAULT_CACHE_MIB * MIB,
            // Under steady publishing: fewer, larger view transactions
            // (each holds the store's writer; 15 ms against 4 ms: +8 %
            // publishes/s at 100,000 documents, docs/benchmarks.md).
            min_interval: Duration::from_millis(15),
            fill: 64,
            parallel_loads: 8,
            purge_after: Some(DEFAULT_PURGE_AFTER),
            unused_pieces_after: Some(DEFAULT_PURGE_AFTER),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MaterializerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the materializer stopped")]
    Stopped,
    /// The database refuses to store this operation's view (see
    /// [`StoreError::is_refused_data`]): the document keeps the view it
    /// had, and the materializer goes on past the operation.
    #[error("the view of document {document} after operation {operation} is refused: {source}")]
    ViewRefused {
        document: DocumentId,
        operation: hoffnung_core::Hash,
        #[source]
        source: StoreError,
    },
}

/// The running worker.
pub struct Materializer {
    store: Store,
    /// Cancelled at shutdown; the worker stops after the batch in hand.
    stop: CancellationToken,
    tasks: TaskTracker,
    progress: watch::Receiver<i64>,
    tables: watch::Receiver<u64>,
    refused: Arc<AtomicU64>,
}

impl Materializer {
    /// Starts the worker from the cursor stored in the database.
    pub async fn start(
        store: Store,
        registry: Arc<SchemaRegistry>,
        config: MaterializerConfig,
    ) -> Result<Self, MaterializerError> {
        let writer = store.view_writer();
        let cursor = store.materializer_cursor().await?;
        let (progress_tx, progress) = watch::channel(cursor);
        let (tables_tx, tables) = watch::channel(0);
        let refused = Arc::new(AtomicU64::new(0));
        let mut worker = Worker::new(
            store.clone(),
            registry,
            writer,
            config,
            cursor,
            progress_tx,
            tables_tx,
            refused.clone(),
        );
        // Tables of every active schema exist before `start` returns, so a
        // schema served right away can be queried.
        worker.ensure_tables().await?;
        tracing::info!(cursor, "materializer starting");
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(worker.run(stop.clone()));
        tasks.close();
        Ok(Self {
            store,
            stop,
            tasks,
            progress,
            tables,
            refused,
        })
    }

    /// Operations whose view the database refused since start (see
    /// [`MaterializerError::ViewRefused`]).
    pub fn refused_views(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Changes each time every schema the registry knows has its view
    /// tables: the moment a new schema can be served.
    pub fn tables_ready(&self) -> watch::Receiver<u64> {
        self.tables.clone()
    }

    /// The cursor: entries up to it are reflected in the views.
    pub fn progress(&self) -> watch::Receiver<i64> {
        self.progress.clone()
    }

    /// Waits until every entry stored now is reflected in the views.
    pub async fn caught_up(&self) -> Result<(), MaterializerError> {
        let target = self.store.last_entry_id().await?;
        let mut progress = self.progress.clone();
        progress
            .wait_for(|c| *c >= target)
            .await
            .map_err(|_| MaterializerError::Stopped)?;
        Ok(())
    }

    /// Stops after the batch in hand (its transaction commits or not at
    /// all) and returns once the worker has ended.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }

    /// The worker's tasks (empty once it has stopped).
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
}
