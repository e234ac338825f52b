//! Materialized views behind the real GraphQL endpoint: the vectors'
//! documents after a replay, and a soak under concurrent publishing.

mod common;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use common::*;
use hoffnung_core::entry::NextArgs;
use hoffnung_core::{
    reduce, sign_entry, DocumentId, DocumentViewId, Fields, Hash, KeyPair, Operation,
    OperationValue, Schema, SchemaId,
};
use hoffnung_store::{backend_tests, SchemaSource, ViewRow};
use serde_json::Value;

/// A vector field value (documents.json) as an operation value.
fn value_of(field: &Value) -> OperationValue {
    let v = &field["value"];
    let ids = |v: &Value| -> Vec<Hash> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| s(h).parse().unwrap())
            .collect()
    };
    match s(&field["type"]) {
        "bool" => OperationValue::Bool(v.as_bool().unwrap()),
        "int" => OperationValue::Int(s(v).parse().unwrap()),
        "float" => OperationValue::Float(f64::from_bits(
            u64::from_str_radix(s(&field["f64_bits"]), 16).unwrap(),
        )),
        "str" => OperationValue::Str(s(v).to_string()),
        "bytes" => OperationValue::Bytes(hex::decode(s(v)).unwrap()),
        "relation" => OperationValue::Relation(s(v).parse().unwrap()),
        "pinned_relation" => OperationValue::PinnedRelation(DocumentViewId::new(ids(v)).unwrap()),
        "relation_list" => OperationValue::RelationList(ids(v)),
        "pinned_relation_list" => OperationValue::PinnedRelationList(
            v.as_array()
                .unwrap()
                .iter()
                .map(|view| DocumentViewId::new(ids(view)).unwrap())
                .collect(),
        ),
        other => panic!("unknown type {other}"),
    }
}

/// A view of documents.json as the row the tables must hold.
fn row_of(view: &Value) -> ViewRow {
    let deleted = view["is_deleted"].as_bool().unwrap();
    ViewRow {
        document_id: s(&view["document_id"]).parse().unwrap(),
        view_id: s(&view["view_id"]).parse().unwrap(),
        owner: s(&view["owner"]).parse().unwrap(),
        is_edited: view["is_edited"].as_bool().unwrap(),
        is_deleted: deleted,
        fields: (!deleted).then(|| {
            view["fields"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, f)| (k.clone(), value_of(f)))
                .collect::<Fields>()
        }),
    }
}

fn op_id(doc: &Value, name: &str) -> Hash {
    let op = doc["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no operation {name}"));
    s(&op["operation_id"]).parse().unwrap()
}

fn schema_of(node: &TestNode, id: &str) -> Arc<Schema> {
    let id = SchemaId::from_str(id).unwrap();
    node.node.registry().schema(&id).expect("schema active")
}

backend_tests! {
    replayed_documents_equal_the_vectors(db) {
        let node = TestNode::start(db).await;
        node.replay_publish_sequence().await;
        let m = node.node.materializer().expect("materializer runs").clone();
        m.caught_up().await.unwrap();
        let store = node.node.store();
        let mut historic = 0;
        for doc in vectors("documents")["documents"].as_array().unwrap() {
            let name = s(&doc["name"]);
            let latest = &doc["expected_latest"];
            let Some(first) = doc["operations"].as_array().unwrap().first() else {
                continue; // long_log_document: the log vectors cover it
            };
            let schema = schema_of(&node, s(&first["operation"]["schema_id"]));
            let table = store.views().table(&schema);
            let document_id: DocumentId = s(&first["operation_id"]).parse().unwrap();
            let got = store.current_view(&table, &document_id).await.unwrap()
                .unwrap_or_else(|| panic!("{name}: not materialized"));
            match name {
                // SPEC 13.1: upstream fails to reduce and keeps the update's
                // view; hoffnung deletes (delete wins), view id = both tips.
                "d2b_delete_sorted_first" => {
                    assert!(got.is_deleted && got.is_edited && got.fields.is_none(), "{name}");
                    let tips = DocumentViewId::new(vec![op_id(doc, "d2b.update.B"), op_id(doc, "d2b.delete.A")]).unwrap();
                    assert_eq!(got.view_id, tips, "{name}");
                }
                // SPEC 13.1: `m` is applied after `z`, so what `m` carries wins.
                "d3_merge_popped_before_dependency" => {
                    let mut want = row_of(latest);
                    let m_op = doc["operations"].as_array().unwrap().iter().find(|o| o["name"] == "d3.m.A").unwrap();
                    let carried = m_op["operation"]["fields"].as_object().unwrap();
                    assert!(!carried.is_empty());
                    let fields = want.fields.as_mut().unwrap();
                    for (k, f) in carried {
                        fields.insert(k.clone(), value_of(f));
                    }
                    assert_eq!(got, want, "{name}");
                }
                _ => assert_eq!(got, row_of(latest), "{name}"),
            }
            // Historic views hold what the vectors say: as stored (a current
            // view, or an old one something pins), else reduced from the
            // stored operations, as a `viewId` query gets them.
            if !name.starts_with("d2b") && !name.starts_with("d3") {
                let ops = store.document_operations(&document_id, &schema).await.unwrap();
                for v in doc["views"].as_array().unwrap() {
                    let view_id: DocumentViewId = s(&v["requested_view_id"]).parse().unwrap();
                    let got = match store.stored_view(&table, &view_id).await.unwrap() {
                        Some(stored) => stored,
                        None => hoffnung_store::ViewRow::of(&hoffnung_core::reduce_to_view(&ops, &view_id).unwrap()),
                    };
                    assert_eq!(got, row_of(&v["result"]), "{name} at {view_id}");
                    historic += 1;
                }
            }
        }
        assert!(historic >= 9, "only {historic} historic views compared");
        node.stop().await;
    }

    soak_concurrent_authors_lose_no_update(db) {
        let node = TestNode::start(db).await;
        node.replay_publish_sequence().await;
        let note = schema_of(&node, s(&vectors("schemas")["application_schemas"][0]["schema"]["id"]));
        assert_eq!(note.id().name(), "note");
        // Six authors, each with its own documents, publish creates and then
        // rounds of updates through HTTP as fast as they can, all at once.
        const AUTHORS: u8 = 6;
        const DOCS: usize = 8;
        const ROUNDS: usize = 12;
        let url = node.node.graphql_url();
        let mut tasks = Vec::new();
        for a in 0..AUTHORS {
            let client = node.client.clone();
            let url = url.clone();
            let schema_id = note.id().clone();
            tasks.push(tokio::spawn(async move {
                let key = KeyPair::from_private_key(&[100 + a; 32]);
                // document → (its log, next args, last operation id, last title)
                let mut docs: Vec<(DocumentId, NextArgs, Hash, String)> = Vec::new();
                for d in 0..DOCS {
                    let title = format!("a{a} d{d} r0");
                    let args = next_args(&client, &url, &key, None).await;
                    let op = Operation::create(schema_id.clone(), title_fields(&title));
                    let (id, next) = send(&client, &url, &key, &args, &op).await;
                    docs.push((id, next, id, title));
                }
                for r in 1..=ROUNDS {
                    for (d, (_, args, last, title)) in docs.iter_mut().enumerate() {
                        *title = format!("a{a} d{d} r{r}");
                        let op = Operation::update(schema_id.clone(), DocumentViewId::from_operation(*last), title_fields(title));
                        let (id, next) = send(&client, &url, &key, args, &op).await;
                        *last = id;
                        *args = next;
                    }
                }
                docs.into_iter().map(|(doc, _, last, title)| (doc, (last, title))).collect::<Vec<_>>()
            }));
        }
        let mut expected: HashMap<DocumentId, (Hash, String)> = HashMap::new();
        for t in tasks {
            expected.extend(t.await.unwrap());
        }
        assert_eq!(expected.len(), AUTHORS as usize * DOCS);
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let store = node.node.store();
        let table = store.views().table(&note);
        for (doc, (last, title)) in &expected {
            let row = store.current_view(&table, doc).await.unwrap().expect("materialized");
            assert_eq!(row.view_id, DocumentViewId::from_operation(*last), "last accepted update is the view");
            assert_eq!(row.fields.as_ref().unwrap()["title"], OperationValue::Str(title.clone()));
            let ops = store.document_operations(doc, &note).await.unwrap();
            assert_eq!(ops.len(), ROUNDS + 1);
            assert_eq!(ViewRow::of(&reduce(&ops).unwrap()), row);
        }
        node.stop().await;
    }
}

fn title_fields(title: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("title".into(), OperationValue::Str(title.to_string()));
    f
}

async fn next_args(
    client: &reqwest::Client,
    url: &str,
    key: &KeyPair,
    view: Option<&DocumentViewId>,
) -> NextArgs {
    let variables = serde_json::json!({
        "publicKey": key.public_key().to_hex(), "viewId": view.map(|v| v.to_string()) });
    let got = post(client, url, NEXT_ARGS, variables).await;
    parse_args(&got["data"]["nextArgs"])
}

fn parse_args(v: &Value) -> NextArgs {
    assert!(v.is_object(), "no next args: {v}");
    NextArgs {
        log_id: s(&v["logId"]).parse().unwrap(),
        seq_num: s(&v["seqNum"]).parse().unwrap(),
        backlink: v["backlink"].as_str().map(|h| h.parse().unwrap()),
        skiplink: v["skiplink"].as_str().map(|h| h.parse().unwrap()),
    }
}

/// Publishes; returns the operation id and the next args of that log.
async fn send(
    client: &reqwest::Client,
    url: &str,
    key: &KeyPair,
    args: &NextArgs,
    op: &Operation,
) -> (Hash, NextArgs) {
    let bytes = op.encode();
    let entry = sign_entry(key, args, &bytes).unwrap();
    let variables =
        serde_json::json!({ "entry": entry.to_hex(), "operation": hex::encode(&bytes) });
    let got = post(client, url, PUBLISH, variables).await;
    assert!(got["errors"].is_null(), "publish refused: {got}");
    (entry.hash(), parse_args(&got["data"]["publish"]))
}
