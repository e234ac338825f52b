//! Reading a document's operations back from the event store and reducing
//! them, for documents the view cache does not hold.

use hoffnung_core::{reduce, DocumentId, DocumentOperation, DocumentView, PlainOperation, Schema};
use hoffnung_store::{Store, StoredOperation};

use crate::MaterializerError;

/// A document's operations up to entry `until`, typed by `schema`; `None`
/// if the document was purged (nothing of it is materialized again).
pub(super) async fn load(
    store: &Store,
    document_id: &DocumentId,
    schema: &Schema,
    until: i64,
) -> Result<Option<Vec<DocumentOperation>>, MaterializerError> {
    let stored = store
        .document_operations_until(document_id, schema.id(), until)
        .await?;
    if stored.iter().any(StoredOperation::is_purged) {
        return Ok(None);
    }
    Ok(Some(without_dangling(
        stored.iter().filter_map(|s| decode(s, schema)).collect(),
    )))
}

/// Drops the operations that build on one not among those before them: the
/// store leaves out the frozen part of a forked log, and what other authors
/// built on it has nothing to stand on. (In ingest order every operation
/// comes after those it builds on, so one pass is enough.)
fn without_dangling(ops: Vec<DocumentOperation>) -> Vec<DocumentOperation> {
    let mut kept = std::collections::HashSet::with_capacity(ops.len());
    ops.into_iter()
        .filter(|op| {
            let stands = op
                .operation
                .previous
                .as_ref()
                .is_none_or(|p| p.ids().iter().all(|id| kept.contains(id)));
            if stands {
                kept.insert(op.id);
            }
            stands
        })
        .collect()
}

/// Decodes a stored operation; they were validated at ingest, so a failure
/// means a damaged database and is logged.
pub(super) fn decode(stored: &StoredOperation, schema: &Schema) -> Option<DocumentOperation> {
    if stored.is_purged() {
        return None;
    }
    let operation = PlainOperation::decode(&stored.payload)
        .map_err(|e| e.to_string())
        .and_then(|p| p.validate(schema).map_err(|e| e.to_string()));
    match operation {
        Ok(operation) => Some(DocumentOperation {
            id: stored.id,
            public_key: stored.public_key,
            operation,
        }),
        Err(e) => {
            tracing::error!(operation = %stored.id, error = %e, "stored operation does not decode");
            None
        }
    }
}

pub(super) fn reduce_logged(
    document_id: &DocumentId,
    ops: &[DocumentOperation],
) -> Option<DocumentView> {
    match reduce(ops) {
        Ok(view) => Some(view),
        Err(e) => {
            tracing::warn!(document = %document_id, error = %e, "document does not reduce yet");
            None
        }
    }
}
