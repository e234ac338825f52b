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
mod durable;
mod error;
mod export;
mod ingest;
mod query;
mod sql;
#[cfg(feature = "test-utils")]
pub mod test_utils;
mod views;
mod writer;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hoffnung_core::entry::{Entry, NextArgs};
use hoffnung_core::publish::{next_args_after, next_args_new_log, next_skiplink_seq_num};
use hoffnung_core::{
    DocumentId, DocumentOperation, DocumentViewId, Hash, LogPosition, PlainOperation, PublicKey,
    Schema, SchemaId,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use code::ErrorCode;
pub use error::{IngestError, NextArgsError, StoreError};
pub use export::{EntryFilter, StoredEntry};
pub use ingest::{BulkIngest, IngestCounts, Ingested, PublishTimings};
pub use query::{
    CollectionQuery, Cursor, Filter, FilterOp, ListItems, ListScope, Operand, Page, QueryError,
    Target,
};
pub use sql::Backend;
pub use views::{quote, StoredOperation, ViewBatch, ViewColumn, ViewRow, ViewTable, ViewWriter};

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

/// Tunables of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Connections of the read pool (the writer holds one more).
    pub max_connections: u32,
    /// Largest operation accepted, in bytes.
    pub max_payload_size: u64,
    /// Most entries the writer gathers from concurrent publishes into one
    /// transaction.
    pub max_batch: usize,
    /// Entries per transaction of a bulk ingest (replication, import):
    /// larger, since one caller has them all at hand and each commit costs
    /// an fsync.
    pub bulk_batch: usize,
    /// SQLite: documents a filtered collection query looks at in order
    /// before it leaves the page to the planner (`Store::query_collection`;
    /// at least four pages). Small: the window is materialized each time.
    pub query_window: u32,
    /// SQLite: WAL frames (pages) beyond which the writer completes a
    /// checkpoint between two transactions, so that the WAL starts over
    /// (background checkpoints alone cannot while commits keep coming).
    /// Each such checkpoint holds up the writer (~8 ms since the checkpoint
    /// task syncs the database file first; 20-30 ms before), but a WAL that
    /// overwrites its own file is cheaper to flush than one
    /// that grows: `fdatasync` of appended blocks also commits the file
    /// system's journal (twice the time here). 32,000 (128 MiB of WAL)
    /// against 64,000: +10-15 % publishes/s on a young database, the same
    /// at 100,000 documents; 16,000 then held the writer up 3x as long for
    /// no more (docs/benchmarks.md).
    pub wal_restart_frames: i64,
    /// SQLite: how long commits gather before a background checkpoint
    /// copies them (see `checkpoint`); 20 ms once the WAL is past half of
    /// `wal_restart_frames`.
    pub checkpoint_pause: std::time::Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_connections: 8,
            max_payload_size: hoffnung_core::entry::DEFAULT_MAX_PAYLOAD_SIZE,
            max_batch: 512,
            bulk_batch: 4096,
            query_window: 128,
            wal_restart_frames: 32_000,
            checkpoint_pause: std::time::Duration::from_millis(200),
        }
    }
}

/// SQLite: the main database's file ("" in memory).
async fn database_file(conn: &mut sqlx::AnyConnection) -> Result<String, StoreError> {
    let (_, _, file): (i64, String, String) = sqlx::query_as("PRAGMA database_list")
        .fetch_one(&mut *conn)
        .await?;
    Ok(file)
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
    closing: watch::Sender<bool>,
    writer_task: Mutex<Option<JoinHandle<()>>>,
    /// Counts committed write batches: wakes the materializer.
    appended: watch::Receiver<u64>,
    /// See `Store::connect`: when statistics were last refreshed.
    analyzed: Arc<AtomicU64>,
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

/// The SQLite writer connection's page cache, and commits without a flush
/// of their own (see `Store::open` and `durable`).
const WRITER_PRAGMAS: &str =
    "PRAGMA cache_size = 500; PRAGMA cache_spill = OFF; PRAGMA synchronous = NORMAL";

pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// Turns `sqlite:<path>` into a URL that creates the file if needed.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

impl Store {
    /// Connects, runs the migrations and starts the writer.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url),
            Backend::Postgres => url.to_string(),
        };
        // When the planner statistics were last refreshed (ms since the
        // Unix epoch, 0: never). SQLite connections load statistics when
        // they open, so older ones are retired at their next use.
        if backend == Backend::Postgres {
            // One plain connection first: an unreachable server or a bad
            // login fails at once instead of after the pool's retries.
            use sqlx::Connection;
            sqlx::AnyConnection::connect(&url).await?.close().await?;
        }
        let analyzed = Arc::new(AtomicU64::new(0));
        let analyzed_check = analyzed.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1) + 1)
            .before_acquire(move |_conn, meta| {
                let at = analyzed_check.load(Ordering::Relaxed);
                let fresh = backend != Backend::Sqlite
                    || at == 0
                    || (meta.age.as_millis() as u64) < now_millis().saturating_sub(at);
                Box::pin(async move { Ok(fresh) })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer. FULL: a commit is
                        // on disk when it returns (the writer's own connection
                        // commits with NORMAL instead, see `durable`).
                        // mmap and a larger page cache spare read syscalls; fewer,
                        // larger checkpoints spare fsyncs on the hot path.
                        // temp_store MEMORY: a multi-row statement inside a
                        // transaction keeps a statement journal (a copy of
                        // every page it changes, to undo just that statement);
                        // by default it spills to a temporary file beyond
                        // 64 KiB, which made a 100k-entry catch-up write
                        // 2.7 GB and 1.3M syscalls more than the WAL itself.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA mmap_size = 268435456; PRAGMA cache_size = -32768; \
                             PRAGMA wal_autocheckpoint = 4000; PRAGMA temp_store = MEMORY;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
        }
        let sql = Arc::new(Statements::new(backend));
        let mut conn = pool.acquire().await?;
        let (tx, rx) = mpsc::channel(1024);
        let (scripts, scripts_rx) = mpsc::channel(16);
        let (closing, closed) = watch::channel(false);
        let (appended_tx, appended) = watch::channel(0);
        let database = match backend {
            Backend::Sqlite => database_file(&mut conn).await?,
            Backend::Postgres => String::new(),
        };
        let checkpoints = if backend == Backend::Sqlite {
            // The writer's commits never checkpoint; a task beside it does.
            conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
            // A small page cache for the writer: every commit after a b-tree
            // rebalance scans the whole cache (SQLite's balance step parks a
            // page at the number past 1 GiB, and the commit then drops pages
            // beyond the file's end by a full scan): a quarter of the writer's
            // time with 32 MB. Pages the writer reads come through mmap; no
            // spilling keeps a large batch's pages in memory until it commits.
            // Its commits are flushed by the `durable` thread, not by itself.
            conn.execute(WRITER_PRAGMAS).await?;
            let shared = Arc::new(checkpoint::Checkpoints::default());
            let own = pool.acquire().await?;
            tokio::spawn(checkpoint::run(
                own,
                shared.clone(),
                closed.clone(),
                config.wal_restart_frames,
                config.checkpoint_pause,
                database.clone(),
            ));
            Some(shared)
        } else {
            None
        };
        let flush = match backend {
            Backend::Sqlite => durable::Durability::wal_flush(&database),
            // PostgreSQL's commit is durable when it returns.
            Backend::Postgres => Box::new(|| Ok(())) as durable::Flush,
        };
        let durability = durable::Durability::start(flush).map_err(StoreError::FlushThread)?;
        let wal_flushes = durability.flushes();
        let ingest_stats = Arc::new(ingest::IngestStats::default());
        let writer = writer::Writer::new(
            conn,
            sql.clone(),
            backend,
            checkpoints,
            durability,
            ingest_stats.clone(),
        );
        let writer_task =
            tokio::spawn(writer.run(rx, scripts_rx, closed, appended_tx, config.max_batch));
        tracing::info!(?backend, "event store ready");
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                backend,
                sql,
                writer: tx,
                scripts,
                closing,
                writer_task: Mutex::new(Some(writer_task)),
                appended,
                analyzed,
                view_reads: AtomicU64::new(0),
                ingest_stats,
                wal_flushes,
                config,
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Changes after every committed write of this store's writer.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.inner.appended.clone()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
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
        let _ = self.inner.closing.send(true);
        let task = self
            .inner
            .writer_task
            .lock()
            .ok()
            .and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        self.inner.pool.close().await;
    }

    /// The number of stored entries.
    pub async fn entry_count(&self) -> Result<u64, StoreError> {
        self.count(&self.inner.sql.count_entries).await
    }

    /// The number of stored operations.
    pub async fn operation_count(&self) -> Result<u64, StoreError> {
        self.count(&self.inner.sql.count_operations).await
    }

    /// The number of logs.
    pub async fn log_count(&self) -> Result<u64, StoreError> {
        self.count(&self.inner.sql.count_logs).await
    }

    /// The number of documents: one create each, the first entry of its
    /// author's log. A log that another author's update or delete opened
    /// is not a document.
    pub async fn document_count(&self) -> Result<u64, StoreError> {
        self.count(&sql::count_documents(self.backend())).await
    }

    /// Entries after `cursor` (the materializer's backlog).
    pub async fn entries_after_count(&self, cursor: i64) -> Result<u64, StoreError> {
        let sql = sql::render("SELECT COUNT(*) FROM entries WHERE id > ?", self.backend());
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(cursor)
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.inner.pool).await?;
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.inner.pool).await?;
        Ok(n.max(0) as u64)
    }

    /// The arguments for the next entry of `public_key`: a new log, or the
    /// next position in its log of the document that `view_id` belongs to.
    pub async fn next_args(
        &self,
        public_key: &PublicKey,
        view_id: Option<&DocumentViewId>,
    ) -> Result<NextArgs, NextArgsError> {
        let sql = &self.inner.sql;
        let pool = &self.inner.pool;
        let pk = public_key.as_bytes().as_slice();
        let new_log = || async {
            let max: Option<i64> = sqlx::query_scalar(&sql.max_log_id)
                .bind(pk)
                .fetch_one(pool)
                .await
                .map_err(StoreError::from)?;
            Ok::<_, NextArgsError>(next_args_new_log(max.map(|m| m as u64)))
        };
        let Some(view_id) = view_id else {
            return new_log().await;
        };
        let mut document: Option<(Vec<u8>, String)> = None;
        for id in view_id.ids() {
            let row = sqlx::query(&sql.operation_meta)
                .bind(id.as_bytes().as_slice())
                .fetch_optional(pool)
                .await
                .map_err(StoreError::from)?
                .ok_or(NextArgsError::PreviousNotFound(*id))?;
            let doc: Vec<u8> = row.try_get(0).map_err(StoreError::from)?;
            match &document {
                Some((d, _)) if *d != doc => return Err(NextArgsError::DifferentDocuments),
                Some(_) => {}
                None => {
                    let schema: String = row.try_get(1).map_err(StoreError::from)?;
                    document = Some((doc, schema));
                }
            }
        }
        let (document, schema) = document.ok_or(NextArgsError::DifferentDocuments)?;
        let deleted = sql::bind_document_logs(
            sqlx::query(&sql.document_deleted),
            schema,
            document.as_slice(),
        )
        .fetch_optional(pool)
        .await
        .map_err(StoreError::from)?;
        if deleted.is_some() {
            return Err(NextArgsError::DocumentDeleted);
        }
        let log =
            sql::bind_author_document_log(sqlx::query(&sql.document_log), pk, document.as_slice())
                .fetch_optional(pool)
                .await
                .map_err(StoreError::from)?;
        let Some(log) = log else {
            return new_log().await;
        };
        let log_id: i64 = log.try_get(0).map_err(StoreError::from)?;
        let seq: i64 = log.try_get(1).map_err(StoreError::from)?;
        let latest = LogPosition {
            public_key: *public_key,
            log_id: log_id as u64,
            seq_num: seq as u64,
            hash: hash_col(&log, 2)?,
        };
        let skiplink = match next_skiplink_seq_num(latest.seq_num) {
            Some(target) => Some(
                self.entry_hash_at(public_key, latest.log_id, target)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("log {log_id} misses seq {target}"))
                    })?,
            ),
            None => None,
        };
        Ok(next_args_after(&latest, skiplink))
    }

    async fn entry_hash_at(
        &self,
        public_key: &PublicKey,
        log_id: u64,
        seq_num: u64,
    ) -> Result<Option<Hash>, StoreError> {
        let row = sqlx::query(&self.inner.sql.entry_hash_at)
            .bind(public_key.as_bytes().as_slice())
            .bind(log_id as i64)
            .bind(seq_num as i64)
            .fetch_optional(&self.inner.pool)
            .await?;
        row.map(|r| hash_col(&r, 0)).transpose()
    }

    /// Whether an entry with this hash is stored.
    pub async fn has_entry(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(sqlx::query(&self.inner.sql.entry_exists)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool)
            .await?
            .is_some())
    }

    /// The bytes of a stored entry (replication and tests send them on).
    pub async fn entry_bytes(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = sql::render(
            "SELECT entry FROM entries WHERE entry_hash = ?",
            self.backend(),
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool)
            .await?)
    }

    /// The operations of a document, in ingest order, typed by `schema`.
    pub async fn document_operations(
        &self,
        document_id: &DocumentId,
        schema: &Schema,
    ) -> Result<Vec<DocumentOperation>, StoreError> {
        let rows = sql::bind_document_logs(
            sqlx::query(&self.inner.sql.document_operations),
            schema.id().to_string(),
            document_id.as_bytes().as_slice(),
        )
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id = hash_col(r, 0)?;
                let pk: Vec<u8> = r.try_get(1)?;
                let pk: [u8; 32] = pk
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("public key length".into()))?;
                let public_key =
                    PublicKey::from_bytes(&pk).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let payload: Vec<u8> = r.try_get(2)?;
                let operation = PlainOperation::decode(&payload)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?
                    .validate(schema)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(DocumentOperation {
                    id,
                    public_key,
                    operation,
                })
            })
            .collect()
    }

    /// The document an operation belongs to, if the operation is stored.
    pub async fn operation_document(&self, id: &Hash) -> Result<Option<DocumentId>, StoreError> {
        Ok(self.operation_origin(id).await?.map(|(doc, _)| doc))
    }

    /// The document and schema of a stored operation.
    pub async fn operation_origin(
        &self,
        id: &Hash,
    ) -> Result<Option<(DocumentId, SchemaId)>, StoreError> {
        let row = sqlx::query(&self.inner.sql.operation_meta)
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool)
            .await?;
        row.map(|r| Ok((hash_col(&r, 0)?, schema_col(&r, 1)?)))
            .transpose()
    }

    /// The ids of every document of a schema.
    pub async fn documents_of_schema(
        &self,
        schema_id: &SchemaId,
    ) -> Result<Vec<DocumentId>, StoreError> {
        let rows = sqlx::query(&self.inner.sql.documents_of_schema)
            .bind(schema_id.to_string())
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(|r| hash_col(r, 0)).collect()
    }

    pub(crate) fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    pub(crate) fn writer(&self) -> &mpsc::Sender<Job> {
        &self.inner.writer
    }

    /// Runs statements in one transaction on the writer's connection (see
    /// [`writer::ScriptJob`]).
    pub(crate) async fn run_script(
        &self,
        statements: Vec<(String, Vec<sql::Param>)>,
        cursor: Option<(i64, i64)>,
    ) -> Result<(), StoreError> {
        self.queue_script(statements, cursor).await?.finish().await
    }

    /// Queues statements for the writer's connection; they run after
    /// everything queued before them.
    pub(crate) async fn queue_script(
        &self,
        statements: Vec<(String, Vec<sql::Param>)>,
        cursor: Option<(i64, i64)>,
    ) -> Result<QueuedWrite, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inner
            .scripts
            .send(writer::ScriptJob {
                statements,
                cursor,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(QueuedWrite { answer })
    }
}

/// A write queued to the store's writer; `finish` waits for its commit.
#[must_use = "a queued write may fail; `finish` tells"]
pub struct QueuedWrite {
    answer: tokio::sync::oneshot::Receiver<Result<(), StoreError>>,
}

impl QueuedWrite {
    pub async fn finish(self) -> Result<(), StoreError> {
        self.answer.await.map_err(|_| StoreError::Closed)?
    }
}

pub(crate) fn hash_col(row: &AnyRow, idx: usize) -> Result<Hash, StoreError> {
    let bytes: Vec<u8> = row.try_get(idx)?;
    Hash::from_bytes(&bytes).map_err(|e| StoreError::Corrupt(format!("stored hash: {e}")))
}

/// Parses a stored schema id.
pub(crate) fn schema_col(row: &AnyRow, idx: usize) -> Result<SchemaId, StoreError> {
    let s: String = row.try_get(idx)?;
    SchemaId::from_str(&s).map_err(|e| StoreError::Corrupt(format!("stored schema id: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every pooled SQLite connection is durable (WAL, fsync at commit) and
    /// keeps statement journals in memory.
    #[tokio::test]
    async fn sqlite_connections_carry_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("hoffnung.db").display());
        let store = Store::connect(&url, StoreConfig::default()).await.unwrap();
        for _ in 0..3 {
            let mut conn = store.pool().acquire().await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            for (pragma, want) in [("synchronous", 2), ("temp_store", 2)] {
                let got: i64 = sqlx::query_scalar(&format!("PRAGMA {pragma}"))
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(got, want, "PRAGMA {pragma}");
            }
        }
        store.close().await;
    }
}
