//! What real p2panda 0.8 apps send and expect (docs/compatibility.md):
//! `contains` ignoring ASCII case with the text taken literally, floats that
//! always carry a fraction, pages of thousands of documents, and the request
//! forms such apps send, and a blob published by shirokuma itself.

mod common;

use common::ws::{connect, next_text, subscribe};
use common::*;
use hoffnung_core::{DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_server::NodeConfig;
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::presigned_documents;
use serde_json::{json, Value};

/// The names of the documents a `name` filter finds, sorted.
async fn names(node: &TestNode, schema: &SchemaId, filter: &str) -> Vec<String> {
    let got = node
        .graphql(
            &format!(
                "{{ all_{schema}(filter: {{ name: {filter} }}, orderBy: name, first: 100) \
                 {{ totalCount documents {{ fields {{ name }} }} }} }}"
            ),
            Value::Null,
        )
        .await;
    let all = &got["data"][format!("all_{schema}")];
    let docs = all["documents"]
        .as_array()
        .unwrap_or_else(|| panic!("{filter}: {got}"));
    assert_eq!(all["totalCount"], docs.len(), "{filter}: {got}");
    docs.iter()
        .map(|d| s(&d["fields"]["name"]).to_string())
        .collect()
}

fn text(name: &str, value: OperationValue) -> Fields {
    let mut f = Fields::new();
    f.insert(name.into(), value);
    f
}

const CITIES: &[&str] = &[
    "100 Prozent",
    "100% Bio",
    "Berlin",
    "New York",
    "Newark",
    "Oberhausen",
    "a_b",
    "axb",
    "hi!",
    "Über",
    "ÜBERLINGEN",
    "über",
];

/// A float in every form a strict client must see with a fraction.
fn place(lat: f64) -> Fields {
    text("lat", OperationValue::Float(lat))
}

backend_tests! {
    contains_ignores_ascii_case_and_takes_text_literally(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[71; 32]);
        let schema = node.publish_schema(&key, "city", &[("name", "str")]).await;
        for city in CITIES {
            let op = Operation::create(schema.clone(), text("name", OperationValue::Str(city.to_string())));
            node.publish_operation(&key, &op).await;
        }
        node.wait_queryable(&schema).await;
        // (Names in byte order, as `orderBy: name` sorts them.)
        let of = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // ASCII letters in either case.
        assert_eq!(
            names(&node, &schema, "{ contains: \"ber\" }").await,
            of(&["Berlin", "Oberhausen", "ÜBERLINGEN", "Über", "über"])
        );
        assert_eq!(names(&node, &schema, "{ contains: \"NEW\" }").await, of(&["New York", "Newark"]));
        assert_eq!(names(&node, &schema, "{ contains: \"new york\" }").await, of(&["New York"]));
        // Other letters only as written.
        assert_eq!(names(&node, &schema, "{ contains: \"über\" }").await, of(&["über"]));
        assert_eq!(names(&node, &schema, "{ contains: \"ÜBER\" }").await, of(&["ÜBERLINGEN", "Über"]));
        // `%`, `_` and our escape character are text, not wildcards.
        assert_eq!(names(&node, &schema, "{ contains: \"%\" }").await, of(&["100% Bio"]));
        assert_eq!(names(&node, &schema, "{ contains: \"0% b\" }").await, of(&["100% Bio"]));
        assert_eq!(names(&node, &schema, "{ contains: \"_\" }").await, of(&["a_b"]));
        assert_eq!(names(&node, &schema, "{ contains: \"!\" }").await, of(&["hi!"]));
        assert_eq!(names(&node, &schema, "{ contains: \"!%\" }").await, Vec::<String>::new());
        assert_eq!(names(&node, &schema, "{ contains: \"\" }").await.len(), CITIES.len());
        // `notContains` is the complement, with the same rules.
        let not_ber = names(&node, &schema, "{ notContains: \"BeR\" }").await;
        assert_eq!(not_ber, of(&["100 Prozent", "100% Bio", "New York", "Newark", "a_b", "axb", "hi!"]));
        assert_eq!(names(&node, &schema, "{ notContains: \"_\" }").await.len(), CITIES.len() - 1);
        // Combined with another operator on the same field.
        assert_eq!(
            names(&node, &schema, "{ contains: \"b\", notContains: \"ü\" }").await,
            of(&["100% Bio", "Berlin", "Oberhausen", "a_b", "axb", "ÜBERLINGEN", "Über"])
        );
        node.stop().await;
    }

    floats_keep_their_fraction(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[72; 32]);
        let place_schema = node.publish_schema(&key, "place", &[("lat", "float")]).await;
        let trip_schema = node
            .publish_schema(&key, "trip", &[
                ("stop", &format!("relation({place_schema})")),
                ("stops", &format!("relation_list({place_schema})")),
            ])
            .await;
        // A whole-number float that is then updated, so that its old view is
        // a historic one.
        let moved = node.publish_operation(&key, &Operation::create(place_schema.clone(), place(7.0))).await;
        let first_view = DocumentViewId::from_operation(moved);
        node.publish_operation(&key, &Operation::update(place_schema.clone(), first_view.clone(), place(2.5))).await;
        let mut ids = Vec::new();
        for lat in [0.0, -3.0, 1e100, f64::NAN, f64::INFINITY] {
            ids.push(node.publish_operation(&key, &Operation::create(place_schema.clone(), place(lat))).await);
        }
        let mut trip = Fields::new();
        trip.insert("stop".into(), OperationValue::Relation(ids[0]));
        trip.insert("stops".into(), OperationValue::RelationList(vec![ids[1], ids[2]]));
        let trip_id = node.publish_operation(&key, &Operation::create(trip_schema.clone(), trip)).await;
        node.wait_queryable(&trip_schema).await;

        // A collection: every whole float with `.0`, 1e100 with its exponent,
        // NaN and infinity as null (JSON has neither).
        let body = node
            .graphql_text(&format!("{{ all_{place_schema}(orderBy: lat) {{ documents {{ fields {{ lat }} }} }} }}"), Value::Null)
            .await;
        for want in ["{\"lat\":-3.0}", "{\"lat\":0.0}", "{\"lat\":2.5}", "{\"lat\":1e+100}", "{\"lat\":null}"] {
            assert!(body.contains(want), "{want} in {body}");
        }
        assert!(!body.contains("\"lat\":0}") && !body.contains("\"lat\":-3}"), "{body}");
        // One document by id, and the historic view by view id.
        let by_id = node
            .graphql_text(&format!("{{ {place_schema}(id: \"{}\") {{ fields {{ lat }} }} }}", ids[1].to_hex()), Value::Null)
            .await;
        assert!(by_id.contains("{\"lat\":-3.0}"), "{by_id}");
        let historic = node
            .graphql_text(&format!("{{ {place_schema}(viewId: \"{first_view}\") {{ fields {{ lat }} }} }}"), Value::Null)
            .await;
        assert!(historic.contains("{\"lat\":7.0}"), "{historic}");
        // Through a relation and a relation list.
        let related = node
            .graphql_text(
                &format!("{{ {trip_schema}(id: \"{}\") {{ fields {{ stop {{ fields {{ lat }} }} stops {{ documents {{ fields {{ lat }} }} }} }} }} }}", trip_id.to_hex()),
                Value::Null,
            )
            .await;
        assert!(related.contains("\"stop\":{\"fields\":{\"lat\":0.0}}"), "{related}");
        assert!(related.contains("{\"lat\":-3.0}") && related.contains("{\"lat\":1e+100}"), "{related}");
        // Filters take whole numbers and floats alike.
        let filtered = node
            .graphql(&format!("{{ all_{place_schema}(filter: {{ lat: {{ gte: -3, lt: 1.0 }} }}) {{ totalCount }} }}"), Value::Null)
            .await;
        assert_eq!(filtered["data"][format!("all_{place_schema}")]["totalCount"], 2, "{filtered}");
        // A subscription delivers the same text.
        let mut socket = connect(&node).await;
        subscribe(&mut socket, "1", &format!("subscription {{ all_{place_schema} {{ fields {{ lat }} }} }}")).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let view = DocumentViewId::from_operation(ids[0]);
        node.publish_operation(&key, &Operation::update(place_schema.clone(), view, place(-12.0))).await;
        let msg = next_text(&mut socket).await;
        assert!(msg.contains("{\"lat\":-12.0}"), "{msg}");
        node.stop().await;
    }

    pages_hold_up_to_the_configured_size(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[73; 32]);
        let schema = SchemaId::SCHEMA_FIELD_DEFINITION_V1;
        let (entries, _) = presigned_documents(&key, &schema, 0, 10_001, 0, |d, _| {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(format!("f{d:05}")));
            f.insert("type".into(), OperationValue::Str("int".into()));
            f
        });
        for chunk in entries.chunks(5_000) {
            for r in node.node.store().ingest_bulk(chunk, node.node.registry().as_ref()).await.unwrap() {
                r.unwrap();
            }
        }
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let page = |n: usize, arg: &str| format!(
            "{{ all_{schema}({arg}: {n}, orderBy: name) {{ totalCount hasNextPage documents {{ fields {{ name }} }} }} }}"
        );
        let got = node.graphql(&page(10_000, "first"), Value::Null).await;
        let all = &got["data"][format!("all_{schema}")];
        assert_eq!(all["documents"].as_array().map(Vec::len), Some(10_000), "errors: {}", got["errors"]);
        assert_eq!(all["totalCount"], 10_001);
        assert_eq!(all["hasNextPage"], true);
        assert_eq!(all["documents"][9_999]["fields"]["name"], "f09999");
        let got = node.graphql(&page(10_000, "last"), Value::Null).await;
        assert_eq!(got["data"][format!("all_{schema}")]["documents"].as_array().map(Vec::len), Some(10_000));
        for arg in ["first", "last"] {
            let got = node.graphql(&page(10_001, arg), Value::Null).await;
            assert_eq!(error_code(&got), Some("PAGE_TOO_LARGE"), "{got}");
            assert_eq!(
                s(&got["errors"][0]["message"]),
                "a page holds at most 10000 documents, 10001 were asked for"
            );
        }
        node.stop().await;

        // The setting raises the limit...
        let mut config = NodeConfig::new(db.url.clone());
        config.max_page_size = 20_000;
        let node = TestNode::start_with(config).await;
        let got = node.graphql(&page(10_001, "first"), Value::Null).await;
        let all = &got["data"][format!("all_{schema}")];
        assert_eq!(all["documents"].as_array().map(Vec::len), Some(10_001), "errors: {}", got["errors"]);
        assert_eq!(all["hasNextPage"], false);
        node.stop().await;
        // ...and lowers it.
        let mut config = NodeConfig::new(db.url.clone());
        config.max_page_size = 50;
        let node = TestNode::start_with(config).await;
        let got = node.graphql(&page(50, "first"), Value::Null).await;
        assert_eq!(got["data"][format!("all_{schema}")]["documents"].as_array().map(Vec::len), Some(50));
        let got = node.graphql(&page(51, "first"), Value::Null).await;
        assert_eq!(error_code(&got), Some("PAGE_TOO_LARGE"), "{got}");
        assert_eq!(s(&got["errors"][0]["message"]), "a page holds at most 50 documents, 51 were asked for");
        node.stop().await;
    }

    request_forms_of_real_apps(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[74; 32]);
        let author = key.public_key().to_hex();
        // nextArgs and publish with variables declared `String` / `String!`
        // (not the custom scalars), `viewId: null`.
        let next_args = "query NextArgs($publicKey: String!, $viewId: String) { nextArgs(publicKey: $publicKey, viewId: $viewId) { logId seqNum backlink skiplink } }";
        let got = node.graphql(next_args, json!({ "publicKey": author, "viewId": null })).await;
        assert_eq!(got["data"]["nextArgs"], json!({ "logId": "0", "seqNum": "1", "backlink": null, "skiplink": null }), "{got}");
        let place_schema = node.publish_schema(&key, "place", &[("label", "str")]).await;
        let trip_schema = node
            .publish_schema(&key, "trip", &[("stops", &format!("relation_list({place_schema})"))])
            .await;
        let mut ids = Vec::new();
        for label in ["b", "a"] {
            let op = Operation::create(place_schema.clone(), text("label", OperationValue::Str(label.into())));
            ids.push(node.publish_operation(&key, &op).await);
        }
        // Publish with `String!` variables (the helper publishes this way too;
        // here the answer is checked whole).
        let got = node.graphql(next_args, json!({ "publicKey": author, "viewId": null })).await;
        let args = &got["data"]["nextArgs"];
        let trip = Operation::create(trip_schema.clone(), text("stops", OperationValue::RelationList(ids.clone())));
        let payload = trip.encode();
        let entry = hoffnung_core::sign_entry(&key, &hoffnung_core::entry::NextArgs {
            log_id: s(&args["logId"]).parse().unwrap(),
            seq_num: 1,
            backlink: None,
            skiplink: None,
        }, &payload).unwrap();
        let publish = "mutation Publish($entry: String!, $operation: String!) { publish(entry: $entry, operation: $operation) { logId seqNum backlink skiplink } }";
        let got = node.graphql(publish, json!({ "entry": entry.to_hex(), "operation": hex::encode(&payload) })).await;
        assert!(got["errors"].is_null(), "{got}");
        assert_eq!(got["data"]["publish"]["seqNum"], "2", "{got}");
        node.wait_queryable(&trip_schema).await;

        // `__typename` in every selection set.
        let query = format!(
            "{{ __typename all_{trip_schema} {{ __typename totalCount documents {{ __typename cursor \
               meta {{ __typename documentId }} fields {{ __typename stops {{ __typename totalCount \
               documents {{ __typename meta {{ __typename viewId }} fields {{ __typename label }} }} }} }} }} }} \
               one: {place_schema}(id: \"{}\") {{ __typename meta {{ __typename }} fields {{ __typename label }} }} }}",
            ids[0].to_hex()
        );
        let got = node.graphql(&query, Value::Null).await;
        assert!(got["errors"].is_null(), "{got}");
        let data = &got["data"];
        assert_eq!(data["__typename"], "Query");
        let all = &data[format!("all_{trip_schema}")];
        let doc = &all["documents"][0];
        let stops = &doc["fields"]["stops"];
        let item = &stops["documents"][0];
        let typenames = [
            &all["__typename"], &doc["__typename"], &doc["meta"]["__typename"], &doc["fields"]["__typename"],
            &stops["__typename"], &item["__typename"], &item["meta"]["__typename"], &item["fields"]["__typename"],
            &data["one"]["__typename"], &data["one"]["meta"]["__typename"], &data["one"]["fields"]["__typename"],
        ];
        assert_eq!(
            typenames.map(|v| s(v).to_string()),
            [
                format!("{trip_schema}Collection"), format!("{trip_schema}Item"),
                "DocumentMeta".into(), format!("{trip_schema}Fields"),
                format!("{place_schema}Collection"), format!("{place_schema}Item"),
                "DocumentMeta".into(), format!("{place_schema}Fields"),
                place_schema.to_string(), "DocumentMeta".into(), format!("{place_schema}Fields"),
            ],
            "{got}"
        );
        // `orderBy` as a string literal, and an operation name with empty
        // parentheses.
        let got = node
            .graphql(&format!("query Places() {{ all_{place_schema}(orderBy: \"label\") {{ documents {{ fields {{ label }} }} }} }}"), Value::Null)
            .await;
        assert!(got["errors"].is_null(), "{got}");
        let labels: Vec<&str> = got["data"][format!("all_{place_schema}")]["documents"].as_array().unwrap()
            .iter().map(|d| s(&d["fields"]["label"])).collect();
        assert_eq!(labels, ["a", "b"]);
        node.stop().await;
    }

    shirokuma_creates_a_blob_the_node_serves(db) {
        let dir = tempfile::tempdir().unwrap();
        let node = common::blob::blob_node(db, dir.path()).await;
        // 3 MiB: 13 pieces, the last one short.
        let data = common::blob::bytes(3 << 20, 75);
        let file = dir.path().join("upload.bin");
        std::fs::write(&file, &data).unwrap();
        let args = vec![
            node.node.graphql_url(),
            file.to_str().unwrap().to_string(),
            "application/x-hoffnung-e2e".to_string(),
        ];
        let output = tokio::task::spawn_blocking(move || {
            common::e2e::node_script("blob.mjs", &args, std::time::Duration::from_secs(120))
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "shirokuma failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let id = String::from_utf8(output.stdout).unwrap().trim().to_string();
        assert_eq!(id.len(), 68, "{id}");
        assert_eq!(node.counts().await.0, 13 + 1);
        let r = node.wait_blob(&id).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/x-hoffnung-e2e");
        assert!(r.bytes().await.unwrap() == data, "the bytes shirokuma published");
        node.stop().await;
    }
}
