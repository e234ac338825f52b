//! The client subcommands end to end (`key`, `schema create`, `doc`,
//! `query`, `status`): the real binary against a node process on a free
//! port, with their exact errors on bad input.

mod common;

use common::cli::*;
use serde_json::Value;

#[test]
fn client_subcommands_publish_and_query() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let node = start_node(h, &[]);
    let url = node.base.as_str();

    // Keys: new, show, refuse to overwrite, import.
    let public = ok(h, &["key", "new"]);
    assert_eq!(public.len(), 64);
    assert_eq!(ok(h, &["key", "show"]), public);
    let err = fails(h, &["key", "new"]);
    assert!(err.contains("already exists; pass --force"), "{err}");
    let other = h.join("other.key");
    let other_str = other.to_str().unwrap();
    let imported = ok(
        h,
        &[
            "key",
            "import",
            "b9e9f5d7a6e8c4d3b2a19081726354453627181920a1b2c3d4e5f60718293a4b",
            "--key-file",
            other_str,
        ],
    );
    assert_eq!(ok(h, &["key", "show", "--key-file", other_str]), imported);
    let err = fails(
        h,
        &["key", "import", "xyz", "--key-file", other_str, "--force"],
    );
    assert!(err.contains("not a private key"), "{err}");

    // Schema from TOML, documents, query.
    let file = h.join("note.toml");
    std::fs::write(&file, NOTE_TOML).unwrap();
    let schema = ok(
        h,
        &["schema", "create", file.to_str().unwrap(), "--node", url],
    );
    assert!(schema.starts_with("note_0020"), "{schema}");
    let doc = ok(
        h,
        &[
            "doc",
            "create",
            "--schema",
            &schema,
            "--node",
            url,
            "--fields",
            r#"{"title": "Hello", "stars": 3, "rating": 2.5, "done": false}"#,
        ],
    );
    assert_eq!(doc.len(), 68);
    let view = ok(
        h,
        &[
            "doc",
            "update",
            &doc,
            "--schema",
            &schema,
            "--node",
            url,
            "--fields",
            r#"{"stars": 5, "done": true}"#,
        ],
    );
    assert_ne!(view, doc);
    let query = format!(
        "{{ all_{schema}(filter: {{ stars: {{ gte: 4 }} }}) {{ totalCount documents {{ meta {{ viewId }} fields {{ title stars rating done }} }} }} }}"
    );
    let out: Value = serde_json::from_str(&ok(h, &["query", &query, "--node", url])).unwrap();
    let all = &out["data"][format!("all_{schema}")];
    assert_eq!(all["totalCount"], 1, "{out}");
    assert_eq!(
        all["documents"][0]["fields"],
        serde_json::json!({ "title": "Hello", "stars": 5, "rating": 2.5, "done": true })
    );
    assert_eq!(all["documents"][0]["meta"]["viewId"], view.as_str());

    // Variables; a failing query prints the errors and exits non-zero.
    let q = format!("query Q($id: String!) {{ {schema}(id: $id) {{ fields {{ title }} }} }}");
    let vars = format!(r#"{{"id": "{doc}"}}"#);
    let out: Value =
        serde_json::from_str(&ok(h, &["query", &q, "--variables", &vars, "--node", url])).unwrap();
    assert_eq!(out["data"][&schema]["fields"]["title"], "Hello");
    let out = run(h, &["query", "{ nope }", "--node", url]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("errors"));

    // Bad input to the client commands: exact, early errors.
    let err = fails(
        h,
        &[
            "doc",
            "create",
            "--schema",
            &schema,
            "--node",
            url,
            "--fields",
            r#"{"title": "x"}"#,
        ],
    );
    assert!(err.contains("missing: done, rating, stars"), "{err}");
    let err = fails(
        h,
        &[
            "doc",
            "update",
            &doc,
            "--schema",
            &schema,
            "--node",
            url,
            "--fields",
            r#"{"stars": "many"}"#,
        ],
    );
    assert!(
        err.contains("field `stars` (int): expected an integer"),
        "{err}"
    );
    let err = fails(
        h,
        &[
            "doc",
            "update",
            &doc,
            "--schema",
            &schema,
            "--node",
            url,
            "--fields",
            r#"{"colour": 1}"#,
        ],
    );
    assert!(err.contains("has no field `colour`"), "{err}");
    let err = fails(
        h,
        &["doc", "create", "--schema", "nonsense", "--fields", "{}"],
    );
    assert!(err.contains("--schema"), "{err}");
    // Another author may update the document too (in a log of their own).
    let theirs = ok(
        h,
        &[
            "doc",
            "update",
            &doc,
            "--schema",
            &schema,
            "--node",
            url,
            "--key-file",
            other_str,
            "--fields",
            r#"{"stars": 1}"#,
        ],
    );
    assert_ne!(theirs, view);
    // A stale --previous is refused by the node, with its code.
    let err = fails(
        h,
        &[
            "doc",
            "update",
            &doc,
            "--schema",
            &schema,
            "--node",
            url,
            "--previous",
            &schema[5..],
            "--fields",
            r#"{"stars": 2}"#,
        ],
    );
    assert!(err.contains("publish was refused"), "{err}");

    // A JSON description with relations to the first schema.
    let json_file = h.join("comment.json");
    std::fs::write(
        &json_file,
        format!(
            r#"{{"name": "comment", "description": "On a note", "fields": [
                {{"name": "text", "type": "str"}},
                {{"name": "note", "type": "relation", "schema": "{schema}"}},
                {{"name": "seen", "type": "pinned_relation_list", "schema": "{schema}"}},
                {{"name": "blob", "type": "bytes"}}]}}"#
        ),
    )
    .unwrap();
    let comment = ok(
        h,
        &[
            "schema",
            "create",
            json_file.to_str().unwrap(),
            "--node",
            url,
        ],
    );
    assert!(comment.starts_with("comment_0020"), "{comment}");
    let fields =
        format!(r#"{{"text": "nice", "note": "{doc}", "seen": ["{view}"], "blob": "00ff"}}"#);
    ok(
        h,
        &[
            "doc", "create", "--schema", &comment, "--node", url, "--fields", &fields,
        ],
    );
    let q = format!("{{ all_{comment} {{ documents {{ fields {{ text blob note {{ fields {{ title }} }} seen {{ documents {{ meta {{ viewId }} }} }} }} }} }} }}");
    let out: Value = serde_json::from_str(&ok(h, &["query", &q, "--node", url])).unwrap();
    let got = &out["data"][format!("all_{comment}")]["documents"][0]["fields"];
    assert_eq!(got["text"], "nice", "{out}");
    assert_eq!(got["blob"], "00ff");
    assert_eq!(got["note"]["fields"]["title"], "Hello");
    assert_eq!(got["seen"]["documents"][0]["meta"]["viewId"], view.as_str());
    let bad = h.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "xy", "description": "", "fields": [{"name": "a", "type": "relation"}]}"#,
    )
    .unwrap();
    let err = fails(
        h,
        &["schema", "create", bad.to_str().unwrap(), "--node", url],
    );
    assert!(err.contains("field `a`"), "{err}");

    // Delete; the document leaves the collection.
    ok(
        h,
        &["doc", "delete", &doc, "--schema", &schema, "--node", url],
    );
    let count = format!("{{ all_{schema} {{ totalCount }} }}");
    let out: Value = serde_json::from_str(&ok(h, &["query", &count, "--node", url])).unwrap();
    assert_eq!(
        out["data"][format!("all_{schema}")]["totalCount"],
        0,
        "{out}"
    );

    // Status, human and JSON.
    let human = ok(h, &["status", "--node", url]);
    assert!(human.contains(&schema), "{human}");
    assert!(human.contains("entries     15"), "{human}");
    let json: Value = serde_json::from_str(&ok(h, &["status", "--json", "--node", url])).unwrap();
    assert_eq!(json["entries"], 15);
    assert_eq!(json["materializer"]["backlog"], 0);

    // A node that is not there.
    let err = fails(h, &["status", "--node", "http://127.0.0.1:9"]);
    assert!(err.contains("could not reach the node"), "{err}");
    drop(node);
}

/// A schema of the protocol's 1,024 fields: `schema create` publishes it,
/// `doc create` and `doc update` read every field back from the node
/// (more than one page of field definitions) and write each.
#[test]
fn wide_schema_through_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let node = start_node(h, &[]);
    let url = node.base.as_str();
    ok(h, &["key", "new"]);
    let fields: Vec<Value> = (0..1024)
        .map(|i| serde_json::json!({ "name": format!("f_{i}"), "type": if i % 2 == 0 { "int" } else { "str" } }))
        .collect();
    let file = h.join("wide.json");
    let description =
        serde_json::json!({ "name": "wide", "description": "Every field", "fields": fields });
    std::fs::write(&file, description.to_string()).unwrap();
    let schema = ok(
        h,
        &["schema", "create", file.to_str().unwrap(), "--node", url],
    );
    let values = |round: i64| -> String {
        let mut m = serde_json::Map::new();
        for i in 0..1024i64 {
            let v = if i % 2 == 0 {
                serde_json::json!(i + round)
            } else {
                serde_json::json!(format!("{i}/{round}"))
            };
            m.insert(format!("f_{i}"), v);
        }
        Value::Object(m).to_string()
    };
    let doc = ok(
        h,
        &[
            "doc",
            "create",
            "--schema",
            &schema,
            "--node",
            url,
            "--fields",
            &values(0),
        ],
    );
    ok(
        h,
        &[
            "doc",
            "update",
            &doc,
            "--schema",
            &schema,
            "--node",
            url,
            "--fields",
            &values(1),
        ],
    );
    wait_caught_up(h, url);
    let query = format!("{{ all_{schema}(filter: {{ f_1023: {{ eq: \"1023/1\" }} }}) {{ totalCount documents {{ fields {{ f_0 f_1022 f_1023 }} }} }} }}");
    let got: Value = serde_json::from_str(&ok(h, &["query", &query, "--node", url])).unwrap();
    let all = &got["data"][format!("all_{schema}")];
    assert_eq!(all["totalCount"], 1, "{got}");
    assert_eq!(all["documents"][0]["fields"]["f_0"], 1);
    assert_eq!(all["documents"][0]["fields"]["f_1022"], 1023);
    assert_eq!(all["documents"][0]["fields"]["f_1023"], "1023/1");
}
