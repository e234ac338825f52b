//! Blobs as shirokuma publishes them: pieces of 256,000 bytes, each a
//! `blob_piece_v1` CREATE in its own log, then the `blob_v1` CREATE.

use std::time::Duration;

use hoffnung_core::{
    DocumentId, DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId,
};

use super::TestNode;

/// A node on `db` that keeps its blob files in `dir`.
pub async fn blob_node(db: &hoffnung_store::test_utils::TestDb, dir: &std::path::Path) -> TestNode {
    let mut config = hoffnung_server::NodeConfig::new(db.url.clone());
    config.blobs_dir = Some(dir.to_path_buf());
    TestNode::start_with(config).await
}

pub const PIECE: usize = 256_000;

/// `len` bytes that differ from piece to piece (xorshift from `seed`).
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn piece_op(data: &[u8]) -> Operation {
    let mut f = Fields::new();
    f.insert("data".into(), OperationValue::Bytes(data.to_vec()));
    Operation::create(SchemaId::BLOB_PIECE_V1, f)
}

pub fn blob_op(length: i64, mime_type: &str, pieces: Vec<DocumentViewId>) -> Operation {
    let mut f = Fields::new();
    f.insert("length".into(), OperationValue::Int(length));
    f.insert("mime_type".into(), OperationValue::Str(mime_type.into()));
    f.insert("pieces".into(), OperationValue::PinnedRelationList(pieces));
    Operation::create(SchemaId::BLOB_V1, f)
}

impl TestNode {
    /// Publishes `data` as pieces and a blob; the blob's document id.
    pub async fn publish_blob(&self, key: &KeyPair, data: &[u8], mime_type: &str) -> DocumentId {
        let mut pieces = Vec::new();
        for chunk in data.chunks(PIECE) {
            let id = self.publish_operation(key, &piece_op(chunk)).await;
            pieces.push(DocumentViewId::from_operation(id));
        }
        let op = blob_op(data.len() as i64, mime_type, pieces);
        self.publish_operation(key, &op).await
    }

    pub fn blob_url(&self, path: &str) -> String {
        format!("http://{}/blobs/{path}", self.node.addr())
    }

    /// GET `/blobs/<path>` until it is not a 404 (bounded), the response.
    pub async fn wait_blob(&self, path: &str) -> reqwest::Response {
        for _ in 0..500 {
            let r = self.client.get(self.blob_url(path)).send().await.unwrap();
            if r.status() != 404 {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("/blobs/{path} stayed 404");
    }
}
