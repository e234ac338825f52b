//! `hoffnung blob upload` and `blob get` end to end against a `hoffnung
//! node` process on SQLite or PostgreSQL: files of several pieces and a
//! guessed MIME type come back byte for byte (to a file and to stdout) with
//! that type; bad input is refused before anything is published.

mod common;

use common::blob::bytes;
// (`run` is the name of each backend variant's body.)
use common::cli::{fails, ok, run as run_cli, start_node};
use hoffnung_store::backend_tests;
use serde_json::Value;

/// Entries the node holds, from `status --json`.
fn entries(home: &std::path::Path, base: &str) -> u64 {
    let status: Value =
        serde_json::from_str(&ok(home, &["status", "--json", "--node", base])).unwrap();
    status["entries"].as_u64().unwrap()
}

/// The Content-Type the node serves a blob with.
async fn content_type(base: &str, id: &str) -> String {
    let r = reqwest::Client::new()
        .head(format!("{base}/blobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "HEAD /blobs/{id}");
    r.headers()["content-type"].to_str().unwrap().to_string()
}

/// The first bytes of a real PNG file: signature and IHDR of a 1×1 image.
const PNG_START: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

backend_tests! {
    blobs_upload_and_come_back_byte_for_byte(db) {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let node = start_node(h, &["--database-url", &db.url]);
        let url = node.base.clone();
        ok(h, &["key", "new"]);

        // ~700 KB: three pieces; random bytes show no type.
        let data = bytes(700_000, 7);
        let big = h.join("big.bin");
        std::fs::write(&big, &data).unwrap();
        let out = run_cli(h, &["blob", "upload", big.to_str().unwrap(), "--node", &url]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("published 700000 bytes in 3 pieces as application/octet-stream"),
            "{stderr}"
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        // Only the id on stdout, for scripts.
        assert_eq!(stdout.len(), 69, "{stdout:?}");
        let big_id = stdout.trim().to_string();
        assert_eq!(content_type(&url, &big_id).await, "application/octet-stream");

        // A small PNG: its type guessed from the content.
        let png = h.join("dot");
        std::fs::write(&png, PNG_START).unwrap();
        let png_id = ok(h, &["blob", "upload", png.to_str().unwrap(), "--node", &url]);
        assert_eq!(content_type(&url, &png_id).await, "image/png");
        // A given type is used as given.
        let notes = h.join("notes.md");
        std::fs::write(&notes, "# notes\n").unwrap();
        let md_id = ok(h, &[
            "blob", "upload", notes.to_str().unwrap(), "--mime-type", "text/markdown", "--node", &url,
        ]);
        assert_eq!(content_type(&url, &md_id).await, "text/markdown");
        assert_eq!(entries(h, &url), 3 + 1 + 2 + 2);

        // Back to a file (no temporary file left beside it) and to stdout.
        let dir = h.join("downloads");
        std::fs::create_dir(&dir).unwrap();
        let target = dir.join("big.bin");
        assert_eq!(ok(h, &["blob", "get", &big_id, "-o", target.to_str().unwrap(), "--node", &url]), "");
        assert!(std::fs::read(&target).unwrap() == data, "the file's bytes");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["big.bin"]);
        let out = run_cli(h, &["blob", "get", &png_id, "--node", &url]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, PNG_START);
        // By document and view id.
        let out = run_cli(h, &["blob", "get", &format!("{md_id}/{md_id}"), "--node", &url]);
        assert_eq!(out.stdout, b"# notes\n");

        // A bad MIME type or an empty file: refused, nothing published.
        let err = fails(h, &[
            "blob", "upload", png.to_str().unwrap(), "--mime-type", "Image/PNG", "--node", &url,
        ]);
        assert!(err.contains("--mime-type `Image/PNG` is not a MIME type p2panda 0.8 accepts"), "{err}");
        let empty = h.join("empty");
        std::fs::write(&empty, b"").unwrap();
        let err = fails(h, &["blob", "upload", empty.to_str().unwrap(), "--node", &url]);
        assert!(err.contains("is empty: a p2panda 0.8 blob needs at least one piece"), "{err}");
        assert_eq!(entries(h, &url), 8);

        // An unknown blob: a clear error, and no file.
        let unknown = format!("0020{}", "ab".repeat(32));
        let missing = dir.join("missing");
        let err = fails(h, &["blob", "get", &unknown, "-o", missing.to_str().unwrap(), "--node", &url]);
        assert!(
            err.contains("no such blob on this node, or its pieces have not all arrived"),
            "{err}"
        );
        assert!(!missing.exists());
        let err = fails(h, &["blob", "get", "nonsense", "--node", &url]);
        assert!(err.contains("`nonsense` is not a document id"), "{err}");
        drop(node);
    }
}
