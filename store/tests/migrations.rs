//! A database written before the slim entries (migration 0011 on SQLite and
//! PostgreSQL, 0005 on MariaDB/MySQL) opens with every entry, id, author,
//! schema, proof of a fork and deletion as it was.

use std::borrow::Cow;

use hoffnung_core::entry::NextArgs;
use hoffnung_core::publish::next_args_after;
use hoffnung_core::{
    sign_entry, DocumentViewId, EncodedEntry, Fields, Hash, KeyPair, Operation, OperationValue,
    SchemaId,
};
use hoffnung_store::test_utils::{verify_logs, TestDb};
use hoffnung_store::{backend_tests, Backend, EntryFilter, SystemSchemas};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

/// One entry as the old layout stored it.
struct Old {
    entry: EncodedEntry,
    payload: Vec<u8>,
    document: Hash,
    schema: SchemaId,
    action: i64,
    previous: Option<String>,
}

fn fields(name: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("name".into(), OperationValue::Str(name.into()));
    f.insert("type".into(), OperationValue::Str("int".into()));
    f
}

fn new_log(log_id: u64) -> NextArgs {
    NextArgs {
        log_id,
        seq_num: 1,
        backlink: None,
        skiplink: None,
    }
}

/// Signs `op` at `args`.
fn signed(key: &KeyPair, args: &NextArgs, op: Operation, document: Option<Hash>) -> Old {
    let payload = op.encode();
    let entry = sign_entry(key, args, &payload).unwrap();
    Old {
        document: document.unwrap_or(entry.hash()),
        schema: op.schema_id.clone(),
        action: op.action.as_u64() as i64,
        previous: op.previous.as_ref().map(|p| p.to_string()),
        entry,
        payload,
    }
}

/// Two authors, two schemas: a document updated, one deleted (and purged),
/// one deleted (waiting), one of a second schema.
fn history() -> Vec<Old> {
    let (a, b) = (
        KeyPair::from_private_key(&[71; 32]),
        KeyPair::from_private_key(&[72; 32]),
    );
    let field = SchemaId::SCHEMA_FIELD_DEFINITION_V1;
    let mut out = Vec::new();
    for log in 0..3 {
        out.push(signed(
            &a,
            &new_log(log),
            Operation::create(field.clone(), fields(&format!("f{log}"))),
            None,
        ));
    }
    let schema = SchemaId::SCHEMA_DEFINITION_V1;
    out.push(signed(
        &b,
        &new_log(0),
        Operation::create(schema, fields("s")),
        None,
    ));
    for (i, delete) in [(0, false), (1, true), (2, true)] {
        let create = &out[i];
        let previous = DocumentViewId::from_operation(create.entry.hash());
        let op = if delete {
            Operation::delete(field.clone(), previous)
        } else {
            Operation::update(field.clone(), previous, fields("g"))
        };
        let args = next_args_after(&create.entry.position(), None);
        let document = create.document;
        out.push(signed(&a, &args, op, Some(document)));
    }
    out
}

/// A pool on the test database without the store.
async fn raw(db: &TestDb) -> AnyPool {
    sqlx::any::install_default_drivers();
    let url = match db.backend {
        Backend::Sqlite => format!("{}?mode=rwc", db.url),
        _ => db.url.clone(),
    };
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap()
}

/// The migrations before the slim entries.
async fn migrate_to_old_layout(pool: &AnyPool, backend: Backend) {
    let (mut migrator, before) = match backend {
        Backend::Sqlite => (sqlx::migrate!("../migrations/sqlite"), 11),
        Backend::Postgres => (sqlx::migrate!("../migrations/postgres"), 11),
        Backend::MySql => (sqlx::migrate!("../migrations/mysql"), 5),
    };
    let old: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < before)
        .cloned()
        .collect();
    assert!(old.len() < migrator.migrations.len());
    migrator.migrations = Cow::Owned(old);
    migrator.run(pool).await.unwrap();
}

fn render(sql: &str, backend: Backend) -> String {
    let mut n = 0;
    sql.chars()
        .map(|c| match (c, backend) {
            ('?', Backend::Postgres) => {
                n += 1;
                format!("${n}")
            }
            _ => c.to_string(),
        })
        .collect()
}

backend_tests! {
    entries_keep_their_ids_schemas_and_bytes(db) {
        let pool = raw(db).await;
        migrate_to_old_layout(&pool, db.backend).await;
        let old = history();
        let insert = render(
            "INSERT INTO entries (entry_hash, public_key, log_id, seq_num, entry, payload, \
             document_id, schema_id, action, previous) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            db.backend,
        );
        // The document deleted by entry 5 was purged: its create is empty.
        let purged_create = 1;
        for (i, o) in old.iter().enumerate() {
            let e = o.entry.entry();
            let payload = if i == purged_create { Vec::new() } else { o.payload.clone() };
            sqlx::query(&insert)
                .bind(o.entry.hash().as_bytes().to_vec())
                .bind(e.public_key.as_bytes().to_vec())
                .bind(e.log_id as i64)
                .bind(e.seq_num as i64)
                .bind(o.entry.as_bytes().to_vec())
                .bind(payload)
                .bind(o.document.as_bytes().to_vec())
                .bind(o.schema.to_string())
                .bind(o.action)
                .bind(o.previous.clone())
                .execute(&pool)
                .await
                .unwrap();
        }
        let ids: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT id, entry_hash FROM entries ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(ids.len(), old.len());
        // A purged deletion, one waiting, and a purged unused piece (not a
        // deletion: not counted).
        let record = render(
            "INSERT INTO deletions (document_id, schema_id, deleted_at, purged_at, unused) \
             VALUES (?, ?, ?, ?, ?)",
            db.backend,
        );
        let field = SchemaId::SCHEMA_FIELD_DEFINITION_V1.to_string();
        let piece = "0020aaaa00000000000000000000000000000000000000000000000000000000aaaa";
        for (doc, at, purged, unused) in [
            (old[1].document.to_hex(), 1_000i64, Some(2_000i64), 0i64),
            (old[2].document.to_hex(), 3_000, None, 0),
            (piece.to_string(), 500, Some(900), 1),
        ] {
            sqlx::query(&record)
                .bind(doc)
                .bind(field.clone())
                .bind(at)
                .bind(purged)
                .bind(unused)
                .execute(&pool)
                .await
                .unwrap();
        }
        // A proof of a fork of the second author's log from seq 2 (two
        // updates at seq 2, neither of them stored).
        let b = KeyPair::from_private_key(&[72; 32]);
        let args = next_args_after(&old[3].entry.position(), None);
        let branch = |name: &str| {
            let previous = DocumentViewId::from_operation(old[3].entry.hash());
            let op = Operation::update(SchemaId::SCHEMA_DEFINITION_V1, previous, fields(name));
            sign_entry(&b, &args, &op.encode()).unwrap()
        };
        let (x, y) = (branch("x"), branch("y"));
        let (first, second) = if x.hash() < y.hash() { (x, y) } else { (y, x) };
        sqlx::query(&render(
            "INSERT INTO forks (public_key, log_id, seq_num, entry_a, entry_b, detected_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
            db.backend,
        ))
        .bind(b.public_key().as_bytes().to_vec())
        .bind(0i64)
        .bind(2i64)
        .bind(first.as_bytes().to_vec())
        .bind(second.as_bytes().to_vec())
        .bind(5_000i64)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = db.store().await;
        // Every log verifies entry by entry; the purged create stays purged.
        assert_eq!(verify_logs(&store).await, (old.len() as u64, 1));
        let stored = store.entries_after(0, 100, &EntryFilter::default()).await.unwrap();
        let read: Vec<(i64, Vec<u8>)> = stored
            .iter()
            .map(|s| (s.id, EncodedEntry::decode(&s.entry).unwrap().hash().as_bytes().to_vec()))
            .collect();
        assert_eq!(read, ids);
        for o in &old {
            let origin = store.operation_origin(&o.entry.hash()).await.unwrap();
            assert_eq!(origin, Some((o.document, o.schema.clone())));
        }
        assert_eq!(
            store.stored_schema_ids().await.unwrap(),
            vec![SchemaId::SCHEMA_FIELD_DEFINITION_V1, SchemaId::SCHEMA_DEFINITION_V1]
        );
        let mut of_field = store
            .documents_of_schema(&SchemaId::SCHEMA_FIELD_DEFINITION_V1)
            .await
            .unwrap();
        of_field.sort();
        let mut expected: Vec<Hash> = old[..3].iter().map(|o| o.document).collect();
        expected.sort();
        assert_eq!(of_field, expected);
        let only_schema = EntryFilter {
            schemas: vec![SchemaId::SCHEMA_DEFINITION_V1],
            authors: vec![],
        };
        let filtered = store.entries_after(0, 100, &only_schema).await.unwrap();
        assert_eq!(filtered.len(), 1);
        assert_eq!(filtered[0].id, ids[3].0);
        // The proof is kept, by the same author and log.
        let forks = store.forks().await.unwrap();
        assert_eq!(forks.len(), 1);
        assert_eq!(forks[0].proof.public_key(), b.public_key());
        assert_eq!((forks[0].proof.log_id(), forks[0].detected_at), (0, 5_000));
        assert_eq!(store.frozen_from(&b.public_key(), 0).await.unwrap(), Some(2));
        assert_eq!(store.frozen_from(&b.public_key(), 1).await.unwrap(), None);
        // One purged deletion, one waiting; the waiting one is the one due.
        assert_eq!(store.deletion_counts().await.unwrap(), (1, 1));
        let due = store.deletions_due(i64::MAX, i64::MAX, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].document_id, old[2].document);
        assert_eq!(due[0].deleted_at, 3_000);

        // The authors' logs are found by key: the first author's next log.
        let a = KeyPair::from_private_key(&[71; 32]);
        assert_eq!(store.next_args(&a.public_key(), None).await.unwrap().log_id, 3);
        // New entries get the next ids, new authors and schemas the next numbers.
        let key = KeyPair::from_private_key(&[73; 32]);
        let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, fields("new"));
        let payload = op.encode();
        let entry = sign_entry(&key, &new_log(0), &payload).unwrap();
        store.ingest(entry.as_bytes(), &payload, &SystemSchemas).await.unwrap();
        let last = store.entries_after(ids[ids.len() - 1].0, 10, &EntryFilter::default()).await.unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].id, ids[ids.len() - 1].0 + 1);
        assert_eq!(
            store.operation_origin(&entry.hash()).await.unwrap(),
            Some((entry.hash(), SchemaId::SCHEMA_FIELD_DEFINITION_V1))
        );
        assert_eq!(store.stored_schema_ids().await.unwrap().len(), 2);
        assert_eq!(verify_logs(&store).await, (old.len() as u64 + 1, 1));
    }
}
