//! The one way entries come into a node: publish (a client), replication
//! (a peer), import (a file). Each goes decode → policy → checks → append
//! (the store) → schema registry → announce, so that whatever an entry
//! changes (a new schema, a gossip announcement) happens the same way
//! whichever path it took.
//!
//! Per-entry policy lives in [`Pipeline::admit`] (today: the allow list of
//! schemas); the store asks it before any other check of an entry.

use std::sync::Arc;

use hoffnung_core::entry::Entry;
use hoffnung_core::{PlainOperation, Schema, SchemaId};
use hoffnung_store::{BulkIngest, IngestError, Ingested, SchemaSource, Store, StoreError};
use tokio::sync::broadcast;

use crate::SchemaRegistry;

/// Published entries a slow receiver may fall behind by.
const PUBLISHED_BUFFER: usize = 4096;

/// An entry a client published to this node, in its encoded form.
#[derive(Debug, Clone)]
pub struct Published {
    pub entry: Vec<u8>,
    pub operation: Vec<u8>,
    pub schema_id: SchemaId,
}

/// The ingest pipeline of one node: its store, its registry and its policy.
/// Clones share all three.
#[derive(Clone)]
pub struct Pipeline {
    store: Store,
    registry: Arc<SchemaRegistry>,
    published: broadcast::Sender<Arc<Published>>,
}

impl SchemaSource for Pipeline {
    fn schema(&self, id: &SchemaId) -> Option<Arc<Schema>> {
        self.registry.schema(id)
    }

    fn admit(&self, operation: &PlainOperation, _entry: Option<&Entry>) -> Result<(), IngestError> {
        // Refused, not "not found": a peer's entry of such a schema would
        // otherwise be held back as waiting for its schema, forever.
        if !self.registry.allows(&operation.schema_id) {
            return Err(IngestError::SchemaNotAccepted(operation.schema_id.clone()));
        }
        Ok(())
    }
}

impl Pipeline {
    pub fn new(store: Store, registry: Arc<SchemaRegistry>) -> Self {
        Self {
            store,
            registry,
            published: broadcast::channel(PUBLISHED_BUFFER).0,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn registry(&self) -> &Arc<SchemaRegistry> {
        &self.registry
    }

    /// Every entry published through [`Pipeline::publish`] (entries this
    /// node's clients sign), once stored and known to the registry. Entries
    /// of peers and imports are not announced: they are already out there.
    /// A receiver that falls behind by more than a few thousand entries
    /// misses some (`RecvError::Lagged`).
    pub fn published(&self) -> broadcast::Receiver<Arc<Published>> {
        self.published.subscribe()
    }

    /// One entry from a client: checked, appended durably, applied to the
    /// registry and announced. A rejected entry stores nothing.
    pub async fn publish(&self, entry: &[u8], operation: &[u8]) -> Result<Ingested, IngestError> {
        let ingested = self.store.ingest(entry, operation, self).await?;
        log_failure(self.registry.on_ingested(&self.store, &ingested).await);
        if self.published.receiver_count() > 0 {
            let _ = self.published.send(Arc::new(Published {
                entry: entry.to_vec(),
                operation: operation.to_vec(),
                schema_id: ingested.schema_id.clone(),
            }));
        }
        Ok(ingested)
    }

    /// Many entries at once (replication, import), in the given order (a
    /// log's entries in seq order): one result per entry, a rejected entry
    /// stores nothing and does not stop the others.
    pub async fn ingest(
        &self,
        items: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        self.begin(items).await?.finish().await
    }

    /// The first half of [`Pipeline::ingest`]: checks the entries and queues
    /// them to the store's writer. A caller streaming entries checks the
    /// next batch while this one is appended; batches must be finished in
    /// the order they were begun.
    pub async fn begin(&self, items: &[(Vec<u8>, Vec<u8>)]) -> Result<Batch, StoreError> {
        Ok(Batch {
            pipeline: self.clone(),
            bulk: self.store.begin_bulk(items, self).await?,
        })
    }
}

/// Entries begun with [`Pipeline::begin`].
#[must_use = "the entries' results arrive through `finish`"]
pub struct Batch {
    pipeline: Pipeline,
    bulk: BulkIngest,
}

impl Batch {
    /// Waits until every entry is appended or rejected, then applies the
    /// stored ones to the registry: a schema that arrived in this batch is
    /// usable when this returns.
    pub async fn finish(self) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        let results = self.bulk.finish().await?;
        let system: Vec<Ingested> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|i| matches!(i.schema_id, SchemaId::System(..)))
            .cloned()
            .collect();
        if !system.is_empty() {
            let pipeline = &self.pipeline;
            // A batch may hold several views of one definition.
            log_failure(
                pipeline
                    .registry
                    .on_ingested_batch(&pipeline.store, &system)
                    .await,
            );
        }
        Ok(results)
    }
}

/// The entries are stored whatever happens to the registry's update: a
/// failure is logged, and the registry catches up at its next change or at
/// the next start.
fn log_failure(result: Result<(), StoreError>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "schema registry update failed");
    }
}
