//! `hoffnung node` end to end: the real binary started with zero set-up
//! (data dir, owner-only node key), health, metrics and status over real
//! HTTP, SIGTERM and restart.

mod common;

use common::cli::*;
use common::*;
use serde_json::Value;

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
