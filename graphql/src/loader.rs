//! Related documents of one request: read once, without waiting.
//!
//! A page's relation fields resolve from rows read before them, one
//! statement per target table and kind of key (document or view id), not
//! one per document: the collection resolver looks ahead at the fields the
//! request selects and prefetches their targets, level by level. A
//! relation nobody prefetched (a single document's) is read on the spot.
//! No timer is involved: a batching loader that waits for more keys would
//! add its wait to every request with a relation.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_graphql::Lookahead;
use hoffnung_core::{OperationValue, Schema};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::SchemaSource;
use hoffnung_store::{Store, StoreError, ViewKey, ViewRow, ViewTable};

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
        // Document and view ids are hashes: the same key in two tables is
        // all but impossible, and `eq` tells them apart if it happens.
        self.key.hash(state);
    }
}

/// One related row, read from the store.
pub(crate) async fn read_one(
    store: &Store,
    key: &RelationKey,
) -> Result<Option<Arc<ViewRow>>, StoreError> {
    Ok(store
        .read_views(&key.table, std::slice::from_ref(&key.key))
        .await?
        .pop()
        .map(|(_, row)| Arc::new(row)))
}

/// The rows of related documents read for one request (`None`: not
/// stored).
pub(crate) struct Related {
    store: Store,
    rows: Mutex<HashMap<RelationKey, Option<Arc<ViewRow>>>>,
}

impl Related {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            rows: Mutex::default(),
        }
    }

    /// The stored row of `key`: prefetched, or read now.
    pub(crate) async fn get(&self, key: &RelationKey) -> Result<Option<Arc<ViewRow>>, StoreError> {
        if let Some(row) = self.lock().get(key) {
            return Ok(row.clone());
        }
        let row = read_one(&self.store, key).await?;
        self.lock().insert(key.clone(), row.clone());
        Ok(row)
    }

    /// Reads the targets of the relation fields that `fields` (the
    /// selection of `<S>Fields` under `rows`) asks for, then theirs, one
    /// statement per table and kind of key at each level.
    pub(crate) async fn prefetch(
        &self,
        registry: &SchemaRegistry,
        schema: &Schema,
        rows: &[&ViewRow],
        fields: Lookahead<'_>,
    ) -> Result<(), StoreError> {
        if !fields.exists() || rows.is_empty() {
            return Ok(());
        }
        for (name, ty) in schema.fields() {
            let selected = fields.field(name);
            if !selected.exists() {
                continue;
            }
            let Some(target) = ty.relation_target().and_then(|t| registry.schema(t)) else {
                continue;
            };
            let keys: Vec<ViewKey> = rows
                .iter()
                .filter_map(|r| match r.fields.as_ref()?.get(name)? {
                    OperationValue::Relation(id) => Some(ViewKey::Document(*id)),
                    OperationValue::PinnedRelation(v) => Some(ViewKey::View(v.clone())),
                    // Lists are collections of their own, prefetched there.
                    _ => None,
                })
                .collect();
            if keys.is_empty() {
                continue;
            }
            let table = self.store.views().table(&target);
            let found = self.read(&table, keys).await?;
            let found: Vec<&ViewRow> = found.iter().map(|r| &**r).collect();
            Box::pin(self.prefetch(registry, &target, &found, selected.field("fields"))).await?;
        }
        Ok(())
    }

    /// The rows of `keys` in `table`, reading those not read yet.
    async fn read(
        &self,
        table: &Arc<ViewTable>,
        keys: Vec<ViewKey>,
    ) -> Result<Vec<Arc<ViewRow>>, StoreError> {
        let key = |k: ViewKey| RelationKey {
            table: table.clone(),
            key: k,
        };
        let mut out = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        {
            let rows = self.lock();
            let mut seen = std::collections::HashSet::new();
            for k in keys {
                if !seen.insert(k.clone()) {
                    continue;
                }
                match rows.get(&key(k.clone())) {
                    Some(row) => out.extend(row.clone()),
                    None => missing.push(k),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let found = self.store.read_views(table, &missing).await?;
        let mut rows = self.lock();
        for k in missing {
            rows.entry(key(k)).or_insert(None);
        }
        for (k, row) in found {
            let row = Arc::new(row);
            out.push(row.clone());
            rows.insert(key(k), Some(row));
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RelationKey, Option<Arc<ViewRow>>>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }
}
