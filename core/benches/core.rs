//! Protocol core benchmarks. `cargo bench -p hoffnung-core --bench core`
//! Figures and their ratio to a raw ed25519-dalek verify: docs/benchmarks.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use hoffnung_core::entry::{EncodedEntry, NextArgs};
use hoffnung_core::*;

fn entry_at(key: &KeyPair, seq_num: u64, payload: &[u8]) -> EncodedEntry {
    let args = NextArgs {
        log_id: 7,
        seq_num,
        backlink: (seq_num > 1).then(|| Hash::of(b"back")),
        skiplink: skiplink_required(seq_num).then(|| Hash::of(b"skip")),
    };
    sign_entry(key, &args, payload).expect("valid args")
}

fn all_types_operation() -> Vec<u8> {
    let schema_id: SchemaId = format!("all_types_{}", Hash::of(b"a")).parse().expect("id");
    let view = DocumentViewId::new(vec![Hash::of(b"1"), Hash::of(b"2")]).expect("view");
    let mut f = Fields::new();
    f.insert("bool".into(), OperationValue::Bool(true));
    f.insert("bytes".into(), OperationValue::Bytes(vec![0, 1, 254, 255]));
    f.insert("float".into(), OperationValue::Float(3.5));
    f.insert("int".into(), OperationValue::Int(-42));
    f.insert(
        "pinned_relation".into(),
        OperationValue::PinnedRelation(view.clone()),
    );
    f.insert(
        "pinned_relation_list".into(),
        OperationValue::PinnedRelationList(vec![view]),
    );
    f.insert("relation".into(), OperationValue::Relation(Hash::of(b"r")));
    f.insert(
        "relation_list".into(),
        OperationValue::RelationList(vec![Hash::of(b"r"), Hash::of(b"s")]),
    );
    f.insert("str".into(), OperationValue::Str("Hello, 🐼!".into()));
    Operation::create(schema_id, f).encode()
}

fn verify(c: &mut Criterion) {
    let key = KeyPair::from_private_key(&[7; 32]);
    let op = all_types_operation();
    let entry = entry_at(&key, 25, &op);
    let bytes = entry.as_bytes().to_vec();

    // The floor: one raw ed25519-dalek verify of the same message and key.
    let sk = SigningKey::from_bytes(&[7; 32]);
    let vk = sk.verifying_key();
    let msg = &bytes[..bytes.len() - 64];
    let sig = sk.sign(msg);
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_ed25519_dalek_verify", |b| {
        b.iter(|| vk.verify(black_box(msg), black_box(&sig)).is_ok())
    });
    g.bench_function("entry_decode_and_verify", |b| {
        b.iter(|| EncodedEntry::decode_and_verify(black_box(&bytes)).is_ok())
    });
    g.finish();

    let mut g = c.benchmark_group("verify_batch");
    for n in [64usize, 1024] {
        // Many authors, as in replication: 16 keys, entries of many logs.
        let keys: Vec<KeyPair> = (0..16)
            .map(|i| KeyPair::from_private_key(&[i as u8; 32]))
            .collect();
        let encoded: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                entry_at(&keys[i % 16], (i / 16 + 1) as u64, &op)
                    .as_bytes()
                    .to_vec()
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("decode_and_verify_one_by_one/{n}"), |b| {
            b.iter(|| {
                encoded
                    .iter()
                    .all(|e| EncodedEntry::decode_and_verify(black_box(e)).is_ok())
            })
        });
        g.bench_function(format!("decode_then_verify_batch/{n}"), |b| {
            b.iter(|| {
                let decoded: Vec<EncodedEntry> = encoded
                    .iter()
                    .map(|e| EncodedEntry::decode(black_box(e)).expect("valid"))
                    .collect();
                let refs: Vec<&EncodedEntry> = decoded.iter().collect();
                verify_batch(&refs).is_ok()
            })
        });
    }
    g.finish();
}

fn sign(c: &mut Criterion) {
    let key = KeyPair::from_private_key(&[7; 32]);
    let op = all_types_operation();
    let args = NextArgs {
        log_id: 7,
        seq_num: 25,
        backlink: Some(Hash::of(b"back")),
        skiplink: Some(Hash::of(b"skip")),
    };
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign_entry", |b| {
        b.iter(|| sign_entry(&key, black_box(&args), black_box(&op)))
    });
    g.finish();
}

fn operations(c: &mut Criterion) {
    let op = all_types_operation();
    let plain = PlainOperation::decode(&op).expect("valid");
    let target: SchemaId = format!("note_{}", Hash::of(b"n")).parse().expect("id");
    let schema = Schema::new(
        plain.schema_id.clone(),
        "all types",
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
    .expect("schema");
    let mut g = c.benchmark_group("operation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_all_types", |b| {
        b.iter(|| PlainOperation::decode(black_box(&op)))
    });
    g.bench_function("decode_and_validate_all_types", |b| {
        b.iter(|| PlainOperation::decode(black_box(&op)).map(|p| p.validate(&schema)))
    });
    let typed = plain.validate(&schema).expect("valid");
    g.bench_function("encode_all_types", |b| {
        b.iter(|| black_box(&typed).encode())
    });
    g.finish();
}

/// A 1,000-operation document: a chain with a concurrent pair merged every
/// tenth step, from three authors.
fn thousand_operations() -> Vec<DocumentOperation> {
    let schema_id: SchemaId = format!("doc_{}", Hash::of(b"d")).parse().expect("id");
    let authors: Vec<PublicKey> = (0..3)
        .map(|i| KeyPair::from_private_key(&[i; 32]).public_key())
        .collect();
    let mut fields = Fields::new();
    fields.insert("count".into(), OperationValue::Int(0));
    fields.insert("title".into(), OperationValue::Str("start".into()));
    let mut ops = vec![DocumentOperation {
        id: Hash::of(&0u32.to_be_bytes()),
        public_key: authors[0],
        operation: Operation::create(schema_id.clone(), fields),
    }];
    let mut tips = vec![ops[0].id];
    let mut i = 1u32;
    while ops.len() < 1000 {
        let previous = DocumentViewId::new(tips.clone()).expect("non-empty");
        let branches = if i % 10 == 0 && ops.len() < 998 { 2 } else { 1 };
        tips.clear();
        for b in 0..branches {
            let mut f = Fields::new();
            f.insert("count".into(), OperationValue::Int(i64::from(i)));
            if b == 1 {
                f.insert("title".into(), OperationValue::Str(format!("branch {i}")));
            }
            let id = Hash::of(&[i.to_be_bytes(), (b as u32).to_be_bytes()].concat());
            ops.push(DocumentOperation {
                id,
                public_key: authors[(i as usize + b) % 3],
                operation: Operation::update(schema_id.clone(), previous.clone(), f),
            });
            tips.push(id);
        }
        i += 1;
    }
    ops
}

fn reduction(c: &mut Criterion) {
    let ops = thousand_operations();
    let mut g = c.benchmark_group("reduce");
    g.throughput(Throughput::Elements(ops.len() as u64));
    g.bench_function("document_of_1000_operations", |b| {
        b.iter_batched(|| ops.clone(), |ops| reduce(&ops), BatchSize::LargeInput)
    });
    g.finish();
}

criterion_group!(benches, verify, sign, operations, reduction);
criterion_main!(benches);
