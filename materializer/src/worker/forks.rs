//! Documents of forked logs: when a log is frozen (see the store's
//! `forks`), its document's views may hold operations from the disputed
//! part. Each such document, and each other document with a log of the same
//! author (the store may block forked authors altogether), is reduced again
//! from what the store still lets count, once per fork, at start and
//! whenever a fork is recorded.

use hoffnung_store::{SchemaSource, ViewBatch};

use super::{load, reduce_logged, Worker};
use crate::MaterializerError;

impl Worker {
    pub(super) async fn refresh_forked(&mut self) -> Result<(), MaterializerError> {
        let forked = self.store.forked_documents().await?;
        if forked
            .iter()
            .all(|d| self.refreshed.contains(&refreshed_key(d)))
        {
            return Ok(());
        }
        // The write below must not overtake a batch in flight.
        self.settle().await?;
        let mut views = Vec::new();
        let mut removed = Vec::new();
        let mut done = Vec::new();
        for d in forked {
            let key = refreshed_key(&d);
            if self.refreshed.contains(&key) {
                continue;
            }
            let Some(schema) = self.registry.schema(&d.schema_id) else {
                // Not active here: nothing of it is materialized.
                done.push(key);
                continue;
            };
            if self.ensure_table(&schema).await?.is_none() {
                done.push(key);
                continue;
            }
            // The cached view may hold frozen operations.
            self.cache.take(&d.document_id);
            let Some(ops) = load(&self.store, &d.document_id, &schema, self.cursor).await? else {
                // Purged: nothing of it is shown.
                done.push(key);
                continue;
            };
            if ops.is_empty() {
                // Forked from its create: nothing of the document is left.
                removed.push((d.schema_id.clone(), d.document_id));
            } else if let Some(view) = reduce_logged(&d.document_id, &ops) {
                views.push(view);
            }
            tracing::debug!(
                document = %d.document_id,
                author = %d.public_key,
                log_id = d.log_id,
                frozen_from = d.frozen_from,
                "document of a forked author reduced again"
            );
            done.push(key);
        }
        tracing::info!(
            documents = done.len(),
            removed = removed.len(),
            "documents of forked authors reduced again"
        );
        if !views.is_empty() || !removed.is_empty() {
            let batch = ViewBatch {
                current: views.iter().collect(),
                removed,
                ..Default::default()
            };
            self.writer.write(&batch, self.cursor, self.cursor).await?;
        }
        self.refreshed.extend(done);
        Ok(())
    }
}

fn refreshed_key(d: &hoffnung_store::ForkedDocument) -> ([u8; 32], u64, Option<u64>) {
    (*d.public_key.as_bytes(), d.log_id, d.frozen_from)
}
