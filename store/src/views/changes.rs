//! The store's change feed: after each committed write of the
//! materializer, which documents got a new current view. Readers
//! (GraphQL subscriptions, the load generator's lag probe) learn of view
//! changes from the store that holds the views, not from whoever wrote them.

use std::sync::Arc;

use hoffnung_core::{DocumentId, DocumentViewId, SchemaId};
use tokio::sync::broadcast;

use crate::Store;

/// Committed batches a slow reader may fall behind by before it misses
/// some (`RecvError::Lagged`; the tables stay the record).
pub(crate) const CHANGES_BUFFER: usize = 1024;

/// What one committed batch of view writes changed.
#[derive(Debug, Clone)]
pub struct ViewChanges {
    /// Entries up to this id are now reflected in the views.
    pub cursor: i64,
    /// The new current view of each changed document.
    pub views: Vec<ChangedView>,
}

/// A document's new current view.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedView {
    pub schema_id: SchemaId,
    pub document_id: DocumentId,
    pub view_id: DocumentViewId,
    pub is_deleted: bool,
}

/// Where a queued write tells its changes once committed.
pub(crate) struct PendingChanges {
    pub(crate) feed: broadcast::Sender<Arc<ViewChanges>>,
    pub(crate) changes: ViewChanges,
}

impl PendingChanges {
    pub(crate) fn committed(self) {
        if self.feed.receiver_count() > 0 {
            let _ = self.feed.send(Arc::new(self.changes));
        }
    }
}

impl Store {
    /// Every committed batch of view changes from now on, in commit order.
    pub fn view_changes(&self) -> broadcast::Receiver<Arc<ViewChanges>> {
        self.inner.view_changes.subscribe()
    }
}
