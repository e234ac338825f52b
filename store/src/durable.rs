//! Answers after durability: a thread that flushes the SQLite WAL apart
//! from the writer (group fsync).
//!
//! The writer commits without flushing (`synchronous = NORMAL`: the WAL
//! frames are written, not yet synced) and goes straight on to the next
//! batch, while this thread flushes the WAL file once for every commit made
//! since its last flush, and only then sends the answers those commits
//! decided. So an answer never reports a state that a power cut could undo,
//! and the writer no longer idles through each fsync: the next batch is
//! checked and written while the last one is flushed.
//!
//! Readers may see a commit before it is flushed. That is safe because
//! SQLite recovers a prefix of the WAL: whatever outlives a crash (views
//! written after their entries, entries sent to peers) never lacks an
//! earlier commit it was based on, and an unflushed entry that is lost was
//! never acknowledged, so its author sends it again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::{Failure, StoreError};
use crate::ingest::JobResult;

/// Makes every commit so far durable.
pub(crate) type Flush = Box<dyn FnMut() -> std::io::Result<()> + Send>;

/// Answers decided by the writer, sent once the commits they rest on are durable.
pub(crate) struct Decided {
    /// The writer's commit count when it decided them (its own commit included).
    pub(crate) upto: u64,
    pub(crate) replies: Vec<(oneshot::Sender<JobResult>, JobResult)>,
}

/// The flushing thread and what it shares with the writer.
pub(crate) struct Durability {
    /// `None` once stopping: the thread ends when the channel closes.
    tx: Option<mpsc::Sender<Decided>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set for good by a failed flush.
    failed: Arc<OnceLock<Failure>>,
    flushes: Arc<AtomicU64>,
}

impl Durability {
    /// Starts the thread; `flush` runs on it.
    pub(crate) fn start(flush: Flush) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let failed = Arc::new(OnceLock::new());
        let flushes = Arc::new(AtomicU64::new(0));
        let shared = (failed.clone(), flushes.clone());
        let thread = std::thread::Builder::new()
            .name("hoffnung-wal-sync".into())
            .spawn(move || flush_and_answer(rx, flush, &shared.0, &shared.1))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            failed,
            flushes,
        })
    }

    /// A flush of the WAL file of the database at `database` (SQLite's
    /// `<file>-wal`, opened at the first flush, when it exists); a no-op for
    /// an in-memory database.
    pub(crate) fn wal_flush(database: &str) -> Flush {
        if database.is_empty() {
            return Box::new(|| Ok(()));
        }
        let path = PathBuf::from(format!("{database}-wal"));
        let mut file: Option<std::fs::File> = None;
        Box::new(move || {
            let f = match &mut file {
                Some(f) => f,
                // Never created here: after a commit SQLite has made it.
                None => {
                    let f = std::fs::OpenOptions::new().write(true).open(&path)?;
                    // The WAL's name is durable once its folder is synced.
                    // SQLite does that at a WAL's first sync, which a WAL
                    // made by the writer (after a clean restart) only gets
                    // at the next checkpoint: answers must not wait for it.
                    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                    std::fs::File::open(dir.unwrap_or(std::path::Path::new(".")))?.sync_all()?;
                    file.insert(f)
                }
            };
            f.sync_data()
        })
    }

    /// Why the store takes no more writes, if it does not.
    pub(crate) fn failed(&self) -> Option<&Failure> {
        self.failed.get()
    }

    /// Flushes done so far.
    pub(crate) fn flushes(&self) -> Arc<AtomicU64> {
        self.flushes.clone()
    }

    /// Hands answers over; they are sent once commit `upto` is durable.
    pub(crate) fn send(&self, decided: Decided) {
        let unsent = match &self.tx {
            Some(tx) => tx.send(decided).err().map(|e| e.0),
            None => Some(decided),
        };
        for (reply, _) in unsent.into_iter().flat_map(|d| d.replies) {
            let _ = reply.send(Err(StoreError::Closed));
        }
    }

    /// Flushes and answers what is pending, then stops the thread.
    pub(crate) async fn stop(mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The thread: takes every batch of answers decided since its last round,
/// flushes once if any of them rests on a commit not yet flushed, and sends
/// them (as write failures once a flush has failed).
fn flush_and_answer(
    rx: mpsc::Receiver<Decided>,
    mut flush: Flush,
    failed: &OnceLock<Failure>,
    flushes: &AtomicU64,
) {
    let mut durable = 0u64;
    let mut flushing = Duration::ZERO;
    let mut answers = 0u64;
    while let Ok(first) = rx.recv() {
        let mut decided = vec![first];
        decided.extend(rx.try_iter());
        let upto = decided.iter().map(|d| d.upto).max().unwrap_or(0);
        if upto > durable && failed.get().is_none() {
            let started = Instant::now();
            let flushed = flush();
            flushing += started.elapsed();
            match flushed {
                Ok(()) => {
                    durable = upto;
                    flushes.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    // After a failed fsync the kernel may have dropped the
                    // dirty pages: nothing committed since the last good
                    // flush can be vouched for.
                    tracing::error!(error = %e, "flushing the WAL failed; the store takes no more writes");
                    let _ = failed.set(Failure::caused_by(
                        "the database could not be flushed to disk",
                        e,
                    ));
                }
            }
        }
        for d in decided {
            answers += d.replies.len() as u64;
            let failure = failed.get().filter(|_| d.upto > durable);
            for (reply, result) in d.replies {
                let result = match failure {
                    Some(failure) => Err(StoreError::WriteFailed(failure.clone())),
                    None => result,
                };
                let _ = reply.send(result);
            }
        }
    }
    tracing::debug!(
        flushes = flushes.load(Ordering::Relaxed),
        flush_ms = flushing.as_millis() as u64,
        answers,
        "WAL flushing stopped"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(upto: u64) -> (Decided, oneshot::Receiver<JobResult>) {
        let (tx, rx) = oneshot::channel();
        (
            Decided {
                upto,
                replies: vec![(tx, Ok(Vec::new()))],
            },
            rx,
        )
    }

    #[tokio::test]
    async fn answers_wait_for_the_flush() {
        // Each flush waits for a go from the test.
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let durability = Durability::start(Box::new(move || {
            gate.lock().unwrap().recv().unwrap();
            Ok(())
        }))
        .unwrap();
        let (d, mut rx) = decided(1);
        durability.send(d);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            rx.try_recv().is_err(),
            "answered before its commit was flushed"
        );
        go.send(()).unwrap();
        assert!(rx.await.unwrap().is_ok());
        assert_eq!(durability.flushes().load(Ordering::Relaxed), 1);

        // Answers about commits already flushed need no flush of their own.
        let (d, rx) = decided(1);
        durability.send(d);
        assert!(rx.await.unwrap().is_ok());
        assert_eq!(durability.flushes().load(Ordering::Relaxed), 1);
        durability.stop().await;
    }

    #[tokio::test]
    async fn commits_made_during_a_flush_share_the_next_one() {
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let durability = Durability::start(Box::new(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            gate.lock().unwrap().recv().unwrap();
            Ok(())
        }))
        .unwrap();
        let (d, first) = decided(1);
        durability.send(d);
        // The first flush is under way; three more commits come meanwhile.
        while calls.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let rest: Vec<_> = (2..=4)
            .map(|n| {
                let (d, rx) = decided(n);
                durability.send(d);
                rx
            })
            .collect();
        go.send(()).unwrap();
        go.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        for rx in rest {
            assert!(rx.await.unwrap().is_ok());
        }
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        durability.stop().await;
    }

    #[tokio::test]
    async fn a_failed_flush_fails_its_answers_and_the_store() {
        let durability =
            Durability::start(Box::new(|| Err(std::io::Error::other("disk gone")))).unwrap();
        let (d, rx) = decided(1);
        durability.send(d);
        match rx.await.unwrap() {
            Err(StoreError::WriteFailed(failure)) => {
                let text = failure.to_string();
                assert!(text.contains("disk gone"), "{text}");
                // The I/O error itself is kept, not only its text.
                assert!(std::error::Error::source(&failure).is_some());
            }
            other => panic!("expected a write failure, got {other:?}"),
        }
        assert!(durability
            .failed()
            .is_some_and(|m| m.to_string().contains("disk gone")));
        durability.stop().await;
    }

    #[test]
    fn the_wal_flush_syncs_the_wal_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.sqlite");
        let db = db.to_str().unwrap();
        let mut flush = Durability::wal_flush(db);
        // No WAL yet: an error, not a new file.
        assert!(flush().is_err());
        assert!(!dir.path().join("db.sqlite-wal").exists());
        std::fs::write(format!("{db}-wal"), b"frames").unwrap();
        assert!(flush().is_ok());
        let mut memory = Durability::wal_flush("");
        assert!(memory().is_ok());
    }
}
