//! Subscriptions over a real WebSocket (graphql-transport-ws): documents
//! arrive as they are materialized, filtered like collections.

mod common;

use std::time::Duration;

use common::ws::{connect, next};
use common::*;
use futures::{SinkExt, StreamExt};
use hoffnung_core::{Fields, KeyPair, OperationValue, SchemaId};
use hoffnung_store::backend_tests;
use hoffnung_store::test_utils::presigned_documents;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const NOTE: &str = "note_0020974b2f54e7557098470ad6ef648bb497e48a22a4e583787396a6075b824b5e14";

fn title(d: usize, r: usize) -> Fields {
    let mut f = Fields::new();
    let t = if d == 0 {
        format!("hello {r}")
    } else {
        format!("other {r}")
    };
    f.insert("title".into(), OperationValue::Str(t));
    f
}

backend_tests! {
    subscribers_see_matching_documents_as_they_change(db) {
        let node = TestNode::start(db).await;
        node.replay_publish_sequence().await;
        let mut socket = connect(&node).await;
        let query = format!(
            "subscription {{ all_{NOTE}(filter: {{ title: {{ contains: \"hello\" }} }}) {{ meta {{ documentId viewId }} fields {{ title }} }} }}"
        );
        socket
            .send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }).to_string()))
            .await
            .unwrap();
        // Two new documents, each updated twice; only document 0 matches.
        let schema: SchemaId = NOTE.parse().unwrap();
        let key = KeyPair::from_private_key(&[61; 32]);
        let (entries, last) = presigned_documents(&key, &schema, 0, 2, 2, title);
        // Give the subscription a moment to be registered before publishing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Documents 0 and 1 alternate (creates, then each round of updates).
        // Each publish is read back before the next, so that every view of
        // document 0 is its own event.
        for (i, (entry, op)) in entries.iter().enumerate() {
            let got = node.publish(&hex::encode(entry), &hex::encode(op)).await;
            assert!(got["errors"].is_null(), "{got}");
            node.node.materializer().unwrap().caught_up().await.unwrap();
            if i % 2 == 1 {
                continue;
            }
            let msg = next(&mut socket).await;
            assert_eq!(msg["type"], "next", "{msg}");
            let doc = &msg["payload"]["data"][format!("all_{NOTE}")];
            assert_eq!(doc["meta"]["documentId"], last[0].0.to_hex(), "{msg}");
            assert_eq!(doc["fields"]["title"], format!("hello {}", i / 2), "{msg}");
        }
        // Nothing of document 1 follows.
        let quiet = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
        assert!(quiet.is_err(), "unexpected message: {quiet:?}");
        socket
            .send(Message::text(json!({ "id": "1", "type": "complete" }).to_string()))
            .await
            .unwrap();
        node.stop().await;
    }
}
