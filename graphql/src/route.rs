//! Which part of the API a request needs: the names it uses (root fields,
//! type conditions, variable types, `__type` names) that belong to a
//! schema. Building the whole API costs time in proportion to the number
//! of schemas; a request runs on a build of only the schemas it names (and
//! their relation targets), so that the N-th schema published costs about
//! what the first did.

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Selection, SelectionSet, Type,
};
use async_graphql::{Value, Variables};

/// The suffixes of a schema's type names (`<S>`, `<S>Fields`, ...; see
/// `documents::types`).
const TYPE_SUFFIXES: &[&str] = &["Fields", "Item", "Collection", "Filter", "OrderBy"];

/// What a request needs to run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// The whole API (`__schema`, or a `__type` whose name is not known
    /// before execution).
    Whole,
    /// The API of the schemas some of these names may belong to: each is a
    /// root field or a type name; [`candidate_ids`] turns them into ids.
    Names(Vec<String>),
}

/// The names of `doc` that may belong to schemas.
pub(crate) fn needs(doc: &ExecutableDocument, variables: &Variables) -> Needs {
    let mut walk = Walk {
        names: Vec::new(),
        whole: false,
        variables,
    };
    match &doc.operations {
        DocumentOperations::Single(op) => walk.operation(&op.node),
        DocumentOperations::Multiple(ops) => {
            for op in ops.values() {
                walk.operation(&op.node);
            }
        }
    }
    for fragment in doc.fragments.values() {
        let fragment = &fragment.node;
        walk.names
            .push(fragment.type_condition.node.on.node.to_string());
        walk.selection_set(&fragment.selection_set.node);
    }
    match walk.whole {
        true => Needs::Whole,
        false => Needs::Names(walk.names),
    }
}

/// The schema ids `name` may stand for: itself, without `all_`, without a
/// type suffix. (More than one only if a schema's name were to end like a
/// suffix; each candidate is looked up, unknown ones are ignored.)
pub(crate) fn candidate_ids(name: &str) -> impl Iterator<Item = &str> {
    let root = name.strip_prefix("all_");
    let suffixed = TYPE_SUFFIXES
        .iter()
        .filter_map(move |suffix| name.strip_suffix(suffix));
    std::iter::once(name).chain(root).chain(suffixed)
}

struct Walk<'a> {
    names: Vec<String>,
    whole: bool,
    variables: &'a Variables,
}

impl Walk<'_> {
    fn operation(&mut self, op: &async_graphql::parser::types::OperationDefinition) {
        for variable in &op.variable_definitions {
            self.ty(&variable.node.var_type.node);
        }
        self.selection_set(&op.selection_set.node);
    }

    fn ty(&mut self, ty: &Type) {
        match &ty.base {
            BaseType::Named(name) => self.names.push(name.to_string()),
            BaseType::List(inner) => self.ty(inner),
        }
    }

    fn selection_set(&mut self, set: &SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    match field.name.node.as_str() {
                        "__schema" => self.whole = true,
                        "__type" => self.type_argument(field),
                        name => self.names.push(name.to_string()),
                    }
                    self.selection_set(&field.selection_set.node);
                }
                // Named fragments are walked once, with the document.
                Selection::FragmentSpread(_) => {}
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    if let Some(condition) = &fragment.type_condition {
                        self.names.push(condition.node.on.node.to_string());
                    }
                    self.selection_set(&fragment.selection_set.node);
                }
            }
        }
    }

    /// `__type(name: ...)`: its name, a literal or a variable's value.
    fn type_argument(&mut self, field: &async_graphql::parser::types::Field) {
        let value = field.get_argument("name").map(|v| {
            v.node
                .clone()
                .into_const_with(|var| self.variables.get(&var).cloned().ok_or(()))
        });
        match value {
            Some(Ok(Value::String(name))) => self.names.push(name),
            // Missing or not a string: an error either way, which the
            // whole API reports as it always has.
            _ => self.whole = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs_of(query: &str, variables: serde_json::Value) -> Needs {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        needs(&doc, &Variables::from_json(variables))
    }

    fn names(query: &str) -> Vec<String> {
        match needs_of(query, serde_json::json!({})) {
            Needs::Names(mut names) => {
                names.sort();
                names.dedup();
                names
            }
            Needs::Whole => panic!("the whole API for {query}"),
        }
    }

    #[test]
    fn root_fields_types_and_fragments_are_named() {
        let got = names(
            "query Q($f: a_1Filter, $o: [b_2OrderBy!]) {
                all_a_1(filter: $f) { documents { ...D } }
                c_3(id: \"x\") { fields { rel { ... on d_4 { meta { documentId } } } } }
            }
            fragment D on a_1Item { meta { viewId } }",
        );
        for name in [
            "a_1Filter",
            "b_2OrderBy",
            "all_a_1",
            "c_3",
            "d_4",
            "a_1Item",
        ] {
            assert!(got.contains(&name.to_string()), "{name} in {got:?}");
        }
    }

    #[test]
    fn introspection_of_the_schema_needs_the_whole_api() {
        assert_eq!(
            needs_of("{ __schema { types { name } } }", serde_json::json!({})),
            Needs::Whole
        );
        // A `__type` with a name known before execution needs that name only.
        assert_eq!(
            needs_of(
                "query T($n: String!) { __type(name: $n) { name } }",
                serde_json::json!({ "n": "a_1" })
            ),
            Needs::Names(vec!["String".into(), "a_1".into(), "name".into()])
        );
        assert_eq!(
            needs_of(
                "query T($n: String!) { __type(name: $n) { name } }",
                serde_json::json!({})
            ),
            Needs::Whole
        );
    }

    #[test]
    fn candidates_strip_the_prefix_and_suffixes() {
        let got: Vec<_> = candidate_ids("all_a_1").collect();
        assert_eq!(got, ["all_a_1", "a_1"]);
        let got: Vec<_> = candidate_ids("a_1Collection").collect();
        assert_eq!(got, ["a_1Collection", "a_1"]);
    }
}
