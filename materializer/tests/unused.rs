//! Unused views: a view that is no longer current is kept by view id only
//! while a current view pins it (a pinned relation or a pinned list item);
//! it is collected as it becomes unused, and a pin to a view no row holds
//! brings it back, reduced from its document.

mod common;

use std::sync::Arc;

use common::*;
use hoffnung_core::{DocumentViewId, Hash, KeyPair, Operation, OperationValue, Schema};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{backend_tests, Store};

fn view(op: Hash) -> DocumentViewId {
    DocumentViewId::from_operation(op)
}

/// Whether a row (current or history) holds this view.
async fn stored(store: &Store, schema: &Schema, view: &DocumentViewId) -> bool {
    let table = store.views().table(schema);
    store.stored_view(&table, view).await.unwrap().is_some()
}

fn title_update(schema: &Schema, previous: Hash, title: &str) -> Operation {
    Operation::update(
        schema.id().clone(),
        view(previous),
        fields(&[("title", s(title))]),
    )
}

backend_tests! {
    views_nothing_can_pin_leave_no_history(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let key = KeyPair::from_private_key(&[1; 32]);
        let note = define_schema(&store, &registry, &key, "note", &[("title", "str")]).await;
        let mut last = publish(&store, &registry, &key, &Operation::create(
            note.id().clone(), fields(&[("title", s("v1"))]),
        )).await.operation_id;
        let mut views = vec![view(last)];
        for t in ["v2", "v3", "v4"] {
            last = publish(&store, &registry, &key, &title_update(&note, last, t)).await.operation_id;
            views.push(view(last));
            materializer.caught_up().await.unwrap();
        }
        for v in &views[..3] {
            assert!(!stored(&store, &note, v).await, "{v} was kept");
        }
        assert!(stored(&store, &note, &views[3]).await, "the current view");
        // Nothing left for a sweep either.
        let tables = [store.views().table(&note)];
        assert_eq!(store.collect_unused_views(&tables, true).await.unwrap()[0].views, 0);
        materializer.shutdown().await;
        store.close().await;
    }

    a_pinned_view_is_kept_while_pinned(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let key = KeyPair::from_private_key(&[2; 32]);
        let note = define_schema(&store, &registry, &key, "note", &[("title", "str")]).await;
        let pin = format!("pinned_relation({})", note.id());
        let pins = format!("pinned_relation_list({})", note.id());
        let mark = define_schema(&store, &registry, &key, "bookmark", &[("note", pin.as_str())]).await;
        let list = define_schema(&store, &registry, &key, "reading", &[("notes", pins.as_str())]).await;

        let v1 = publish(&store, &registry, &key, &Operation::create(
            note.id().clone(), fields(&[("title", s("v1"))]),
        )).await.operation_id;
        let bookmark = publish(&store, &registry, &key, &Operation::create(
            mark.id().clone(), fields(&[("note", OperationValue::PinnedRelation(view(v1)))]),
        )).await;
        let v2 = publish(&store, &registry, &key, &title_update(&note, v1, "v2")).await.operation_id;
        let v3 = publish(&store, &registry, &key, &title_update(&note, v2, "v3")).await.operation_id;
        materializer.caught_up().await.unwrap();
        // v1 is pinned, v2 (passed through) is not.
        assert!(stored(&store, &note, &view(v1)).await);
        assert!(!stored(&store, &note, &view(v2)).await);

        // The bookmark moves to v3: v1 goes. A list pins v3; then v3 is
        // replaced and stays, pinned twice.
        let moved = publish(&store, &registry, &key, &Operation::update(
            mark.id().clone(), view(bookmark.operation_id),
            fields(&[("note", OperationValue::PinnedRelation(view(v3)))]),
        )).await;
        materializer.caught_up().await.unwrap();
        assert!(!stored(&store, &note, &view(v1)).await, "v1 is unused");
        let reading = publish(&store, &registry, &key, &Operation::create(
            list.id().clone(), fields(&[("notes", OperationValue::PinnedRelationList(vec![view(v3)]))]),
        )).await;
        let v4 = publish(&store, &registry, &key, &title_update(&note, v3, "v4")).await.operation_id;
        materializer.caught_up().await.unwrap();
        assert!(stored(&store, &note, &view(v3)).await);

        // The bookmark is deleted: the list still pins v3. Then the list
        // is emptied: v3 goes.
        publish(&store, &registry, &key, &Operation::delete(mark.id().clone(), view(moved.operation_id))).await;
        materializer.caught_up().await.unwrap();
        assert!(stored(&store, &note, &view(v3)).await, "still in the list");
        publish(&store, &registry, &key, &Operation::update(
            list.id().clone(), view(reading.operation_id),
            fields(&[("notes", OperationValue::PinnedRelationList(vec![]))]),
        )).await;
        materializer.caught_up().await.unwrap();
        assert!(!stored(&store, &note, &view(v3)).await, "v3 is unused");
        assert!(stored(&store, &note, &view(v4)).await, "the current view");
        materializer.shutdown().await;
        store.close().await;
    }

    a_pin_to_a_view_no_row_holds_brings_it_back(db) {
        let store = db.store().await;
        let registry = Arc::new(SchemaRegistry::new(None));
        let materializer = start(&store, &registry).await;
        let key = KeyPair::from_private_key(&[3; 32]);
        let note = define_schema(&store, &registry, &key, "note", &[("title", "str")]).await;
        let pins = format!("pinned_relation_list({})", note.id());
        let list = define_schema(&store, &registry, &key, "reading", &[("notes", pins.as_str())]).await;
        let created = publish(&store, &registry, &key, &Operation::create(
            note.id().clone(), fields(&[("title", s("first words"))]),
        )).await;
        let v1 = created.operation_id;
        let v2 = publish(&store, &registry, &key, &title_update(&note, v1, "second")).await.operation_id;
        materializer.caught_up().await.unwrap();
        assert!(!stored(&store, &note, &view(v1)).await);

        // A list pins the old view (a client that saw it): it is reduced
        // again and kept, with its fields as they were.
        publish(&store, &registry, &key, &Operation::create(
            list.id().clone(), fields(&[("notes", OperationValue::PinnedRelationList(vec![view(v1), view(v2)]))]),
        )).await;
        materializer.caught_up().await.unwrap();
        let table = store.views().table(&note);
        let back = store.stored_view(&table, &view(v1)).await.unwrap().expect("brought back");
        assert_eq!(back.fields.unwrap()["title"], s("first words"));
        assert_eq!(back.document_id, created.document_id);
        // The sweep finds nothing to take while the list pins it; told of
        // no table that pins, it takes it.
        let all = [store.views().table(&note), store.views().table(&list)];
        assert_eq!(store.collect_unused_views(&all, false).await.unwrap()[0].views, 0);
        assert!(stored(&store, &note, &view(v1)).await);
        let alone = [store.views().table(&note)];
        assert_eq!(store.collect_unused_views(&alone, true).await.unwrap()[0].views, 1);
        assert!(stored(&store, &note, &view(v1)).await, "a dry run changes nothing");
        assert_eq!(store.collect_unused_views(&alone, false).await.unwrap()[0].views, 1);
        assert!(!stored(&store, &note, &view(v1)).await);
        materializer.shutdown().await;
        store.close().await;
    }
}
