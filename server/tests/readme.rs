//! The README's command-line walkthrough and blob commands, run as written
//! against a real node, so that they cannot rot.

mod common;

use common::{hoffnung, NodeProcess};

/// The shell block after the `<!-- walkthrough` marker, then the one after
/// `<!-- blobs`.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    format!(
        "{}\n{}",
        block(&readme, "walkthrough"),
        block(&readme, "blobs")
    )
}

/// The `sh` block after `<!-- <marker>`.
fn block(readme: &str, marker: &str) -> String {
    let after = readme
        .split_once(&format!("<!-- {marker}"))
        .unwrap_or_else(|| panic!("a {marker} marker"))
        .1;
    let block = after.split_once("```sh\n").expect("a sh block").1;
    block
        .split_once("\n```")
        .expect("the block ends")
        .0
        .to_string()
}

#[test]
fn readme_walkthrough_runs_as_written() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = hoffnung(home.path());
    cmd.arg("node");
    let node = NodeProcess::start(cmd);

    let script = walkthrough();
    assert!(script.contains("hoffnung schema create"));
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_hoffnung"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = tempfile::tempdir().unwrap();
    // The same clean environment as the binary gets, but running bash.
    let base = hoffnung(home.path());
    let mut bash = std::process::Command::new("bash");
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => bash.env(k, v),
            None => bash.env_remove(k),
        };
    }
    let out = bash
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("HOFFNUNG_NODE", &node.base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walkthrough failed:\n{stdout}\n{stderr}"
    );
    // The query found the updated document, and only it.
    assert!(stdout.contains("\"totalCount\": 1"), "{stdout}");
    assert!(stdout.contains("\"title\": \"Hello\""), "{stdout}");
    assert!(stdout.contains("\"stars\": 5"), "{stdout}");
    // Status and export saw the entries: 2 fields, 1 definition, create, update.
    assert!(stdout.contains("entries     5"), "{stdout}");
    let backup = std::fs::read_to_string(work.path().join("backup.jsonl")).unwrap();
    assert_eq!(backup.lines().count(), 1 + 5);
    // The blob came back whole.
    let copy = std::fs::read_to_string(work.path().join("copy.txt")).unwrap();
    assert_eq!(copy, "hello, blob\n");
}
