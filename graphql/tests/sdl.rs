//! The API surface keeps upstream's names and types: the `nextArgs` and
//! `publish` parts of our SDL match `fixtures/aquadoggo-0.9.1-schema.graphql`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use hoffnung_graphql::{build_schema, Api};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::test_utils::TestDb;

/// type name → field name → (argument name → type, return type)
type Shape = BTreeMap<String, BTreeMap<String, (BTreeMap<String, String>, String)>>;

fn shape(sdl: &str, types: &[&str]) -> (Shape, Vec<String>) {
    let doc = parse_schema(sdl).expect("valid SDL");
    let mut out = Shape::new();
    let mut scalars = Vec::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let name = t.node.name.node.to_string();
        match &t.node.kind {
            TypeKind::Scalar => scalars.push(name),
            TypeKind::Object(o) if types.contains(&name.as_str()) => {
                let fields = out.entry(name).or_default();
                for f in &o.fields {
                    let args = f
                        .node
                        .arguments
                        .iter()
                        .map(|a| (a.node.name.node.to_string(), a.node.ty.node.to_string()))
                        .collect();
                    fields.insert(
                        f.node.name.node.to_string(),
                        (args, f.node.ty.node.to_string()),
                    );
                }
            }
            _ => {}
        }
    }
    scalars.sort();
    (out, scalars)
}

#[tokio::test]
async fn next_args_and_publish_match_upstream_sdl() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let api = Api {
        store: store.clone(),
        registry: Arc::new(SchemaRegistry::new(None)),
        materializer: None,
    };
    let ours = build_schema(api).expect("schema").sdl();
    let upstream = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/aquadoggo-0.9.1-schema.graphql"
    ))
    .expect("upstream SDL");
    let types = ["NextArguments", "MutationRoot", "Query"];
    let (ours_shape, our_scalars) = shape(&ours, &types);
    let (up_shape, up_scalars) = shape(&upstream, &types);
    assert_eq!(ours_shape["NextArguments"], up_shape["NextArguments"]);
    assert_eq!(
        ours_shape["MutationRoot"]["publish"],
        up_shape["MutationRoot"]["publish"]
    );
    assert_eq!(
        ours_shape["Query"]["nextArgs"],
        up_shape["Query"]["nextArgs"]
    );
    for scalar in our_scalars {
        assert!(
            up_scalars.contains(&scalar),
            "scalar {scalar} is not upstream's"
        );
    }
    store.close().await;
}
