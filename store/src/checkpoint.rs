//! SQLite WAL checkpoints beside the writer.
//!
//! By default SQLite checkpoints inside the commit that crosses the
//! threshold: the writer copies megabytes of pages into the database file
//! and fsyncs it while every publish waits behind it. Here the writer's
//! connection never checkpoints on its own; this task, on a connection of
//! its own, copies committed frames in the background (`PASSIVE`: it never
//! blocks the writer or readers). Such checkpoints cannot reset the WAL
//! while commits keep coming, so when it has grown past
//! `StoreConfig::wal_restart_frames` the writer is asked to run one itself between two transactions: little
//! is left to copy by then, and its next transaction starts the WAL over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::Any;
use sqlx::pool::PoolConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The pause between checkpoints while the WAL is past half its restart
/// size: the restart must not wait for long while the WAL keeps growing.
/// Otherwise `StoreConfig::checkpoint_pause` (200 ms): a page changed many
/// times meanwhile is copied once, and each checkpoint ends with an fsync
/// of the database file, which slows the WAL flushes that answers wait for
/// (200 ms against 20 ms: +10 % publishes/s at 100,000 documents,
/// docs/benchmarks.md).
const SHORT_PAUSE: Duration = Duration::from_millis(20);

/// What the writer and the checkpointer share.
#[derive(Default)]
pub(crate) struct Checkpoints {
    /// Rung by the writer after each commit.
    pub(crate) committed: Notify,
    /// Set by the checkpointer: the writer should checkpoint before its
    /// next transaction.
    pub(crate) restart_due: AtomicBool,
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: (busy, frames in the WAL, frames
/// copied to the database).
pub(crate) async fn checkpoint(
    conn: &mut PoolConnection<Any>,
) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut **conn)
        .await
}

/// Copies committed frames into the database file until the store closes.
pub(crate) async fn run(
    mut conn: PoolConnection<Any>,
    shared: Arc<Checkpoints>,
    stop: CancellationToken,
    restart_frames: i64,
    long_pause: Duration,
    database: String,
) {
    let mut pause = long_pause;
    loop {
        tokio::select! {
            _ = shared.committed.notified() => {}
            () = stop.cancelled() => break,
        }
        tokio::time::sleep(pause).await;
        match checkpoint(&mut conn).await {
            Ok((_, frames, copied)) => {
                tracing::trace!(frames, copied, "background checkpoint");
                if frames >= restart_frames {
                    // The writer's checkpoint, which lets the WAL start over,
                    // ends with an fsync of the database file; the pages that
                    // checkpoints copied since the last one would all be
                    // written then, while every publish waits (15-20 ms).
                    // Written here instead, beside the writer.
                    let file = database.clone();
                    let synced = tokio::task::spawn_blocking(move || sync_file(&file)).await;
                    if let Err(e) = synced.map_err(std::io::Error::other).and_then(|r| r) {
                        tracing::warn!(error = %e, "syncing the database file failed");
                    }
                    shared.restart_due.store(true, Ordering::Relaxed);
                }
                pause = if frames >= restart_frames / 2 {
                    SHORT_PAUSE.min(long_pause)
                } else {
                    long_pause
                };
            }
            Err(e) => tracing::warn!(error = %e, "background checkpoint failed"),
        }
    }
}

/// `fdatasync` of a file (a no-op for an in-memory database's empty name).
fn sync_file(path: &str) -> std::io::Result<()> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::File::open(path)?.sync_data()
}
