//! The task that keeps blob files in step with the views: it checks every
//! current blob at start-up, then assembles new blob views as the change
//! feed reports them, wakes blobs whose pieces arrive, and removes files
//! no current view uses.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hoffnung_core::{DocumentViewId, FieldType, SchemaId};
use hoffnung_store::{ViewChanges, ViewRow};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::assemble::{files, is_unfinished};
use crate::{file_name, BlobError, BlobView, Inner};

pub(crate) async fn run(
    inner: Arc<Inner>,
    mut changes: broadcast::Receiver<Arc<ViewChanges>>,
    stop: CancellationToken,
) {
    let mut scan = true;
    loop {
        if scan {
            scan = false;
            let work = async {
                if let Err(e) = inner.scan().await {
                    tracing::warn!(error = %e, "checking the blob files failed");
                }
            };
            tokio::select! {
                () = work => {}
                () = stop.cancelled() => break,
            }
        }
        let change = tokio::select! {
            change = changes.recv() => change,
            () = stop.cancelled() => break,
        };
        match change {
            Ok(change) => {
                let work = async {
                    if let Err(e) = inner.changed(&change).await {
                        tracing::warn!(error = %e, "updating the blob files failed");
                    }
                };
                tokio::select! {
                    () = work => {}
                    () = stop.cancelled() => break,
                }
            }
            // Missed changes: the tables are the record.
            Err(RecvError::Lagged(_)) => scan = true,
            Err(RecvError::Closed) => break,
        }
    }
}

impl Inner {
    /// Every current blob gets its file; files nothing uses go.
    async fn scan(&self) -> Result<(), BlobError> {
        if !self.tables_exist().await? {
            return Ok(());
        }
        let rows = self.store.current_views(&self.blob_table).await?;
        for blob in rows.iter().filter_map(BlobView::of) {
            self.ensure(&blob, true).await?;
        }
        self.sweep(&rows).await
    }

    async fn changed(&self, change: &ViewChanges) -> Result<(), BlobError> {
        let mut replaced = false;
        for view in &change.views {
            if view.schema_id == SchemaId::BLOB_V1 {
                // A document's first view is the id of its CREATE; any
                // other replaced one.
                replaced |= view.is_deleted
                    || view.view_id != DocumentViewId::from_operation(view.document_id);
                if view.is_deleted || !self.tables_exist().await? {
                    continue;
                }
                let row = self
                    .store
                    .stored_view(&self.blob_table, &view.view_id)
                    .await?;
                if let Some(blob) = row.as_ref().and_then(BlobView::of) {
                    self.ensure(&blob, true).await?;
                }
            } else if view.schema_id == SchemaId::BLOB_PIECE_V1 {
                let mut woken = self.woken_by(&view.view_id);
                woken.extend(self.woken_by(&DocumentViewId::from_operation(view.document_id)));
                for blob in woken {
                    self.ensure(&blob, true).await?;
                }
            }
        }
        if replaced {
            let rows = self.store.current_views(&self.blob_table).await?;
            self.sweep(&rows).await?;
        }
        Ok(())
    }

    /// Removes the files of blob views that are neither current (`rows`)
    /// nor pinned by a current view of any schema.
    async fn sweep(&self, rows: &[ViewRow]) -> Result<(), BlobError> {
        let mut keep: HashSet<String> = rows
            .iter()
            .filter(|r| !r.is_deleted)
            .map(|r| file_name(&r.view_id))
            .collect();
        for schema in self.registry.schemas() {
            for (field, ty) in schema.fields() {
                let pins_blobs = matches!(
                    ty,
                    FieldType::PinnedRelation(t) | FieldType::PinnedRelationList(t)
                        if *t == SchemaId::BLOB_V1
                );
                if pins_blobs && self.store.has_view_table(schema.id()).await? {
                    let table = self.store.views().table(&schema);
                    for view in self.store.pinned_views(&table, field).await? {
                        keep.insert(file_name(&view));
                    }
                }
            }
        }
        for (name, path) in files(&self.dir).await? {
            // Only files this node names; anything else in the folder stays.
            if is_unfinished(&name) || !is_blob_file(&name) || keep.contains(&name) {
                continue;
            }
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {
                    self.removed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(file = %name, "removed the file of a blob view no longer used");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BlobError::io(&path, e)),
            }
        }
        Ok(())
    }
}

/// Whether a name is one [`file_name`] gives.
fn is_blob_file(name: &str) -> bool {
    match name.strip_prefix('h') {
        Some(hash) => hash.len() == 68 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        None => name.parse::<DocumentViewId>().is_ok(),
    }
}
