//! The publish path through the real GraphQL endpoint of a running node,
//! on SQLite and (when configured) PostgreSQL.

mod common;

use common::*;
use hoffnung_core::entry::NextArgs;
use hoffnung_core::{sign_entry, Fields, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::TestDb;
use serde_json::Value;

/// The API codes that fit each error class of the vectors.
fn codes_of_class(class: &str) -> &'static [&'static str] {
    match class {
        "entry_decode" => &["INVALID_ENTRY"],
        "entry_links" => &["INVALID_ENTRY"],
        "entry_signature" => &["INVALID_SIGNATURE"],
        "payload_mismatch" => &["PAYLOAD_MISMATCH"],
        "log_integrity" => &["LOG_INTEGRITY"],
        "seq_num" => &["SEQ_NUM_TAKEN", "SEQ_NUM_GAP", "SKIPLINK_ENTRY_MISSING"],
        "log_id" => &["LOG_ID_MISMATCH", "LOG_NOT_FOUND"],
        "operation_decode" => &["INVALID_OPERATION"],
        "schema_not_found" => &["SCHEMA_NOT_FOUND"],
        "schema_validation" => &["OPERATION_DOES_NOT_MATCH_SCHEMA"],
        "document" => &[
            "PREVIOUS_NOT_FOUND",
            "PREVIOUS_FROM_DIFFERENT_DOCUMENTS",
            "PREVIOUS_SCHEMA_MISMATCH",
        ],
        "document_deleted" => &["DOCUMENT_DELETED"],
        other => panic!("unknown class {other}"),
    }
}

fn invalid_case(name: &str) -> Value {
    vectors("invalid")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no invalid case {name}"))
        .clone()
}

/// Publishes and asserts a rejection with `code` that stored nothing.
async fn assert_rejected(node: &TestNode, entry: &str, operation: &str, code: &str) -> Value {
    let before = node.counts().await;
    let got = node.publish(entry, operation).await;
    assert!(got["data"].is_null(), "expected a rejection, got {got}");
    assert_eq!(error_code(&got), Some(code), "{got}");
    assert!(!s(&got["errors"][0]["message"]).is_empty());
    assert_eq!(node.counts().await, before, "nothing stored on rejection");
    got
}

/// A node holding the state of `publish_sequence.json`.
async fn reference_node(db: &TestDb) -> TestNode {
    let node = TestNode::start(db).await;
    node.replay_publish_sequence().await;
    node
}

fn key(name: &str) -> KeyPair {
    let keys = vectors("keys");
    let k = keys["key_pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap();
    KeyPair::from_private_key_hex(s(&k["private_key"])).unwrap()
}

backend_tests! {
    replay_publish_sequence(db) {
        let node = TestNode::start(db).await;
        node.replay_publish_sequence().await;
        assert_eq!(node.counts().await.0, 64);
        // Both versions of `note` and `all_types` are active.
        let schemas = vectors("schemas");
        for app in schemas["application_schemas"].as_array().unwrap() {
            let id: SchemaId = s(&app["schema"]["id"]).parse().unwrap();
            assert!(node.node.registry().allows(&id));
            assert!(hoffnung_store::SchemaSource::schema(node.node.registry().as_ref(), &id).is_some(), "{id}");
        }
        node.stop().await;
    }

    invalid_cases(db) {
        let differs = fixture("hoffnung_differs")["cases"].as_array().unwrap().clone();
        let node = reference_node(db).await;
        let (mut accepted, mut rejected) = (0, 0);
        for c in vectors("invalid")["cases"].as_array().unwrap() {
            let name = s(&c["name"]);
            let (outcome, class) = match differs.iter().find(|d| d["case"] == name) {
                Some(d) => (s(&d["outcome"]), d["error_class"].as_str()),
                None => (s(&c["expected"]), c["error_class"].as_str()),
            };
            if outcome == "reject" {
                let before = node.counts().await;
                let got = node.publish(s(&c["entry_hex"]), s(&c["operation_hex"])).await;
                let code = error_code(&got).unwrap_or_else(|| panic!("{name}: expected rejection, got {got}"));
                assert!(codes_of_class(class.unwrap()).contains(&code), "{name}: code {code} for class {class:?}");
                assert_eq!(node.counts().await, before, "{name}: nothing stored");
                rejected += 1;
            }
        }
        node.stop().await;
        // Accepted cases change the state: each gets a node of its own.
        for c in vectors("invalid")["cases"].as_array().unwrap() {
            let name = s(&c["name"]);
            let outcome = match differs.iter().find(|d| d["case"] == name) {
                Some(d) => s(&d["outcome"]),
                None => s(&c["expected"]),
            };
            if outcome == "accept" {
                let fresh = TestDb::new(db.backend).await.unwrap();
                let node = reference_node(&fresh).await;
                let before = node.counts().await;
                let got = node.publish(s(&c["entry_hex"]), s(&c["operation_hex"])).await;
                assert!(got["errors"].is_null(), "{name}: {got}");
                assert_eq!(node.counts().await.0, before.0 + 1, "{name}");
                node.stop().await;
                fresh.cleanup().await;
                accepted += 1;
            }
        }
        assert_eq!(accepted + rejected, 112);
        eprintln!("invalid.json through GraphQL: {accepted} accepted, {rejected} rejected");
    }

    concurrent_publishes_of_one_seq_num(db) {
        // Two different entries for the same log position, sent at once,
        // many times over: exactly one wins each round.
        let node = TestNode::start(db).await;
        let schema = SchemaId::SCHEMA_FIELD_DEFINITION_V1;
        let k = key("C");
        for round in 0..20u64 {
            let ops: Vec<Vec<u8>> = (0..2)
                .map(|i| {
                    let mut f = Fields::new();
                    f.insert("name".into(), OperationValue::Str(format!("f{round}_{i}")));
                    f.insert("type".into(), OperationValue::Str("str".into()));
                    Operation::create(schema.clone(), f).encode()
                })
                .collect();
            let args = NextArgs { log_id: round, seq_num: 1, backlink: None, skiplink: None };
            // Same log id and seq num: both claim log `round`, position 1.
            let entries: Vec<String> = ops.iter().map(|op| sign_entry(&k, &args, op).unwrap().to_hex()).collect();
            let ops_hex: Vec<String> = ops.iter().map(hex::encode).collect();
            let (a, b) = futures::join!(
                node.publish(&entries[0], &ops_hex[0]),
                node.publish(&entries[1], &ops_hex[1])
            );
            let wins = [&a, &b].iter().filter(|r| r["errors"].is_null()).count();
            assert_eq!(wins, 1, "round {round}: {a} / {b}");
            let loser = if a["errors"].is_null() { &b } else { &a };
            assert_eq!(error_code(loser), Some("SEQ_NUM_TAKEN"), "{loser}");
        }
        assert_eq!(node.counts().await, (20, 20, 20));
        // Lost races, not forks: no log is frozen, each goes on.
        let forks = node.graphql("{ forks { logId } forkedAuthors }", Value::Null).await;
        assert_eq!(forks["data"]["forks"], serde_json::json!([]), "{forks}");
        assert_eq!(forks["data"]["forkedAuthors"], serde_json::json!([]), "{forks}");
        node.stop().await;
    }

    accepted_entries_survive_a_restart(db) {
        let node = reference_node(db).await;
        let before = node.counts().await;
        node.stop().await;
        let node = TestNode::start(db).await;
        assert_eq!(node.counts().await, before);
        // The log continues where it was.
        let long = &vectors("log");
        let got = node.next_args(s(&long["public_key"]), Some(s(&long["entries"][23]["entry_hash"]))).await;
        assert_eq!(got["data"]["nextArgs"]["seqNum"], "25", "{got}");
        node.stop().await;
    }

    graphiql_and_errors_shape(db) {
        let node = TestNode::start(db).await;
        let html = node.client.get(node.node.graphql_url()).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("graphiql"), "GraphiQL page");
        // Batched requests are refused as upstream does.
        let batch = node
            .client
            .post(node.node.graphql_url())
            .json(&serde_json::json!([{ "query": "{ __typename }" }]))
            .send()
            .await
            .unwrap();
        assert_eq!(batch.status(), 400);
        assert_eq!(batch.text().await.unwrap(), "UnsupportedBatch");
        // Browsers may call the API from any origin.
        let preflight = node
            .client
            .request(reqwest::Method::OPTIONS, node.node.graphql_url())
            .header("origin", "http://example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
        let got = node.next_args("not a key", None).await;
        assert_eq!(error_code(&got), Some("INVALID_ARGUMENT"), "{got}");
        let got = node.next_args(s(&vectors("keys")["key_pairs"][0]["public_key"]), Some("0020zz")).await;
        assert_eq!(error_code(&got), Some("INVALID_ARGUMENT"), "{got}");
        node.stop().await;
    }
}

/// One test per class of bad input: the error code, and nothing stored.
macro_rules! named_rejections {
    ($($name:ident: $case:expr => $code:expr;)*) => {
        backend_tests! {
            $(
                $name(db) {
                    let node = reference_node(db).await;
                    let c = invalid_case($case);
                    assert_rejected(&node, s(&c["entry_hex"]), s(&c["operation_hex"]), $code).await;
                    node.stop().await;
                }
            )*
        }
    };
}

named_rejections! {
    bad_signature: "bad_signature" => "INVALID_SIGNATURE";
    wrong_key: "signed_by_other_key" => "INVALID_SIGNATURE";
    seq_num_gap: "seq_num_gap" => "SEQ_NUM_GAP";
    reused_seq_num: "seq_num_fork" => "SEQ_NUM_TAKEN";
    wrong_backlink: "wrong_backlink" => "LOG_INTEGRITY";
    wrong_skiplink: "wrong_skiplink" => "LOG_INTEGRITY";
    payload_hash_mismatch: "payload_hash_mismatch" => "PAYLOAD_MISMATCH";
    payload_size_mismatch: "payload_size_mismatch" => "PAYLOAD_MISMATCH";
    malformed_entry: "truncated_signature" => "INVALID_ENTRY";
    malformed_operation: "operation_is_map" => "INVALID_OPERATION";
    unknown_schema: "unknown_schema" => "SCHEMA_NOT_FOUND";
    operation_not_matching_schema: "wrong_field_type" => "OPERATION_DOES_NOT_MATCH_SCHEMA";
    update_in_log_of_other_document: "update_in_log_of_other_document" => "LOG_ID_MISMATCH";
    update_in_new_log_for_existing_document: "update_in_new_log_for_existing_document" => "LOG_ID_MISMATCH";
    previous_missing: "previous_not_found" => "PREVIOUS_NOT_FOUND";
    previous_foreign: "previous_spans_two_documents" => "PREVIOUS_FROM_DIFFERENT_DOCUMENTS";
    previous_of_other_schema: "claimed_schema_mismatch" => "PREVIOUS_SCHEMA_MISMATCH";
    update_after_delete: "update_deleted_document" => "DOCUMENT_DELETED";
}

backend_tests! {
    duplicate_publish(db) {
        let node = reference_node(db).await;
        let first = &vectors("publish_sequence")["entries"][0];
        assert_rejected(&node, s(&first["entry_hex"]), s(&first["operation_hex"]), "DUPLICATE_ENTRY").await;
        node.stop().await;
    }

    payload_too_large(db) {
        let node = reference_node(db).await;
        // A blob piece of 1.5 MiB: over the node's 1 MiB operation limit.
        let mut f = Fields::new();
        f.insert("data".into(), OperationValue::Bytes(vec![7; 1536 * 1024]));
        let op = Operation::create(SchemaId::BLOB_PIECE_V1, f).encode();
        let args = NextArgs { log_id: 900, seq_num: 1, backlink: None, skiplink: None };
        let entry = sign_entry(&key("B"), &args, &op).unwrap();
        assert_rejected(&node, &entry.to_hex(), &hex::encode(&op), "PAYLOAD_TOO_LARGE").await;
        node.stop().await;
    }

    not_hex(db) {
        let node = reference_node(db).await;
        assert_rejected(&node, "zz", "00", "INVALID_HEX").await;
        // No `0x` prefix (upstream refuses it too).
        let first = &vectors("publish_sequence")["entries"][0];
        assert_rejected(&node, &format!("0x{}", s(&first["entry_hex"])), s(&first["operation_hex"]), "INVALID_HEX").await;
        assert_rejected(&node, s(&first["entry_hex"]), &format!("0x{}", s(&first["operation_hex"])), "INVALID_HEX").await;
        node.stop().await;
    }
}
