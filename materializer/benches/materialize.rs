//! Materialization throughput: a backlog of operations already in the
//! event store (file-backed SQLite, as a node runs it), and the time a
//! fresh materializer takes to reflect all of it in the view tables.
//! `cargo bench -p hoffnung-materializer --bench materialize`; with
//! HOFFNUNG_POSTGRES_TEST_URL or HOFFNUNG_MYSQL_TEST_URL set, PostgreSQL or
//! MariaDB/MySQL too. Figures in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hoffnung_core::{Fields, KeyPair, OperationValue, SchemaId};
use hoffnung_materializer::{Materializer, MaterializerConfig};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::test_utils::{presigned_documents, Signed, TestDb};
use hoffnung_store::Backend;

fn fields(d: usize, r: usize) -> Fields {
    let mut f = Fields::new();
    f.insert("name".into(), OperationValue::Str(format!("field_{d}_{r}")));
    let ty = if r % 2 == 0 { "str" } else { "int" };
    f.insert("type".into(), OperationValue::Str(ty.into()));
    f
}

/// Time to materialize `entries`, ingested beforehand (not timed).
async fn materialize(backend: Backend, entries: &[Signed]) -> Duration {
    let db = TestDb::new(backend).await.expect("database");
    let store = db.store().await;
    let registry = Arc::new(SchemaRegistry::new(None));
    for chunk in entries.chunks(8192) {
        for r in store
            .ingest_bulk(chunk, registry.as_ref())
            .await
            .expect("ingest")
        {
            r.expect("valid entry");
        }
    }
    let start = Instant::now();
    let m = Materializer::start(store.clone(), registry, MaterializerConfig::default())
        .await
        .expect("start");
    m.caught_up().await.expect("caught up");
    let elapsed = start.elapsed();
    m.shutdown().await;
    store.close().await;
    db.cleanup().await;
    elapsed
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let key = KeyPair::from_private_key(&[7; 32]);
    let schema = SchemaId::SCHEMA_FIELD_DEFINITION_V1;
    let cases = [
        // 5,000 documents, a CREATE and 3 UPDATEs each.
        (
            "many_small_documents",
            presigned_documents(&key, &schema, 0, 5_000, 3, fields).0,
        ),
        // One document of 20,000 operations.
        (
            "one_long_document",
            presigned_documents(&key, &schema, 0, 1, 19_999, fields).0,
        ),
    ];
    let mut group = c.benchmark_group("materialize");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let Some(probe) = rt.block_on(TestDb::new(backend)) else {
            continue;
        };
        rt.block_on(probe.cleanup());
        for (name, entries) in &cases {
            group.throughput(Throughput::Elements(entries.len() as u64));
            group.bench_function(format!("{backend:?}/{name}"), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| rt.block_on(materialize(backend, entries)))
                        .sum()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
