//! Blobs through a running node: pieces and blob published over GraphQL,
//! the file served on `/blobs/…` (headers, conditional and range
//! requests), files as a cache of the database, and every kind of bad blob
//! never served. SQLite and (when configured) PostgreSQL.

mod common;

use std::path::Path;
use std::time::Duration;

use common::blob::{blob_node, blob_op, bytes, piece_op, PIECE};
use common::*;
use hoffnung_core::{DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId};
use hoffnung_store::backend_tests;
use serde_json::Value;

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Names of the files in the blob folder.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Gives a blob new bytes (one new piece); the new view's id.
async fn update_blob(
    node: &TestNode,
    key: &KeyPair,
    doc: hoffnung_core::Hash,
    data: &[u8],
) -> DocumentViewId {
    let piece = node.publish_operation(key, &piece_op(data)).await;
    let mut f = Fields::new();
    f.insert("length".into(), OperationValue::Int(data.len() as i64));
    f.insert(
        "pieces".into(),
        OperationValue::PinnedRelationList(vec![DocumentViewId::from_operation(piece)]),
    );
    let op = Operation::update(SchemaId::BLOB_V1, DocumentViewId::from_operation(doc), f);
    DocumentViewId::from_operation(node.publish_operation(key, &op).await)
}

/// The files of the blob folder once they are `want` (bounded wait).
async fn wait_files(dir: &Path, want: &[String]) -> Vec<String> {
    for _ in 0..500 {
        if files(dir) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    files(dir)
}

backend_tests! {
    a_blob_is_served_by_document_and_view(db) {
        let dir = tempfile::tempdir().unwrap();
        let node = blob_node(db, dir.path()).await;
        let key = KeyPair::generate();
        let data = bytes(2 * PIECE + 1234, 1);
        let doc = node.publish_blob(&key, &data, "image/png").await;
        let view = DocumentViewId::from_operation(doc);

        let r = node.wait_blob(&doc.to_hex()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "image/png");
        assert_eq!(header(&r, "content-length"), data.len().to_string());
        assert_eq!(header(&r, "etag"), format!("\"{view}\""));
        assert_eq!(header(&r, "accept-ranges"), "bytes");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "content-security-policy"), "sandbox");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(header(&r, "access-control-allow-origin"), "*");
        assert!(r.bytes().await.unwrap() == data, "the bytes published");
        assert_eq!(files(dir.path()), vec![view.to_string()]);

        // By view id: the same bytes, cacheable for good.
        let r = node.wait_blob(&format!("{doc}/{view}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable");
        assert!(r.bytes().await.unwrap() == data);

        // HEAD: the headers, no body.
        let r = node.client.head(node.blob_url(&doc.to_hex())).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-length"), data.len().to_string());
        assert!(r.bytes().await.unwrap().is_empty());

        // Conditional: the ETag (also weak, also in a list) gives 304.
        for tag in [format!("\"{view}\""), format!("W/\"{view}\""), format!("\"x\", \"{view}\""), "*".into()] {
            let r = node.client.get(node.blob_url(&doc.to_hex())).header("If-None-Match", tag.as_str()).send().await.unwrap();
            assert_eq!(r.status(), 304, "{tag}");
            assert_eq!(header(&r, "etag"), format!("\"{view}\""));
            assert!(r.bytes().await.unwrap().is_empty());
        }
        let r = node.client.get(node.blob_url(&doc.to_hex())).header("If-None-Match", "\"other\"").send().await.unwrap();
        assert_eq!(r.status(), 200);

        // Ranges: within, open, suffix, across pieces; past the end.
        let len = data.len();
        for (range, from, to) in [
            ("bytes=10-19", 10, 19),
            (&format!("bytes={}-", len - 7) as &str, len - 7, len - 1),
            ("bytes=-5", len - 5, len - 1),
            (&format!("bytes={}-{}", PIECE - 3, PIECE + 2), PIECE - 3, PIECE + 2),
            (&format!("bytes=0-{}", len + 100), 0, len - 1),
        ] {
            let r = node.client.get(node.blob_url(&doc.to_hex())).header("Range", range).send().await.unwrap();
            assert_eq!(r.status(), 206, "{range}");
            assert_eq!(header(&r, "content-range"), format!("bytes {from}-{to}/{len}"), "{range}");
            assert_eq!(header(&r, "content-length"), (to - from + 1).to_string());
            assert!(r.bytes().await.unwrap() == data[from..=to], "{range}");
        }
        let r = node.client.get(node.blob_url(&doc.to_hex())).header("Range", format!("bytes={len}-")).send().await.unwrap();
        assert_eq!(r.status(), 416);
        assert_eq!(header(&r, "content-range"), format!("bytes */{len}"));
        // If-Range with another version: the whole blob.
        let r = node.client.get(node.blob_url(&doc.to_hex())).header("Range", "bytes=0-9").header("If-Range", "\"old\"").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().len(), len);

        // GraphQL: the blob and its pieces, as upstream shows them.
        let got = node.graphql(&format!(
            "{{ blob: blob_v1(id: \"{doc}\") {{ meta {{ viewId }} fields {{ length mime_type pieces {{ totalCount documents {{ fields {{ data }} }} }} }} }} }}"
        ), Value::Null).await;
        let fields = &got["data"]["blob"]["fields"];
        assert_eq!(fields["length"], len as u64, "{got}");
        assert_eq!(fields["mime_type"], "image/png");
        assert_eq!(fields["pieces"]["totalCount"], 3);
        let joined: String = fields["pieces"]["documents"].as_array().unwrap().iter().map(|d| s(&d["fields"]["data"]).to_string()).collect();
        assert_eq!(joined, hex::encode(&data));
        node.stop().await;
    }

    identifiers_that_do_not_parse_or_name_no_blob(db) {
        let dir = tempfile::tempdir().unwrap();
        let node = blob_node(db, dir.path()).await;
        let key = KeyPair::generate();
        let doc = node.publish_blob(&key, b"hello", "text/plain").await;
        node.wait_blob(&doc.to_hex()).await;
        for (path, text) in [
            ("xyz".to_string(), "Could not parse identifier: invalid hex encoding in hash string"),
            (format!("{doc}/xyz"), "Could not parse identifier: "),
            ("00".to_string(), "Could not parse identifier: "),
        ] {
            let r = node.client.get(node.blob_url(&path)).send().await.unwrap();
            assert_eq!(r.status(), 400, "{path}");
            assert_eq!(header(&r, "content-type"), "text/plain; charset=utf-8");
            assert!(r.text().await.unwrap().starts_with(text), "{path}");
        }
        // Unknown document; a document that is not a blob (a piece); a
        // view of another document.
        let piece = node.publish_operation(&key, &piece_op(b"x")).await;
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let unknown = hoffnung_core::Hash::of(b"nothing");
        for path in [unknown.to_hex(), piece.to_hex(), format!("{doc}/{piece}"), format!("{unknown}/{doc}")] {
            let r = node.client.get(node.blob_url(&path)).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
            assert_eq!(r.text().await.unwrap(), "Could not find document");
        }
        node.stop().await;
    }

    a_missing_or_damaged_file_is_written_again(db) {
        let dir = tempfile::tempdir().unwrap();
        let node = blob_node(db, dir.path()).await;
        let key = KeyPair::generate();
        let data = bytes(PIECE + 10, 2);
        let doc = node.publish_blob(&key, &data, "application/octet-stream").await;
        node.wait_blob(&doc.to_hex()).await;
        let file = dir.path().join(doc.to_hex());
        // Cut short (a full disk, a crash of the file system): served whole.
        std::fs::write(&file, &data[..100]).unwrap();
        let r = node.wait_blob(&doc.to_hex()).await;
        assert!(r.bytes().await.unwrap() == data);
        assert_eq!(node.node.blobs().unwrap().stats().repaired, 1);
        // Gone: served again.
        std::fs::remove_file(&file).unwrap();
        let r = node.wait_blob(&doc.to_hex()).await;
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.unwrap() == data);
        node.stop().await;

        // A restart checks every blob: a lost folder is written again
        // without a request, and an unfinished write is removed.
        std::fs::remove_dir_all(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::write(dir.path().join(".abc.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
        let node = blob_node(db, dir.path()).await;
        let want = vec![doc.to_hex(), "notes.txt".to_string()];
        assert_eq!(wait_files(dir.path(), &want).await, want);
        assert_eq!(std::fs::read(&file).unwrap(), data);
        node.stop().await;
    }

    an_updated_blob_serves_its_new_view_and_drops_the_old_file(db) {
        let dir = tempfile::tempdir().unwrap();
        let node = blob_node(db, dir.path()).await;
        let key = KeyPair::generate();
        let doc = node.publish_blob(&key, b"first version", "text/plain").await;
        let first = DocumentViewId::from_operation(doc);
        node.wait_blob(&doc.to_hex()).await;
        // An app pins the first view; a second blob's first view is pinned
        // by nothing once it is updated.
        let pinning = node.publish_schema(&key, "picture", &[("file", "pinned_relation(blob_v1)")]).await;
        node.wait_queryable(&pinning).await;
        let mut f = Fields::new();
        f.insert("file".into(), OperationValue::PinnedRelation(first.clone()));
        node.publish_operation(&key, &Operation::create(pinning.clone(), f)).await;
        // The app's documents resolve their blob over GraphQL.
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let got = node.graphql(&format!("{{ all_{pinning} {{ documents {{ fields {{ file {{ meta {{ viewId }} fields {{ mime_type length }} }} }} }} }} }}"), Value::Null).await;
        let file = &got["data"][format!("all_{pinning}")]["documents"][0]["fields"]["file"];
        assert_eq!(file["meta"]["viewId"], first.to_string(), "{got}");
        assert_eq!(file["fields"]["mime_type"], "text/plain");
        assert_eq!(file["fields"]["length"], 13);
        let other = node.publish_blob(&key, b"other", "text/plain").await;
        node.wait_blob(&other.to_hex()).await;

        let second = update_blob(&node, &key, doc, b"second version").await;
        let other_second = update_blob(&node, &key, other, b"other, changed").await;
        node.node.materializer().unwrap().caught_up().await.unwrap();
        let mut r = node.wait_blob(&doc.to_hex()).await;
        for _ in 0..500 {
            if header(&r, "etag") == format!("\"{second}\"") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            r = node.wait_blob(&doc.to_hex()).await;
        }
        assert_eq!(header(&r, "etag"), format!("\"{second}\""));
        assert_eq!(r.text().await.unwrap(), "second version");
        node.wait_blob(&other.to_hex()).await;
        // The pinned old view keeps its file; the unpinned one goes.
        let want = {
            let mut w = vec![first.to_string(), second.to_string(), other_second.to_string()];
            w.sort();
            w
        };
        assert_eq!(wait_files(dir.path(), &want).await, want);
        // The old view is still served by its id.
        let r = node.wait_blob(&format!("{doc}/{first}")).await;
        assert_eq!(r.text().await.unwrap(), "first version");
        node.stop().await;
    }

    bad_blobs_are_never_served(db) {
        let dir = tempfile::tempdir().unwrap();
        let node = blob_node(db, dir.path()).await;
        let key = KeyPair::generate();
        let piece = |data: &'static [u8]| {
            let node = &node;
            let key = &key;
            async move { DocumentViewId::from_operation(node.publish_operation(key, &piece_op(data)).await) }
        };
        let five = piece(b"12345").await;
        let good = node.publish_operation(&key, &blob_op(5, "text/plain", vec![five.clone()])).await;
        // A length the pieces do not add up to, both ways.
        let short = node.publish_operation(&key, &blob_op(4, "text/plain", vec![five.clone()])).await;
        let long = node.publish_operation(&key, &blob_op(6, "text/plain", vec![five.clone()])).await;
        // A "piece" that is a blob.
        let good_view = DocumentViewId::from_operation(good);
        let not_piece = node.publish_operation(&key, &blob_op(5, "text/plain", vec![good_view])).await;
        // Pieces that never arrive.
        let absent = DocumentViewId::from_operation(hoffnung_core::Hash::of(b"never"));
        let waiting = node.publish_operation(&key, &blob_op(10, "text/plain", vec![five.clone(), absent])).await;
        node.node.materializer().unwrap().caught_up().await.unwrap();
        assert_eq!(node.wait_blob(&good.to_hex()).await.text().await.unwrap(), "12345");
        for doc in [short, long, not_piece, waiting] {
            let r = node.client.get(node.blob_url(&doc.to_hex())).send().await.unwrap();
            assert_eq!(r.status(), 404, "{doc}");
        }
        let blobs = node.node.blobs().unwrap();
        assert_eq!(blobs.stats().invalid, 3, "{:?}", blobs.stats());
        assert_eq!(blobs.stats().waiting, 1);
        let metrics = node.client.get(format!("http://{}/metrics", node.node.addr())).send().await.unwrap().text().await.unwrap();
        let m = Exposition::parse(&metrics);
        assert_eq!(m.get("hoffnung_blobs_invalid_total"), 3.0);
        assert_eq!(m.get("hoffnung_blobs_waiting"), 1.0);
        assert_eq!(m.get("hoffnung_blob_files_assembled_total"), 1.0);
        // Neither requests nor unrelated pieces make the waiting or the
        // invalid blobs try again: nothing loops.
        let attempts = blobs.stats().attempts;
        for i in 0..3u8 {
            node.publish_operation(&key, &piece_op(&[i; 3])).await;
        }
        for doc in [short, long, not_piece] {
            node.client.get(node.blob_url(&doc.to_hex())).send().await.unwrap();
        }
        node.node.materializer().unwrap().caught_up().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(blobs.stats().attempts, attempts, "{:?}", blobs.stats());
        // Only the good blob has a file, and nothing half-written is left.
        assert_eq!(files(dir.path()), vec![good.to_hex()]);
        node.stop().await;
    }

    blobs_refused_at_publish_store_nothing(db) {
        let dir = tempfile::tempdir().unwrap();
        let node = blob_node(db, dir.path()).await;
        let key = KeyPair::generate();
        let five = DocumentViewId::from_operation(node.publish_operation(&key, &piece_op(b"12345")).await);
        let cases: Vec<(&str, Operation)> = vec![
            ("a piece over 256,000 bytes", piece_op(&bytes(PIECE + 1, 3))),
            ("a mime type outside the pattern", blob_op(5, "Text/Plain", vec![five.clone()])),
            ("a mime type without a subtype", blob_op(5, "text", vec![five.clone()])),
            ("a negative length", blob_op(-5, "text/plain", vec![five.clone()])),
            ("no pieces", blob_op(0, "text/plain", vec![])),
        ];
        for (what, op) in cases {
            let before = node.counts().await;
            let got = node.next_args(&key.public_key().to_hex(), None).await;
            let a = &got["data"]["nextArgs"];
            let args = hoffnung_core::entry::NextArgs {
                log_id: s(&a["logId"]).parse().unwrap(),
                seq_num: 1,
                backlink: None,
                skiplink: None,
            };
            let payload = op.encode();
            let entry = hoffnung_core::sign_entry(&key, &args, &payload).unwrap();
            let got = node.publish(&entry.to_hex(), &hex::encode(&payload)).await;
            assert!(got["data"].is_null(), "{what}: {got}");
            assert!(error_code(&got).is_some(), "{what}: {got}");
            assert_eq!(node.counts().await, before, "{what}: nothing stored");
        }
        // A full piece as shirokuma sends it (~512 KB of hex) is accepted.
        node.publish_operation(&key, &piece_op(&bytes(PIECE, 4))).await;
        node.stop().await;
    }
}

backend_tests! {
    a_kill_while_a_blob_is_written_leaves_no_partial_file(db) {
        // 50 MiB of pieces and their blob, stored before a node starts: the
        // node's first work is to materialize and write the file.
        let store = hoffnung_store::Store::connect(&db.url, hoffnung_store::StoreConfig::default()).await.unwrap();
        let key = KeyPair::generate();
        let data = bytes(50 * 1024 * 1024, 5);
        let signed = |op: &Operation, log_id: u64| {
            let payload = op.encode();
            let args = hoffnung_core::entry::NextArgs { log_id, seq_num: 1, backlink: None, skiplink: None };
            (hoffnung_core::sign_entry(&key, &args, &payload).unwrap(), payload)
        };
        let mut pieces = Vec::new();
        for (i, chunk) in data.chunks(PIECE).enumerate() {
            let (entry, payload) = signed(&piece_op(chunk), i as u64);
            store.ingest(entry.as_bytes(), &payload, &hoffnung_store::SystemSchemas).await.unwrap();
            pieces.push(DocumentViewId::from_operation(entry.hash()));
        }
        let (entry, payload) = signed(&blob_op(data.len() as i64, "video/mp4", pieces.clone()), pieces.len() as u64);
        store.ingest(entry.as_bytes(), &payload, &hoffnung_store::SystemSchemas).await.unwrap();
        let doc = entry.hash();
        store.close().await;

        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("blobs");
        let spawn = || {
            let mut cmd = hoffnung(home.path());
            cmd.args(["node", "--database-url", &db.url, "--blobs-dir", dir.to_str().unwrap()]);
            NodeProcess::start(cmd)
        };
        // SIGKILL as soon as the file is being written.
        let mut node = spawn();
        let mut writing = false;
        for _ in 0..60_000 {
            let names = if dir.exists() { files(&dir) } else { Vec::new() };
            if names.iter().any(|n| n.ends_with(".tmp")) {
                writing = true;
                break;
            }
            assert!(names.is_empty(), "the file was finished before the kill: {names:?}");
            std::thread::sleep(Duration::from_micros(500));
        }
        node.child.kill().expect("kill");
        node.child.wait().expect("reaped");
        assert!(writing, "the node never started writing the blob");
        // Nothing under the blob's name: only the unfinished write.
        assert!(!dir.join(doc.to_hex()).exists());

        // Restarted: the unfinished write is gone, the blob is served whole.
        let node = spawn();
        let client = reqwest::Client::new();
        let url = format!("{}/blobs/{doc}", node.base);
        let mut body = None;
        for _ in 0..1_000 {
            let r = client.get(&url).send().await.unwrap();
            if r.status() == 200 {
                body = Some(r.bytes().await.unwrap());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let body = body.expect("the blob is served after the restart");
        assert!(body == data, "served {} bytes, identical: {}", body.len(), body == data);
        assert_eq!(files(&dir), vec![doc.to_hex()]);
        drop(node);
    }
}
