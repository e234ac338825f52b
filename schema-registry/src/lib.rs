//! The schema registry: which schemas a node knows, and therefore accepts
//! operations of and serves.
//!
//! System schemas are always known. An application schema becomes active
//! once its `schema_definition_v1` document and every
//! `schema_field_definition_v1` view it pins are stored; every view a
//! definition document ever had yields a schema (updating a definition makes
//! a new schema, the old one stays). A node may restrict the schemas it
//! accepts with an allow list. Subscribers learn of every change through a
//! version counter.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use hoffnung_core::{
    reduce, reduce_to_view, DocumentId, DocumentView, OperationValue, Schema, SchemaId, ViewField,
};
use hoffnung_store::{Ingested, SchemaSource, Store, StoreError};
use tokio::sync::watch;

mod pipeline;

pub use pipeline::{Batch, Pipeline, Published};

/// Which views of a definition document to build.
#[derive(Clone, Copy)]
enum Views {
    All,
    Current,
}

/// What a definition view yields.
enum Built {
    Schema(Schema),
    /// A pinned field definition (view) is not stored yet.
    MissingFields,
    /// It never makes a schema (invalid names, types, field count, deleted).
    Invalid,
}

/// The live set of active schemas.
pub struct SchemaRegistry {
    state: RwLock<State>,
    allow: Option<HashSet<SchemaId>>,
    version: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Ordered like the wire order (system first, then name, then view id).
    schemas: BTreeMap<SchemaId, Arc<Schema>>,
    /// Definition documents with a view that could not be built yet.
    pending: HashSet<DocumentId>,
}

impl SchemaSource for SchemaRegistry {
    fn schema(&self, id: &SchemaId) -> Option<Arc<Schema>> {
        self.read().schemas.get(id).cloned()
    }
}

impl SchemaRegistry {
    /// A registry of the system schemas only. `allow`: the schema ids this
    /// node accepts (`None`: all).
    pub fn new(allow: Option<HashSet<SchemaId>>) -> Self {
        let mut state = State::default();
        for schema in Schema::system_schemas() {
            if allow.as_ref().is_none_or(|a| a.contains(schema.id())) {
                state.schemas.insert(schema.id().clone(), Arc::new(schema));
            }
        }
        Self {
            state: RwLock::new(state),
            allow,
            version: watch::channel(0).0,
        }
    }

    /// A registry holding every schema the store's documents define.
    pub async fn load(store: &Store, allow: Option<HashSet<SchemaId>>) -> Result<Self, StoreError> {
        let registry = Self::new(allow);
        for doc in store
            .documents_of_schema(&SchemaId::SCHEMA_DEFINITION_V1)
            .await?
        {
            registry.build_definition(store, &doc, Views::All).await?;
        }
        tracing::info!(
            schemas = registry.read().schemas.len(),
            "schema registry loaded"
        );
        Ok(registry)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the map is still whole.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// All active schemas, in wire order.
    pub fn schemas(&self) -> Vec<Arc<Schema>> {
        self.read().schemas.values().cloned().collect()
    }

    /// Increases whenever a schema is added.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The configured allow list, in wire order (`None`: all schemas).
    pub fn allow_list(&self) -> Option<Vec<SchemaId>> {
        self.allow.as_ref().map(|a| {
            let mut ids: Vec<SchemaId> = a.iter().cloned().collect();
            ids.sort();
            ids
        })
    }

    /// Whether the node accepts this schema id at all.
    pub fn allows(&self, id: &SchemaId) -> bool {
        self.allow.as_ref().is_none_or(|a| a.contains(id))
    }

    /// Updates the registry after an entry was ingested: a new definition
    /// view may define a schema; a new field definition may complete a
    /// pending definition.
    pub async fn on_ingested(&self, store: &Store, ingested: &Ingested) -> Result<(), StoreError> {
        if ingested.schema_id == SchemaId::SCHEMA_DEFINITION_V1 {
            // The entry made one new view: the document's current one.
            self.build_definition(store, &ingested.document_id, Views::Current)
                .await?;
        } else if ingested.schema_id == SchemaId::SCHEMA_FIELD_DEFINITION_V1 {
            // Only definitions that wait for a field definition are retried.
            let pending: Vec<DocumentId> = self.read().pending.iter().copied().collect();
            for doc in pending {
                self.build_definition(store, &doc, Views::All).await?;
            }
        }
        Ok(())
    }

    /// Like [`Self::on_ingested`] for a batch stored in one go (replication,
    /// import): a definition document may have gained several views at
    /// once, so every view of it is built, not only the current one.
    pub async fn on_ingested_batch(
        &self,
        store: &Store,
        ingested: &[Ingested],
    ) -> Result<(), StoreError> {
        let mut definitions: Vec<DocumentId> = ingested
            .iter()
            .filter(|i| i.schema_id == SchemaId::SCHEMA_DEFINITION_V1)
            .map(|i| i.document_id)
            .collect();
        definitions.sort();
        definitions.dedup();
        for doc in &definitions {
            self.build_definition(store, doc, Views::All).await?;
        }
        if ingested
            .iter()
            .any(|i| i.schema_id == SchemaId::SCHEMA_FIELD_DEFINITION_V1)
        {
            let pending: Vec<DocumentId> = self.read().pending.iter().copied().collect();
            for doc in pending {
                self.build_definition(store, &doc, Views::All).await?;
            }
        }
        Ok(())
    }

    /// Builds the schemas of a definition document's views: every view it
    /// had (each prefix of its operations in ingest order), or only the
    /// current one. A definition that pins a field definition not stored yet
    /// is remembered as pending; an invalid one is not retried.
    async fn build_definition(
        &self,
        store: &Store,
        doc: &DocumentId,
        views: Views,
    ) -> Result<(), StoreError> {
        let def_schema = Schema::system(&SchemaId::SCHEMA_DEFINITION_V1)
            .ok_or_else(|| StoreError::Corrupt("system schema missing".into()))?;
        let ops = store.document_operations(doc, &def_schema).await?;
        let mut incomplete = false;
        let mut added = 0;
        let first = match views {
            Views::All => 1,
            Views::Current => ops.len().max(1),
        };
        for end in first..=ops.len() {
            let Ok(view) = reduce(&ops[..end]) else {
                continue;
            };
            match self.build_view(store, &view).await? {
                Built::Schema(schema) if self.allows(schema.id()) => {
                    let mut state = self.write();
                    if !state.schemas.contains_key(schema.id()) {
                        tracing::info!(schema_id = %schema.id(), "schema active");
                        state.schemas.insert(schema.id().clone(), Arc::new(schema));
                        added += 1;
                    }
                }
                Built::Schema(_) | Built::Invalid => {}
                Built::MissingFields => incomplete = true,
            }
        }
        {
            let mut state = self.write();
            if incomplete {
                state.pending.insert(*doc);
            } else if matches!(views, Views::All) {
                // Only a look at every view can tell that none waits any more.
                state.pending.remove(doc);
            }
        }
        if added > 0 {
            self.version.send_modify(|v| *v += 1);
        }
        Ok(())
    }

    /// The schema a definition view defines.
    async fn build_view(
        &self,
        store: &Store,
        definition: &DocumentView,
    ) -> Result<Built, StoreError> {
        let Some(Some(ViewField {
            value: OperationValue::PinnedRelationList(pinned),
            ..
        })) = definition.fields.as_ref().map(|f| f.get("fields"))
        else {
            // Deleted, or not a definition: nothing to wait for.
            return Ok(Built::Invalid);
        };
        let field_schema = Schema::system(&SchemaId::SCHEMA_FIELD_DEFINITION_V1)
            .ok_or_else(|| StoreError::Corrupt("system schema missing".into()))?;
        let mut views = Vec::with_capacity(pinned.len());
        for view_id in pinned {
            let Some(first) = view_id.ids().first() else {
                return Ok(Built::Invalid);
            };
            let Some(doc) = store.operation_document(first).await? else {
                return Ok(Built::MissingFields);
            };
            let ops = store.document_operations(&doc, &field_schema).await?;
            match reduce_to_view(&ops, view_id) {
                Ok(view) => views.push(view),
                // Some operation of the pinned view has not arrived yet.
                Err(hoffnung_core::ReduceError::UnknownViewOperation(_)) => {
                    return Ok(Built::MissingFields)
                }
                Err(_) => return Ok(Built::Invalid),
            }
        }
        let refs: Vec<&DocumentView> = views.iter().collect();
        match Schema::from_views(definition, &refs) {
            Ok(schema) => Ok(Built::Schema(schema)),
            Err(e) => {
                tracing::debug!(view_id = %definition.view_id, error = %e, "schema not buildable");
                Ok(Built::Invalid)
            }
        }
    }
}
