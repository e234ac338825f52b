//! Property tests: every encoding round-trips, encoded lengths match,
//! corrupted input is an error and never a panic, and reduction does not
//! depend on delivery order.

use std::collections::BTreeMap;

use hoffnung_core::entry::{EncodedEntry, NextArgs, MAX_ENTRY_SIZE, MIN_ENTRY_SIZE};
use hoffnung_core::*;
use proptest::prelude::*;

fn key(seed: u8) -> KeyPair {
    KeyPair::from_private_key(&[seed; 32])
}

fn args_for(log_id: u64, seq_num: u64, link_seed: u8) -> NextArgs {
    let backlink = (seq_num > 1).then(|| Hash::of(&[link_seed, 1]));
    let skiplink = skiplink_required(seq_num).then(|| Hash::of(&[link_seed, 2]));
    NextArgs {
        log_id,
        seq_num,
        backlink,
        skiplink,
    }
}

fn seq_num() -> impl Strategy<Value = u64> {
    prop_oneof![
        1..100u64,
        1..u64::MAX,
        Just(u64::MAX - 1),
        Just(247),
        Just(248)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn varu64_roundtrip(n in any::<u64>()) {
        let mut out = Vec::new();
        varu64::encode(n, &mut out);
        prop_assert_eq!(out.len(), varu64::encoded_len(n));
        prop_assert_eq!(varu64::decode(&out), Ok((n, out.len())));
        for cut in 0..out.len() {
            prop_assert!(varu64::decode(&out[..cut]).is_err());
        }
    }

    #[test]
    fn entry_roundtrip_and_length(seed in any::<u8>(), log_id in any::<u64>(), seq in seq_num(), link in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let args = args_for(log_id, seq, link);
        let signed = sign_entry(&key(seed), &args, &payload).unwrap();
        let bytes = signed.as_bytes();
        let expected_len = 1 + 32 + varu64::encoded_len(log_id) + varu64::encoded_len(seq)
            + 34 * (1 + usize::from(args.backlink.is_some()) + usize::from(args.skiplink.is_some()))
            + varu64::encoded_len(payload.len() as u64) + 64;
        prop_assert_eq!(bytes.len(), expected_len);
        prop_assert!((MIN_ENTRY_SIZE..=MAX_ENTRY_SIZE).contains(&bytes.len()));
        let decoded = EncodedEntry::decode_and_verify(bytes).unwrap();
        prop_assert_eq!(decoded.entry().encode(), bytes.to_vec());
        prop_assert_eq!(&decoded, &signed);
        prop_assert_eq!(decoded.hash(), Hash::of(bytes));
        decoded.entry().check_payload(&payload).unwrap();
        prop_assert_eq!(EncodedEntry::from_hex(&signed.to_hex()).unwrap(), signed);
    }

    #[test]
    fn corrupted_entry_is_an_error(seed in any::<u8>(), seq in 1..50u64, idx in any::<prop::sample::Index>(), flip in 1..=255u8) {
        let signed = sign_entry(&key(seed), &args_for(3, seq, 9), b"payload").unwrap();
        let bytes = signed.as_bytes();
        let i = idx.index(bytes.len());
        let mut flipped = bytes.to_vec();
        flipped[i] ^= flip;
        // The tag byte is accepted whatever its value (upstream), but the
        // signature covers it, so the flip is still caught.
        prop_assert!(EncodedEntry::decode_and_verify(&flipped).is_err());
        prop_assert!(EncodedEntry::decode_and_verify(&bytes[..i]).is_err());
        let mut longer = bytes.to_vec();
        longer.push(flip);
        prop_assert!(EncodedEntry::decode(&longer).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = EncodedEntry::decode_and_verify(&bytes);
        let _ = PlainOperation::decode(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = s.parse::<SchemaId>();
            let _ = s.parse::<DocumentViewId>();
            let _ = s.parse::<Hash>();
            let _ = s.parse::<FieldType>();
        }
    }

    #[test]
    fn operation_roundtrip(op in operation()) {
        let schema = test_schema();
        let bytes = op.encode();
        let plain = PlainOperation::decode(&bytes).unwrap();
        let typed = plain.validate(&schema).unwrap();
        prop_assert_eq!(typed.encode(), bytes.clone());
        prop_assert!(same_op(&typed, &op));
        for cut in 0..bytes.len() {
            prop_assert!(PlainOperation::decode(&bytes[..cut]).is_err(), "truncated at {}", cut);
        }
    }

    #[test]
    fn corrupted_operation_never_panics(op in operation(), idx in any::<prop::sample::Index>(), flip in 1..=255u8) {
        let mut bytes = op.encode();
        let i = idx.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(plain) = PlainOperation::decode(&bytes) {
            // Whatever decodes is a different operation or fails the schema.
            if let Ok(typed) = plain.validate(&test_schema()) {
                prop_assert_ne!(typed.encode(), op.encode());
            }
        }
    }

    #[test]
    fn ids_roundtrip(seeds in proptest::collection::vec(any::<u64>(), 1..5), name in "[a-z][a-z0-9_]{0,20}[a-z0-9]") {
        let ids: Vec<Hash> = seeds.iter().map(|s| Hash::of(&s.to_be_bytes())).collect();
        for id in &ids {
            prop_assert_eq!(id.to_string().parse::<Hash>().unwrap(), *id);
            prop_assert_eq!(Hash::from_bytes(id.as_bytes()).unwrap(), *id);
        }
        let view = DocumentViewId::new(ids.clone()).unwrap();
        prop_assert_eq!(view.to_string().parse::<DocumentViewId>().unwrap(), view.clone());
        let schema = SchemaId::application(&name, view.clone()).unwrap();
        let text = schema.to_string();
        prop_assert_eq!(text.parse::<SchemaId>().unwrap(), schema.clone());
        let ty = FieldType::PinnedRelationList(schema);
        prop_assert_eq!(ty.to_string().parse::<FieldType>().unwrap(), ty);
        if ids.len() > 1 && view.ids().len() > 1 {
            // Reversed order is not canonical.
            let reversed: Vec<String> = view.ids().iter().rev().map(|h| h.to_string()).collect();
            prop_assert!(reversed.join("_").parse::<DocumentViewId>().is_err());
        }
    }

    #[test]
    fn reduction_is_independent_of_delivery_order(doc in document(), perm in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let reference = reduce(&doc).unwrap();
        // Any permutation of the same operations gives the same view.
        let mut shuffled = doc.clone();
        let n = shuffled.len();
        let mut state = seed | 1;
        for i in (1..n).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state as usize) % (i + 1));
        }
        shuffled.rotate_left(perm.index(n));
        let got = reduce(&shuffled).unwrap();
        prop_assert_eq!(&got, &reference);
        // Causal, each operation once.
        prop_assert_eq!(got.sorted_operation_ids.len(), doc.len());
        for op in &doc {
            let at = got.sorted_operation_ids.iter().position(|x| *x == op.id).unwrap();
            for p in op.operation.previous.iter().flat_map(|p| p.ids()) {
                let pat = got.sorted_operation_ids.iter().position(|x| x == p).unwrap();
                prop_assert!(pat < at);
            }
        }
        // Delete wins.
        let has_delete = doc.iter().any(|o| o.operation.action == OperationAction::Delete);
        prop_assert_eq!(got.is_deleted, has_delete);
        // Arriving one by one, as a materializer sees them (in causal order
        // of arrival), extension where possible and full reduction
        // otherwise end at the same view.
        let mut incremental: Option<DocumentView> = None;
        for i in 0..doc.len() {
            let next = match &incremental {
                Some(v) => v.extend(&doc[i]).unwrap_or_else(|| reduce(&doc[..=i]).unwrap()),
                None => reduce(&doc[..=i]).unwrap(),
            };
            incremental = Some(next);
        }
        prop_assert_eq!(incremental.unwrap(), reference.clone());
        // The current view id as a historic view gives the current view.
        prop_assert_eq!(reduce_to_view(&doc, &reference.view_id).unwrap(), reference);
    }
}

fn test_schema() -> Schema {
    let target: SchemaId = format!("target_{}", Hash::of(b"t")).parse().unwrap();
    Schema::new(
        format!("all_{}", Hash::of(b"s")).parse().unwrap(),
        "every type",
        vec![
            ("bool".into(), FieldType::Bool),
            ("bytes".into(), FieldType::Bytes),
            ("float".into(), FieldType::Float),
            ("int".into(), FieldType::Int),
            (
                "pinned_relation".into(),
                FieldType::PinnedRelation(target.clone()),
            ),
            (
                "pinned_relation_list".into(),
                FieldType::PinnedRelationList(target.clone()),
            ),
            ("relation".into(), FieldType::Relation(target.clone())),
            ("relation_list".into(), FieldType::RelationList(target)),
            ("str".into(), FieldType::Str),
        ],
    )
    .unwrap()
}

fn hash_s() -> impl Strategy<Value = Hash> {
    any::<u32>().prop_map(|n| Hash::of(&n.to_be_bytes()))
}

fn view_id_s() -> impl Strategy<Value = DocumentViewId> {
    proptest::collection::vec(hash_s(), 1..4).prop_map(|ids| DocumentViewId::new(ids).unwrap())
}

fn value_for(name: &str) -> BoxedStrategy<OperationValue> {
    match name {
        "bool" => any::<bool>().prop_map(OperationValue::Bool).boxed(),
        "bytes" => proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(OperationValue::Bytes)
            .boxed(),
        "float" => prop_oneof![
            any::<f64>(),
            Just(1.0),
            Just(-0.0),
            Just(f64::INFINITY),
            any::<f32>().prop_map(f64::from)
        ]
        .prop_filter("NaN payloads are not preserved", |f| !f.is_nan())
        .prop_map(OperationValue::Float)
        .boxed(),
        "int" => any::<i64>().prop_map(OperationValue::Int).boxed(),
        "pinned_relation" => view_id_s().prop_map(OperationValue::PinnedRelation).boxed(),
        "pinned_relation_list" => proptest::collection::vec(view_id_s(), 0..3)
            .prop_map(OperationValue::PinnedRelationList)
            .boxed(),
        "relation" => hash_s().prop_map(OperationValue::Relation).boxed(),
        "relation_list" => proptest::collection::vec(hash_s(), 0..4)
            .prop_map(OperationValue::RelationList)
            .boxed(),
        _ => ".{0,30}".prop_map(OperationValue::Str).boxed(),
    }
}

fn all_fields() -> impl Strategy<Value = Fields> {
    let names = test_schema()
        .fields()
        .iter()
        .map(|(n, _)| n.clone())
        .collect::<Vec<_>>();
    let strategies: Vec<_> = names
        .iter()
        .map(|n| {
            let n = n.clone();
            value_for(&n).prop_map(move |v| (n.clone(), v))
        })
        .collect();
    strategies.prop_map(|pairs| pairs.into_iter().collect::<BTreeMap<_, _>>())
}

fn operation() -> impl Strategy<Value = Operation> {
    let schema_id = test_schema().id().clone();
    (0..3u8, all_fields(), any::<u16>(), view_id_s()).prop_map(
        move |(action, fields, mask, previous)| match action {
            0 => Operation::create(schema_id.clone(), fields),
            1 => {
                let subset: Fields = fields
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, kv)| kv)
                    .collect();
                Operation::update(schema_id.clone(), previous, subset)
            }
            _ => Operation::delete(schema_id.clone(), previous),
        },
    )
}

fn same_op(a: &Operation, b: &Operation) -> bool {
    a.encode() == b.encode()
}

/// A random document: a CREATE and up to 24 operations, each building on a
/// random non-empty set of earlier non-DELETE operations.
fn document() -> impl Strategy<Value = Vec<DocumentOperation>> {
    let schema_id: SchemaId = format!("doc_{}", Hash::of(b"d")).parse().unwrap();
    (
        any::<u64>(),
        proptest::collection::vec((any::<u32>(), 1..4usize, 0..10u8, any::<i64>()), 0..24),
    )
        .prop_map(move |(seed, steps)| {
            let author = key((seed % 3) as u8).public_key();
            let mk =
                |i: usize| Hash::of(&[seed.to_be_bytes().as_slice(), &i.to_be_bytes()].concat());
            let mut fields = Fields::new();
            fields.insert("a".into(), OperationValue::Int(0));
            fields.insert("b".into(), OperationValue::Str("start".into()));
            let mut ops = vec![DocumentOperation {
                id: mk(0),
                public_key: author,
                operation: Operation::create(schema_id.clone(), fields),
            }];
            for (i, (pick, count, kind, value)) in steps.into_iter().enumerate() {
                let candidates: Vec<Hash> = ops
                    .iter()
                    .filter(|o| o.operation.action != OperationAction::Delete)
                    .map(|o| o.id)
                    .collect();
                let previous: Vec<Hash> = (0..count)
                    .map(|k| candidates[(pick as usize).wrapping_mul(k + 7) % candidates.len()])
                    .collect();
                let previous = DocumentViewId::new(previous).unwrap();
                let operation = if kind == 0 {
                    Operation::delete(schema_id.clone(), previous)
                } else {
                    let mut f = Fields::new();
                    if kind % 2 == 1 {
                        f.insert("a".into(), OperationValue::Int(value));
                    }
                    if kind % 3 == 1 {
                        f.insert("b".into(), OperationValue::Str(format!("v{i}")));
                    }
                    Operation::update(schema_id.clone(), previous, f)
                };
                ops.push(DocumentOperation {
                    id: mk(i + 1),
                    public_key: key((value as u8) % 3).public_key(),
                    operation,
                });
            }
            ops
        })
}
