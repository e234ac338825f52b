//! A view the database refuses to store (a row or index entry too large,
//! a value out of range): retrying fails again and would stop every other
//! document, so the operation is found one at a time and passed over.

use std::sync::atomic::Ordering;

use hoffnung_core::{DocumentId, Schema};
use hoffnung_store::{StoreError, ViewBatch};

use crate::{MaterializerError, Worker};

impl MaterializerError {
    pub(crate) fn is_refused_data(&self) -> bool {
        matches!(self, MaterializerError::Store(e) if e.is_refused_data())
    }
}

impl Worker {
    /// The tables of `schema` (see `ViewWriter::ensure_table`; `Some(true)`:
    /// made now). `None` when the database refuses to make them (InnoDB
    /// holds at most 1,017 columns and rows of about 8 KB): the schema's
    /// documents stay stored and replicated, but are not materialized,
    /// and the other schemas go on. Said once, as an error.
    pub(crate) async fn ensure_table(
        &mut self,
        schema: &Schema,
    ) -> Result<Option<bool>, MaterializerError> {
        if self.refused_tables.contains(schema.id()) {
            return Ok(None);
        }
        match self.writer.ensure_table(schema).await {
            Ok(made) => Ok(Some(made)),
            Err(e) if e.is_refused_data() => {
                tracing::error!(
                    schema = %schema.id(),
                    error = %e,
                    "the database refuses this schema's view tables: its documents are kept but not materialized"
                );
                self.refused_tables.insert(schema.id().clone());
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for the write of a one-operation batch; if the database
    /// refuses its data, passes the operation over.
    pub(crate) async fn settle_isolated(
        &mut self,
        from: i64,
        to: i64,
        document: Option<DocumentId>,
    ) -> Result<(), MaterializerError> {
        match self.settle().await {
            Err(MaterializerError::Store(source)) if source.is_refused_data() => {
                self.pass_over(from, to, document, source).await
            }
            other => other,
        }
    }

    /// Moves the cursor past the one operation in `from..=to` whose view the
    /// database refused, writing nothing else: that document keeps its
    /// last view, every other goes on. Logged and counted.
    pub(crate) async fn pass_over(
        &mut self,
        from: i64,
        to: i64,
        document: Option<DocumentId>,
        source: StoreError,
    ) -> Result<(), MaterializerError> {
        self.recover().await;
        let ops = self.store.operations_after(from, 1).await?;
        let Some(op) = ops.first().filter(|op| op.entry_id == to) else {
            // Not where it failed (another process moved on): start again.
            return Ok(());
        };
        let error = MaterializerError::ViewRefused {
            document: document.unwrap_or(op.document_id),
            operation: op.id,
            source,
        };
        self.writer.write(&ViewBatch::default(), from, to).await?;
        self.cursor = to;
        let _ = self.progress.send(to);
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %error, "view not materialized, going on without it");
        Ok(())
    }
}
