//! The `hoffnung` command line end to end: the real binary, a real node
//! process on a free port, real HTTP.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::TestDb;
use serde_json::Value;

fn run(home: &Path, args: &[&str]) -> Output {
    hoffnung(home).args(args).output().expect("run hoffnung")
}

/// Runs a command that must succeed; its trimmed stdout.
fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "hoffnung {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs a command that must fail; its stderr.
fn fails(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        !out.status.success(),
        "hoffnung {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Waits (bounded) until the node's materializer has no backlog.
fn wait_caught_up(home: &Path, base: &str) {
    for _ in 0..300 {
        let status: Value =
            serde_json::from_str(&ok(home, &["status", "--json", "--node", base])).unwrap();
        if status["materializer"]["backlog"] == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the materializer did not catch up");
}

fn start_node(home: &Path, extra: &[&str]) -> NodeProcess {
    let mut cmd = hoffnung(home);
    cmd.arg("node").args(extra);
    NodeProcess::start(cmd)
}

const NOTE_TOML: &str = r#"
name = "note"
description = "A short note"

[[fields]]
name = "title"
type = "str"

[[fields]]
name = "stars"
type = "int"

[[fields]]
name = "rating"
type = "float"

[[fields]]
name = "done"
type = "bool"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_starts_with_zero_setup_and_serves_health_metrics_and_status() {
    let home = tempfile::tempdir().unwrap();
    let node = start_node(home.path(), &[]);
    // Platform data dir (here $XDG_DATA_HOME/hoffnung) with database and key.
    let data = home.path().join("data/hoffnung");
    assert!(data.join("hoffnung.db").is_file());
    let key = data.join("node.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "node key is owner-only");
    }
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(key_text.trim().len(), 64);

    let get = |path: &str| reqwest::get(format!("{}{path}", node.base));
    let health: Value = get("/health").await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");

    // A rejected publish shows up in the metrics by its code.
    let bad = post(
        &reqwest::Client::new(),
        &node.url,
        PUBLISH,
        serde_json::json!({ "entry": "00", "operation": "00" }),
    )
    .await;
    let code = bad["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    // Published: a schema (4 field definitions and its definition: 5
    // documents), a note, the author's update of it and another author's
    // update, which opens a log but makes no document.
    let h = home.path();
    let url = node.base.as_str();
    let author = |name: &str| {
        let path = h.join(name).to_str().unwrap().to_string();
        ok(h, &["key", "new", "--key-file", &path]);
        path
    };
    let (mine, theirs) = (author("mine.key"), author("theirs.key"));
    let publish =
        |key: &str, args: &[&str]| ok(h, &[args, &["--node", url, "--key-file", key]].concat());
    let file = h.join("note.toml");
    std::fs::write(&file, NOTE_TOML).unwrap();
    let schema = publish(&mine, &["schema", "create", file.to_str().unwrap()]);
    let fields = r#"{"title": "Hi", "stars": 3, "rating": 2.5, "done": false}"#;
    let doc = publish(
        &mine,
        &["doc", "create", "--schema", &schema, "--fields", fields],
    );
    for key in [&mine, &theirs] {
        let fields = r#"{"stars": 4}"#;
        publish(
            key,
            &[
                "doc", "update", &doc, "--schema", &schema, "--fields", fields,
            ],
        );
    }
    let (entries, documents) = (8.0, 6.0);
    wait_caught_up(h, url);

    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    let m = Exposition::parse(&metrics);
    let rejected = format!("hoffnung_entries_rejected_total{{code=\"{code}\"}}");
    assert_eq!(m.get(&rejected), 1.0);
    assert_eq!(m.sum("hoffnung_entries_rejected_total"), 1.0);
    assert_eq!(m.get("hoffnung_entries_ingested_total"), entries);
    assert_eq!(m.get("hoffnung_entries"), entries);
    assert_eq!(m.get("hoffnung_documents"), documents);
    // The system schemas and the note.
    assert_eq!(m.get("hoffnung_schemas"), 5.0);
    // Entry ids count from 1: the views reflect the last one.
    assert_eq!(m.get("hoffnung_materializer_cursor"), entries);
    assert_eq!(m.get("hoffnung_materializer_backlog_entries"), 0.0);
    assert_eq!(m.get("hoffnung_materializer_lag_seconds"), 0.0);
    assert_eq!(m.get("hoffnung_peers"), 0.0);
    assert_eq!(m.get("hoffnung_replication_entries_received_total"), 0.0);
    let requests = |op: &str| {
        m.get(&format!(
            "hoffnung_graphql_request_duration_seconds_count{{operation=\"{op}\"}}"
        ))
    };
    assert_eq!(requests("mutation"), 1.0 + entries, "one publish each");
    assert!(requests("query") >= entries, "nextArgs before each publish");
    assert!(m.get("hoffnung_uptime_seconds") > 0.0);
    // libp2p's metrics share the registry: the node listens on QUIC and TCP.
    assert!(
        m.sum("libp2p_swarm_new_listen_addr_total") >= 2.0,
        "{metrics}"
    );
    // RSS in bytes, as the kernel reports it for the process (in kB).
    let rss = m.get("process_resident_memory_bytes");
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap();
    assert!(
        rss > 0.0 && (0.5..2.0).contains(&(rss / (kib * 1024.0))),
        "{rss} B, {kib} kB"
    );

    let status: Value = get("/status").await.unwrap().json().await.unwrap();
    assert_eq!(status["node"], "hoffnung");
    assert_eq!(status["database"]["backend"], "sqlite");
    assert_eq!(status["entries"], entries as u64);
    assert_eq!(status["documents"], documents as u64);
    assert_eq!(
        status["schemas"].as_array().unwrap().len(),
        5,
        "the system schemas and the note"
    );

    // The key survives a restart; SIGTERM stops the node cleanly.
    assert!(node.terminate(), "clean exit on SIGTERM");
    let node = start_node(home.path(), &[]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_text);
    assert!(node.terminate());
}

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

#[test]
fn bad_configs_and_start_failures_say_what_is_wrong() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let config = h.join("bad.toml");

    std::fs::write(&config, "http_port = \"eighty\"\n").unwrap();
    let err = fails(h, &["node", "--config", config.to_str().unwrap()]);
    assert!(err.contains("config key `http_port`"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");

    std::fs::write(&config, "http_prot = 2020\n").unwrap();
    let err = fails(h, &["node", "--config", config.to_str().unwrap()]);
    assert!(err.contains("unknown field: found `http_prot`"), "{err}");

    std::fs::write(&config, "allow_schema = [\"not a schema\"]\n").unwrap();
    let err = fails(h, &["node", "--config", config.to_str().unwrap()]);
    assert!(
        err.contains("allow_schema: `not a schema` is not a schema id"),
        "{err}"
    );

    let err = fails(
        h,
        &["node", "--config", h.join("missing.toml").to_str().unwrap()],
    );
    assert!(err.contains("missing.toml does not exist"), "{err}");

    let err = hoffnung(h)
        .args(["node"])
        .env("HOFFNUNG_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    let err = String::from_utf8(err.stderr).unwrap();
    assert!(err.contains("HOFFNUNG_LOG_FORMAT"), "{err}");

    let err = fails(h, &["node", "--http-port", "not-a-port"]);
    assert!(
        err.contains("invalid value 'not-a-port' for '--http-port"),
        "{err}"
    );

    let err = fails(h, &["node", "--database-url", "mysql://x/y"]);
    assert!(err.contains("mysql://x/y"), "{err}");
    // Each cause once, though the wrapping errors repeat their source.
    assert_eq!(err.matches("mysql://x/y").count(), 1, "{err}");

    let err = fails(
        h,
        &[
            "node",
            "--database-url",
            "postgres://postgres@127.0.0.1:9/none",
        ],
    );
    assert!(err.contains("could not open the database"), "{err}");

    // A port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let err = fails(h, &["node", "--http-port", &port]);
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{err}"
    );

    // Layering as the user sees it: file < env < flag.
    std::fs::write(&config, "http_port = 3000\nlog_level = \"debug\"\n").unwrap();
    let shown = hoffnung(h)
        .args([
            "config",
            "--config",
            config.to_str().unwrap(),
            "--log-level",
            "trace",
        ])
        .env("HOFFNUNG_HTTP_PORT", "4000")
        .output()
        .unwrap();
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(shown.contains("http_port = 4000"), "{shown}");
    assert!(shown.contains("log_level = \"trace\""), "{shown}");
}

backend_tests! {
    export_then_import_into_a_fresh_node_reproduces_the_documents(db) {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let node = start_node(h, &[]);
        let url = node.base.clone();
        ok(h, &["key", "new"]);
        let file = h.join("note.toml");
        std::fs::write(&file, NOTE_TOML).unwrap();
        let schema = ok(h, &["schema", "create", file.to_str().unwrap(), "--node", &url]);
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

        // Import into a fresh database (SQLite or PostgreSQL), then query it.
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

#[test]
fn two_node_processes_replicate_through_a_peer_flag() {
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ha, hb) = (ha.path(), hb.path());
    let a = start_node(ha, &[]);
    let status: Value =
        serde_json::from_str(&ok(ha, &["status", "--json", "--node", &a.base])).unwrap();
    let listen: Vec<String> = status["replication"]["listen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    // `host:port` means QUIC, as upstream dials.
    let quic = listen.iter().find(|a| a.contains("/quic-v1")).unwrap();
    let port = quic.split('/').nth(4).unwrap();
    let b = start_node(hb, &["--peer", &format!("127.0.0.1:{port}")]);

    ok(ha, &["key", "new"]);
    let file = ha.join("note.toml");
    std::fs::write(&file, NOTE_TOML).unwrap();
    let schema = ok(
        ha,
        &[
            "schema",
            "create",
            file.to_str().unwrap(),
            "--node",
            &a.base,
        ],
    );
    let doc = ok(
        ha,
        &[
            "doc",
            "create",
            "--schema",
            &schema,
            "--node",
            &a.base,
            "--fields",
            r#"{"title": "replicated", "stars": 1, "rating": 1.5, "done": true}"#,
        ],
    );
    // B shows it (bounded wait): the schema and the document came over.
    let q = format!("{{ {schema}(id: \"{doc}\") {{ fields {{ title }} }} }}");
    let mut seen = Value::Null;
    for _ in 0..300 {
        let out = run(hb, &["query", &q, "--node", &b.base]);
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
            seen = v["data"][&schema]["fields"]["title"].clone();
            if seen == "replicated" {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(seen, "replicated");
    let human = ok(hb, &["status", "--node", &b.base]);
    assert!(human.contains("peers       1"), "{human}");
    let json: Value =
        serde_json::from_str(&ok(hb, &["status", "--json", "--node", &b.base])).unwrap();
    assert!(
        json["replication"]["entriesReceived"].as_u64().unwrap() >= 6,
        "{json}"
    );
    assert_eq!(json["replication"]["peerFaults"], 0);
    drop(b);
    drop(a);
}
