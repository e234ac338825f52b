//! Document queries through the real GraphQL endpoint: the golden answers
//! recorded from the upstream node (`graphql_examples.json`), with hoffnung's
//! documented differences asserted explicitly.

mod common;

use common::*;
use hoffnung_store::backend_tests;
use serde_json::{json, Value};

fn example(name: &str) -> Value {
    vectors("graphql_examples")["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no example {name}"))
        .clone()
}

async fn ask(node: &TestNode, ex: &Value) -> Value {
    let req = &ex["request"];
    node.graphql(s(&req["query"]), req["variables"].clone())
        .await
}

/// A node holding the vectors' state, its documents materialized and every
/// schema queryable.
async fn golden_node(db: &hoffnung_store::test_utils::TestDb) -> TestNode {
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
fn without_cursors(mut v: Value) -> Value {
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
fn numbers_as_floats(v: Value) -> Value {
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
const EXACT: &[&str] = &[
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
const D1_VIEW: &str = "00205570cad48371efcaef32664218da618e738ed19b3a535af984ee9a3361a4182c_0020565616753953ea04b2353d82edda70e08696c91d61372bd3168f6ea29b1e1d04";

/// Upstream's answer as hoffnung must give it: d2b (`0020f3b7…`) is deleted
/// here (delete wins, SPEC 13.1), so it leaves every collection of
/// `all_types`; d3 holds its merge's values.
fn corrected(name: &str, mut upstream: Value) -> Value {
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
const ERRORS: &[&str] = &[
    "document_by_id_and_view_id",
    "document_without_id",
    "collection_first_zero",
    "collection_bad_cursor",
];

backend_tests! {
    golden_answers_of_the_upstream_node(db) {
        let node = golden_node(db).await;
        for name in EXACT {
            let ex = example(name);
            let got = ask(&node, &ex).await;
            assert_eq!(
                numbers_as_floats(got),
                numbers_as_floats(corrected(name, ex["response"].clone())),
                "{name}"
            );
        }
        for name in ERRORS {
            let ex = example(name);
            let got = ask(&node, &ex).await;
            assert!(got["data"].is_null(), "{name}: {got}");
            assert_eq!(got["errors"][0]["message"], ex["response"]["errors"][0]["message"], "{name}");
            assert!(got["errors"][0]["extensions"]["code"].is_string(), "{name}: {got}");
        }
        node.stop().await;
    }

    pagination_follows_our_own_cursors(db) {
        let node = golden_node(db).await;
        let first = example("collection_first_page");
        let got = ask(&node, &first).await;
        // Upstream's first page, but 3 documents in all (d2b is deleted here).
        let mut want = without_cursors(first["response"].clone());
        want["data"]["all"]["totalCount"] = json!(3);
        assert_eq!(without_cursors(got.clone()), want);
        let cursor = got["data"]["all"]["endCursor"].clone();
        assert_eq!(cursor, got["data"]["all"]["documents"][1]["cursor"]);
        let second = example("collection_second_page");
        let got2 = node.graphql(s(&second["request"]["query"]), json!({ "cursor": cursor })).await;
        // The rest: d3 (with the values of its merge, SPEC 13.1), last page.
        let all = &got2["data"]["all"];
        assert_eq!(all["totalCount"], 3);
        assert_eq!(all["hasNextPage"], false);
        let docs = all["documents"].as_array().unwrap();
        assert_eq!(docs.len(), 1, "{got2}");
        assert_eq!(docs[0]["meta"]["documentId"], "0020952d9eecafbe7486a81cf13073ec1beb22e49e40352e2a423eca71330f441faa");
        assert_eq!(all["endCursor"], docs[0]["cursor"]);
        // A page after the last one is empty and ends where it started.
        let end = all["endCursor"].clone();
        let got3 = node.graphql(s(&second["request"]["query"]), json!({ "cursor": end })).await;
        assert_eq!(got3["data"]["all"]["documents"], json!([]));
        assert_eq!(got3["data"]["all"]["endCursor"], end);
        assert_eq!(got3["data"]["all"]["hasNextPage"], false);
        node.stop().await;
    }

    corrected_answers_where_upstream_is_wrong(db) {
        let node = golden_node(db).await;
        // Ordering by a field uses its current value (upstream: a stale one,
        // SPEC 9.3).
        let got = ask(&node, &example("collection_filter_order")).await;
        let ints: Vec<i64> = got["data"]["all"]["documents"].as_array().unwrap().iter()
            .map(|d| d["fields"]["int"].as_i64().unwrap()).collect();
        // (d2b, upstream's 20, is deleted here.)
        assert_eq!(ints, vec![105, 5, 1], "{got}");
        assert_eq!(got["data"]["all"]["totalCount"], 3);
        // `meta.edited` filters (upstream: an SQL error).
        let got = ask(&node, &example("collection_meta_filter_edited_upstream_bug")).await;
        assert!(got["errors"].is_null(), "{got}");
        let all_types = "all_all_types_002067f327412373ba916df2840e0a5e0b93270a9667f1580762e3cf4083230c9173";
        let counts = node.graphql(&format!(
            "{{ e: {all_types}(meta: {{ edited: {{ eq: true }} }}) {{ totalCount documents {{ meta {{ isEdited }} }} }}
               n: {all_types}(meta: {{ edited: {{ eq: false }} }}) {{ totalCount documents {{ meta {{ isEdited }} }} }}
               a: {all_types} {{ totalCount }} }}"), Value::Null).await;
        let (e, n, a) = (&counts["data"]["e"], &counts["data"]["n"], &counts["data"]["a"]);
        assert_eq!(got["data"]["edited"]["totalCount"], e["totalCount"]);
        assert_eq!(e["totalCount"].as_u64().unwrap() + n["totalCount"].as_u64().unwrap(), a["totalCount"].as_u64().unwrap());
        assert!(e["documents"].as_array().unwrap().iter().all(|d| d["meta"]["isEdited"] == true));
        assert!(n["documents"].as_array().unwrap().iter().all(|d| d["meta"]["isEdited"] == false));
        // d2b: delete wins (SPEC 13.1), so the document is gone.
        let got = ask(&node, &example("document_d2b_delete_sorted_first")).await;
        assert_eq!(got, json!({ "data": { "doc": null } }));
        // d3: the merge is applied after all its predecessors; same view id.
        let ex = example("document_d3_merge_popped_before_dependency");
        let got = ask(&node, &ex).await;
        assert_eq!(got["data"]["doc"]["meta"], ex["response"]["data"]["doc"]["meta"]);
        assert_ne!(got["data"]["doc"]["fields"], ex["response"]["data"]["doc"]["fields"]);
        // Every view that was current here stays queryable by view id
        // (upstream only keeps pinned ones).
        let ex = example("document_by_historic_view_id");
        let got = ask(&node, &ex).await;
        assert_eq!(got["data"]["doc"]["meta"]["viewId"], "0020b852f380e68302ac66d870d2b27fc5b7b85555d53f6bd5d8fbdc2c3692c0e182");
        node.stop().await;
    }

    bad_queries_get_clear_errors(db) {
        let node = golden_node(db).await;
        let all_types = "all_all_types_002067f327412373ba916df2840e0a5e0b93270a9667f1580762e3cf4083230c9173";
        for (query, code) in [
            (format!("{{ {all_types}(first: 100000) {{ totalCount }} }}"), "PAGE_TOO_LARGE"),
            (format!("{{ {all_types}(first: 0) {{ totalCount }} }}"), "INVALID_ARGUMENT"),
            (format!("{{ {all_types}(after: \"00\") {{ totalCount }} }}"), "INVALID_ARGUMENT"),
            (format!("{{ {all_types}(filter: {{ nope: {{ eq: 1 }} }}) {{ totalCount }} }}"), "INVALID_QUERY"),
            (format!("{{ {all_types}(filter: {{ int: {{ eq: \"x\" }} }}) {{ totalCount }} }}"), "INVALID_QUERY"),
            (format!("{{ {all_types} {{ documents {{ fields {{ nope }} }} }} }}"), "INVALID_QUERY"),
            ("{ nextArgs(publicKey: \"zz\") { logId } }".to_string(), "INVALID_ARGUMENT"),
            ("{ all_types".to_string(), "INVALID_QUERY"),
        ] {
            let got = node.graphql(&query, Value::Null).await;
            assert!(got["data"].is_null() || got["errors"].is_array(), "{query}: {got}");
            let msg = s(&got["errors"][0]["message"]);
            assert!(!msg.is_empty());
            assert_eq!(error_code(&got), Some(code), "{query}: {got}");
        }
        node.stop().await;
    }
}

type Members =
    std::collections::BTreeMap<String, (std::collections::BTreeMap<String, String>, String)>;

/// Every object, input and enum type of a SDL: name → member → (arguments,
/// type) (input fields: no arguments; enum items: neither).
fn sdl_shape(sdl: &str) -> std::collections::BTreeMap<String, Members> {
    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let mut out = std::collections::BTreeMap::new();
    for def in parse_schema(sdl).expect("valid SDL").definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let members: Members = match &t.node.kind {
            TypeKind::Object(o) => o
                .fields
                .iter()
                .map(|f| {
                    let args = f
                        .node
                        .arguments
                        .iter()
                        .map(|a| (a.node.name.node.to_string(), a.node.ty.node.to_string()))
                        .collect();
                    (
                        f.node.name.node.to_string(),
                        (args, f.node.ty.node.to_string()),
                    )
                })
                .collect(),
            TypeKind::InputObject(i) => i
                .fields
                .iter()
                .map(|f| {
                    (
                        f.node.name.node.to_string(),
                        (Default::default(), f.node.ty.node.to_string()),
                    )
                })
                .collect(),
            TypeKind::Enum(e) => e
                .values
                .iter()
                .map(|v| (v.node.value.node.to_string(), Default::default()))
                .collect(),
            TypeKind::Scalar => Default::default(),
            _ => continue,
        };
        out.insert(t.node.name.node.to_string(), members);
    }
    out
}

backend_tests! {
    generated_sdl_matches_upstream(db) {
        // The vectors' state has a schema with every field type (`all_types`),
        // both versions of `note` and the system schemas.
        let node = golden_node(db).await;
        let api = hoffnung_graphql::Api {
            store: node.node.store().clone(),
            registry: node.node.registry().clone(),
            pipeline: node.node.pipeline().clone(),
            views_maintained: false,
            max_page: hoffnung_graphql::DEFAULT_MAX_PAGE,
            subscriptions: hoffnung_graphql::SubscriptionHub::new(
                node.node.store().clone(),
                Default::default(),
            ),
        };
        let ours = sdl_shape(&hoffnung_graphql::build_schema(api).unwrap().sdl());
        let upstream = sdl_shape(&std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/aquadoggo-0.9.1-schema.graphql"
        )).unwrap());
        let mut compared = 0;
        for (ty, members) in &upstream {
            let mine = ours.get(ty).unwrap_or_else(|| panic!("type {ty} missing"));
            for (member, (args, ret)) in members {
                let (my_args, my_ret) = mine.get(member).unwrap_or_else(|| panic!("{ty}.{member} missing"));
                assert_eq!(my_ret, ret, "{ty}.{member}");
                for (arg, arg_ty) in args {
                    assert_eq!(my_args.get(arg), Some(arg_ty), "{ty}.{member}({arg})");
                }
                // Additions are optional arguments: old queries stay valid.
                for (arg, arg_ty) in my_args {
                    assert!(args.contains_key(arg) || !arg_ty.ends_with('!'), "{ty}.{member}({arg}: {arg_ty})");
                }
                compared += 1;
            }
        }
        assert!(compared >= 200, "only {compared} members compared");
        // And no type of ours conflicts with one of upstream's: every scalar
        // we declare is one of theirs.
        for (ty, members) in &ours {
            if members.is_empty() && !upstream.contains_key(ty) {
                // Empty: a scalar (objects, inputs and enums have members).
                panic!("scalar {ty} is not upstream's");
            }
        }
        node.stop().await;
    }
}

const ALL_TYPES: &str =
    "all_all_types_002067f327412373ba916df2840e0a5e0b93270a9667f1580762e3cf4083230c9173";

async fn total(node: &TestNode, args: &str) -> Value {
    let got = node
        .graphql(
            &format!("{{ a: {ALL_TYPES}({args}) {{ totalCount }} }}"),
            Value::Null,
        )
        .await;
    assert!(got["errors"].is_null(), "{args}: {got}");
    got["data"]["a"]["totalCount"].clone()
}

backend_tests! {
    every_filter_operator_through_graphql(db) {
        // Live all_types documents here: d1 (int 5, "B again"), d3 (105,
        // "m (after z) #31"), d4 (1, "m #1").
        let node = golden_node(db).await;
        let d1 = "002055e7ac2834b36cfed2d8da2375a65857479303099253bbb631a9d8376820d828";
        let owner = "2f8e50c2ede6d936ecc3144187ff1c273808185cfbc5ff3d3748d1ff7353fc96";
        for (args, want) in [
            ("filter: { int: { eq: 5 } }", 1),
            ("filter: { int: { notEq: 5 } }", 2),
            ("filter: { int: { in: [1, 5] } }", 2),
            ("filter: { int: { notIn: [1] } }", 2),
            ("filter: { int: { gt: 5 } }", 1),
            ("filter: { int: { gte: 5 } }", 2),
            ("filter: { int: { lt: 5 } }", 1),
            ("filter: { int: { lte: 5 } }", 2),
            ("filter: { int: { gt: 1, lt: 105 } }", 1),
            ("filter: { str: { contains: \"m \" } }", 2),
            ("filter: { str: { notContains: \"m \" } }", 1),
            ("filter: { str: { gte: \"m\" } }", 2),
            ("filter: { str: { in: [\"m #1\", \"nope\"] } }", 1),
            ("filter: { bool: { eq: true } }", 1),
            ("filter: { bool: { notEq: true } }", 2),
            ("filter: { float: { gt: 1.0 } }", 1),
            ("filter: { bytes: { eq: \"\" } }", 3),
            ("filter: { bytes: { notEq: \"\" } }", 0),
            ("filter: { relation: { eq: \"0020417a0c1821b698fc23db4e48622c1493b694a59b7aab253e549a9c1b2e2eb067\" } }", 3),
            ("filter: { relation_list: { in: [\"0020417a0c1821b698fc23db4e48622c1493b694a59b7aab253e549a9c1b2e2eb067\"] } }", 0),
            ("filter: { relation_list: { notIn: [\"0020417a0c1821b698fc23db4e48622c1493b694a59b7aab253e549a9c1b2e2eb067\"] } }", 3),
            ("meta: { documentId: { eq: \"DOC\" } }", 1),
            ("meta: { documentId: { notIn: [\"DOC\"] } }", 2),
            ("meta: { owner: { in: [\"OWNER\"] } }", 3),
            ("meta: { viewId: { eq: \"00205570cad48371efcaef32664218da618e738ed19b3a535af984ee9a3361a4182c_0020565616753953ea04b2353d82edda70e08696c91d61372bd3168f6ea29b1e1d04\" } }", 1),
        ] {
            let args = args.replace("DOC", d1).replace("OWNER", owner);
            assert_eq!(total(&node, &args).await, json!(want), "{args}");
        }
        node.stop().await;
    }

    pages_backwards_and_forwards_without_gaps(db) {
        let node = golden_node(db).await;
        let q = |args: &str| format!(
            "{{ a: {ALL_TYPES}({args}) {{ hasNextPage hasPreviousPage startCursor endCursor documents {{ meta {{ documentId }} }} }} }}");
        let ids = |v: &Value| -> Vec<String> {
            assert!(v["errors"].is_null(), "{v}");
            v["data"]["a"]["documents"].as_array().unwrap().iter()
                .map(|d| s(&d["meta"]["documentId"]).to_string()).collect()
        };
        let all = node.graphql(&q("first: 10"), Value::Null).await;
        assert!(all["errors"].is_null(), "{all}");
        let all_ids = ids(&all);
        assert_eq!(all_ids.len(), 3);
        // Forwards one by one.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let args = match &after { None => "first: 1".to_string(), Some(c) => format!("first: 1, after: \"{c}\"") };
            let page = node.graphql(&q(&args), Value::Null).await;
            seen.extend(ids(&page));
            if page["data"]["a"]["hasNextPage"] == false { break; }
            after = Some(s(&page["data"]["a"]["endCursor"]).to_string());
        }
        assert_eq!(seen, all_ids);
        // Backwards from the end, two at a time: the same order, no gaps.
        let last = node.graphql(&q("last: 2"), Value::Null).await;
        assert_eq!(ids(&last), all_ids[1..].to_vec());
        assert_eq!(last["data"]["a"]["hasPreviousPage"], true);
        let before = s(&last["data"]["a"]["startCursor"]).to_string();
        let prev = node.graphql(&q(&format!("last: 2, before: \"{before}\"")), Value::Null).await;
        assert_eq!(ids(&prev), all_ids[..1].to_vec());
        assert_eq!(prev["data"]["a"]["hasPreviousPage"], false);
        assert_eq!(prev["data"]["a"]["hasNextPage"], true);
        // Descending works backwards too.
        let desc = node.graphql(&q("last: 3, orderDirection: DESC"), Value::Null).await;
        let mut rev = all_ids.clone();
        rev.reverse();
        assert_eq!(ids(&desc), rev);
        // Mixing directions is refused.
        let bad = node.graphql(&q(&format!("first: 1, after: \"{before}\", last: 1")), Value::Null).await;
        assert_eq!(error_code(&bad), Some("INVALID_ARGUMENT"), "{bad}");
        node.stop().await;
    }

    too_deep_queries_are_refused(db) {
        let node = golden_node(db).await;
        // Relations nested past the depth limit (within the parser's own
        // recursion bound).
        let mut q = "meta { documentId }".to_string();
        for _ in 0..12 {
            q = format!("fields {{ relation {{ {q} }} }}");
        }
        let got = node.graphql(&format!("{{ a: {ALL_TYPES} {{ documents {{ {q} }} }} }}"), Value::Null).await;
        assert!(got["data"].is_null(), "{got}");
        assert!(s(&got["errors"][0]["message"]).to_lowercase().contains("nested too deep"), "{got}");
        node.stop().await;
    }
}

backend_tests! {
    relations_of_a_page_load_in_one_batch(db) {
        let node = golden_node(db).await;
        let before = node.node.store().view_reads();
        let got = node.graphql(&format!(
            "{{ a: {ALL_TYPES} {{ documents {{ fields {{ relation {{ fields {{ title }} }} pinned_relation {{ fields {{ title }} }} }} }} }} }}"
        ), Value::Null).await;
        let reads = node.node.store().view_reads() - before;
        let docs = got["data"]["a"]["documents"].as_array().unwrap_or_else(|| panic!("{got}"));
        assert_eq!(docs.len(), 3);
        for d in docs {
            assert!(d["fields"]["relation"]["fields"]["title"].is_string(), "{d}");
            assert!(d["fields"]["pinned_relation"]["fields"]["title"].is_string(), "{d}");
        }
        // The page, then one statement for the relations and one for the
        // pinned relations (not one per document: that would be 1 + 3 + 3).
        assert_eq!(reads, 3, "{got}");
        node.stop().await;
    }
}

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
