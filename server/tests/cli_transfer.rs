//! `hoffnung export` and `import` end to end: export → import into a fresh
//! SQLite, PostgreSQL or MariaDB database reproduces every document; tampered and
//! truncated export files are refused.

mod common;

use common::cli::*;
use common::*;
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::TestDb;
use serde_json::Value;

backend_tests! {
    export_then_import_into_a_fresh_node_reproduces_the_documents(db) {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let (node, schema) = node_with_note_schema(h);
        let url = node.base.clone();
        let mut docs = Vec::new();
        for i in 0..5 {
            let fields = format!(r#"{{"title": "note {i}", "stars": {i}, "rating": 0.5, "done": false}}"#);
            docs.push(ok(h, &["doc", "create", "--schema", &schema, "--node", &url, "--fields", &fields]));
        }
        ok(h, &["doc", "update", &docs[1], "--schema", &schema, "--node", &url, "--fields", r#"{"done": true}"#]);
        ok(h, &["doc", "delete", &docs[2], "--schema", &schema, "--node", &url]);
        let query = format!(
            "{{ all_{schema}(orderBy: title) {{ totalCount documents {{ meta {{ documentId viewId owner }} fields {{ title stars rating done }} }} }} }}"
        );
        let before: Value = serde_json::from_str(&ok(h, &["query", &query, "--node", &url])).unwrap();
        assert_eq!(before["data"][format!("all_{schema}")]["totalCount"], 4);

        // Export while the node runs (it only reads).
        let export = h.join("export.jsonl");
        ok(h, &["export", export.to_str().unwrap()]);
        drop(node);
        let text = std::fs::read_to_string(&export).unwrap();
        // Header + 4 field definitions + 1 schema definition + 5 creates + update + delete.
        assert_eq!(text.lines().count(), 1 + 12, "{text}");

        // Import into a fresh database (SQLite, PostgreSQL or MariaDB), then query it.
        let other = tempfile::tempdir().unwrap();
        let o = other.path();
        let out = hoffnung(o)
            .args(["import", export.to_str().unwrap(), "--database-url", &db.url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        // Not a terminal: plain progress lines, then the summary.
        assert!(stderr.contains("imported 12/12 entries"), "{stderr}");
        assert!(stderr.contains("imported 12 entries, 0 already present, 0 rejected"), "{stderr}");
        let node = start_node(o, &["--database-url", &db.url]);
        wait_caught_up(o, &node.base);
        let after: Value = serde_json::from_str(&ok(o, &["query", &query, "--node", &node.base])).unwrap();
        assert_eq!(after, before);

        // Importing again changes nothing.
        drop(node);
        let out = hoffnung(o)
            .args(["import", export.to_str().unwrap(), "--database-url", &db.url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("imported 0 entries, 12 already present, 0 rejected"), "{stderr}");

        // Filters: by schema (definitions come along), by author.
        let only = h.join("only.jsonl");
        ok(h, &["export", only.to_str().unwrap(), "--schema", &schema]);
        assert_eq!(std::fs::read_to_string(&only).unwrap().lines().count(), 13);
        let stranger = "2f8e50c2ede6d936ecc3144187ff1c273808185cfbc5ff3d3748d1ff7353fc96";
        ok(h, &["export", only.to_str().unwrap(), "--author", stranger]);
        assert_eq!(std::fs::read_to_string(&only).unwrap().lines().count(), 1);
    }
}

/// Export lines of `file`: (entries, proofs of forks).
fn export_lines(file: &std::path::Path) -> (Vec<Value>, Vec<Value>) {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .partition(|v| v.get("fork").is_none())
}

backend_tests! {
    import_finds_a_fork_and_export_carries_its_proof(db) {
        use hoffnung_store::test_utils::field_definition_branch;
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let key = hoffnung_core::KeyPair::from_private_key(&[5; 32]);
        // One branch of a log (seq 1-3), then seq 2 of another branch.
        let one = field_definition_branch(&key, 0, 2, "one");
        let two = field_definition_branch(&key, 0, 1, "two");
        let items: Vec<_> = one.iter().chain(&two[1..]).collect();
        let mut text = serde_json::json!({ "format": "hoffnung-entries", "version": 1, "count": items.len() }).to_string();
        for (entry, op) in items {
            text.push('\n');
            text.push_str(&serde_json::json!({ "entry": hex::encode(entry), "operation": hex::encode(op) }).to_string());
        }
        let file = h.join("forked.jsonl");
        std::fs::write(&file, text).unwrap();
        let out = hoffnung(h).args(["import", file.to_str().unwrap(), "--database-url", &db.url]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The entry of the other branch is no failure of the import.
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("imported 3 entries, 0 already present, 0 rejected; 1 in forked logs"), "{stderr}");

        // The export holds the log below the fork and the proof.
        let export = h.join("export.jsonl");
        ok(h, &["export", export.to_str().unwrap(), "--database-url", &db.url]);
        let (entries, forks) = export_lines(&export);
        assert_eq!(entries.len(), 1, "only seq 1 is below the fork");
        assert_eq!(entries[0]["entry"], hex::encode(&one[0].0));
        assert_eq!(forks.len(), 1);
        let mut pair = [hex::encode(&one[1].0), hex::encode(&two[1].0)];
        pair.sort_by_key(|e| hoffnung_core::Hash::of(&hex::decode(e).unwrap()).as_bytes().to_vec());
        assert_eq!(forks[0]["fork"]["a"], pair[0]);
        assert_eq!(forks[0]["fork"]["b"], pair[1]);

        // Imported elsewhere, the proof comes along: that node refuses the
        // rest of either branch and exports the same.
        let fresh = TestDb::sqlite();
        let out = hoffnung(h).args(["import", export.to_str().unwrap(), "--database-url", &fresh.url]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("imported 1 entries, 0 already present, 0 rejected; 0 in forked logs, 1 proofs of forks; 0 of deleted documents left out (purged)"), "{stderr}");
        let again = h.join("again.jsonl");
        ok(h, &["export", again.to_str().unwrap(), "--database-url", &fresh.url]);
        assert_eq!(export_lines(&again), export_lines(&export));
        let out = hoffnung(h).args(["import", file.to_str().unwrap(), "--database-url", &fresh.url]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("imported 0 entries, 1 already present, 0 rejected; 3 in forked logs"), "{stderr}");
    }
}

#[test]
fn import_rejects_tampered_and_truncated_files() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let node = start_node(h, &[]);
    ok(h, &["key", "new"]);
    let file = h.join("note.toml");
    std::fs::write(&file, NOTE_TOML).unwrap();
    ok(
        h,
        &[
            "schema",
            "create",
            file.to_str().unwrap(),
            "--node",
            &node.base,
        ],
    );
    drop(node);
    let export = h.join("export.jsonl");
    ok(h, &["export", export.to_str().unwrap()]);
    let text = std::fs::read_to_string(&export).unwrap();

    // Flip one byte of the last entry's signature.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let last = lines.last_mut().unwrap();
    let v: Value = serde_json::from_str(last).unwrap();
    let mut entry = hex::decode(v["entry"].as_str().unwrap()).unwrap();
    let n = entry.len();
    entry[n - 1] ^= 1;
    *last =
        serde_json::json!({ "entry": hex::encode(entry), "operation": v["operation"] }).to_string();
    let tampered = h.join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n")).unwrap();
    let db = TestDb::sqlite();
    let out = hoffnung(h)
        .args([
            "import",
            tampered.to_str().unwrap(),
            "--database-url",
            &db.url,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("imported 4 entries, 0 already present, 1 rejected"),
        "{stderr}"
    );
    assert!(stderr.contains("INVALID_SIGNATURE: 1"), "{stderr}");

    // A truncated file is refused before anything is stored.
    let truncated = h.join("truncated.jsonl");
    std::fs::write(
        &truncated,
        text.lines().take(3).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let fresh = TestDb::sqlite();
    let err = fails(
        h,
        &[
            "import",
            truncated.to_str().unwrap(),
            "--database-url",
            &fresh.url,
        ],
    );
    assert!(
        err.contains("is truncated: the header says 5 entries, the file holds 2"),
        "{err}"
    );
    let err = fails(
        h,
        &[
            "import",
            file.to_str().unwrap(),
            "--database-url",
            &fresh.url,
        ],
    );
    assert!(err.contains("line 1"), "{err}");
}
