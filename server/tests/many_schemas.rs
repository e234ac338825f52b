//! Many schemas: a request runs on a build of the part of the API it names
//! (its schemas and their relation targets), so that a new schema costs a
//! build of the requests that name it, not of the whole API. What each
//! kind of request names (root fields, fragments, variable types,
//! `__type`, `__schema`) is checked against answers of the whole API.

mod common;

use common::*;
use hoffnung_core::{DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_store::backend_tests;
use serde_json::{json, Value};

/// What building the API has cost the node so far (schemas summed over
/// builds), from `/metrics`.
async fn built_schemas(node: &TestNode) -> f64 {
    Exposition::parse(&node.get_text("/metrics").await).get("hoffnung_graphql_built_schemas_total")
}

/// Waits as `hoffnung schema create` does: until a document query by the
/// schema's root field is accepted.
async fn wait_served(node: &TestNode, schema: &SchemaId) {
    let probe =
        format!("query P($id: String!) {{ {schema}(id: $id) {{ meta {{ documentId }} }} }}");
    for _ in 0..500 {
        let got = node
            .graphql(
                &probe,
                json!({ "id": "0020".to_string() + &"a".repeat(64) }),
            )
            .await;
        if got["errors"].is_null() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{schema} was never served");
}

fn create(schema: &SchemaId, fields: &[(&str, OperationValue)]) -> Operation {
    let mut f = Fields::new();
    for (name, value) in fields {
        f.insert(name.to_string(), value.clone());
    }
    Operation::create(schema.clone(), f)
}

backend_tests! {
    a_new_schema_costs_a_build_of_its_own(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[31; 32]);
        let before = built_schemas(&node).await;
        let count = 40;
        let mut schemas = Vec::new();
        for i in 0..count {
            let schema = node
                .publish_schema(&key, &format!("many_{i}"), &[("n", "int"), ("s", "str")])
                .await;
            wait_served(&node, &schema).await;
            let got = node
                .graphql(&format!("{{ all_{schema} {{ totalCount }} }}"), Value::Null)
                .await;
            assert_eq!(got["data"][format!("all_{schema}")]["totalCount"], 0, "{got}");
            schemas.push(schema);
        }
        // One build per schema (its probe and its collection run on the
        // same part). Rebuilding the whole API for each new schema would
        // have built count * (count + 1) / 2 = 820 schemas.
        let built = built_schemas(&node).await - before;
        assert!(built >= count as f64 && built <= 2.0 * count as f64, "{built} schemas built");
        // Every schema is still served, and the whole API has them all.
        let got = node
            .graphql("{ __schema { queryType { fields { name } } } }", Value::Null)
            .await;
        let roots: Vec<&str> = got["data"]["__schema"]["queryType"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| s(&f["name"]))
            .collect();
        for schema in &schemas {
            assert!(roots.contains(&format!("all_{schema}").as_str()), "{schema} in {roots:?}");
        }
        node.stop().await;
    }

    every_request_runs_with_the_schemas_it_names(db) {
        let node = TestNode::start(db).await;
        let key = KeyPair::from_private_key(&[32; 32]);
        let author = node.publish_schema(&key, "author", &[("name", "str")]).await;
        let book = node
            .publish_schema(&key, "book", &[("title", "str"), ("by", &format!("relation({author})"))])
            .await;
        let ada = node
            .publish_operation(&key, &create(&author, &[("name", OperationValue::Str("Ada".into()))]))
            .await;
        for title in ["Notes", "Sketches"] {
            let fields = [
                ("title", OperationValue::Str(title.into())),
                ("by", OperationValue::Relation(ada)),
            ];
            node.publish_operation(&key, &create(&book, &fields)).await;
        }
        node.wait_queryable(&author).await;
        node.wait_queryable(&book).await;
        let ask = |query: String, variables: Value| {
            let node = &node;
            async move {
                let got = node.graphql(&query, variables).await;
                assert!(got["errors"].is_null(), "{query}: {got}");
                got["data"].clone()
            }
        };

        // The relation's target comes with the schema that points at it,
        // named in a fragment or not.
        let query = format!(
            "query Q($f: {book}Filter) {{
                all_{book}(filter: $f) {{ documents {{ fields {{ title by {{ ...A }} }} }} }}
            }}
            fragment A on {author} {{ fields {{ name }} }}"
        );
        let got = ask(query, json!({ "f": { "title": { "eq": "Sketches" } } })).await;
        let docs = &got[format!("all_{book}")]["documents"];
        assert_eq!(docs.as_array().unwrap().len(), 1, "{got}");
        assert_eq!(docs[0]["fields"]["by"]["fields"]["name"], "Ada");

        // Two schemas in one request; one named only by its order type.
        let query = format!(
            "query Q($o: {author}OrderBy) {{
                all_{author}(orderBy: $o) {{ totalCount }}
                all_{book} {{ totalCount }}
            }}"
        );
        let got = ask(query, json!({ "o": "name" })).await;
        assert_eq!(got[format!("all_{author}")]["totalCount"], 1);
        assert_eq!(got[format!("all_{book}")]["totalCount"], 2);

        // `__type` by a variable, and the same type in the whole API.
        let by_type = ask(
            "query T($n: String!) { __type(name: $n) { fields { name } } }".into(),
            json!({ "n": format!("{book}Fields") }),
        )
        .await;
        assert_eq!(
            by_type["__type"]["fields"],
            json!([{ "name": "by" }, { "name": "title" }])
        );
        let whole = ask("{ __schema { types { name } } }".into(), Value::Null).await;
        let types: Vec<&str> = whole["__schema"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| s(&t["name"]))
            .collect();
        for name in [author.to_string(), format!("{book}Fields"), "schema_definition_v1".into()] {
            assert!(types.contains(&name.as_str()), "{name}");
        }
        // A type no schema has is unknown to every build.
        let none = ask(
            "query T($n: String!) { __type(name: $n) { name } }".into(),
            json!({ "n": "nothing_here" }),
        )
        .await;
        assert!(none["__type"].is_null());

        // A root field of no schema: the error async-graphql gives,
        // without suggestions (they would depend on the build).
        let unknown = format!("all_{}", SchemaId::application("nothing", DocumentViewId::from_operation(ada)).unwrap());
        let got = node
            .graphql(&format!("{{ {unknown} {{ totalCount }} }}"), Value::Null)
            .await;
        assert_eq!(error_code(&got), Some("INVALID_QUERY"), "{got}");
        assert_eq!(
            got["errors"][0]["message"],
            format!("Unknown field \"{unknown}\" on type \"Query\".")
        );
        node.stop().await;
    }
}
