//! The ingest pipeline: every path applies the same policy, stored schemas
//! are usable at once, and only client publishes are announced.

use std::sync::Arc;

use hoffnung_core::{DocumentViewId, EncodedEntry, Fields, KeyPair, Operation, SchemaId};
use hoffnung_schema_registry::{Pipeline, SchemaRegistry};
use hoffnung_store::{backend_tests, ErrorCode, SchemaSource};
use tokio::sync::broadcast::error::TryRecvError;

mod support;
use support::{create, definition, field, str_value};

/// Encoded entries with their operations.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A field definition and a definition pinning it, both signed by `key`;
/// and the id of the schema they define.
fn schema_entries(key: &KeyPair, name: &str) -> (Entries, SchemaId) {
    let title = create(key, 0, &field("title", "str"));
    let title_id = EncodedEntry::decode(&title.0).unwrap().hash();
    let def = create(
        key,
        1,
        &definition(name, vec![DocumentViewId::from_operation(title_id)]),
    );
    let def_id = EncodedEntry::decode(&def.0).unwrap().hash();
    let schema_id = SchemaId::application(name, DocumentViewId::from_operation(def_id)).unwrap();
    (vec![title, def], schema_id)
}

fn document(schema_id: &SchemaId, title: &str) -> Operation {
    let mut f = Fields::new();
    f.insert("title".into(), str_value(title));
    Operation::create(schema_id.clone(), f)
}

backend_tests! {
    a_schema_ingested_in_a_batch_is_usable_when_the_batch_finishes(db) {
        let store = db.store().await;
        let pipeline = Pipeline::new(store.clone(), Arc::new(SchemaRegistry::new(None)));
        let key = KeyPair::from_private_key(&[5; 32]);
        let (entries, schema_id) = schema_entries(&key, "from_a_peer");
        let results = pipeline.ingest(&entries).await.unwrap();
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        assert!(pipeline.registry().schema(&schema_id).is_some());
        // A client can publish to it right away, through the same pipeline.
        let doc = create(&key, 2, &document(&schema_id, "first"));
        let ingested = pipeline.publish(&doc.0, &doc.1).await.unwrap();
        assert_eq!(ingested.schema_id, schema_id);
        store.close().await;
    }

    the_allow_list_refuses_on_every_path_and_stores_nothing(db) {
        let store = db.store().await;
        let allow = [SchemaId::SCHEMA_FIELD_DEFINITION_V1].into();
        let pipeline = Pipeline::new(store.clone(), Arc::new(SchemaRegistry::new(Some(allow))));
        let key = KeyPair::from_private_key(&[6; 32]);
        let (entries, _) = schema_entries(&key, "refused");
        // The definition is of a schema not on the list: refused as such,
        // not as a schema still missing (which replication would hold back).
        let err = pipeline.publish(&entries[1].0, &entries[1].1).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::SchemaNotAccepted);
        assert!(!err.code().is_missing_dependency());
        let results = pipeline.ingest(&entries).await.unwrap();
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert_eq!(results[1].as_ref().unwrap_err().code(), ErrorCode::SchemaNotAccepted);
        assert_eq!(store.entry_count().await.unwrap(), 1, "only the allowed entry");
        store.close().await;
    }

    only_publishes_are_announced(db) {
        let store = db.store().await;
        let pipeline = Pipeline::new(store.clone(), Arc::new(SchemaRegistry::new(None)));
        let mut published = pipeline.published();
        let key = KeyPair::from_private_key(&[4; 32]);
        let (entries, _) = schema_entries(&key, "announced");
        pipeline.publish(&entries[0].0, &entries[0].1).await.unwrap();
        let p = published.try_recv().unwrap();
        assert_eq!((&p.entry, &p.operation), (&entries[0].0, &entries[0].1));
        assert_eq!(p.schema_id, SchemaId::SCHEMA_FIELD_DEFINITION_V1);
        // Rejected (already stored): nothing announced.
        assert!(pipeline.publish(&entries[0].0, &entries[0].1).await.is_err());
        // A batch (replication, import): stored, not announced again.
        let results = pipeline.ingest(&entries[1..]).await.unwrap();
        assert!(results.iter().all(|r| r.is_ok()));
        assert!(matches!(published.try_recv(), Err(TryRecvError::Empty)));
        store.close().await;
    }
}
