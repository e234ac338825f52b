//! `hoffnung gc` and `hoffnung compact` on the real binary: a view kept by
//! an earlier version that nothing pins is found by a dry run, collected,
//! and still answers a `viewId` query (reduced on request); compact gives
//! the space back.

mod common;

use common::cli::*;
use serde_json::Value;
use sqlx::{Connection, Row};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_collects_views_nothing_pins_and_compact_returns_the_space() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (node, schema) = node_with_note_schema(h);
    let url = node.base.clone();
    let fields = r#"{"title": "first words", "stars": 1, "rating": 0.5, "done": false}"#;
    let doc = create_doc(h, &url, &schema, fields);
    for i in 2..5 {
        let title = format!(r#"{{"title": "version {i}"}}"#);
        ok(
            h,
            &[
                "doc", "update", &doc, "--schema", &schema, "--node", &url, "--fields", &title,
            ],
        );
    }
    wait_caught_up(h, &url);
    drop(node);

    // Nothing pins the note's old views: none was kept.
    let dry = run(h, &["gc", "--dry-run"]);
    assert!(dry.status.success());
    let said = String::from_utf8_lossy(&dry.stderr);
    assert!(said.contains("would collect 0 unused views"), "{said}");

    // A database written by an earlier version kept every old view: put
    // the note's first view (its id is the document's) back in history.
    let db = h.join("data/hoffnung/hoffnung.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let table: String = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'note\\_%' ESCAPE '\\' AND name NOT LIKE '%\\_\\_%' ESCAPE '\\'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    let copied = sqlx::query(&format!(
        "INSERT INTO \"{table}__views\" SELECT * FROM \"{table}\" WHERE _document_id = ?"
    ))
    .bind(&doc)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(copied.rows_affected(), 1);
    sqlx::query(&format!("UPDATE \"{table}__views\" SET _view_id = ?"))
        .bind(&doc)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let dry = run(h, &["gc", "--dry-run"]);
    let (out, said) = (
        String::from_utf8_lossy(&dry.stdout),
        String::from_utf8_lossy(&dry.stderr),
    );
    assert!(said.contains("would collect 1 unused views"), "{said}");
    assert!(out.contains(&format!("{schema}: 1 views, about ")), "{out}");
    let again = run(h, &["gc", "--dry-run"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("would collect 1 unused views"));
    let done = run(h, &["gc"]);
    assert!(done.status.success());
    assert!(String::from_utf8_lossy(&done.stderr).contains("collected 1 unused views"));
    let after = run(h, &["gc", "--dry-run"]);
    assert!(String::from_utf8_lossy(&after.stderr).contains("would collect 0 unused views"));

    let compacted = run(h, &["compact"]);
    assert!(compacted.status.success());
    let said = String::from_utf8_lossy(&compacted.stderr);
    assert!(
        said.contains("compacted: ") && said.contains(" returned)"),
        "{said}"
    );

    // The old view still answers, reduced from the operations.
    let node = start_node(h, &[]);
    let query = format!(
        "{{ v: {schema}(viewId: \"{doc}\") {{ meta {{ viewId }} fields {{ title stars }} }} }}"
    );
    let got: Value =
        serde_json::from_str(&ok(h, &["query", &query, "--node", &node.base])).unwrap();
    assert_eq!(got["data"]["v"]["fields"]["title"], "first words", "{got}");
    assert_eq!(got["data"]["v"]["meta"]["viewId"], doc.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_drops_the_documents_of_schemas_no_longer_allowed() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (node, schema) = node_with_note_schema(h);
    let url = node.base.clone();
    let doc = create_doc(
        h,
        &url,
        &schema,
        r#"{"title": "to be dropped", "stars": 1, "rating": 0.5, "done": false}"#,
    );
    wait_caught_up(h, &url);
    drop(node);

    // Without the flag, or with every schema allowed, nothing is dropped.
    let plain = run(h, &["gc", "--dry-run"]);
    assert!(!String::from_utf8_lossy(&plain.stderr).contains("drop"));
    let all = run(h, &["gc", "--dry-run", "--drop-disallowed"]);
    assert!(String::from_utf8_lossy(&all.stderr).contains("allows every schema"));

    // Only blobs allowed: the note's document would go, then goes.
    let only_blobs = ["--allow-schema", "blob_v1,blob_piece_v1"];
    let args = |extra: &[&'static str]| {
        let mut a = vec!["gc", "--drop-disallowed"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&only_blobs);
        a
    };
    let dry = run(h, &args(&["--dry-run"]));
    let (out, said) = (
        String::from_utf8_lossy(&dry.stdout),
        String::from_utf8_lossy(&dry.stderr),
    );
    assert!(
        said.contains("would drop 1 documents of 1 schemas not allowed"),
        "{said}"
    );
    assert!(
        out.contains(&format!("{schema}: 1 documents dropped")),
        "{out}"
    );
    let done = run(h, &args(&[]));
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stderr).contains("dropped 1 documents"));
    let again = run(h, &args(&["--dry-run"]));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("would drop 0 documents"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Allowed again, the document does not come back; its entries are all
    // still there (the export carries them, purged) and the schema works.
    let node = start_node(h, &[]);
    let query = format!("{{ d: {schema}(id: \"{doc}\") {{ meta {{ documentId }} }} }}");
    let got: Value =
        serde_json::from_str(&ok(h, &["query", &query, "--node", &node.base])).unwrap();
    assert_eq!(got["data"]["d"], Value::Null, "{got}");
    let fresh = create_doc(
        h,
        &node.base,
        &schema,
        r#"{"title": "new", "stars": 2, "rating": 1.5, "done": true}"#,
    );
    wait_caught_up(h, &node.base);
    let query = format!("{{ d: {schema}(id: \"{fresh}\") {{ fields {{ title }} }} }}");
    let got: Value =
        serde_json::from_str(&ok(h, &["query", &query, "--node", &node.base])).unwrap();
    assert_eq!(got["data"]["d"]["fields"]["title"], "new", "{got}");
    drop(node);
    let export = h.join("export.jsonl");
    ok(h, &["export", export.to_str().unwrap()]);
    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(text.matches("\"purged\":true").count(), 1, "{text}");
}
