//! Property: whatever order a document's operations arrive in (any order
//! the event store accepts: each after the operations it builds on and
//! after its author's earlier entries), and however they are split into
//! batches, the materialized row is the same: the full reduction's.

mod common;

use std::sync::Arc;

use common::*;
use hoffnung_core::{DocumentViewId, KeyPair, Operation, OperationValue, Schema};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::test_utils::TestDb;
use hoffnung_store::{Backend, Store, ViewRow};
use proptest::prelude::*;

/// One generated operation: author, which earlier operations it builds on
/// (bit mask), whether it is the final DELETE.
type Step = (usize, u16, bool);

struct Generated {
    /// Schema set-up entries, in order.
    setup: Vec<Signed>,
    schema: Arc<Schema>,
    /// The document's entries with their author and the indices they build on.
    ops: Vec<(Signed, usize, Vec<usize>)>,
    document: hoffnung_core::DocumentId,
    expected: ViewRow,
}

async fn generate(steps: &[Step]) -> Generated {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let registry = SchemaRegistry::new(None);
    let keys: Vec<KeyPair> = (0..3)
        .map(|i| KeyPair::from_private_key(&[40 + i; 32]))
        .collect();
    let schema = define_schema(
        &store,
        &registry,
        &keys[0],
        "ordered",
        &[("x", "int"), ("y", "str")],
    )
    .await;
    let setup = store_entries(&store).await;
    let create = Operation::create(
        schema.id().clone(),
        fields(&[("x", OperationValue::Int(0)), ("y", s("c"))]),
    );
    let first = sign(&store, &keys[0], &create).await;
    let done = ingest(&store, &registry, &first).await;
    let document = done.document_id;
    let mut ids = vec![done.operation_id];
    let mut ops = vec![(first, 0, Vec::new())];
    for (n, (author, mask, delete)) in steps.iter().enumerate() {
        let i = ids.len();
        let mut prev: Vec<usize> = (0..i).filter(|j| mask & (1 << (j % 16)) != 0).collect();
        if prev.is_empty() {
            prev.push(i - 1);
        }
        let view = DocumentViewId::new(prev.iter().map(|j| ids[*j]).collect()).unwrap();
        let op = if *delete && n == steps.len() - 1 {
            Operation::delete(schema.id().clone(), view)
        } else {
            Operation::update(
                schema.id().clone(),
                view,
                fields(&[
                    ("x", OperationValue::Int(i as i64)),
                    ("y", s(&format!("v{i}"))),
                ]),
            )
        };
        let signed = sign(&store, &keys[*author], &op).await;
        let done = ingest(&store, &registry, &signed).await;
        ids.push(done.operation_id);
        ops.push((signed, *author, prev));
    }
    let expected = expected_row(&store, &schema, &document).await;
    store.close().await;
    Generated {
        setup,
        schema,
        ops,
        document,
        expected,
    }
}

/// Every stored entry with its operation, in ingest order.
async fn store_entries(store: &Store) -> Vec<Signed> {
    let ops = store.operations_after(0, 10_000).await.unwrap();
    let mut out = Vec::new();
    for op in ops {
        out.push((
            store.entry_bytes(&op.id).await.unwrap().unwrap(),
            op.payload,
        ));
    }
    out
}

/// A delivery order: repeatedly picks (by `seed`) one of the operations
/// whose dependencies and earlier same-author entries are delivered.
fn order(ops: &[(Signed, usize, Vec<usize>)], mut seed: u64) -> Vec<usize> {
    let mut done = vec![false; ops.len()];
    let mut out = Vec::new();
    while out.len() < ops.len() {
        let ready: Vec<usize> = (0..ops.len())
            .filter(|&i| {
                !done[i]
                    && ops[i].2.iter().all(|p| done[*p])
                    && (0..i).all(|j| ops[j].1 != ops[i].1 || done[j])
            })
            .collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pick = ready[(seed >> 33) as usize % ready.len()];
        done[pick] = true;
        out.push(pick);
    }
    out
}

async fn deliver(g: &Generated, order: &[usize], pauses: u16, backend: Backend) -> ViewRow {
    let db = TestDb::new(backend).await.expect("backend configured");
    let store = db.store().await;
    let registry = Arc::new(SchemaRegistry::new(None));
    let m = start(&store, &registry).await;
    for item in &g.setup {
        ingest(&store, &registry, item).await;
    }
    for (k, &i) in order.iter().enumerate() {
        ingest(&store, &registry, &g.ops[i].0).await;
        // Sometimes let the worker catch up, so that batches split
        // differently (incremental steps and re-reductions both run).
        if pauses & (1 << (k % 16)) != 0 {
            m.caught_up().await.unwrap();
        }
    }
    m.caught_up().await.unwrap();
    let got = row(&store, &g.schema, &g.document).await.unwrap();
    m.shutdown().await;
    store.close().await;
    db.cleanup().await;
    got
}

fn check(steps: &[Step], seeds: &[u64], pauses: u16, backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let g = generate(steps).await;
        for seed in seeds {
            let got = deliver(&g, &order(&g.ops, *seed), pauses, backend).await;
            assert_eq!(got, g.expected);
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_gives_the_same_row(
        steps in prop::collection::vec((0usize..3, any::<u16>(), any::<bool>()), 1..7),
        seeds in prop::collection::vec(any::<u64>(), 2),
        pauses in any::<u16>(),
    ) {
        check(&steps, &seeds, pauses, Backend::Sqlite);
    }

    /// The same on PostgreSQL, when `HOFFNUNG_POSTGRES_TEST_URL` is set.
    #[test]
    fn any_delivery_order_gives_the_same_row_postgres(
        steps in prop::collection::vec((0usize..3, any::<u16>(), any::<bool>()), 1..7),
        seeds in prop::collection::vec(any::<u64>(), 2),
        pauses in any::<u16>(),
    ) {
        if hoffnung_store::test_utils::postgres_url().is_some() {
            check(&steps, &seeds, pauses, Backend::Postgres);
        }
    }

    /// The same on MariaDB/MySQL, when `HOFFNUNG_MYSQL_TEST_URL` is set.
    #[test]
    fn any_delivery_order_gives_the_same_row_mysql(
        steps in prop::collection::vec((0usize..3, any::<u16>(), any::<bool>()), 1..7),
        seeds in prop::collection::vec(any::<u64>(), 2),
        pauses in any::<u16>(),
    ) {
        if hoffnung_store::test_utils::mysql_url().is_some() {
            check(&steps, &seeds, pauses, Backend::MySql);
        }
    }
}
