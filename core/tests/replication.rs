//! The replication messages against `replication.json` (made with
//! upstream's encoder).

use hoffnung_core::replication::{Message, MessageError};
use hoffnung_core::SchemaId;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/vectors/replication.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_message_decodes_and_encodes_byte_for_byte() {
    let v = vectors();
    for m in v["messages"].as_array().unwrap() {
        let bytes = hex::decode(m["cbor_hex"].as_str().unwrap()).unwrap();
        let (message, used) =
            Message::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", m["name"]));
        assert_eq!(used, bytes.len(), "{}", m["name"]);
        assert_eq!(message.encode(), bytes, "{}", m["name"]);
        // Every strict prefix asks for more bytes.
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(
                Message::decode(&bytes[..cut]),
                Err(MessageError::Incomplete),
                "{} cut at {cut}",
                m["name"]
            );
        }
    }
}

#[test]
fn schema_sets_use_upstream_order() {
    let v = vectors();
    let upstream: Vec<SchemaId> = v["schema_id_set_upstream_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    let mut sorted = upstream.clone();
    sorted.sort();
    assert_eq!(sorted, upstream);
    // A set in plain string order is refused.
    let plain: Vec<SchemaId> = v["schema_id_set_plain_string_sort_would_be"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    let bytes = Message::Announce {
        version: 1,
        timestamp: 1,
        schemas: plain,
    }
    .encode();
    assert!(matches!(
        Message::decode(&bytes),
        Err(MessageError::UnsortedSchemas { .. })
    ));
}

#[test]
fn back_to_back_messages_split_at_their_ends() {
    let a = Message::SyncDone {
        session: 7,
        live: false,
    }
    .encode();
    let b = Message::Have {
        session: 7,
        logs: vec![([1; 32], vec![(0, 3), (2, 1)])],
    }
    .encode();
    let stream = [a.clone(), b.clone()].concat();
    let (first, used) = Message::decode(&stream).unwrap();
    assert_eq!(
        first,
        Message::SyncDone {
            session: 7,
            live: false
        }
    );
    let (second, used2) = Message::decode(&stream[used..]).unwrap();
    assert_eq!(used + used2, stream.len());
    assert!(matches!(second, Message::Have { session: 7, .. }));
}

#[test]
fn malformed_messages_are_refused() {
    for (hex, what) in [
        ("8163", "not an array of the right kinds"),
        ("820b00", "unknown type 11"),
        ("8403000000", "SyncDone with 4 elements"),
        ("84010000 80", "empty target set"),
        ("830300f6", "live mode null"),
        ("830a0081824100 80", "short public key"),
    ] {
        let bytes = hex::decode(hex.replace(' ', "")).unwrap();
        let got = Message::decode(&bytes);
        assert!(
            got.is_err() && got != Err(MessageError::Incomplete),
            "{what}: {got:?}"
        );
    }
}
