//! The event store of hoffnung: entries, logs and operations in SQLite (the
//! default, embedded) or PostgreSQL, the ingest path every entry takes
//! (publish, replication, import) and `nextArgs`.
//!
//! All SQL of the node lives in this crate. Writes go through one writer
//! task per store that checks and appends whole batches in one transaction
//! (group commit): an accepted entry is durable when ingest returns, and
//! no two writes race for a log position.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod checkpoint;
mod code;
mod config;
mod connect;
mod durable;
mod error;
mod events;
mod export;
mod forks;
mod heights;
mod ingest;
mod integrity;
mod query;
mod space;
mod sql;
#[cfg(feature = "test-utils")]
pub mod test_utils;
mod views;
mod writer;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hoffnung_core::entry::Entry;
use hoffnung_core::{Hash, PlainOperation, Schema, SchemaId};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use code::ErrorCode;
pub use config::{ForkedAuthors, StoreConfig};
pub use error::{Cause, Failure, IngestError, NextArgsError, StoreError};
pub use export::{EntryFilter, StoredEntry};
pub use forks::{ForkRecord, ForkedDocument};
pub use heights::LogHeight;
pub use ingest::{BulkIngest, IngestCounts, Ingested, PublishTimings};
pub use integrity::sqlite_integrity;
pub use query::{
    CollectionQuery, CompiledQuery, Cursor, Filter, FilterOp, ListScope, Operand, Page, QueryError,
    Target,
};
pub use sql::Backend;
pub use views::{
    pinned_views, ChangedView, Deletion, DroppedSchema, StoredOperation, UnusedPieces, UnusedViews,
    ViewBatch, ViewCatalogue, ViewChanges, ViewKey, ViewRow, ViewTable, ViewWriter,
};
pub use writer::QueuedWrite;

use ingest::Job;
use sql::Statements;

/// What the store checks an entry against beyond the protocol: the schemas
/// operations must match, and the node's per-entry policy. The ingest
/// pipeline (schema registry crate) implements it; [`SystemSchemas`] knows
/// only the system schemas and admits everything.
pub trait SchemaSource: Send + Sync {
    fn schema(&self, id: &SchemaId) -> Option<Arc<Schema>>;

    /// The node's policy for one entry, asked once its operation decoded
    /// and before any other check, so that a refused entry is refused for
    /// what it is (not held back as missing its schema). `entry` is `None`
    /// when the entry itself does not decode (that error follows).
    fn admit(&self, operation: &PlainOperation, entry: Option<&Entry>) -> Result<(), IngestError> {
        let _ = (operation, entry);
        Ok(())
    }
}

/// The system schemas, always known.
#[derive(Debug, Clone, Default)]
pub struct SystemSchemas;

impl SchemaSource for SystemSchemas {
    fn schema(&self, id: &SchemaId) -> Option<Arc<Schema>> {
        Schema::system(id).map(Arc::new)
    }
}

/// A handle to the event store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    sql: Arc<Statements>,
    writer: mpsc::Sender<Job>,
    scripts: mpsc::Sender<writer::ScriptJob>,
    /// Tells the writer to finish and give its connection back.
    stop: CancellationToken,
    /// The writer and (SQLite) the checkpoint task.
    tasks: TaskTracker,
    /// Counts committed write batches: wakes the materializer.
    appended: watch::Receiver<u64>,
    /// Counts commits that recorded a fork: the materializer refreshes the
    /// forked documents.
    forked: watch::Receiver<u64>,
    /// Committed view changes (see `Store::view_changes`).
    view_changes: tokio::sync::broadcast::Sender<Arc<ViewChanges>>,
    /// See `Store::connect`: when statistics were last refreshed.
    analyzed: Arc<AtomicU64>,
    /// The layouts of the view tables, each schema's built once.
    views: views::ViewCatalogue,
    /// Statements run against the view tables (a metric; tests use it to
    /// see that loads are batched).
    view_reads: AtomicU64,
    /// Ingest outcomes and publish timings since start (metrics, load
    /// generator); shared with the writer.
    ingest_stats: Arc<ingest::IngestStats>,
    /// Flushes of the SQLite WAL made for answers (see `durable`).
    wal_flushes: Arc<AtomicU64>,
    config: StoreConfig,
}

pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Changes after every committed write of this store's writer.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.inner.appended.clone()
    }

    /// Changes whenever a fork was recorded.
    pub fn forks_changed(&self) -> watch::Receiver<u64> {
        self.inner.forked.clone()
    }

    /// The view tables of the schemas: where reads and queries of a
    /// schema's views get the handle of its tables.
    pub fn views(&self) -> &ViewCatalogue {
        &self.inner.views
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    pub(crate) fn sql(&self) -> &sql::Statements {
        &self.inner.sql
    }

    /// A statement made at run time as this store runs it: for its backend
    /// and its fork policy (see `forks::with_forks`).
    pub(crate) fn render(&self, sql: &str) -> String {
        sql::render(
            &forks::with_forks(sql, self.config().forked_authors),
            self.backend(),
        )
    }

    /// Rounds of making commits durable before their answers went out: a
    /// flush of the SQLite WAL each, shared by the commits made meanwhile
    /// (on PostgreSQL a no-op, its commits are durable when they return).
    pub fn wal_flushes(&self) -> u64 {
        self.inner.wal_flushes.load(Ordering::Relaxed)
    }

    /// Statements run against the view tables so far.
    pub fn view_reads(&self) -> u64 {
        self.inner.view_reads.load(Ordering::Relaxed)
    }

    /// Entries accepted and rejected (by error code) since the store opened.
    pub fn ingest_stats(&self) -> IngestCounts {
        self.inner.ingest_stats.snapshot()
    }

    /// Where the time of publishes went (see [`PublishTimings`]).
    pub fn publish_timings(&self) -> PublishTimings {
        self.inner.ingest_stats.timings()
    }

    pub(crate) fn stats(&self) -> &ingest::IngestStats {
        &self.inner.ingest_stats
    }

    pub(crate) fn count_read(&self) {
        self.inner.view_reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn mark_analyzed(&self) {
        self.inner.analyzed.store(now_millis(), Ordering::Relaxed);
    }

    /// Stops the writer (writes already taken finish, later ones fail with
    /// [`StoreError::Closed`]) and closes every connection.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.wait().await;
        self.inner.pool.close().await;
    }

    /// The store's tasks (empty once it is closed).
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    pub(crate) fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    pub(crate) fn writer(&self) -> &mpsc::Sender<Job> {
        &self.inner.writer
    }
}

pub(crate) fn hash_col(row: &AnyRow, idx: usize) -> Result<Hash, StoreError> {
    let bytes: Vec<u8> = row.try_get(idx)?;
    Hash::from_bytes(&bytes).map_err(|e| StoreError::Corrupt(Failure::caused_by("stored hash", e)))
}

/// Parses a stored schema id.
pub(crate) fn schema_col(row: &AnyRow, idx: usize) -> Result<SchemaId, StoreError> {
    // MariaDB types a schema id read through a subquery as bytes.
    let s = sql::text_at(row, idx)?.unwrap_or_default();
    SchemaId::from_str(&s)
        .map_err(|e| StoreError::Corrupt(Failure::caused_by("stored schema id", e)))
}
