//! Differential property test of the collection query builder: random
//! documents, random filters, orderings and page sizes; paging through the
//! SQL results (forwards) must give exactly what a naive in-memory
//! evaluation gives, and the count must match. SQLite, and PostgreSQL when
//! `HOFFNUNG_POSTGRES_TEST_URL` is set.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use hoffnung_core::{
    DocumentView, DocumentViewId, FieldType, Hash, KeyPair, OperationValue, Schema, SchemaId,
    ViewField,
};
use hoffnung_store::test_utils::TestDb;
use hoffnung_store::{
    Backend, CollectionQuery, Filter, FilterOp, Operand, Target, ViewBatch, ViewRow,
};
use proptest::prelude::*;

fn schema() -> Schema {
    let target =
        SchemaId::application("target", DocumentViewId::from_operation(Hash::of(b"t"))).unwrap();
    Schema::new(
        SchemaId::application("things", DocumentViewId::from_operation(Hash::of(b"s"))).unwrap(),
        "random documents",
        vec![
            ("b".into(), FieldType::Bool),
            ("i".into(), FieldType::Int),
            ("f".into(), FieldType::Float),
            ("s".into(), FieldType::Str),
            ("x".into(), FieldType::Bytes),
            ("r".into(), FieldType::Relation(target.clone())),
            ("rl".into(), FieldType::RelationList(target)),
        ],
    )
    .unwrap()
}

/// Small domains, so that equal values (ties) are common.
fn target_id(n: u8) -> Hash {
    Hash::of(&[n])
}

#[derive(Debug, Clone)]
struct GenDoc {
    b: bool,
    i: i64,
    f: f64,
    s: String,
    x: Vec<u8>,
    r: u8,
    rl: Vec<u8>,
    owner: u8,
    edited: bool,
    deleted: bool,
}

fn gen_doc() -> impl Strategy<Value = GenDoc> {
    (
        any::<bool>(),
        -3i64..4,
        prop::sample::select(vec![-1.5, 0.0, 0.25, 2.0, 1e300, f64::NAN]),
        prop::sample::select(vec![
            "", "a", "ab", "b", "ba", "B", "äb", "Äb", "a b", "A%b", "a_B", "a!b",
        ]),
        prop::collection::vec(0u8..3, 0..3),
        0u8..4,
        prop::collection::vec(0u8..4, 0..4),
        (0u8..2, any::<bool>(), prop::bool::weighted(0.15)),
    )
        .prop_map(|(b, i, f, s, x, r, rl, (owner, edited, deleted))| GenDoc {
            b,
            i,
            f,
            s: s.to_string(),
            x,
            r,
            rl,
            owner,
            edited,
            deleted,
        })
}

fn value_of(d: &GenDoc, field: &str) -> Operand {
    match field {
        "b" => Operand::Bool(d.b),
        "i" => Operand::Int(d.i),
        "f" => Operand::Float(d.f),
        "s" => Operand::Text(d.s.clone()),
        "x" => Operand::Bytes(d.x.clone()),
        "r" => Operand::Text(target_id(d.r).to_hex()),
        other => panic!("no scalar field {other}"),
    }
}

#[derive(Debug, Clone)]
enum GenFilter {
    Scalar(&'static str, FilterOp, Vec<Operand>),
    List(bool, Vec<u8>),
    Owner(bool, u8),
    Edited(bool),
}

fn operand_for(field: &'static str) -> BoxedStrategy<Operand> {
    match field {
        "b" => any::<bool>().prop_map(Operand::Bool).boxed(),
        "i" => (-4i64..5).prop_map(Operand::Int).boxed(),
        "f" => prop::sample::select(vec![-1.5, 0.0, 0.25, 1.0, 2.0, 1e300, f64::NAN])
            .prop_map(Operand::Float)
            .boxed(),
        "s" => prop::sample::select(vec![
            "", "a", "b", "ab", "ä", "Ä", " ", "A", "aB", "%", "_", "a_", "%b", "!",
        ])
        .prop_map(|s| Operand::Text(s.to_string()))
        .boxed(),
        "x" => prop::collection::vec(0u8..3, 0..3)
            .prop_map(Operand::Bytes)
            .boxed(),
        _ => (0u8..4)
            .prop_map(|n| Operand::Text(target_id(n).to_hex()))
            .boxed(),
    }
}

fn gen_filter() -> impl Strategy<Value = GenFilter> {
    let scalar = prop::sample::select(vec!["b", "i", "f", "s", "x", "r"]).prop_flat_map(|field| {
        let ops = match field {
            "b" | "x" => vec![FilterOp::Eq, FilterOp::NotEq],
            "r" => vec![FilterOp::Eq, FilterOp::NotEq, FilterOp::In, FilterOp::NotIn],
            "s" => vec![
                FilterOp::Eq,
                FilterOp::NotEq,
                FilterOp::In,
                FilterOp::NotIn,
                FilterOp::Gt,
                FilterOp::Gte,
                FilterOp::Lt,
                FilterOp::Lte,
                FilterOp::Contains,
                FilterOp::NotContains,
            ],
            _ => vec![
                FilterOp::Eq,
                FilterOp::NotEq,
                FilterOp::In,
                FilterOp::NotIn,
                FilterOp::Gt,
                FilterOp::Gte,
                FilterOp::Lt,
                FilterOp::Lte,
            ],
        };
        (
            prop::sample::select(ops),
            prop::collection::vec(operand_for(field), 0..3),
            operand_for(field),
        )
            .prop_map(move |(op, set, one)| {
                let values = if matches!(op, FilterOp::In | FilterOp::NotIn) {
                    set
                } else {
                    vec![one]
                };
                GenFilter::Scalar(field, op, values)
            })
    });
    prop_oneof![
        6 => scalar,
        1 => (any::<bool>(), prop::collection::vec(0u8..4, 0..3)).prop_map(|(n, s)| GenFilter::List(n, s)),
        1 => (any::<bool>(), 0u8..2).prop_map(|(n, o)| GenFilter::Owner(n, o)),
        1 => any::<bool>().prop_map(GenFilter::Edited),
    ]
}

fn key(n: u8) -> KeyPair {
    KeyPair::from_private_key(&[n + 1; 32])
}

fn cmp_operand(a: &Operand, b: &Operand) -> Ordering {
    match (a, b) {
        (Operand::Bool(a), Operand::Bool(b)) => a.cmp(b),
        (Operand::Int(a), Operand::Int(b)) => a.cmp(b),
        // NaN after every number, equal to itself: PostgreSQL's order, and
        // SQLite's for the text `NaN` it stores instead.
        (Operand::Float(a), Operand::Float(b)) => a.total_cmp(b),
        // Byte order: SQLite's BINARY collation, PostgreSQL's "C".
        (Operand::Text(a), Operand::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Operand::Bytes(a), Operand::Bytes(b)) => a.cmp(b),
        _ => panic!("mixed operands"),
    }
}

fn matches(d: &GenDoc, f: &GenFilter) -> bool {
    match f {
        GenFilter::Scalar(field, op, values) => {
            let v = value_of(d, field);
            let c = |x: &Operand| cmp_operand(&v, x);
            match op {
                FilterOp::Eq => c(&values[0]) == Ordering::Equal,
                FilterOp::NotEq => c(&values[0]) != Ordering::Equal,
                FilterOp::Gt => c(&values[0]) == Ordering::Greater,
                FilterOp::Gte => c(&values[0]) != Ordering::Less,
                FilterOp::Lt => c(&values[0]) == Ordering::Less,
                FilterOp::Lte => c(&values[0]) != Ordering::Greater,
                FilterOp::In => values.iter().any(|x| c(x) == Ordering::Equal),
                FilterOp::NotIn => values.iter().all(|x| c(x) != Ordering::Equal),
                FilterOp::Contains | FilterOp::NotContains => {
                    let (Operand::Text(hay), Operand::Text(needle)) = (&v, &values[0]) else {
                        panic!("contains on text only")
                    };
                    // ASCII case ignored, everything else literal.
                    let fold = |s: &str| s.to_ascii_lowercase();
                    fold(hay).contains(&fold(needle)) == (*op == FilterOp::Contains)
                }
            }
        }
        GenFilter::List(negate, set) => d.rl.iter().any(|t| set.contains(t)) != *negate,
        GenFilter::Owner(negate, o) => (d.owner == *o) != *negate,
        GenFilter::Edited(e) => d.edited == *e,
    }
}

fn to_filter(f: &GenFilter) -> Filter {
    match f {
        GenFilter::Scalar(field, op, values) => Filter {
            target: Target::Field(field.to_string()),
            op: *op,
            values: values.clone(),
        },
        GenFilter::List(negate, set) => Filter {
            target: Target::Field("rl".into()),
            op: if *negate {
                FilterOp::NotIn
            } else {
                FilterOp::In
            },
            values: set
                .iter()
                .map(|n| Operand::Text(target_id(*n).to_hex()))
                .collect(),
        },
        GenFilter::Owner(negate, o) => Filter {
            target: Target::Owner,
            op: if *negate {
                FilterOp::NotEq
            } else {
                FilterOp::Eq
            },
            values: vec![Operand::Text(key(*o).public_key().to_hex())],
        },
        GenFilter::Edited(e) => Filter {
            target: Target::Edited,
            op: FilterOp::Eq,
            values: vec![Operand::Bool(*e)],
        },
    }
}

fn view_of(schema: &Schema, n: usize, d: &GenDoc) -> DocumentView {
    let id = Hash::of(format!("doc {n}").as_bytes());
    let view_op = Hash::of(format!("view {n}").as_bytes());
    let field = |v: OperationValue| ViewField {
        value: v,
        operation_id: id,
    };
    let fields: BTreeMap<String, ViewField> = [
        ("b", OperationValue::Bool(d.b)),
        ("i", OperationValue::Int(d.i)),
        ("f", OperationValue::Float(d.f)),
        ("s", OperationValue::Str(d.s.clone())),
        ("x", OperationValue::Bytes(d.x.clone())),
        ("r", OperationValue::Relation(target_id(d.r))),
        (
            "rl",
            OperationValue::RelationList(d.rl.iter().map(|n| target_id(*n)).collect()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), field(v)))
    .collect();
    DocumentView {
        document_id: id,
        schema_id: schema.id().clone(),
        owner: key(d.owner).public_key(),
        view_id: DocumentViewId::from_operation(view_op),
        is_deleted: d.deleted,
        is_edited: d.edited,
        sorted_operation_ids: Vec::new(),
        fields: (!d.deleted).then_some(fields),
    }
}

async fn check(
    window: u32,
    backend: Backend,
    docs: Vec<GenDoc>,
    filters: Vec<GenFilter>,
    order: Option<&'static str>,
    descending: bool,
    page: u32,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = hoffnung_store::Store::connect(
        &db.url,
        hoffnung_store::StoreConfig {
            query_window: window,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let schema = schema();
    let mut writer = store.view_writer();
    writer.ensure_table(&schema).await.unwrap();
    let views: Vec<DocumentView> = docs
        .iter()
        .enumerate()
        .map(|(n, d)| view_of(&schema, n, d))
        .collect();
    let batch = ViewBatch {
        current: views.iter().collect(),
        history: views.iter().collect(),
        ..Default::default()
    };
    writer.write(&batch, 0, 0).await.unwrap();
    let table = store.views().table(&schema);

    // Naive: live documents that match, ordered by (key, document id).
    let mut want: Vec<(usize, &GenDoc)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.deleted && filters.iter().all(|f| matches(d, f)))
        .collect();
    let doc_id = |n: usize| views[n].document_id.to_hex();
    let key_of = |n: usize, d: &GenDoc| match order {
        None => Operand::Text(doc_id(n)),
        Some("view") => Operand::Text(views[n].view_id.to_string()),
        Some(field) => value_of(d, field),
    };
    want.sort_by(|(a, da), (b, db)| {
        let o =
            cmp_operand(&key_of(*a, da), &key_of(*b, db)).then_with(|| doc_id(*a).cmp(&doc_id(*b)));
        if descending {
            o.reverse()
        } else {
            o
        }
    });
    let want: Vec<ViewRow> = want.iter().map(|(n, _)| ViewRow::of(&views[*n])).collect();

    let mut query = CollectionQuery {
        filters: filters.iter().map(to_filter).collect(),
        order_by: Some(match order {
            None => Target::DocumentId,
            Some("view") => Target::ViewId,
            Some(f) => Target::Field(f.to_string()),
        }),
        descending,
        first: page,
        after: None,
        list: None,
    };
    let count = store
        .compile(&table, query.clone())
        .unwrap()
        .count(&store)
        .await
        .unwrap();
    assert_eq!(count as usize, want.len(), "count");
    let mut got = Vec::new();
    loop {
        let p = store
            .compile(&table, query.clone())
            .unwrap()
            .fetch(&store)
            .await
            .unwrap();
        assert!(p.rows.len() <= page as usize);
        let last = p.rows.last().map(|(_, c)| c.clone());
        got.extend(p.rows.into_iter().map(|(r, _)| r));
        if !p.has_next_page {
            break;
        }
        query.after = Some(last.expect("a next page follows a full one"));
        assert!(got.len() <= want.len(), "more rows than match");
    }
    // Compared as printed: NaN equals itself there.
    assert_eq!(format!("{got:?}"), format!("{want:?}"));
    store.close().await;
    db.cleanup().await;
}

fn run_case(
    window: u32,
    backend: Backend,
    docs: Vec<GenDoc>,
    filters: Vec<GenFilter>,
    order: Option<&'static str>,
    descending: bool,
    page: u32,
) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(check(
            window, backend, docs, filters, order, descending, page,
        ));
}

fn order_strategy() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        None,
        Some("view"),
        Some("b"),
        Some("i"),
        Some("f"),
        Some("s"),
        Some("x"),
        Some("r"),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sql_collections_equal_naive_evaluation(
        docs in prop::collection::vec(gen_doc(), 0..30),
        filters in prop::collection::vec(gen_filter(), 0..3),
        order in order_strategy(),
        descending in any::<bool>(),
        page in 1u32..8,
        window in prop::sample::select(vec![1u32, 3, 8, 512]),
    ) {
        run_case(window, Backend::Sqlite, docs, filters, order, descending, page);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sql_collections_equal_naive_evaluation_postgres(
        docs in prop::collection::vec(gen_doc(), 0..30),
        filters in prop::collection::vec(gen_filter(), 0..3),
        order in order_strategy(),
        descending in any::<bool>(),
        page in 1u32..8,
    ) {
        if hoffnung_store::test_utils::postgres_url().is_some() {
            run_case(512, Backend::Postgres, docs, filters, order, descending, page);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sql_collections_equal_naive_evaluation_mysql(
        docs in prop::collection::vec(gen_doc(), 0..30),
        filters in prop::collection::vec(gen_filter(), 0..3),
        order in order_strategy(),
        descending in any::<bool>(),
        page in 1u32..8,
    ) {
        if hoffnung_store::test_utils::mysql_url().is_some() {
            run_case(512, Backend::MySql, docs, filters, order, descending, page);
        }
    }
}

hoffnung_store::backend_tests! {
    queries_that_do_not_fit_their_schema_fail_to_compile(db) {
        use hoffnung_store::{Cursor, ErrorCode, ListScope, QueryError, StoreError};
        let store = db.store().await;
        store.view_writer().ensure_table(&schema()).await.unwrap();
        let table = store.views().table(&schema());
        let query = |filters: Vec<Filter>| CollectionQuery {
            filters,
            order_by: None,
            descending: false,
            first: 10,
            after: None,
            list: None,
        };
        let filter = |field: &str, op, values| Filter {
            target: Target::Field(field.into()),
            op,
            values,
        };
        let text = |s: &str| Operand::Text(s.into());
        let list = ListScope::Documents(vec![target_id(1)]);
        let cases = [
            (query(vec![filter("nope", FilterOp::Eq, vec![Operand::Int(1)])]), "unknown field `nope`"),
            (query(vec![filter("rl", FilterOp::Eq, vec![text("x")])]), "Eq does not apply to a list"),
            (query(vec![filter("i", FilterOp::Eq, vec![])]), "a filter needs a value"),
            (query(vec![filter("s", FilterOp::Contains, vec![Operand::Int(1)])]), "`contains` needs a string"),
            (CollectionQuery { order_by: Some(Target::Field("nope".into())), ..query(vec![]) }, "unknown field `nope`"),
            (
                CollectionQuery {
                    after: Some(Cursor { key: Operand::Int(0), document_id: "not a position".into() }),
                    list: Some(list.clone()),
                    ..query(vec![])
                },
                "malformed cursor",
            ),
        ];
        for (query, message) in cases {
            let err = store.compile(&table, query).unwrap_err();
            assert!(matches!(err, StoreError::Query(_)), "{err:?}");
            // What API clients see: the message as it is, INVALID_ARGUMENT.
            assert_eq!(err.to_string(), message);
            assert_eq!(err.code(), ErrorCode::InvalidArgument);
        }
        assert_eq!(
            QueryError::NotForLists(FilterOp::Gt).to_string(),
            "Gt does not apply to a list"
        );
        // A list scope names a relation list of its owner's schema, else
        // the caller erred: internal.
        let stored = |field: &str| ListScope::Stored {
            owner: table.clone(),
            document: target_id(0),
            field: field.into(),
        };
        assert!(!stored("rl").pinned() && !list.pinned());
        assert!(ListScope::Views(Vec::new()).pinned());
        let err = store
            .compile(&table, CollectionQuery { list: Some(stored("s")), ..query(vec![]) })
            .unwrap_err();
        assert!(matches!(err, StoreError::NotAList { .. }), "{err:?}");
        assert_eq!(err.code(), ErrorCode::Internal);
        // A stored list of the right field compiles, and an empty one
        // answers an empty page.
        let page = store
            .compile(&table, CollectionQuery { list: Some(stored("rl")), ..query(vec![]) })
            .unwrap()
            .fetch(&store)
            .await
            .unwrap();
        assert!(page.rows.is_empty() && !page.has_next_page);
        store.close().await;
    }

    pinned_lists_filter_and_order_by_text(db) {
        // A pinned list reads a union of the current and the history
        // table; on MariaDB/MySQL text filters and orders compare key
        // columns, which that union must carry too.
        use hoffnung_store::ListScope;
        let store = db.store().await;
        store.view_writer().ensure_table(&schema()).await.unwrap();
        let table = store.views().table(&schema());
        let text = |s: &str| Operand::Text(s.into());
        let views = vec![DocumentViewId::from_operation(target_id(1)), DocumentViewId::from_operation(target_id(2))];
        for (op, values) in [
            (FilterOp::Gte, vec![text("a")]),
            (FilterOp::In, vec![text("x"), text("y")]),
            (FilterOp::NotEq, vec![text("x")]),
        ] {
            let query = CollectionQuery {
                filters: vec![Filter { target: Target::Field("s".into()), op, values }],
                order_by: Some(Target::Field("s".into())),
                descending: true,
                first: 10,
                after: None,
                list: Some(ListScope::Views(views.clone())),
            };
            let compiled = store.compile(&table, query).unwrap();
            let page = compiled.fetch(&store).await.unwrap();
            assert!(page.rows.is_empty());
            assert_eq!(compiled.count(&store).await.unwrap(), 0);
        }
        store.close().await;
    }
}
