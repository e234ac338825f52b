//! Two `hoffnung node` processes replicate through a `--peer` flag, and
//! `status` shows it.

mod common;

use common::cli::*;
use serde_json::Value;

#[test]
fn two_node_processes_replicate_through_a_peer_flag() {
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ha, hb) = (ha.path(), hb.path());
    let a = start_node(ha, &[]);
    let port = quic_port(ha, &a.base);
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
    // The counter moves when the ingest task hears back from the writer,
    // which may be after the materialized document already answers.
    let mut json = Value::Null;
    for _ in 0..100 {
        json = serde_json::from_str(&ok(hb, &["status", "--json", "--node", &b.base])).unwrap();
        if json["replication"]["entriesReceived"].as_u64().unwrap() >= 6 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        json["replication"]["entriesReceived"].as_u64().unwrap() >= 6,
        "{json}"
    );
    assert_eq!(json["replication"]["peerFaults"], 0);
    drop(b);
    drop(a);
}
