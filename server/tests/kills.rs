//! Hard kills of the `hoffnung` binary while real p2panda-js authors publish
//! and the materializer works: `hoffnung-loadgen kills` with three kills,
//! which fails on any acknowledged entry missing from its log and on any
//! document not materialized at its last acknowledged view. Then the same
//! with the power cut after each kill (`--power-cut`: every write not
//! synced is lost, pages may be torn, some stops are clean ones). A
//! shirokuma author publishes blobs throughout: each blob served before a
//! kill must be served complete after it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hoffnung_store::backend_tests;

/// The whole run's deadline: it takes seconds; a hang fails the test.
const DEADLINE: Duration = Duration::from_secs(300);

/// `e2e/` if Node.js and its npm packages are there; else `None`, saying so.
fn e2e() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e");
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no Node.js (`node`) here to run e2e/author.mjs");
        return None;
    }
    if !dir.join("node_modules/p2panda-js").is_dir() {
        eprintln!("skipped: p2panda-js is not installed: run `npm ci --prefix e2e` (.ci/run does)");
        return None;
    }
    Some(dir)
}

/// Runs the load generator's `kills` with `args`; killed with everything it
/// started (its process group) if it outlasts the deadline.
fn kills(args: &[&str], e2e: &std::path::Path) -> Output {
    let home = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoffnung-loadgen"));
    // The node reads no configuration of the caller's.
    for (k, _) in std::env::vars() {
        if k.starts_with("HOFFNUNG_") || k.starts_with("XDG_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .arg("kills")
        .args(args)
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_hoffnung"))
        .arg("--e2e")
        .arg(e2e)
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hoffnung-loadgen");
    let group = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("the load generator's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            panic!("hoffnung-loadgen kills did not end within {DEADLINE:?}");
        }
    }
}

backend_tests! {
    no_acknowledged_entry_lost_across_kills(db) {
        let Some(e2e) = e2e() else { return };
        let url = db.url.clone();
        let output = tokio::task::spawn_blocking(move || {
            kills(&["--kills", "3", "--database-url", &url], &e2e)
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "kills failed ({}):\n{stdout}\n{stderr}", output.status);
        assert!(stdout.contains("kill 3/3"), "{stdout}");
        assert!(stdout.contains("verification: ok"), "{stdout}");
    }
}

/// Power cuts at seeded random moments (20 here; `--kills 100` for a
/// thorough run, see docs/durability.md). Needs FUSE and the right to mount.
#[cfg(target_os = "linux")]
#[test]
fn no_acknowledged_entry_lost_across_power_cuts() {
    let Some(e2e) = e2e() else { return };
    if let Some(why) = hoffnung_powercut::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let output = kills(
        &["--kills", "20", "--power-cut", "--seed", "20261207"],
        &e2e,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "power cuts failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("kill 20/20"), "{stdout}");
    assert!(stdout.contains("verification: ok"), "{stdout}");
    // The cuts dropped writes the node had not synced: the test saw
    // something a kill alone would have kept.
    let with_unsynced: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("power cuts: 20, "))
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary of the power cuts:\n{stdout}"));
    assert!(with_unsynced > 0, "{stdout}");
    // Blobs were published, served, and served again after the cuts.
    let served_before_a_kill: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("blobs: "))
        .and_then(|rest| rest.split_once(" served before a kill"))
        .and_then(|(head, _)| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary of the blobs:\n{stdout}"));
    assert!(served_before_a_kill > 0, "{stdout}");
    // Some stops were clean: the node started on a database without WAL
    // and was cut soon after.
    assert!(stdout.contains("(a clean stop, SIGTERM)"), "{stdout}");
}
