//! The single writer of a store. It checks entries against the stored state
//! and appends them, a batch per transaction (group commit).
//!
//! Because it is the only writer of its database, it keeps what it learned
//! (log heads, which log an author uses for a document, operation metadata,
//! entry hashes by position) in memory: most entries need no read at all,
//! and a batch is written with a few multi-row inserts. The caches hold only
//! committed state plus the current batch, and are dropped when a batch
//! rolls back. One node per database is therefore a requirement.

mod append;
mod cache;
mod check;
mod forks;
mod script;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hoffnung_core::PublicKey;
use sqlx::any::Any;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, Pool};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{self, Checkpoints};
use crate::code::ErrorCode;
use crate::durable::{Decided, Durability};
use crate::error::{Cause, Failure, StoreError};
use crate::ingest::{IngestStats, Job};
use crate::sql::{Backend, Param, Statements};
use crate::Store;
use cache::Cache;

/// Longest a script waits behind ingest jobs.
const SCRIPT_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// Longest the writer waits for a new connection after its own broke; the
/// jobs of that time are answered `UNAVAILABLE` meanwhile.
const RECONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) struct Writer {
    conn: PoolConnection<Any>,
    /// Where a new connection comes from when `conn` breaks.
    pool: Pool<Any>,
    state: State,
    /// SQLite: checkpoints run beside the writer (see `checkpoint`).
    checkpoints: Option<Arc<Checkpoints>>,
    /// Sends the answers once their commits are on disk.
    durability: Durability,
    stats: Arc<IngestStats>,
}

struct State {
    sql: Arc<Statements>,
    backend: Backend,
    cache: Cache,
    /// Multi-row insert statements by (table, rows).
    insert_sql: HashMap<(&'static str, usize), String>,
    /// Schema ids known to be in `schema_ids` (see `append`).
    schemas: HashSet<String>,
    /// Authors known to be in `authors` (see `append`).
    authors: HashSet<PublicKey>,
}

/// What the writer tells after a commit.
pub(crate) struct Signals {
    /// Counts commits that appended anything (wakes the materializer).
    pub(crate) appended: watch::Sender<u64>,
    /// Counts commits that recorded a fork (see `Store::forks_changed`).
    pub(crate) forked: watch::Sender<u64>,
}

impl Writer {
    pub(crate) fn new(
        conn: PoolConnection<Any>,
        pool: Pool<Any>,
        sql: Arc<Statements>,
        backend: Backend,
        checkpoints: Option<Arc<Checkpoints>>,
        durability: Durability,
        stats: Arc<IngestStats>,
    ) -> Self {
        Self {
            conn,
            pool,
            checkpoints,
            durability,
            stats,
            state: State {
                sql,
                backend,
                cache: Cache::default(),
                insert_sql: HashMap::new(),
                schemas: HashSet::new(),
                authors: HashSet::new(),
            },
        }
    }

    /// Takes jobs as they come, appends up to `max_batch` entries per
    /// transaction, answers each job once its commit is durable.
    pub(crate) async fn run(
        self,
        mut rx: mpsc::Receiver<Job>,
        mut scripts: mpsc::Receiver<ScriptJob>,
        stop: CancellationToken,
        signals: Signals,
        limits: Limits,
    ) {
        let Limits {
            max_batch,
            cache_entries: generation,
        } = limits;
        let Writer {
            mut conn,
            pool,
            mut state,
            checkpoints,
            durability,
            stats,
        } = self;
        // Commits so far; answers name the one they rest on.
        let mut commits = 0u64;
        let committed = || {
            if let Some(c) = &checkpoints {
                c.committed.notify_one();
            }
        };
        // Ingest jobs go first, but a script (the materializer's views)
        // waits at most `SCRIPT_WAIT`: under a steady stream of entries (a
        // catch-up, heavy publishing) the views would fall behind without
        // bound.
        let mut held: Option<(ScriptJob, std::time::Instant)> = None;
        let mut busy = Busy::default();
        loop {
            enum Next {
                Ingest(Job),
                Script(ScriptJob),
                Stop,
            }
            if checkpoints
                .as_ref()
                .is_some_and(|c| c.restart_due.swap(false, Ordering::Relaxed))
            {
                // Between two transactions: what the background left to
                // copy, so that the next transaction starts the WAL over.
                let t = std::time::Instant::now();
                if let Err(e) = checkpoint::checkpoint(&mut conn).await {
                    tracing::warn!(error = %e, "writer checkpoint failed");
                }
                busy.checkpoints += t.elapsed();
            }
            if held.is_none() {
                if let Ok(script) = scripts.try_recv() {
                    held = Some((script, std::time::Instant::now()));
                }
            }
            let overdue = held
                .as_ref()
                .is_some_and(|(_, since)| since.elapsed() >= SCRIPT_WAIT);
            let next = if overdue {
                held.take().map_or(Next::Stop, |(s, _)| Next::Script(s))
            } else {
                tokio::select! {
                    biased;
                    job = rx.recv() => job.map_or(Next::Stop, Next::Ingest),
                    // No entries waiting: the held script now.
                    _ = std::future::ready(()), if held.is_some() => {
                        held.take().map_or(Next::Stop, |(s, _)| Next::Script(s))
                    }
                    script = scripts.recv(), if held.is_none() => {
                        script.map_or(Next::Stop, Next::Script)
                    }
                    () = stop.cancelled() => Next::Stop,
                }
            };
            let first = match next {
                Next::Ingest(job) => job,
                Next::Script(script) => {
                    let t = std::time::Instant::now();
                    let result = state.run_script(&mut conn, &script).await;
                    if let Err(e) = &result {
                        replace_if_broken(&mut conn, &pool, state.backend, e).await;
                    }
                    busy.scripts += t.elapsed();
                    busy.script_jobs += 1;
                    if result.is_ok() {
                        commits += 1;
                        committed();
                    }
                    let _ = script.reply.send(result);
                    continue;
                }
                Next::Stop => break,
            };
            let mut jobs = vec![first];
            let mut n = jobs[0].items.len();
            while n < max_batch {
                match rx.try_recv() {
                    Ok(job) => {
                        n += job.items.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            if let Some(failure) = durability.failed() {
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(StoreError::WriteFailed(failure.clone())));
                }
                continue;
            }
            state.cache.age(generation);
            let t = std::time::Instant::now();
            let written = state.write_batch(&mut conn, &mut jobs).await;
            let took = t.elapsed();
            busy.ingest += took;
            for queued in jobs.iter().filter_map(|j| j.publish_queued) {
                stats.record_append(t.saturating_duration_since(queued), took);
            }
            busy.ingest_batches += 1;
            match written {
                Ok((results, wrote)) => {
                    if wrote.anything {
                        commits += 1;
                        signals.appended.send_modify(|n| *n += 1);
                        committed();
                    }
                    if wrote.forks {
                        signals.forked.send_modify(|n| *n += 1);
                    }
                    // Rejections too wait for the flush: they may rest on
                    // an entry of an earlier, not yet durable commit.
                    durability.send(Decided {
                        upto: commits,
                        replies: jobs
                            .into_iter()
                            .zip(results)
                            .map(|(job, result)| (job.reply, Ok(result)))
                            .collect(),
                    });
                }
                Err(e) => {
                    // The caches may hold the rolled-back batch.
                    state.cache = Cache::default();
                    tracing::error!(error = %e, entries = n, "write batch failed, rolled back");
                    replace_if_broken(&mut conn, &pool, state.backend, &e).await;
                    let cause: Cause = Arc::new(e);
                    for job in jobs {
                        let failure = Failure::shared("rolled back", cause.clone());
                        let _ = job.reply.send(Err(StoreError::WriteFailed(failure)));
                    }
                }
            }
        }
        // Later jobs are answered with `Closed` when their reply sender drops.
        rx.close();
        durability.stop().await;
        tracing::debug!(
            ingest_ms = busy.ingest.as_millis() as u64,
            ingest_batches = busy.ingest_batches,
            script_ms = busy.scripts.as_millis() as u64,
            scripts = busy.script_jobs,
            checkpoint_ms = busy.checkpoints.as_millis() as u64,
            "store writer stopped"
        );
    }
}

/// How much the writer takes on.
pub(crate) struct Limits {
    /// Most entries per transaction.
    pub(crate) max_batch: usize,
    /// Entries a cache generation takes before it becomes the old one:
    /// working sets of up to this many entries (about five per document a
    /// batch of creates and updates touches) are always found.
    pub(crate) cache_entries: usize,
}

/// After a failure that says the database went away (a restart of the
/// server, a broken network), the writer's connection is dead for good:
/// it takes a new one from the pool, or tries again after the next failure.
async fn replace_if_broken(
    conn: &mut PoolConnection<Any>,
    pool: &Pool<Any>,
    backend: Backend,
    error: &StoreError,
) {
    if error.code() != ErrorCode::Unavailable {
        return;
    }
    let fresh = async {
        let mut fresh = pool.acquire().await?;
        if backend == Backend::Sqlite {
            fresh.execute("PRAGMA wal_autocheckpoint = 0").await?;
            fresh.execute(crate::connect::WRITER_PRAGMAS).await?;
        }
        Ok::<_, sqlx::Error>(fresh)
    };
    match tokio::time::timeout(RECONNECT_WAIT, fresh).await {
        Ok(Ok(fresh)) => {
            tracing::warn!("the writer's database connection broke; writing on a new one");
            // The old one goes back to the pool, which tests it and drops it.
            *conn = fresh;
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "no new database connection yet"),
        Err(_) => tracing::warn!("no new database connection yet"),
    }
}

/// Where a writer's time went, logged when it stops.
#[derive(Default)]
struct Busy {
    ingest: std::time::Duration,
    ingest_batches: u64,
    scripts: std::time::Duration,
    script_jobs: u64,
    checkpoints: std::time::Duration,
}

/// Writes of derived data (the materializer's view tables) that go
/// through this writer, so that SQLite never sees two writers wait on each
/// other's lock.
pub(crate) struct ScriptJob {
    pub(crate) statements: Vec<(String, Vec<Param>)>,
    /// Move the materializer cursor from the first to the second value, in
    /// the same transaction; fails if it is not at the first.
    pub(crate) cursor: Option<(i64, i64)>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

impl Store {
    /// Runs statements in one transaction on the writer's connection (see
    /// [`ScriptJob`]).
    pub(crate) async fn run_script(
        &self,
        statements: Vec<(String, Vec<Param>)>,
        cursor: Option<(i64, i64)>,
    ) -> Result<(), StoreError> {
        self.queue_script(statements, cursor).await?.finish().await
    }

    /// Queues statements for the writer's connection; they run after
    /// everything queued before them.
    pub(crate) async fn queue_script(
        &self,
        statements: Vec<(String, Vec<Param>)>,
        cursor: Option<(i64, i64)>,
    ) -> Result<QueuedWrite, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inner
            .scripts
            .send(ScriptJob {
                statements,
                cursor,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(QueuedWrite {
            answer,
            changes: None,
        })
    }
}

/// A write queued to the store's writer; `finish` waits for its commit.
#[must_use = "a queued write may fail; `finish` tells"]
pub struct QueuedWrite {
    answer: tokio::sync::oneshot::Receiver<Result<(), StoreError>>,
    /// Told on the store's change feed once committed.
    pub(crate) changes: Option<crate::views::PendingChanges>,
}

impl QueuedWrite {
    pub async fn finish(self) -> Result<(), StoreError> {
        self.answer.await.map_err(|_| StoreError::Closed)??;
        if let Some(changes) = self.changes {
            changes.committed();
        }
        Ok(())
    }
}
