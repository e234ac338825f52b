//! Wide schemas (the protocol's 1,024 fields) and long values through the
//! real GraphQL endpoint: publishing, materializing, reading by document
//! and view id, filtering and ordering by the last field; a string of
//! 100 KB; many schemas side by side.

mod common;

use std::time::Duration;

use common::*;
use hoffnung_core::schema::MAX_SCHEMA_FIELDS;
use hoffnung_core::{DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_store::{backend_tests, Backend};
use serde_json::{json, Value};

/// The `n` fields of a wide schema: int, bool, float, str in turn (the
/// last is a str when `n` is a multiple of 4). On PostgreSQL all short strs: a row of 1,024 mixed
/// fields exceeds its 8,160-byte row limit (a known limit of the table
/// layout there, see docs/compatibility.md).
fn wide_fields(n: usize, pg: bool) -> Vec<(String, &'static str)> {
    let types = if pg {
        ["str"; 4]
    } else {
        ["int", "bool", "float", "str"]
    };
    (0..n)
        .map(|i| (format!("field_{i}"), types[i % 4]))
        .collect()
}

/// The value of field `i` in round `r` of writes, as operation value and
/// as GraphQL answers it.
fn value(i: usize, r: usize, pg: bool) -> (OperationValue, Value) {
    if pg {
        let v = format!("{r}{}", i % 10);
        return (OperationValue::Str(v.clone()), json!(v));
    }
    match i % 4 {
        0 => {
            let v = (i * 10 + r) as i64;
            (OperationValue::Int(v), json!(v))
        }
        1 => {
            let v = (i + r) % 2 == 0;
            (OperationValue::Bool(v), json!(v))
        }
        2 => {
            let v = i as f64 + r as f64 / 4.0;
            (OperationValue::Float(v), json!(v))
        }
        _ => {
            let v = format!("value {i} round {r}");
            (OperationValue::Str(v.clone()), json!(v))
        }
    }
}

fn all_values(n: usize, r: usize, pg: bool) -> Fields {
    let mut f = Fields::new();
    for i in 0..n {
        f.insert(format!("field_{i}"), value(i, r, pg).0);
    }
    f
}

/// Every field of `doc` (a `fields { … }` answer) is round `r`'s value.
fn assert_round(fields: &Value, n: usize, r: usize, pg: bool) {
    for i in 0..n {
        assert_eq!(
            fields[format!("field_{i}")],
            value(i, r, pg).1,
            "field_{i} of round {r}"
        );
    }
}

/// A materializer that cannot reach its cursor fails the test instead of
/// hanging it.
async fn caught_up(node: &TestNode) {
    tokio::time::timeout(
        Duration::from_secs(300),
        node.node.materializer().unwrap().caught_up(),
    )
    .await
    .expect("the materializer catches up")
    .unwrap();
}

/// InnoDB holds at most 1,017 columns and rows of about 8 KB: the wide
/// schema gets no view tables on MariaDB/MySQL (docs/compatibility.md).
/// Its definition is stored and served, its collection answers an error,
/// and the materializer goes on with the schemas after it.
async fn refused_on_innodb(node: &TestNode, key: &KeyPair, schema: &SchemaId) {
    let got = node
        .graphql(&format!("{{ all_{schema} {{ totalCount }} }}"), Value::Null)
        .await;
    assert!(!got["errors"].is_null(), "{got}");
    let memo = node.publish_schema(key, "memo", &[("text", "str")]).await;
    node.wait_queryable(&memo).await;
    let mut f = Fields::new();
    f.insert(
        "text".into(),
        OperationValue::Str("after the wide one".into()),
    );
    node.publish_operation(key, &Operation::create(memo.clone(), f))
        .await;
    caught_up(node).await;
    let got = node
        .graphql(&format!("{{ all_{memo} {{ totalCount }} }}"), Value::Null)
        .await;
    assert_eq!(got["data"][format!("all_{memo}")]["totalCount"], 1, "{got}");
}

/// Fields of the schema that goes end to end on MariaDB/MySQL.
const MYSQL_FIELDS: usize = 256;

/// A schema of `n` fields through the API: its definition by view id, a
/// create and an update of every field read by id and view id, filtered
/// and ordered by its last field.
async fn end_to_end(node: &TestNode, key: &KeyPair, n: usize, pg: bool) {
    let fields = wide_fields(n, pg);
    let named: Vec<(&str, &str)> = fields.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let schema = node.publish_schema(key, &format!("wide_{n}"), &named).await;
    caught_up(node).await;
    node.wait_queryable_within(&schema, Duration::from_secs(120))
        .await;

    // The definition reads back by view id with all its fields, in order.
    let SchemaId::Application(_, definition) = &schema else {
        unreachable!()
    };
    let got = node
            .graphql(
                "query D($v: String!) { schema_definition_v1(viewId: $v) { fields { name fields(first: 2000) { totalCount documents { fields { name type } } } } } }",
                json!({ "v": definition.to_string() }),
            )
            .await;
    assert!(got["errors"].is_null(), "{got}");
    let def = &got["data"]["schema_definition_v1"]["fields"]["fields"];
    assert_eq!(def["totalCount"], n);
    let names: Vec<&str> = def["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| s(&d["fields"]["name"]))
        .collect();
    let want: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, want);

    // Create and update with every field.
    let create = node
        .publish_operation(
            key,
            &Operation::create(schema.clone(), all_values(n, 0, pg)),
        )
        .await;
    let first_view = DocumentViewId::from_operation(create);
    let update = node
        .publish_operation(
            key,
            &Operation::update(schema.clone(), first_view.clone(), all_values(n, 1, pg)),
        )
        .await;
    caught_up(node).await;

    let selection: String = fields.iter().map(|(n, _)| format!("{n} ")).collect();
    let by = |arg: &str| {
        format!("query Q($k: String!) {{ {schema}({arg}: $k) {{ meta {{ viewId }} fields {{ {selection} }} }} }}")
    };
    let got = node
        .graphql(&by("id"), json!({ "k": create.to_string() }))
        .await;
    assert!(got["errors"].is_null(), "{got}");
    let doc = &got["data"][schema.to_string()];
    assert_eq!(doc["meta"]["viewId"], update.to_string());
    assert_round(&doc["fields"], n, 1, pg);
    // The current view and the one it replaced, by view id.
    let got = node
        .graphql(&by("viewId"), json!({ "k": update.to_string() }))
        .await;
    assert!(got["errors"].is_null(), "{got}");
    assert_round(&got["data"][schema.to_string()]["fields"], n, 1, pg);
    let got = node
        .graphql(&by("viewId"), json!({ "k": first_view.to_string() }))
        .await;
    assert!(got["errors"].is_null(), "{got}");
    assert_round(&got["data"][schema.to_string()]["fields"], n, 0, pg);

    // Filtered and ordered by the last field.
    let last = &fields[n - 1].0;
    let query = format!(
            "query Q($v: String!) {{ all_{schema}(filter: {{ {last}: {{ eq: $v }} }}, orderBy: {last}, orderDirection: DESC) {{ totalCount documents {{ fields {{ {selection} }} }} }} }}"
        );
    let got = node
        .graphql(&query, json!({ "v": value(n - 1, 1, pg).1 }))
        .await;
    assert!(got["errors"].is_null(), "{got}");
    let all = &got["data"][format!("all_{schema}")];
    assert_eq!(all["totalCount"], 1);
    assert_round(&all["documents"][0]["fields"], n, 1, pg);
    let got = node
        .graphql(&query, json!({ "v": value(n - 1, 0, pg).1 }))
        .await;
    assert_eq!(
        got["data"][format!("all_{schema}")]["totalCount"],
        0,
        "{got}"
    );
}

backend_tests! {
    wide_schema_end_to_end(db) {
        let node = TestNode::start(db).await;
        let pg = db.url.starts_with("postgres");
        let key = KeyPair::from_private_key(&[21; 32]);
        if db.backend == Backend::MySql {
            let named = wide_fields(MAX_SCHEMA_FIELDS, pg);
            let named: Vec<(&str, &str)> = named.iter().map(|(n, t)| (n.as_str(), *t)).collect();
            let schema = node.publish_schema(&key, "wide", &named).await;
            caught_up(&node).await;
            refused_on_innodb(&node, &key, &schema).await;
            // What InnoDB holds: 256 fields of every kind.
            end_to_end(&node, &key, MYSQL_FIELDS, pg).await;
        } else {
            end_to_end(&node, &key, MAX_SCHEMA_FIELDS, pg).await;
        }
        node.stop().await;
    }

    long_string_materializes_and_filters(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[22; 32]);
        let schema = node
            .publish_schema(&key, "page", &[("body", "str"), ("title", "str")])
            .await;
        node.wait_queryable(&schema).await;
        // 100 KB that compress badly (PostgreSQL compresses index entries).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        // Starts with `m`: "short" sorts after it, whatever follows.
        let long: String = std::iter::once('m').chain((1..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            }))
            .collect();
        // Two long values sharing their first 1,000 characters: the part a
        // PostgreSQL index keeps is equal, the whole values differ.
        // `~` sorts after every letter: other > long.
        let other = format!("{}{}", &long[..1000], "~".repeat(99_000));
        for (body, title) in [(&long, "long"), (&other, "other")] {
            let mut f = Fields::new();
            f.insert("body".into(), OperationValue::Str(body.clone()));
            f.insert("title".into(), OperationValue::Str(title.into()));
            node.publish_operation(&key, &Operation::create(schema.clone(), f))
                .await;
        }
        // A document published after them materializes too.
        let mut f = Fields::new();
        f.insert("body".into(), OperationValue::Str("short".into()));
        f.insert("title".into(), OperationValue::Str("short".into()));
        node.publish_operation(&key, &Operation::create(schema.clone(), f))
            .await;
        caught_up(&node).await;

        let titles = |got: &Value| -> Vec<String> {
            assert!(got["errors"].is_null(), "{got}");
            got["data"][format!("all_{schema}")]["documents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| s(&d["fields"]["title"]).to_string())
                .collect()
        };
        let filtered = |op: &str| {
            format!("query Q($v: String!) {{ all_{schema}(filter: {{ body: {{ {op}: $v }} }}, orderBy: body) {{ documents {{ fields {{ title body }} }} }} }}")
        };
        let got = node.graphql(&filtered("eq"), json!({ "v": long })).await;
        assert_eq!(titles(&got), ["long"]);
        assert_eq!(
            got["data"][format!("all_{schema}")]["documents"][0]["fields"]["body"],
            json!(long)
        );
        assert_eq!(titles(&node.graphql(&filtered("gt"), json!({ "v": long })).await), ["other", "short"]);
        assert_eq!(titles(&node.graphql(&filtered("lte"), json!({ "v": other })).await), ["long", "other"]);
        let query = format!("query Q($a: [String!]!) {{ all_{schema}(filter: {{ body: {{ in: $a }} }}, orderBy: body, orderDirection: DESC) {{ documents {{ fields {{ title }} }} }} }}");
        assert_eq!(
            titles(&node.graphql(&query, json!({ "a": [long, "short"] })).await),
            ["short", "long"]
        );
        // Ordered by the long field, a page at a time.
        let page = |after: Value| {
            let q = format!("query Q($a: Cursor) {{ all_{schema}(orderBy: body, first: 1, after: $a) {{ endCursor documents {{ fields {{ title }} }} }} }}");
            (q, json!({ "a": after }))
        };
        let mut seen = Vec::new();
        let mut after = Value::Null;
        for _ in 0..3 {
            let (q, v) = page(after);
            let got = node.graphql(&q, v).await;
            seen.extend(titles(&got));
            after = got["data"][format!("all_{schema}")]["endCursor"].clone();
        }
        assert_eq!(seen, ["long", "other", "short"]);
        node.stop().await;
    }

    refused_view_holds_only_its_document(db) {
        // PostgreSQL's text cannot hold a NUL character (SQLite's can): the
        // view write of that document is refused, every time.
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[24; 32]);
        let schema = node.publish_schema(&key, "memo", &[("text", "str")]).await;
        node.wait_queryable(&schema).await;
        let mut ids = Vec::new();
        for text in ["before", "nul \0 inside", "after"] {
            let mut f = Fields::new();
            f.insert("text".into(), OperationValue::Str(text.into()));
            ids.push(
                node.publish_operation(&key, &Operation::create(schema.clone(), f))
                    .await,
            );
        }
        caught_up(&node).await;
        let refused = db.url.starts_with("postgres");
        let query = format!("{{ all_{schema}(orderBy: text) {{ documents {{ fields {{ text }} }} }} }}");
        let got = node.graphql(&query, Value::Null).await;
        assert!(got["errors"].is_null(), "{got}");
        let texts: Vec<&str> = got["data"][format!("all_{schema}")]["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| s(&d["fields"]["text"]))
            .collect();
        if refused {
            assert_eq!(texts, ["after", "before"]);
        } else {
            assert_eq!(texts, ["after", "before", "nul \0 inside"]);
        }
        assert_eq!(
            node.node.materializer().unwrap().refused_views(),
            u64::from(refused)
        );
        let metrics = node.get_text("/metrics").await;
        let exposition = Exposition::parse(&metrics);
        assert_eq!(
            exposition.get("hoffnung_materializer_views_refused_total"),
            f64::from(u8::from(refused))
        );
        // Later operations go on; the refused document keeps no view here.
        let mut f = Fields::new();
        f.insert("text".into(), OperationValue::Str("later".into()));
        let later = node
            .publish_operation(&key, &Operation::create(schema.clone(), f))
            .await;
        caught_up(&node).await;
        let by_id = format!("query Q($id: String!) {{ {schema}(id: $id) {{ fields {{ text }} }} }}");
        let got = node.graphql(&by_id, json!({ "id": later.to_string() })).await;
        assert_eq!(got["data"][schema.to_string()]["fields"]["text"], "later", "{got}");
        let got = node.graphql(&by_id, json!({ "id": ids[1].to_string() })).await;
        assert_eq!(got["data"][schema.to_string()].is_null(), refused, "{got}");
        node.stop().await;
    }

    many_schemas_all_queryable(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[23; 32]);
        let mut schemas = Vec::new();
        for i in 0..50 {
            let schema = node
                .publish_schema(&key, &format!("many_{i}"), &[("n", "int")])
                .await;
            let mut f = Fields::new();
            f.insert("n".into(), OperationValue::Int(i));
            node.publish_operation(&key, &Operation::create(schema.clone(), f))
                .await;
            schemas.push(schema);
        }
        caught_up(&node).await;
        for (i, schema) in schemas.iter().enumerate() {
            node.wait_queryable(schema).await;
            let got = node
                .graphql(&format!("{{ all_{schema} {{ totalCount documents {{ fields {{ n }} }} }} }}"), Value::Null)
                .await;
            assert!(got["errors"].is_null(), "{got}");
            let all = &got["data"][format!("all_{schema}")];
            assert_eq!(all["totalCount"], 1);
            assert_eq!(all["documents"][0]["fields"]["n"], i);
        }
        node.stop().await;
    }
}
