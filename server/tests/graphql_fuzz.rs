//! A GraphQL fuzzer against a running node: random queries built from the
//! live schema's own introspection (its root fields, arguments of the right
//! and of wrong types, nested selections, filters and orderings of the
//! replayed document schemas). Whatever comes in, the node answers with
//! JSON, never a 5xx, and every error carries a code that is not
//! `INTERNAL` (an internal error would be a bug: bad input is the
//! client's). Seeded: `HOFFNUNG_FUZZ_SEED` replays a run,
//! `HOFFNUNG_FUZZ_QUERIES` sets its length.

mod common;

use std::collections::HashMap;

use common::*;
use hoffnung_store::backend_tests;
use serde_json::{json, Value};

/// A small, seedable generator (xorshift64*): no dependency, same run for
/// the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// A type reference: `[Named!]!` and the like.
#[derive(Clone, Debug)]
enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn parse(v: &Value) -> TypeRef {
        match v["kind"].as_str() {
            Some("NON_NULL") => TypeRef::NonNull(Box::new(TypeRef::parse(&v["ofType"]))),
            Some("LIST") => TypeRef::List(Box::new(TypeRef::parse(&v["ofType"]))),
            _ => TypeRef::Named(v["name"].as_str().unwrap_or_default().to_string()),
        }
    }
    fn named(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::List(t) | TypeRef::NonNull(t) => t.named(),
        }
    }
}

struct Arg {
    name: String,
    ty: TypeRef,
}

struct FieldDef {
    name: String,
    args: Vec<Arg>,
    ty: TypeRef,
}

struct TypeDef {
    kind: String,
    fields: Vec<FieldDef>,
    input_fields: Vec<Arg>,
    enum_values: Vec<String>,
}

const INTROSPECTION: &str = "{ __schema { queryType { name } mutationType { name } types { name kind
  fields { name type { ...T } args { name type { ...T } } }
  inputFields { name type { ...T } }
  enumValues { name } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

fn parse_schema(v: &Value) -> HashMap<String, TypeDef> {
    let args = |list: &Value| -> Vec<Arg> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|a| Arg {
                name: a["name"].as_str().unwrap().to_string(),
                ty: TypeRef::parse(&a["type"]),
            })
            .collect()
    };
    v["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let fields = t["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| FieldDef {
                    name: f["name"].as_str().unwrap().to_string(),
                    args: args(&f["args"]),
                    ty: TypeRef::parse(&f["type"]),
                })
                .collect();
            let enum_values = t["enumValues"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect();
            (
                t["name"].as_str().unwrap().to_string(),
                TypeDef {
                    kind: t["kind"].as_str().unwrap().to_string(),
                    fields,
                    input_fields: args(&t["inputFields"]),
                    enum_values,
                },
            )
        })
        .collect()
}

struct Fuzzer<'a> {
    rng: Rng,
    types: &'a HashMap<String, TypeDef>,
    /// Strings that mean something here (ids, keys, view ids), so that some
    /// queries get past argument parsing.
    known: Vec<String>,
}

impl Fuzzer<'_> {
    fn string(&mut self) -> String {
        match self.rng.below(12) {
            0 => String::new(),
            1 => "0020".repeat(self.rng.below(40)),
            2 => format!("{:x}", self.rng.next()).repeat(self.rng.below(12) + 1),
            3 => "é☃\u{0}\\\"'%_!".repeat(self.rng.below(4) + 1),
            4 => "x".repeat(self.rng.below(5000)),
            5 => format!("{}_{}", self.rng.next(), self.rng.next()),
            _ => self.rng.pick(&self.known).cloned().unwrap_or_default(),
        }
    }

    /// A GraphQL literal for `ty`; now and then of a wrong type.
    fn value(&mut self, ty: &TypeRef, depth: usize) -> String {
        if self.rng.chance(2) {
            return self.wrong_value();
        }
        match ty {
            TypeRef::NonNull(t) => self.value(t, depth),
            TypeRef::List(t) => {
                let n = if depth > 3 { 0 } else { self.rng.below(4) };
                let items: Vec<String> = (0..n).map(|_| self.value(t, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            TypeRef::Named(name) => self.named_value(name, depth),
        }
    }

    fn named_value(&mut self, name: &str, depth: usize) -> String {
        match name {
            "Int" => match self.rng.below(5) {
                0 => "0".into(),
                1 => "-1".into(),
                2 => "2147483647".into(),
                3 => format!("{}", self.rng.below(20_000)),
                _ => format!("{}", self.rng.below(100)),
            },
            "Float" => ["0.5", "-1e300", "3", "1.7976931348623157e308"][self.rng.below(4)].into(),
            "Boolean" => ["true", "false"][self.rng.below(2)].into(),
            _ => match self.types.get(name) {
                Some(t) if t.kind == "ENUM" => match self.rng.pick(&t.enum_values) {
                    Some(v) if !self.rng.chance(5) => v.clone(),
                    _ => "NOT_A_VALUE".into(),
                },
                Some(t) if t.kind == "INPUT_OBJECT" => {
                    if depth > 3 {
                        return "{}".into();
                    }
                    let mut parts = Vec::new();
                    for f in &t.input_fields {
                        if self.rng.chance(35) {
                            let v = self.value(&f.ty, depth + 1);
                            parts.push(format!("{}: {v}", f.name));
                        }
                    }
                    format!("{{{}}}", parts.join(", "))
                }
                // String and every custom scalar (all strings here).
                _ => serde_json::to_string(&self.string()).unwrap(),
            },
        }
    }

    fn wrong_value(&mut self) -> String {
        match self.rng.below(6) {
            0 => "null".into(),
            1 => "99999999999999999999".into(),
            2 => "[[[]]]".into(),
            3 => "{a: 1}".into(),
            4 => "$undeclared".into(),
            _ => serde_json::to_string(&self.string()).unwrap(),
        }
    }

    /// A selection set on object type `name`.
    fn selection(&mut self, name: &str, depth: usize) -> String {
        let Some(t) = self.types.get(name) else {
            return "{ __typename }".into();
        };
        if t.kind == "UNION" || t.kind == "INTERFACE" || t.fields.is_empty() {
            return "{ __typename }".into();
        }
        let mut picked = Vec::new();
        let n = if depth == 0 { 1 } else { self.rng.below(4) + 1 };
        for i in 0..n {
            let Some(f) = self.rng.pick(&t.fields) else {
                break;
            };
            picked.push(self.field(f, depth, i));
        }
        format!("{{ {} }}", picked.join(" "))
    }

    fn field(&mut self, f: &FieldDef, depth: usize, alias: usize) -> String {
        let mut args = Vec::new();
        for a in &f.args {
            let required = matches!(a.ty, TypeRef::NonNull(_));
            if (required && !self.rng.chance(2)) || self.rng.chance(30) {
                let v = self.value(&a.ty, 0);
                args.push(format!("{}: {v}", a.name));
            }
        }
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let inner = self.types.get(f.ty.named());
        let sub = match inner.map(|t| t.kind.as_str()) {
            Some("OBJECT" | "INTERFACE" | "UNION") if depth < 5 => {
                self.selection(f.ty.named(), depth + 1)
            }
            Some("OBJECT" | "INTERFACE" | "UNION") => "{ __typename }".into(),
            _ => String::new(),
        };
        format!("a{alias}: {}{args} {sub}", f.name)
    }
}

backend_tests! {
    random_queries_never_fail_inside_the_node(db) {
        let node = TestNode::start(db).await;
        node.replay_publish_sequence().await;
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let schema = node.graphql(INTROSPECTION, json!({})).await;
        assert!(schema["errors"].is_null(), "{schema}");
        let types = parse_schema(&schema);
        let query_root = schema["data"]["__schema"]["queryType"]["name"].as_str().unwrap().to_string();
        let mutation_root = schema["data"]["__schema"]["mutationType"]["name"].as_str().unwrap().to_string();

        // Ids that exist: documents, views, schemas, the authors' keys.
        let mut known = Vec::new();
        for e in vectors("publish_sequence")["entries"].as_array().unwrap() {
            known.push(s(&e["next_args_request"]["publicKey"]).to_string());
            if let Some(v) = e["next_args_request"]["viewId"].as_str() {
                known.push(v.to_string());
            }
        }
        known.extend(types.keys().filter(|k| k.contains("_0020")).cloned());

        let seed = std::env::var("HOFFNUNG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026_u64);
        let count: usize = std::env::var("HOFFNUNG_FUZZ_QUERIES").ok().and_then(|s| s.parse().ok()).unwrap_or(1500);
        let mut fuzzer = Fuzzer { rng: Rng(seed | 1), types: &types, known };
        let (mut answered, mut refused) = (0, 0);
        for i in 0..count {
            let mutation = fuzzer.rng.chance(10);
            let root = if mutation { &mutation_root } else { &query_root };
            let body = fuzzer.selection(root, 0);
            let query = if mutation { format!("mutation {body}") } else { body };
            let response = node
                .client
                .post(node.node.graphql_url())
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap_or_else(|e| panic!("query {i} (seed {seed}): {e}\n{query}"));
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(status < 500, "query {i} (seed {seed}): HTTP {status}\n{query}\n{text}");
            let answer: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("query {i} (seed {seed}): not JSON ({e})\n{query}\n{text}"));
            if answer["data"].is_object() {
                answered += 1;
            }
            match answer["errors"].as_array() {
                None => {}
                Some(errors) => {
                    refused += 1;
                    for e in errors {
                        let code = e["extensions"]["code"].as_str();
                        assert!(code.is_some(), "query {i} (seed {seed}): an error without a code\n{query}\n{text}");
                        assert_ne!(code, Some("INTERNAL"), "query {i} (seed {seed}): an internal error\n{query}\n{text}");
                    }
                }
            }
        }
        eprintln!("{answered} of {count} answered (some with errors), {refused} with errors");
        // Both kinds happened: the fuzzer reaches past argument checks.
        assert!(answered > count / 20 && refused > count / 20, "{answered} answered, {refused} refused");
        let health = node.client.get(format!("http://{}/health", node.node.addr())).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
        node.stop().await;
    }
}
