//! The WebAssembly package against the real p2panda-js 0.8.1, in Node.js:
//! `e2e/wasm-differential.mjs` with 1,000 seeded random cases (key pairs,
//! operations of every field type and action, entries at random positions,
//! malformed inputs). `.ci/run` builds the package (`wasm/build.sh`) and
//! names it in `HOFFNUNG_WASM_PKG`; without that variable the test uses
//! `wasm/pkg` if it is there and says it is skipped if not.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_package_matches_p2panda_js_byte_for_byte() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let pkg = match std::env::var_os("HOFFNUNG_WASM_PKG") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let built = root.join("wasm/pkg");
            if !built.join("hoffnung_wasm_bg.wasm").is_file() {
                eprintln!("skipped: the package is not built: run `bash wasm/build.sh`");
                return;
            }
            built
        }
    };
    assert!(
        pkg.join("hoffnung_wasm_bg.wasm").is_file(),
        "HOFFNUNG_WASM_PKG={} holds no hoffnung_wasm_bg.wasm",
        pkg.display()
    );
    let e2e = root.join("e2e");
    assert!(
        e2e.join("node_modules/p2panda-js").is_dir(),
        "p2panda-js is not installed: run `npm ci --prefix e2e`"
    );
    let output = Command::new("node")
        .arg("wasm-differential.mjs")
        .arg(&pkg)
        .args(["--cases", "1000"])
        .current_dir(&e2e)
        .output()
        .expect("run node (Node.js is needed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("ok: 1000 cases"), "{stdout}");
    println!("{stdout}");
}
