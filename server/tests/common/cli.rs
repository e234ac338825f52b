//! Helpers of the command-line tests (`cli_*.rs`): the `hoffnung` binary
//! run in a clean home directory, and a schema description to publish.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::{hoffnung, NodeProcess};

pub fn run(home: &Path, args: &[&str]) -> Output {
    hoffnung(home).args(args).output().expect("run hoffnung")
}

/// Runs a command that must succeed; its trimmed stdout.
pub fn ok(home: &Path, args: &[&str]) -> String {
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
pub fn fails(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        !out.status.success(),
        "hoffnung {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Waits (bounded) until the node's materializer has no backlog.
pub fn wait_caught_up(home: &Path, base: &str) {
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

/// The node's QUIC port, for another node's `--peer 127.0.0.1:<port>`
/// (`host:port` means QUIC, as upstream dials).
pub fn quic_port(home: &Path, base: &str) -> String {
    let status: Value =
        serde_json::from_str(&ok(home, &["status", "--json", "--node", base])).unwrap();
    let listen = status["replication"]["listen"].as_array().unwrap();
    let quic = listen
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.contains("/quic-v1"))
        .unwrap_or_else(|| panic!("no QUIC address in {status}"));
    quic.split('/').nth(4).unwrap().to_string()
}

/// `hoffnung doc create`: the new document's id.
pub fn create_doc(home: &Path, node: &str, schema: &str, fields: &str) -> String {
    ok(
        home,
        &[
            "doc", "create", "--schema", schema, "--node", node, "--fields", fields,
        ],
    )
}

pub fn start_node(home: &Path, extra: &[&str]) -> NodeProcess {
    let mut cmd = hoffnung(home);
    cmd.arg("node").args(extra);
    NodeProcess::start(cmd)
}

/// A node in `home` (started), an author key, and the `note` schema
/// ([`NOTE_TOML`]) published to it; the schema id.
pub fn node_with_note_schema(home: &Path) -> (NodeProcess, String) {
    let node = start_node(home, &[]);
    ok(home, &["key", "new"]);
    let file = home.join("note.toml");
    std::fs::write(&file, NOTE_TOML).unwrap();
    let schema = ok(
        home,
        &[
            "schema",
            "create",
            file.to_str().unwrap(),
            "--node",
            &node.base,
        ],
    );
    (node, schema)
}

pub const NOTE_TOML: &str = r#"
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
