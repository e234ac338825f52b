//! The publish checks on hand-made logs: concurrency with DELETE, batch
//! verification, next args, payload limits.

mod support;

use hoffnung_core::entry::{EncodedEntry, EntryError, NextArgs, DEFAULT_MAX_PAYLOAD_SIZE};
use hoffnung_core::publish::PublishError;
use hoffnung_core::*;
use support::*;

struct Author<'a> {
    key: &'a KeyPair,
}

impl Author<'_> {
    fn publish(
        &self,
        node: &mut MemoryNode,
        op: &Operation,
    ) -> Result<(Hash, NextArgs), NodeError> {
        let view = op.previous.as_ref();
        let args = node.next_args(self.key.public_key(), view)?;
        let bytes = op.encode();
        let entry = sign_entry(self.key, &args, &bytes).unwrap();
        let next = node.publish(entry.as_bytes(), &bytes)?;
        Ok((entry.hash(), next))
    }
}

fn note_schema(node: &MemoryNode) -> SchemaId {
    let v = load("schemas");
    let id: SchemaId = s(&v["application_schemas"][0]["schema"]["id"])
        .parse()
        .unwrap();
    assert!(node.schema(&id).is_some());
    id
}

fn title(t: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("title".into(), OperationValue::Str(t.into()));
    f
}

#[test]
fn operation_concurrent_to_delete_is_accepted_and_delete_wins() {
    let keys = key_pairs();
    let (a, b) = (Author { key: &keys["A"] }, Author { key: &keys["B"] });
    let mut node = reference_node();
    let schema = note_schema(&node);
    let (create, _) = a
        .publish(&mut node, &Operation::create(schema.clone(), title("x")))
        .unwrap();
    let root = DocumentViewId::from_operation(create);
    let (delete, _) = a
        .publish(&mut node, &Operation::delete(schema.clone(), root.clone()))
        .unwrap();
    // B saw only the CREATE: its UPDATE is concurrent to the DELETE.
    let args = NextArgs {
        log_id: 0,
        seq_num: 1,
        backlink: None,
        skiplink: None,
    };
    let max_b = node.next_args(keys["B"].public_key(), None).unwrap();
    let update = Operation::update(schema.clone(), root, title("y"));
    let bytes = update.encode();
    let entry = sign_entry(
        &keys["B"],
        &NextArgs {
            log_id: max_b.log_id,
            ..args
        },
        &bytes,
    )
    .unwrap();
    node.publish(entry.as_bytes(), &bytes)
        .expect("concurrent update accepted");
    let view = reduce(node.document_operations(&create)).unwrap();
    assert!(view.is_deleted);
    assert_eq!(
        view.view_id,
        DocumentViewId::new(vec![delete, entry.hash()]).unwrap()
    );
    // Building on the DELETE is refused, and nothing is stored.
    let before = node.entry_count();
    let on_delete = Operation::update(
        schema.clone(),
        DocumentViewId::from_operation(delete),
        title("z"),
    );
    let bytes = on_delete.encode();
    let next = node.next_args(keys["B"].public_key(), None).unwrap();
    let entry = sign_entry(&keys["B"], &next, &bytes).unwrap();
    let err = node.publish(entry.as_bytes(), &bytes).unwrap_err();
    assert!(
        matches!(err, NodeError::Publish(PublishError::BuildsOnDelete)),
        "{err}"
    );
    assert_eq!(node.entry_count(), before);
    // nextArgs for the deleted document answers an error, as upstream.
    assert!(matches!(
        b.publish(
            &mut node,
            &Operation::update(schema, DocumentViewId::from_operation(create), title("w"))
        ),
        Err(NodeError::DocumentDeleted)
    ));
}

#[test]
fn next_args_follow_the_log_with_skiplinks() {
    let keys = key_pairs();
    let c = Author { key: &keys["C"] };
    let mut node = reference_node();
    let schema = note_schema(&node);
    let (mut tip, mut next) = c
        .publish(&mut node, &Operation::create(schema.clone(), title("0")))
        .unwrap();
    for i in 1..40u64 {
        assert_eq!(next.seq_num, i + 1);
        assert_eq!(next.backlink, Some(tip));
        assert_eq!(next.skiplink.is_some(), skiplink_required(i + 1));
        let op = Operation::update(
            schema.clone(),
            DocumentViewId::from_operation(tip),
            title(&i.to_string()),
        );
        (tip, next) = c.publish(&mut node, &op).unwrap();
    }
}

#[test]
fn batch_verification_names_the_bad_entries() {
    let keys = key_pairs();
    let mut entries: Vec<EncodedEntry> = (1..=20u64)
        .map(|seq| {
            let args = NextArgs {
                log_id: 1,
                seq_num: seq,
                backlink: (seq > 1).then(|| Hash::of(b"b")),
                skiplink: skiplink_required(seq).then(|| Hash::of(b"s")),
            };
            sign_entry(&keys["A"], &args, format!("payload {seq}").as_bytes()).unwrap()
        })
        .collect();
    let refs: Vec<&EncodedEntry> = entries.iter().collect();
    verify_batch(&refs).unwrap();
    // Forge two: flip a signature bit and re-sign with another key.
    let mut bytes = entries[3].as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    entries[3] = EncodedEntry::decode(&bytes).unwrap();
    let mut bytes = entries[11].as_bytes().to_vec();
    let forged = keys["B"].sign(&bytes[..bytes.len() - 64]);
    let at = bytes.len() - 64;
    bytes[at..].copy_from_slice(&forged);
    entries[11] = EncodedEntry::decode(&bytes).unwrap();
    let refs: Vec<&EncodedEntry> = entries.iter().collect();
    assert_eq!(verify_batch(&refs).unwrap_err().failed, vec![3, 11]);
    assert_eq!(
        entries[3].verify_signature(),
        Err(EntryError::InvalidSignature)
    );
}

#[test]
fn payload_limit_and_entry_size() {
    let keys = key_pairs();
    let big = vec![0u8; (DEFAULT_MAX_PAYLOAD_SIZE + 1) as usize];
    let args = NextArgs {
        log_id: 0,
        seq_num: 1,
        backlink: None,
        skiplink: None,
    };
    let e = sign_entry(&keys["A"], &args, &big).unwrap();
    assert!(matches!(
        e.entry().check_payload_limit(DEFAULT_MAX_PAYLOAD_SIZE),
        Err(EntryError::PayloadTooLarge { .. })
    ));
    assert!(matches!(
        EncodedEntry::decode(&[0u8; 300]),
        Err(EntryError::TooLarge(300))
    ));
    // Links that do not fit the seq num cannot be signed.
    let bad = NextArgs {
        seq_num: 2,
        ..args.clone()
    };
    assert_eq!(
        sign_entry(&keys["A"], &bad, b"x").unwrap_err(),
        EntryError::MissingBacklink(2)
    );
}
