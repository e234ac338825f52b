//! Bulk ingest throughput (replication/import path) into a fresh, file-backed
//! SQLite store: `cargo bench -p hoffnung-store --bench ingest`.
//! With HOFFNUNG_POSTGRES_TEST_URL or HOFFNUNG_MYSQL_TEST_URL set, PostgreSQL or
//! MariaDB/MySQL is measured too.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hoffnung_core::entry::NextArgs;
use hoffnung_core::publish::next_args_after;
use hoffnung_core::{
    sign_entry, DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId,
};
use hoffnung_store::test_utils::TestDb;
use hoffnung_store::{Backend, SystemSchemas};

/// `authors` logs of `len` entries: a CREATE then UPDATEs, each on the last.
fn presigned(authors: u8, len: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(authors as usize * len);
    for a in 0..authors {
        let key = KeyPair::from_private_key(&[a.wrapping_add(1); 32]);
        let mut args = NextArgs {
            log_id: 0,
            seq_num: 1,
            backlink: None,
            skiplink: None,
        };
        let mut log = Vec::with_capacity(len);
        let mut previous: Option<DocumentViewId> = None;
        for i in 0..len {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(format!("field_{a}_{i}")));
            let op = match &previous {
                None => {
                    f.insert("type".into(), OperationValue::Str("str".into()));
                    Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f)
                }
                Some(p) => Operation::update(SchemaId::SCHEMA_FIELD_DEFINITION_V1, p.clone(), f),
            }
            .encode();
            let entry = sign_entry(&key, &args, &op).expect("valid args");
            previous = Some(DocumentViewId::from_operation(entry.hash()));
            let pos = entry.position();
            log.push(entry.clone());
            let skip = hoffnung_core::publish::next_skiplink_seq_num(pos.seq_num)
                .map(|s| log[(s - 1) as usize].hash());
            args = next_args_after(&pos, skip);
            out.push((entry.as_bytes().to_vec(), op));
        }
    }
    out
}

fn bulk(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let items = presigned(10, 1000);
    let mut g = c.benchmark_group("bulk_ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(items.len() as u64));
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let Some(probe) = rt.block_on(TestDb::new(backend)) else {
            continue;
        };
        rt.block_on(probe.cleanup());
        g.bench_function(format!("{backend:?}/10_logs_x_1000_entries"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let db = TestDb::new(backend).await.expect("db");
                        let store = db.store().await;
                        let start = Instant::now();
                        let results = store
                            .ingest_bulk(&items, &SystemSchemas)
                            .await
                            .expect("ingest");
                        total += start.elapsed();
                        assert!(results.iter().all(|r| r.is_ok()));
                        store.close().await;
                        db.cleanup().await;
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bulk);
criterion_main!(benches);
