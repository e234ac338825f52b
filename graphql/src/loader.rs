//! Batched loading of related documents: the relation fields of a page of
//! documents resolve with one statement per target table, not one per
//! document (async-graphql's `DataLoader`, one per request).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use hoffnung_store::{Store, ViewRow, ViewTable};

/// A related document: its current view by document id, or a stored view
/// by view id (`pinned`).
#[derive(Clone)]
pub(crate) struct RelationKey {
    pub(crate) table: Arc<ViewTable>,
    pub(crate) pinned: bool,
    /// Document id (hex) or view id string.
    pub(crate) id: String,
}

impl PartialEq for RelationKey {
    fn eq(&self, other: &Self) -> bool {
        self.table.table == other.table.table && self.pinned == other.pinned && self.id == other.id
    }
}

impl Eq for RelationKey {}

impl Hash for RelationKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.table.table.hash(state);
        self.pinned.hash(state);
        self.id.hash(state);
    }
}

pub(crate) struct RelationLoader {
    pub(crate) store: Store,
}

impl Loader<RelationKey> for RelationLoader {
    type Value = ViewRow;
    type Error = Arc<hoffnung_store::StoreError>;

    async fn load(
        &self,
        keys: &[RelationKey],
    ) -> Result<HashMap<RelationKey, ViewRow>, Self::Error> {
        // One statement per (table, kind).
        let mut groups: HashMap<(String, bool), (Arc<ViewTable>, Vec<String>)> = HashMap::new();
        for k in keys {
            groups
                .entry((k.table.table.clone(), k.pinned))
                .or_insert_with(|| (k.table.clone(), Vec::new()))
                .1
                .push(k.id.clone());
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((_, pinned), (table, ids)) in groups {
            for row in self
                .store
                .views_by_key(&table, pinned, &ids)
                .await
                .map_err(Arc::new)?
            {
                let id = if pinned {
                    row.view_id.to_string()
                } else {
                    row.document_id.to_hex()
                };
                out.insert(
                    RelationKey {
                        table: table.clone(),
                        pinned,
                        id,
                    },
                    row,
                );
            }
        }
        Ok(out)
    }
}
