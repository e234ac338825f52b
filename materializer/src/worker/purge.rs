//! The purge of deleted documents: once a document has been deleted for
//! the grace period (`MaterializerConfig::purge_after`), the payloads of its
//! CREATE and UPDATE operations and all its view rows go, in one
//! transaction (see the store's `views/purge.rs`). Its entries and DELETEs
//! stay, so every log still verifies. Operations that arrive later for a
//! purged document (concurrent to its DELETE) are purged as they come
//! (`Worker::step`). Blob pieces that no blob has used for the grace period
//! are purged the same way (see the store's `views/pieces.rs`).

use std::time::{Duration, Instant};

use hoffnung_store::{SchemaSource, ViewBatch};

use super::Worker;
use crate::MaterializerError;

/// Documents purged per transaction.
const PURGE_BATCH: u32 = 256;
/// After a failed purge, the next try.
pub(super) const PURGE_RETRY: Duration = Duration::from_secs(60);

impl Worker {
    /// Purges every deleted document whose grace period has passed; when the
    /// next one is due, if any waits.
    pub(super) async fn purge_due(&mut self) -> Result<Option<Instant>, MaterializerError> {
        let millis =
            |d: Option<Duration>| d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let (grace, piece_grace) = (
            millis(self.config.purge_after),
            millis(self.config.unused_pieces_after),
        );
        if grace.is_none() && piece_grace.is_none() {
            return Ok(None);
        }
        // No grace period: never due.
        let until =
            |now: i64, grace: Option<i64>| grace.map_or(i64::MIN, |g| now.saturating_sub(g));
        loop {
            let now = now_ms();
            let due = self
                .store
                .deletions_due(until(now, grace), until(now, piece_grace), PURGE_BATCH)
                .await?;
            if due.is_empty() {
                let (deleted, unused) = self.store.oldest_deletion().await?;
                let at =
                    |oldest: Option<i64>, grace: Option<i64>| Some(oldest?.saturating_add(grace?));
                let next = [at(deleted, grace), at(unused, piece_grace)]
                    .into_iter()
                    .flatten()
                    .min();
                return Ok(next.map(|at| {
                    let wait = at.saturating_sub(now).max(0);
                    Instant::now() + Duration::from_millis(wait as u64)
                }));
            }
            // The write below must not overtake a batch in flight.
            self.settle().await?;
            let mut purged = Vec::new();
            let mut undeleted = Vec::new();
            for d in &due {
                // A DELETE in the frozen part of a forked log does not count;
                // a blob piece is purged once no blob has used it for the
                // grace period.
                let purge = self.store.is_deleted(&d.document_id, &d.schema_id).await?
                    || (d.unused && self.store.piece_unused(&d.document_id).await?);
                if purge {
                    self.cache.take(&d.document_id);
                    purged.push((d.schema_id.clone(), d.document_id));
                } else {
                    undeleted.push(d.document_id);
                }
            }
            // Rows are removed through the tables the writer knows.
            for (schema_id, _) in &purged {
                if let Some(schema) = self.registry.schema(schema_id) {
                    self.ensure_table(&schema).await?;
                }
            }
            let batch = ViewBatch {
                purged,
                undeleted,
                ..Default::default()
            };
            self.writer.write(&batch, self.cursor, self.cursor).await?;
            tracing::info!(
                documents = batch.purged.len(),
                "purged deleted documents and unused blob pieces after their grace period"
            );
        }
    }

    /// A document was seen deleted, or a piece may be unused: a purge is
    /// due after the shorter grace period.
    pub(super) fn purge_soon(&mut self) {
        let grace = [self.config.purge_after, self.config.unused_pieces_after]
            .into_iter()
            .flatten()
            .min();
        if let Some(grace) = grace {
            let at = Instant::now() + grace;
            self.purge_at = Some(self.purge_at.map_or(at, |p| p.min(at)));
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
