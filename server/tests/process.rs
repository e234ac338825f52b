//! Real processes: the `hoffnung` binary killed hard after accepting
//! entries, and the real p2panda-js client publishing to a node.

mod common;

use std::time::Duration;

use common::*;
use hoffnung_core::{DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::test_utils::presigned_documents;
use hoffnung_store::{backend_tests, SchemaSource, Store, StoreConfig};

/// Publishes a one-field (`title: str`) schema through `store`; its id.
async fn define_title_schema(store: &Store, registry: &SchemaRegistry, key: &KeyPair) -> SchemaId {
    let publish = |op: Operation, log_id: u64| {
        let bytes = op.encode();
        let args = hoffnung_core::entry::NextArgs {
            log_id,
            seq_num: 1,
            backlink: None,
            skiplink: None,
        };
        let entry = hoffnung_core::sign_entry(key, &args, &bytes).unwrap();
        (entry.as_bytes().to_vec(), bytes)
    };
    let mut f = Fields::new();
    f.insert("name".into(), OperationValue::Str("title".into()));
    f.insert("type".into(), OperationValue::Str("str".into()));
    let field = publish(
        Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f),
        0,
    );
    let done = store.ingest(&field.0, &field.1, registry).await.unwrap();
    registry.on_ingested(store, &done).await.unwrap();
    let mut f = Fields::new();
    f.insert("name".into(), OperationValue::Str("crash_note".into()));
    f.insert(
        "description".into(),
        OperationValue::Str("crash test".into()),
    );
    f.insert(
        "fields".into(),
        OperationValue::PinnedRelationList(vec![DocumentViewId::from_operation(done.operation_id)]),
    );
    let def = publish(Operation::create(SchemaId::SCHEMA_DEFINITION_V1, f), 1);
    let done = store.ingest(&def.0, &def.1, registry).await.unwrap();
    registry.on_ingested(store, &done).await.unwrap();
    let id = SchemaId::application(
        "crash_note",
        DocumentViewId::from_operation(done.operation_id),
    )
    .unwrap();
    assert!(registry.schema(&id).is_some());
    id
}

/// Starts `hoffnung node` on `database_url` at a free port.
fn spawn_node(database_url: &str) -> NodeProcess {
    // The node key goes to a data dir that outlives the process.
    let home = tempfile::tempdir().expect("temp dir").keep();
    let mut cmd = hoffnung(&home);
    cmd.args(["node", "--database-url", database_url]);
    NodeProcess::start(cmd)
}

backend_tests! {
    killed_node_keeps_every_accepted_entry(db) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let entries = vectors("publish_sequence")["entries"].as_array().unwrap().clone();
        let mut node = spawn_node(&db.url);
        let url = node.url.clone();
        let mut accepted = 0;
        for e in entries.iter().take(30) {
            let got = post(&client, &url, PUBLISH, serde_json::json!({
                "entry": s(&e["entry_hex"]), "operation": s(&e["operation_hex"]) })).await;
            assert!(got["errors"].is_null(), "{got}");
            accepted += 1;
        }
        // SIGKILL: no shutdown path runs.
        node.child.kill().expect("kill");
        node.child.wait().expect("reaped");
        let store = Store::connect(&db.url, StoreConfig::default()).await.unwrap();
        assert_eq!(store.entry_count().await.unwrap(), accepted);
        store.close().await;
        // A restarted node continues the logs.
        let mut node = spawn_node(&db.url);
        let url = node.url.clone();
        let e = &entries[30];
        let req = &e["next_args_request"];
        let got = post(&client, &url, NEXT_ARGS, serde_json::json!({
            "publicKey": s(&req["publicKey"]), "viewId": req["viewId"] })).await;
        assert_eq!(got["data"]["nextArgs"], e["next_args_response"], "{got}");
        node.child.kill().expect("kill");
        node.child.wait().expect("reaped");
    }

    killed_node_loses_no_materialization(db) {
        // A backlog of 30,000 operations that no materializer has seen yet.
        let store = Store::connect(&db.url, StoreConfig::default()).await.unwrap();
        let registry = SchemaRegistry::new(None);
        let key = KeyPair::from_private_key(&[77; 32]);
        let schema_id = define_title_schema(&store, &registry, &key).await;
        let title = |d: usize, r: usize| {
            let mut f = Fields::new();
            f.insert("title".into(), OperationValue::Str(format!("{d} {r}")));
            f
        };
        let (entries, last_ops) = presigned_documents(&key, &schema_id, 2, 7_500, 3, title);
        for chunk in entries.chunks(5_000) {
            for r in store.ingest_bulk(chunk, &registry).await.unwrap() {
                r.unwrap();
            }
        }
        let last = store.last_entry_id().await.unwrap();
        assert_eq!(store.materializer_cursor().await.unwrap(), 0);

        // The node materializes it; SIGKILL as soon as its first batch is in.
        let mut node = spawn_node(&db.url);
        let mut polls = 0;
        while store.materializer_cursor().await.unwrap() == 0 {
            polls += 1;
            assert!(polls < 30_000, "the node never materialized");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        node.child.kill().expect("kill");
        node.child.wait().expect("reaped");
        let at_kill = store.materializer_cursor().await.unwrap();
        assert!(at_kill < last, "killed mid-way ({at_kill} of {last}), else this test shows nothing");

        // Restarted, it resumes from the stored cursor and finishes.
        let mut node = spawn_node(&db.url);
        let mut polls = 0;
        while store.materializer_cursor().await.unwrap() < last {
            polls += 1;
            assert!(polls < 6_000, "the restarted node never caught up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node.child.kill().expect("kill");
        node.child.wait().expect("reaped");
        let schema = registry.schema(&schema_id).unwrap();
        let rows = store.current_views(&store.views().table(&schema)).await.unwrap();
        assert_eq!(rows.len(), last_ops.len());
        let by_doc: std::collections::HashMap<_, _> = rows.into_iter().map(|r| (r.document_id, r)).collect();
        for (d, (doc, last_op)) in last_ops.iter().enumerate() {
            let row = &by_doc[doc];
            assert_eq!(row.view_id, DocumentViewId::from_operation(*last_op));
            assert_eq!(row.fields.as_ref().unwrap()["title"], OperationValue::Str(format!("{d} 3")));
        }
        store.close().await;
    }

    p2panda_js_publishes_schema_and_documents(db) {
        let node = TestNode::start(db).await;
        let url = node.node.graphql_url();
        let output = tokio::task::spawn_blocking(move || {
            common::e2e::node_script("publish.mjs", &[url], Duration::from_secs(120))
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "p2panda-js client failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(
            output.stdout.split(|b| *b == b'\n').rev().find(|l| !l.is_empty()).unwrap(),
        )
        .unwrap();
        assert_eq!(report["entries"], 6);
        // The client read its documents back through `all_` and a single query.
        assert_eq!(report["queried"]["collection"], 2);
        assert_eq!(report["queried"]["subscription"], true);
        assert_eq!(node.counts().await.0, 6);
        let schema_id: hoffnung_core::SchemaId = s(&report["schemaId"]).parse().unwrap();
        assert!(hoffnung_store::SchemaSource::schema(node.node.registry().as_ref(), &schema_id).is_some());
        for doc in report["documents"].as_array().unwrap() {
            let view: hoffnung_core::Hash = s(&doc["viewId"]).parse().unwrap();
            assert!(node.node.store().has_entry(&view).await.unwrap());
        }
        // Its documents are materialized with what the client wrote.
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let schema = node.node.registry().schema(&schema_id).unwrap();
        let table = node.node.store().views().table(&schema);
        for doc in report["documents"].as_array().unwrap() {
            let id: hoffnung_core::Hash = s(&doc["id"]).parse().unwrap();
            let row = node.node.store().current_view(&table, &id).await.unwrap().expect("materialized");
            assert_eq!(row.view_id.to_string(), s(&doc["viewId"]));
            let fields = row.fields.unwrap();
            assert_eq!(fields["title"], OperationValue::Str(s(&doc["fields"]["title"]).to_string()));
            assert_eq!(fields["count"], OperationValue::Int(doc["fields"]["count"].as_i64().unwrap()));
        }
        // The updated document continues its log at seq 3.
        let got = node.next_args(s(&report["publicKey"]), Some(s(&report["documents"][0]["viewId"]))).await;
        assert_eq!(got["data"]["nextArgs"]["seqNum"], "3", "{got}");
        node.stop().await;
    }
}
