//! The purge of deleted documents: once a document has been deleted for
//! the grace period (`MaterializerConfig::purge_after`), the payloads of its
//! CREATE and UPDATE operations and all its view rows go, in one
//! transaction (see the store's `views/purge.rs`). Its entries and DELETEs
//! stay, so every log still verifies. Operations that arrive later for a
//! purged document (concurrent to its DELETE) are purged as they come
//! (`Worker::step`).

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
        let Some(grace) = self.config.purge_after else {
            return Ok(None);
        };
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        loop {
            let now = now_ms();
            let due = self
                .store
                .deletions_due(now.saturating_sub(grace_ms), PURGE_BATCH)
                .await?;
            if due.is_empty() {
                let next = self.store.oldest_deletion().await?;
                return Ok(next.map(|at| {
                    let wait = at.saturating_add(grace_ms).saturating_sub(now).max(0);
                    Instant::now() + Duration::from_millis(wait as u64)
                }));
            }
            // The write below must not overtake a batch in flight.
            self.settle().await?;
            let mut purged = Vec::new();
            let mut undeleted = Vec::new();
            for d in &due {
                // A DELETE in the frozen part of a forked log does not count.
                if self.store.is_deleted(&d.document_id, &d.schema_id).await? {
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
                "purged deleted documents after their grace period"
            );
        }
    }

    /// A document was seen deleted: its purge is due after the grace period.
    pub(super) fn purge_soon(&mut self) {
        if let Some(grace) = self.config.purge_after {
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
