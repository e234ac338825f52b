//! The vectors' state in a node, and upstream's recorded GraphQL answers
//! (`graphql_examples.json`) with hoffnung's documented corrections: shared
//! by `queries.rs` and `queries_vectors.rs`.

use serde_json::{json, Value};

use super::{s, vectors, TestNode};

pub fn example(name: &str) -> Value {
    vectors("graphql_examples")["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no example {name}"))
        .clone()
}

pub async fn ask(node: &TestNode, ex: &Value) -> Value {
    let req = &ex["request"];
    node.graphql(s(&req["query"]), req["variables"].clone())
        .await
}

/// A node holding the vectors' state, its documents materialized and every
/// schema queryable.
pub async fn golden_node(db: &hoffnung_store::test_utils::TestDb) -> TestNode {
    let node = TestNode::start(db).await;
    node.replay_publish_sequence().await;
    node.node.materializer().unwrap().caught_up().await.unwrap();
    // The schema rebuild follows the registry asynchronously.
    for _ in 0..200 {
        let got = ask(&node, &example("collection_first_page")).await;
        if got["errors"].is_null() {
            return node;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("all_types never became queryable");
}

/// Removes the values of `cursor` / `endCursor` (opaque, node-specific).
pub fn without_cursors(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "cursor" || k == "endCursor" {
                        assert!(x.is_string(), "cursor is a string: {x}");
                        *x = Value::Null;
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// Every number as a float: the recordings went through a JSON parser that
/// wrote upstream's `1.0` as `1` (floats' exact text is checked on the raw
/// response in `floats_keep_their_fraction`).
pub fn numbers_as_floats(v: Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_floats).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (k, numbers_as_floats(x)))
                .collect(),
        ),
        other => other,
    }
}

/// Upstream's answers that hoffnung gives exactly, or with the corrections
/// of [`corrected`].
pub const EXACT: &[&str] = &[
    "document_by_id",
    "document_by_latest_view_id",
    "document_d2a_delete_sorted_last",
    "document_d4_merge_visited_twice",
    "document_not_found",
    "note_pinned_view",
    "collection_filter_string",
    "collection_meta_filter_deleted",
    "collection_meta_filter_owner",
    "collection_order_by_meta",
    "collection_schema_definitions",
    "typename",
];

/// The view id of d1, d3 and d4 (the documents left of `all_types` once d2b
/// is deleted).
pub const D1_VIEW: &str = "00205570cad48371efcaef32664218da618e738ed19b3a535af984ee9a3361a4182c_0020565616753953ea04b2353d82edda70e08696c91d61372bd3168f6ea29b1e1d04";

/// Upstream's answer as hoffnung must give it: d2b (`0020f3b7…`) is deleted
/// here (delete wins, SPEC 13.1), so it leaves every collection of
/// `all_types`; d3 holds its merge's values.
pub fn corrected(name: &str, mut upstream: Value) -> Value {
    let data = &mut upstream["data"];
    match name {
        "collection_meta_filter_deleted" => data["live"]["totalCount"] = json!(3),
        "collection_meta_filter_owner" => data["owner"]["totalCount"] = json!(3),
        "collection_order_by_meta" => {
            // DESC by view id, first 3: d2b's view (`0020edce…`) is gone, d1's follows.
            let docs = data["all"]["documents"].as_array_mut().unwrap();
            assert_eq!(
                docs.remove(0)["meta"]["viewId"],
                "0020edceb31e11153e83e0e0b8692e19b55d12517adccb0ea3fd541103b277a8b6b2"
            );
            docs.push(json!({ "meta": { "viewId": D1_VIEW } }));
        }
        _ => {}
    }
    upstream
}

/// Upstream answers with an error; so does hoffnung, with the same message.
pub const ERRORS: &[&str] = &[
    "document_by_id_and_view_id",
    "document_without_id",
    "collection_first_zero",
    "collection_bad_cursor",
];
