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
    let doc = ok(
        h,
        &[
            "doc", "create", "--schema", &schema, "--node", &url, "--fields", fields,
        ],
    );
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
