//! Schemas become active when their documents are stored, in any order.

use std::sync::Arc;

use hoffnung_core::{DocumentViewId, KeyPair, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{backend_tests, Ingested, SchemaSource, Store};

mod support;
use support::{create, definition, field};

async fn ingest(store: &Store, registry: &SchemaRegistry, item: &(Vec<u8>, Vec<u8>)) -> Ingested {
    let ingested = store.ingest(&item.0, &item.1, registry).await.unwrap();
    registry.on_ingested(store, &ingested).await.unwrap();
    ingested
}

backend_tests! {
    definition_before_its_field_becomes_active_when_the_field_arrives(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let key = KeyPair::from_private_key(&[9; 32]);
        let title = create(&key, 0, &field("title", "str"));
        let title_id = hoffnung_core::EncodedEntry::decode(&title.0).unwrap().hash();
        // The definition pins a field definition the node does not have yet
        // (as replication may deliver them).
        let def = create(&key, 1, &definition("late_fields", vec![DocumentViewId::from_operation(title_id)]));
        let def_ingested = ingest(&store, &registry, &def).await;
        let schema_id = SchemaId::application("late_fields", DocumentViewId::from_operation(def_ingested.operation_id)).unwrap();
        assert!(registry.schema(&schema_id).is_none());
        let version = registry.subscribe();
        ingest(&store, &registry, &title).await;
        assert!(registry.schema(&schema_id).is_some(), "active once its field is stored");
        assert!(version.has_changed().unwrap());
        // A restarted registry finds it too.
        let reloaded = SchemaRegistry::load(&store, None).await.unwrap();
        assert!(reloaded.schema(&schema_id).is_some());
        store.close().await;
    }

    invalid_definition_never_becomes_active(db) {
        let store = db.store().await;
        let registry = SchemaRegistry::new(None);
        let key = KeyPair::from_private_key(&[8; 32]);
        // An empty field list is accepted at publish but can never be built.
        let def = create(&key, 0, &definition("no_fields", vec![]));
        let ingested = ingest(&store, &registry, &def).await;
        let schema_id = SchemaId::application("no_fields", DocumentViewId::from_operation(ingested.operation_id)).unwrap();
        assert!(registry.schema(&schema_id).is_none());
        assert_eq!(registry.schemas().len(), 4, "only the system schemas");
        store.close().await;
    }

    allow_list_keeps_other_schemas_out(db) {
        let store = db.store().await;
        let registry = SchemaRegistry::new(Some([SchemaId::SCHEMA_FIELD_DEFINITION_V1, SchemaId::SCHEMA_DEFINITION_V1].into()));
        assert!(registry.schema(&SchemaId::BLOB_V1).is_none());
        let key = KeyPair::from_private_key(&[7; 32]);
        let title = create(&key, 0, &field("title", "str"));
        let title_id = hoffnung_core::EncodedEntry::decode(&title.0).unwrap().hash();
        ingest(&store, &registry, &title).await;
        let def = create(&key, 1, &definition("not_allowed", vec![DocumentViewId::from_operation(title_id)]));
        let ingested = ingest(&store, &registry, &def).await;
        let schema_id = SchemaId::application("not_allowed", DocumentViewId::from_operation(ingested.operation_id)).unwrap();
        assert!(registry.schema(&schema_id).is_none());
        assert!(!registry.allows(&schema_id));
        store.close().await;
    }
}
