//! Every view of the vectors by view id, and every recorded GraphQL
//! example (`graphql_examples.json`) through the real endpoint, blobs'
//! among them.

mod common;

use common::golden::*;
use common::*;
use hoffnung_store::backend_tests;
use serde_json::{json, Value};

backend_tests! {
    every_historic_view_of_the_vectors_by_view_id(db) {
        // Views that were current here come from the tables, the others are
        // reduced on request; all equal documents.json (13.1 cases aside).
        let node = golden_node(db).await;
        let (mut compared, mut computed) = (0, 0);
        for doc in vectors("documents")["documents"].as_array().unwrap() {
            let name = s(&doc["name"]);
            let Some(first) = doc["operations"].as_array().unwrap().first() else { continue };
            if name.starts_with("d2b") || name.starts_with("d3") {
                continue;
            }
            let schema = s(&first["operation"]["schema_id"]);
            for v in doc["views"].as_array().unwrap() {
                let want = &v["result"];
                if want["is_deleted"] == true {
                    continue;
                }
                let scalars: Vec<(&String, &Value)> = want["fields"].as_object().unwrap().iter()
                    .filter(|(_, f)| ["bool", "int", "float", "str"].contains(&s(&f["type"])))
                    .collect();
                let selection: Vec<&str> = scalars.iter().map(|(k, _)| k.as_str()).collect();
                let got = node.graphql(&format!(
                    "{{ doc: {schema}(viewId: \"{}\") {{ meta {{ documentId viewId }} fields {{ {} }} }} }}",
                    s(&v["requested_view_id"]), selection.join(" ")
                ), Value::Null).await;
                let d = &got["data"]["doc"];
                assert_eq!(d["meta"]["viewId"], want["view_id"], "{name}: {got}");
                assert_eq!(d["meta"]["documentId"], want["document_id"], "{name}");
                for (k, f) in scalars {
                    let expected = match s(&f["type"]) {
                        "int" => json!(s(&f["value"]).parse::<i64>().unwrap()),
                        "float" => json!(f["value"].as_f64().unwrap()),
                        _ => f["value"].clone(),
                    };
                    let value = &d["fields"][k];
                    if s(&f["type"]) == "float" {
                        assert_eq!(value.as_f64(), expected.as_f64(), "{name}.{k}");
                    } else {
                        assert_eq!(value, &expected, "{name}.{k}");
                    }
                }
                compared += 1;
                let view_id: hoffnung_core::DocumentViewId = s(&v["requested_view_id"]).parse().unwrap();
                let schema_id: hoffnung_core::SchemaId = schema.parse().unwrap();
                let table = node.node.store().views().table(
                    &hoffnung_store::SchemaSource::schema(node.node.registry().as_ref(), &schema_id).unwrap(),
                );
                if node.node.store().stored_view(&table, &view_id).await.unwrap().is_none() {
                    computed += 1;
                }
            }
        }
        assert!(compared >= 10, "only {compared} views compared");
        assert!(computed >= 1, "no view was reduced on request");
        node.stop().await;
    }
}

backend_tests! {
    relation_lists_of_historic_views(db) {
        // `note`'s definition was updated: its first view lists its own
        // field definitions, which a viewId query must show.
        let node = golden_node(db).await;
        let seq = vectors("publish_sequence");
        let hash_of = |name: &str| -> String {
            s(&seq["entries"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap()["entry_hash"]).to_string()
        };
        let first = hash_of("note.schema_definition");
        let table = node.node.store().views().table(
            &hoffnung_core::Schema::system(&hoffnung_core::SchemaId::SCHEMA_DEFINITION_V1).unwrap(),
        );
        let stored = node.node.store().stored_view(&table, &first.parse().unwrap()).await.unwrap().unwrap();
        let hoffnung_core::OperationValue::PinnedRelationList(pinned) = &stored.fields.as_ref().unwrap()["fields"] else {
            panic!("fields is a pinned relation list");
        };
        let got = node.graphql(&format!(
            "{{ doc: schema_definition_v1(viewId: \"{first}\") {{ fields {{ name fields {{ totalCount documents {{ meta {{ viewId }} fields {{ name type }} }} }} }} }} }}"
        ), Value::Null).await;
        let list = &got["data"]["doc"]["fields"]["fields"];
        assert_eq!(list["totalCount"], pinned.len(), "{got}");
        let views: Vec<String> = list["documents"].as_array().unwrap().iter().map(|d| s(&d["meta"]["viewId"]).to_string()).collect();
        assert_eq!(views, pinned.iter().map(|v| v.to_string()).collect::<Vec<_>>());
        assert!(list["documents"][0]["fields"]["name"].is_string());
        node.stop().await;
    }
}

/// Examples whose answer another test here asserts (corrected per SPEC 13,
/// or with node-specific cursors), and those that need blobs (a later
/// issue) or documents the vectors do not carry (`relation_list_order`
/// publishes entries that are not in the file).
const ASSERTED_ELSEWHERE: &[&str] = &[
    "collection_first_page",
    "collection_second_page",
    "collection_filter_order",
    "collection_meta_filter_edited_upstream_bug",
    "document_d2b_delete_sorted_first",
    "document_d3_merge_popped_before_dependency",
    "document_by_historic_view_id",
];
const LATER: &[&str] = &["relation_list_order"];

/// Examples asserted by `blob_examples_of_the_vectors`.
fn is_blob_example(name: &str) -> bool {
    name.starts_with("blob_")
}

backend_tests! {
    every_graphql_example_of_the_vectors(db) {
        // nextArgs, publish errors, documents, collections: the recorded data
        // exactly (with the 13.1 corrections), an error where upstream gave one.
        let node = golden_node(db).await;
        let mut checked = 0;
        for ex in vectors("graphql_examples")["examples"].as_array().unwrap() {
            let name = s(&ex["name"]);
            if ex["kind"] != "graphql" || ASSERTED_ELSEWHERE.contains(&name) || LATER.contains(&name) || is_blob_example(name) {
                continue;
            }
            let before = node.counts().await;
            let got = ask(&node, ex).await;
            let want = &ex["response"];
            if want["errors"].is_array() {
                assert!(got["errors"].is_array(), "{name}: expected an error, got {got}");
                assert!(got["errors"][0]["extensions"]["code"].is_string(), "{name}: {got}");
                // A refused publish stores nothing.
                assert_eq!(node.counts().await, before, "{name}");
            } else {
                assert_eq!(numbers_as_floats(got), numbers_as_floats(corrected(name, want.clone())), "{name}");
            }
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} examples checked");
        // GET /graphql answers with a GraphQL IDE, as upstream's playground.
        let html = node.client.get(node.node.graphql_url()).send().await.unwrap();
        assert_eq!(html.status(), 200);
        assert!(html.text().await.unwrap().to_lowercase().contains("graphiql"));
        node.stop().await;
    }
}

backend_tests! {
    blob_examples_of_the_vectors(db) {
        // Upstream got one piece and one blob signed by key A after the
        // publish sequence: signed again here, they have the same ids.
        use hoffnung_core::{DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId};
        let node = golden_node(db).await;
        let keys = vectors("keys");
        let a = keys["key_pairs"].as_array().unwrap().iter().find(|k| k["name"] == "A").unwrap();
        let key = KeyPair::from_private_key_hex(s(&a["private_key"])).unwrap();
        let mut f = Fields::new();
        f.insert("data".into(), OperationValue::Bytes("Hello, blob! ".repeat(10).into_bytes()));
        let piece = node.publish_operation(&key, &Operation::create(SchemaId::BLOB_PIECE_V1, f)).await;
        let mut f = Fields::new();
        f.insert("length".into(), OperationValue::Int(130));
        f.insert("mime_type".into(), OperationValue::Str("text/plain".into()));
        f.insert("pieces".into(), OperationValue::PinnedRelationList(vec![DocumentViewId::from_operation(piece)]));
        let blob = node.publish_operation(&key, &Operation::create(SchemaId::BLOB_V1, f)).await;
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let mut checked = 0;
        for ex in vectors("graphql_examples")["examples"].as_array().unwrap() {
            let name = s(&ex["name"]);
            if !is_blob_example(name) {
                continue;
            }
            assert!(serde_json::to_string(ex).unwrap().contains(&blob.to_hex()) || name.ends_with("not_a_blob") || name.ends_with("bad_id"), "{name} is about another blob than {blob}");
            if ex["kind"] == "graphql" {
                assert_eq!(ask(&node, ex).await, ex["response"], "{name}");
            } else {
                let req = &ex["request"];
                let mut get = node.client.get(format!("http://{}{}", node.node.addr(), s(&req["path"])));
                for (h, v) in req["headers"].as_object().unwrap() {
                    get = get.header(h.as_str(), s(v));
                }
                // The file is written right after the view: wait for it.
                let mut r = get.try_clone().unwrap().send().await.unwrap();
                for _ in 0..500 {
                    if r.status() != 404 || ex["http_status"] == 404 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    r = get.try_clone().unwrap().send().await.unwrap();
                }
                assert_eq!(r.status().as_u16(), ex["http_status"], "{name}");
                for (h, v) in ex["response_headers"].as_object().unwrap() {
                    assert_eq!(r.headers().get(h.as_str()).and_then(|x| x.to_str().ok()), v.as_str(), "{name}: {h}");
                }
                assert_eq!(r.text().await.unwrap(), s(&ex["response_body"]), "{name}");
            }
            checked += 1;
        }
        assert_eq!(checked, 6);
        node.stop().await;
    }
}
