//! Document queries through the real GraphQL endpoint: the golden answers
//! recorded from the upstream node (`graphql_examples.json`), with hoffnung's
//! documented differences asserted explicitly.

mod common;

use common::golden::*;
use common::*;
use hoffnung_store::backend_tests;
use serde_json::{json, Value};

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
    a_document_reads_its_relations_with_it(db) {
        let node = golden_node(db).await;
        let page = node.graphql(&format!("{{ a: {ALL_TYPES} {{ documents {{ meta {{ documentId }} }} }} }}"), Value::Null).await;
        let id = s(&page["data"]["a"]["documents"][0]["meta"]["documentId"]).to_string();
        let single = ALL_TYPES.strip_prefix("all_").unwrap();
        let before = node.node.store().view_reads();
        let got = node.graphql(&format!(
            "{{ d: {single}(id: \"{id}\") {{ fields {{ relation {{ fields {{ title }} }} pinned_relation {{ fields {{ title }} }} }} }} }}"
        ), Value::Null).await;
        let reads = node.node.store().view_reads() - before;
        let fields = &got["data"]["d"]["fields"];
        assert!(fields["relation"]["fields"]["title"].is_string(), "{got}");
        assert!(fields["pinned_relation"]["fields"]["title"].is_string(), "{got}");
        // The document, then its relations read before they resolve: one
        // statement per kind of key (document id, view id).
        assert_eq!(reads, 3, "{got}");
        node.stop().await;
    }
}
