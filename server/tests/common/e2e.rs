//! The Node.js scripts of `e2e/` (the real p2panda-js and shirokuma clients),
//! run as processes with a deadline.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The `e2e/` folder, its npm packages checked to be installed.
pub fn e2e_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e");
    for package in ["p2panda-js", "shirokuma"] {
        assert!(
            dir.join("node_modules").join(package).exists(),
            "{package} is not installed: run `npm ci --prefix e2e` (.ci/run does)"
        );
    }
    dir
}

/// Runs `node <script> <args>` in `e2e/`; killed (failing the test) if it
/// has not ended within `timeout`.
pub fn node_script(script: &str, args: &[String], timeout: Duration) -> Output {
    let dir = e2e_dir();
    // WebSocket is global from Node 22; Node 20 and 21 need a flag.
    let major = Command::new("node")
        .args([
            "-e",
            "process.stdout.write(process.versions.node.split('.')[0])",
        ])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.parse::<u32>().ok())
        .unwrap_or(0);
    let mut cmd = Command::new("node");
    if major < 22 {
        cmd.arg("--experimental-websocket");
    }
    let child = cmd
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (Node.js)");
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => output.expect("node's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("node {script} did not end within {timeout:?}");
        }
    }
}
