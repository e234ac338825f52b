//! The chat app (`apps/chat/`) the node serves at `/apps/chat/`: its files
//! and headers, the setting that turns it off, the committed WebAssembly
//! package against a fresh build, and two people chatting in a real Chromium
//! on two `hoffnung node` processes that replicate (`e2e/chat-browser.mjs`,
//! driven by playwright-core).
//!
//! Chromium is Debian's (`/usr/bin/chromium`, or `HOFFNUNG_CHROMIUM`);
//! `.ci/run` installs it. Without it the browser test says it is skipped,
//! except under CI, where it fails.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cli::*;
use common::e2e::node_script;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_with_its_headers_and_can_be_turned_off() {
    let home = tempfile::tempdir().unwrap();
    let node = start_node(home.path(), &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{}{path}", node.base)).send();

    let page = get("/apps/chat/").await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{policy}"
    );
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    let on_disk = std::fs::read_to_string(root().join("apps/chat/index.html")).unwrap();
    assert_eq!(html, on_disk);

    let redirect = get("/apps/chat").await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/apps/chat/");

    let wasm = get("/apps/chat/pkg/hoffnung_wasm_bg.wasm").await.unwrap();
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let tag = wasm.headers()["etag"].clone();
    let bytes = wasm.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"\0asm");
    let again = client
        .get(format!("{}/apps/chat/pkg/hoffnung_wasm_bg.wasm", node.base))
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(get("/apps/chat/secret.txt").await.unwrap().status(), 404);
    // Encoded slashes reach the handler as `../../Cargo.toml` (a plain
    // `..` would be resolved by the client before sending).
    assert_eq!(
        get("/apps/chat/..%2F..%2FCargo.toml")
            .await
            .unwrap()
            .status(),
        404
    );
    drop(node);

    let off = tempfile::tempdir().unwrap();
    let node = start_node(off.path(), &["--no-apps"]);
    let page = reqwest::get(format!("{}/apps/chat/", node.base))
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let health = reqwest::get(format!("{}/health", node.base)).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// The node embeds `apps/chat/pkg/` (committed, so that building the node
/// needs no wasm toolchain); it must be what `wasm/build.sh` makes of this
/// tree. `.ci/run` builds the package and names it in `HOFFNUNG_WASM_PKG`.
#[test]
fn the_committed_package_is_built_from_this_tree() {
    let built = match std::env::var_os("HOFFNUNG_WASM_PKG") {
        Some(dir) => PathBuf::from(dir),
        None if root().join("wasm/pkg/hoffnung_wasm_bg.wasm").is_file() => root().join("wasm/pkg"),
        None => {
            eprintln!("skipped: the package is not built: run `bash wasm/build.sh`");
            return;
        }
    };
    for file in ["hoffnung_wasm_bg.wasm", "hoffnung_wasm.js"] {
        let fresh = std::fs::read(built.join(file)).unwrap();
        let committed = std::fs::read(root().join("apps/chat/pkg").join(file)).unwrap();
        assert!(
            fresh == committed,
            "apps/chat/pkg/{file} is not the package built from this tree: \
             run `bash wasm/build.sh` (it copies the package there) and commit apps/chat/pkg"
        );
    }
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("HOFFNUNG_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "Chromium is not at {} (`.ci/run` installs Debian's chromium)",
        path.display()
    );
    None
}

#[test]
fn two_people_chat_in_chromium_across_two_replicating_nodes() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no Chromium (apt install chromium, or set HOFFNUNG_CHROMIUM)");
        return;
    };
    let e2e = root().join("e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix e2e`"
    );
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_node(ha.path(), &[]);
    let port = quic_port(ha.path(), &a.base);
    let b = start_node(hb.path(), &["--peer", &format!("127.0.0.1:{port}")]);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chat");
    let output = node_script(
        "chat-browser.mjs",
        &[
            "--a".into(),
            a.base.clone(),
            "--b".into(),
            b.base.clone(),
            "--shots".into(),
            shots.display().to_string(),
            "--chromium".into(),
            chromium.display().to_string(),
        ],
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ok: chat between two browsers"), "{stdout}");
    assert!(shots.join("chat.png").is_file());
    println!("{stdout}");
    drop(b);
    drop(a);
}
