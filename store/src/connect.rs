//! Opening a store: the connection pool with its per-connection settings,
//! the migrations, the writer and (SQLite) the checkpoint task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::any::AnyPoolOptions;
use sqlx::Executor;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::StoreError;
use crate::sql::{Backend, Statements};
use crate::{checkpoint, durable, ingest, now_millis, writer, Inner, Store, StoreConfig};

/// SQLite: the main database's file ("" in memory).
async fn database_file(conn: &mut sqlx::AnyConnection) -> Result<String, StoreError> {
    let (_, _, file): (i64, String, String) = sqlx::query_as("PRAGMA database_list")
        .fetch_one(&mut *conn)
        .await?;
    Ok(file)
}

/// The SQLite writer connection's page cache, and commits without a flush
/// of their own (see `Store::open` and `durable`).
pub(crate) const WRITER_PRAGMAS: &str =
    "PRAGMA cache_size = 500; PRAGMA cache_spill = OFF; PRAGMA synchronous = NORMAL";

/// Every MariaDB/MySQL session: standard SQL where the statements are
/// shared with the other backends (double-quoted identifiers, `||` joins
/// text), errors instead of silently truncated or coerced data, whole
/// `GROUP_CONCAT` results (a node's log heights), and READ COMMITTED as on
/// PostgreSQL (InnoDB's REPEATABLE READ takes gap locks on inserts).
const MYSQL_SESSION: &str = "SET SESSION sql_mode = \
    'ANSI_QUOTES,PIPES_AS_CONCAT,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', \
    SESSION group_concat_max_len = 4294967295; \
    SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(Backend::MySql)
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
            // sqlx's Any driver knows the MariaDB protocol by this name.
            Backend::MySql => url.replacen("mariadb://", "mysql://", 1),
        };
        // When the planner statistics were last refreshed (ms since the
        // Unix epoch, 0: never). SQLite connections load statistics when
        // they open, so older ones are retired at their next use.
        if backend != Backend::Sqlite {
            // One plain connection first: an unreachable server or a bad
            // login fails at once instead of after the pool's retries.
            use sqlx::Connection;
            sqlx::AnyConnection::connect(&url).await?.close().await?;
        }
        let pragmas = Arc::new(format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
             PRAGMA mmap_size = {}; PRAGMA cache_size = -{}; \
             PRAGMA wal_autocheckpoint = 4000; PRAGMA temp_store = MEMORY;",
            config.sqlite_mmap_bytes, config.sqlite_cache_kib
        ));
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
                let pragmas = pragmas.clone();
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
                        conn.execute(pragmas.as_str()).await?;
                    }
                    if backend == Backend::MySql {
                        conn.execute(MYSQL_SESSION).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
            Backend::MySql => sqlx::migrate!("../migrations/mysql").run(&pool).await?,
        }
        let sql = Arc::new(Statements::new(backend, config.forked_authors));
        let mut conn = pool.acquire().await?;
        // Acknowledged means durable: say loudly when the server's settings
        // do not keep that promise (the node still starts: a test server
        // may run so on purpose).
        let settings = crate::integrity::durability_settings(&mut conn, backend).await?;
        for problem in crate::integrity::durability_problems(backend, &settings) {
            tracing::warn!("{problem}");
        }
        let (tx, rx) = mpsc::channel(1024);
        let (scripts, scripts_rx) = mpsc::channel(16);
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (appended_tx, appended) = watch::channel(0);
        let (forked_tx, forked) = watch::channel(0);
        let database = match backend {
            Backend::Sqlite => database_file(&mut conn).await?,
            Backend::Postgres | Backend::MySql => String::new(),
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
            tasks.spawn(checkpoint::run(
                own,
                shared.clone(),
                stop.clone(),
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
            // A server's commit is durable when it returns.
            Backend::Postgres | Backend::MySql => Box::new(|| Ok(())) as durable::Flush,
        };
        let durability = durable::Durability::start(flush).map_err(StoreError::FlushThread)?;
        let wal_flushes = durability.flushes();
        let ingest_stats = Arc::new(ingest::IngestStats::default());
        let writer = writer::Writer::new(
            conn,
            pool.clone(),
            sql.clone(),
            backend,
            checkpoints,
            durability,
            ingest_stats.clone(),
        );
        let limits = writer::Limits {
            max_batch: config.max_batch,
            cache_entries: config.writer_cache_entries,
        };
        tasks.spawn(writer.run(
            rx,
            scripts_rx,
            stop.clone(),
            writer::Signals {
                appended: appended_tx,
                forked: forked_tx,
            },
            limits,
        ));
        tasks.close();
        tracing::info!(?backend, "event store ready");
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                backend,
                sql,
                writer: tx,
                scripts,
                stop,
                tasks,
                appended,
                forked,
                view_changes: tokio::sync::broadcast::channel(crate::views::CHANGES_BUFFER).0,
                analyzed,
                views: Default::default(),
                view_reads: AtomicU64::new(0),
                ingest_stats,
                wal_flushes,
                config,
            }),
        })
    }
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
