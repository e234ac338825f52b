//! A forked log between two `hoffnung node` processes: one author signs
//! seq 2 of a log twice, node A holds one branch and node B the other.
//! After they meet, both hold the proof, both keep the document as it was
//! below the fork, serve its log only up to there, and go on replicating
//! without faults or disconnects. `hoffnung forks` and GraphQL show it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::cli::*;
use serde_json::Value;

/// One author key on both nodes.
const PRIVATE_KEY: &str = "4d2b0f8ee7ab3bb7ff8f6f4d5d5c4a8f3b2d1c0e9f8a7b6c5d4e3f2a1b0c9d8e";

fn status(home: &Path, base: &str) -> Value {
    serde_json::from_str(&ok(home, &["status", "--json", "--node", base])).unwrap()
}

fn forks(home: &Path, base: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(&ok(home, &["forks", "--json", "--node", base]))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn title(home: &Path, base: &str, schema: &str, doc: &str) -> Value {
    let q = format!("{{ {schema}(id: \"{doc}\") {{ fields {{ title }} }} }}");
    let out: Value = serde_json::from_str(&ok(home, &["query", &q, "--node", base])).unwrap();
    out["data"][schema]["fields"]["title"].clone()
}

/// Waits (bounded) until `check` holds.
fn wait(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting: {what}");
}

#[test]
fn two_nodes_holding_two_branches_agree_on_the_proof_and_keep_replicating() {
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ha, hb) = (ta.path(), tb.path());
    for home in [ha, hb] {
        ok(home, &["key", "import", PRIVATE_KEY]);
    }
    let schema_file = ha.join("note.toml");
    std::fs::write(&schema_file, NOTE_TOML).unwrap();
    let fields = r#"{"title": "created", "stars": 1, "rating": 1.5, "done": true}"#;

    // Each node alone: the same schema and create (the same signed bytes,
    // as Ed25519 signatures are deterministic), then different updates at
    // seq 2 of the document's log: A one, B two.
    let mut docs = Vec::new();
    let mut schemas = Vec::new();
    for (home, updates) in [(ha, &["a"][..]), (hb, &["b", "b again"][..])] {
        let node = start_node(home, &[]);
        let args = ["--node", node.base.as_str()];
        let schema = ok(
            home,
            &[
                &["schema", "create", schema_file.to_str().unwrap()][..],
                &args,
            ]
            .concat(),
        );
        let doc = ok(
            home,
            &[
                &["doc", "create", "--schema", &schema, "--fields", fields][..],
                &args,
            ]
            .concat(),
        );
        for t in updates {
            let change = format!(r#"{{"title": "{t}"}}"#);
            ok(
                home,
                &[
                    &[
                        "doc", "update", &doc, "--schema", &schema, "--fields", &change,
                    ][..],
                    &args,
                ]
                .concat(),
            );
        }
        wait_caught_up(home, &node.base);
        assert_eq!(
            title(home, &node.base, &schema, &doc),
            *updates.last().unwrap()
        );
        schemas.push(schema);
        docs.push(doc);
        drop(node);
    }
    assert_eq!(schemas[0], schemas[1]);
    assert_eq!(docs[0], docs[1]);
    let (schema, doc) = (&schemas[0], &docs[0]);

    // They meet: B dials A.
    let a = start_node(ha, &[]);
    let port = quic_port(ha, &a.base);
    let b = start_node(hb, &["--peer", &format!("127.0.0.1:{port}")]);
    for (home, node) in [(ha, &a), (hb, &b)] {
        wait("the proof on both nodes", || {
            forks(home, &node.base).len() == 1
        });
    }
    let (fa, fb) = (forks(ha, &a.base), forks(hb, &b.base));
    for f in [&fa[0], &fb[0]] {
        assert_eq!(f["frozenFrom"], "2", "{f}");
        assert_eq!(f["logId"], fa[0]["logId"]);
        assert_eq!(f["entryA"], fa[0]["entryA"]);
        assert_eq!(f["entryB"], fa[0]["entryB"]);
    }
    // Both keep the document as it was below the fork.
    for (home, node) in [(ha, &a), (hb, &b)] {
        wait("the state from below the fork", || {
            title(home, &node.base, schema, doc) == "created"
        });
        let q = "{ forkedAuthors }";
        let out: Value =
            serde_json::from_str(&ok(home, &["query", q, "--node", &node.base])).unwrap();
        assert_eq!(
            out["data"]["forkedAuthors"].as_array().unwrap().len(),
            1,
            "{out}"
        );
        let human = ok(home, &["forks", "--node", &node.base]);
        assert!(human.contains("frozen from seq num 2"), "{human}");
    }
    // Sessions go on (two more on each side), with no fault and the one
    // connection kept.
    let started: Vec<u64> = [(ha, &a), (hb, &b)]
        .iter()
        .map(|(h, n)| {
            status(h, &n.base)["replication"]["sessionsStarted"]
                .as_u64()
                .unwrap()
        })
        .collect();
    for ((home, node), before) in [(ha, &a), (hb, &b)].into_iter().zip(started) {
        wait("later sessions", || {
            status(home, &node.base)["replication"]["sessionsStarted"]
                .as_u64()
                .unwrap()
                >= before + 2
        });
        let s = status(home, &node.base);
        assert_eq!(s["replication"]["peerFaults"], 0, "{s}");
        assert_eq!(
            s["replication"]["peers"].as_array().unwrap().len(),
            1,
            "{s}"
        );
        assert!(
            s["replication"]["sessionsOpen"].as_u64().unwrap() <= 2,
            "{s}"
        );
    }
    drop(b);
    drop(a);
}
