//! Batched loading of related documents: the relation fields of a page of
//! documents resolve with one statement per target table, not one per
//! document (async-graphql's `DataLoader`, one per request).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use hoffnung_core::SchemaId;
use hoffnung_store::{Store, ViewKey, ViewRow, ViewTable};

/// A related document of one schema: its current view by document id, or
/// a stored view by view id.
#[derive(Clone)]
pub(crate) struct RelationKey {
    pub(crate) table: Arc<ViewTable>,
    pub(crate) key: ViewKey,
}

impl PartialEq for RelationKey {
    fn eq(&self, other: &Self) -> bool {
        self.table.schema_id() == other.table.schema_id() && self.key == other.key
    }
}

impl Eq for RelationKey {}

impl Hash for RelationKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.table.schema_id().hash(state);
        self.key.hash(state);
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
        // One read per table (the store runs one statement per kind of key).
        let mut groups: HashMap<&SchemaId, (Arc<ViewTable>, Vec<ViewKey>)> = HashMap::new();
        for k in keys {
            groups
                .entry(k.table.schema_id())
                .or_insert_with(|| (k.table.clone(), Vec::new()))
                .1
                .push(k.key.clone());
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (table, keys) in groups.into_values() {
            for (key, row) in self
                .store
                .read_views(&table, &keys)
                .await
                .map_err(Arc::new)?
            {
                out.insert(
                    RelationKey {
                        table: table.clone(),
                        key,
                    },
                    row,
                );
            }
        }
        Ok(out)
    }
}
