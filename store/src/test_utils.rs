//! Fresh databases for tests: a SQLite file in a temporary directory, or a
//! new database on PostgreSQL (`HOFFNUNG_POSTGRES_TEST_URL`) or
//! MariaDB/MySQL (`HOFFNUNG_MYSQL_TEST_URL`) when the variable is set.
//!
//! A server variant without its variable says on stderr that it was
//! skipped (it still passes: most machines have no server); with the
//! variable set, a server that cannot be reached fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Executor};

use crate::{Backend, Store, StoreConfig};

/// The environment variable naming a PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "HOFFNUNG_POSTGRES_TEST_URL";
/// The environment variable naming a MariaDB/MySQL server for tests.
pub const MYSQL_ENV: &str = "HOFFNUNG_MYSQL_TEST_URL";

/// A fresh, empty database that lives as long as this value (SQLite) or
/// until [`TestDb::cleanup`] (PostgreSQL).
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// The server's URL and the database made on it, dropped by
    /// [`TestDb::cleanup`].
    server: Option<(String, String)>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How long a PostgreSQL server may take to accept the first connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The URL of `HOFFNUNG_POSTGRES_TEST_URL`, or `None` after saying on
/// stderr (`--no-capture` shows it) that PostgreSQL variants are skipped.
pub fn postgres_url() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    server_url(POSTGRES_ENV, &SAID)
}

/// The URL of `HOFFNUNG_MYSQL_TEST_URL` (see [`postgres_url`]).
pub fn mysql_url() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    server_url(MYSQL_ENV, &SAID)
}

fn server_url(env: &str, said: &'static std::sync::Once) -> Option<String> {
    match std::env::var(env) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Once a process: property tests ask for every case.
            said.call_once(|| eprintln!("skipped: {env} is not set"));
            None
        }
    }
}

/// The connection to a test server, or a panic naming `env` and `server`:
/// a variable that is set asks for that server's variants.
fn reached<C>(
    connected: Result<Result<C, sqlx::Error>, tokio::time::error::Elapsed>,
    base: &str,
    env: &str,
    server: &str,
) -> C {
    match connected {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!("{env} is set, but {server} at {base} cannot be reached: {e}"),
        Err(_) => {
            panic!("{env} is set, but {server} at {base} did not answer within {CONNECT_TIMEOUT:?}")
        }
    }
}

/// Fails the test if its database could not be made.
fn create<T>(made: Result<T, sqlx::Error>, base: &str) {
    if let Err(e) = made {
        panic!("creating a test database on {base}: {e}");
    }
}

/// A database name no other test uses.
fn fresh_name() -> String {
    format!(
        "hoffnung_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("hoffnung.db").display());
        Self {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
            server: None,
        }
    }

    /// A new database on the PostgreSQL server of `HOFFNUNG_POSTGRES_TEST_URL`,
    /// or `None` if it is not set (see [`postgres_url`]).
    pub async fn postgres() -> Option<Self> {
        Some(Self::postgres_at(&postgres_url()?).await)
    }

    /// A new database on the server of `base` (a URL with a database to
    /// connect to). Panics, failing the test, if the server cannot be
    /// reached: a variable that is set asks for the PostgreSQL variants.
    pub async fn postgres_at(base: &str) -> Self {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(base));
        let mut conn = reached(connect.await, base, POSTGRES_ENV, "PostgreSQL");
        let name = fresh_name();
        create(
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await,
            base,
        );
        Self::made(base, name, Backend::Postgres)
    }

    /// A new database on the MariaDB/MySQL server of
    /// `HOFFNUNG_MYSQL_TEST_URL`, or `None` if it is not set.
    pub async fn mysql() -> Option<Self> {
        Some(Self::mysql_at(&mysql_url()?).await)
    }

    /// A new database on the MariaDB/MySQL server of `base` (see
    /// [`TestDb::postgres_at`]).
    pub async fn mysql_at(base: &str) -> Self {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::MySqlConnection::connect(base));
        let mut conn = reached(connect.await, base, MYSQL_ENV, "MariaDB/MySQL");
        let name = fresh_name();
        create(
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await,
            base,
        );
        Self::made(base, name, Backend::MySql)
    }

    /// The database `name` made on the server of `base`.
    fn made(base: &str, name: String, backend: Backend) -> Self {
        let (prefix, _) = base.rsplit_once('/').expect("url with a database");
        Self {
            url: format!("{prefix}/{name}"),
            backend,
            _dir: None,
            server: Some((base.to_string(), name)),
        }
    }

    /// A fresh database of the given backend (`None`: its server is not
    /// configured).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
            Backend::MySql => Self::mysql().await,
        }
    }

    pub async fn store(&self) -> Store {
        self.store_with(StoreConfig::default()).await
    }

    pub async fn store_with(&self, config: StoreConfig) -> Store {
        Store::connect(&self.url, config)
            .await
            .expect("connect store")
    }

    /// Drops the server's database (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        let Some((base, name)) = &self.server else {
            return;
        };
        match self.backend {
            Backend::Postgres => {
                if let Ok(mut conn) = sqlx::PgConnection::connect(base).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            }
            Backend::MySql => {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(base).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
                        .await;
                }
            }
            Backend::Sqlite => {}
        }
    }
}

/// Signed entries with their operations, in a valid ingest order.
/// Checks every log the store holds entry by entry, as a peer would: each
/// signature, seq nums from 1 without gaps, each backlink and skiplink
/// naming the stored entry there, each operation's size and hash as its
/// entry states (purged ones have none to check). Returns (entries, purged).
pub async fn verify_logs(store: &Store) -> (u64, u64) {
    use hoffnung_core::{lipmaa, skiplink_required, EncodedEntry, Hash};
    use std::collections::BTreeMap;
    type Log = Vec<(EncodedEntry, Vec<u8>)>;
    let mut logs: BTreeMap<([u8; 32], u64), Log> = BTreeMap::new();
    let mut after = 0;
    loop {
        let batch = store
            .entries_after(after, 10_000, &crate::EntryFilter::default())
            .await
            .expect("entries");
        let Some(last) = batch.last() else { break };
        after = last.id;
        for e in batch {
            let entry = EncodedEntry::decode_and_verify(&e.entry).expect("a valid, signed entry");
            logs.entry((e.public_key, e.log_id))
                .or_default()
                .push((entry, e.operation));
        }
    }
    let (mut entries, mut purged) = (0, 0);
    for ((_, log_id), mut log) in logs {
        log.sort_by_key(|(e, _)| e.entry().seq_num);
        let hashes: Vec<Hash> = log.iter().map(|(e, _)| e.hash()).collect();
        for (i, (entry, operation)) in log.iter().enumerate() {
            let e = entry.entry();
            let seq = i as u64 + 1;
            assert_eq!(e.seq_num, seq, "log {log_id}: seq nums without gaps");
            let at = |n: u64| hashes[n as usize - 1];
            assert_eq!(
                e.backlink,
                (seq > 1).then(|| at(seq - 1)),
                "log {log_id} seq {seq}: backlink"
            );
            if skiplink_required(seq) {
                assert_eq!(
                    e.skiplink,
                    Some(at(lipmaa(seq))),
                    "log {log_id} seq {seq}: skiplink"
                );
            }
            entries += 1;
            if operation.is_empty() {
                purged += 1;
                continue;
            }
            assert_eq!(
                e.payload_size,
                operation.len() as u64,
                "log {log_id} seq {seq}: payload size"
            );
            assert_eq!(
                e.payload_hash,
                Hash::of(operation),
                "log {log_id} seq {seq}: payload hash"
            );
        }
    }
    (entries, purged)
}

pub type Signed = (Vec<u8>, Vec<u8>);

/// `n` field definition documents (`field<log>`, `int`) of one author, one
/// log each, starting at log `first_log`.
pub fn field_definitions(key: &hoffnung_core::KeyPair, first_log: u64, n: u64) -> Vec<Signed> {
    use hoffnung_core::{Fields, OperationValue, SchemaId};
    let definition = |d: usize, _| {
        let mut fields = Fields::new();
        let name = format!("field{}", first_log + d as u64);
        fields.insert("name".into(), OperationValue::Str(name));
        fields.insert("type".into(), OperationValue::Str("int".into()));
        fields
    };
    let schema = SchemaId::SCHEMA_FIELD_DEFINITION_V1;
    presigned_documents(key, &schema, first_log, n as usize, 0, definition).0
}

/// One log (`log`) of a field definition document of `key` with `updates`
/// updates: the create is the same whatever `branch` is, the updates carry
/// `branch` in their names. Two branches of one key and log fork it from
/// seq 2.
pub fn field_definition_branch(
    key: &hoffnung_core::KeyPair,
    log: u64,
    updates: usize,
    branch: &str,
) -> Vec<Signed> {
    use hoffnung_core::{Fields, OperationValue, SchemaId};
    let fields = |_, round: usize| {
        let mut f = Fields::new();
        let name = match round {
            0 => "start".to_string(),
            r => format!("{branch}{r}"),
        };
        f.insert("name".into(), OperationValue::Str(name));
        f.insert("type".into(), OperationValue::Str("int".into()));
        f
    };
    let schema = SchemaId::SCHEMA_FIELD_DEFINITION_V1;
    presigned_documents(key, &schema, log, 1, updates, fields).0
}

/// Pre-signed entries of `docs` new documents of `schema_id` (one log each,
/// from log `first_log`), then `updates` rounds updating each document with
/// `fields(document index, round)` (round 0 is the CREATE). Returns the
/// entries and, per document, its id and last operation id.
pub fn presigned_documents(
    key: &hoffnung_core::KeyPair,
    schema_id: &hoffnung_core::SchemaId,
    first_log: u64,
    docs: usize,
    updates: usize,
    fields: impl Fn(usize, usize) -> hoffnung_core::Fields,
) -> (Vec<Signed>, Vec<(hoffnung_core::Hash, hoffnung_core::Hash)>) {
    let (out, logs) = presigned_logs(key, schema_id, first_log, docs, updates, fields, false);
    let last = logs
        .iter()
        .map(|log| (log[0].hash(), log[log.len() - 1].hash()))
        .collect();
    (out, last)
}

/// [`presigned_documents`], each document deleted after its updates.
pub fn presigned_deleted_documents(
    key: &hoffnung_core::KeyPair,
    schema_id: &hoffnung_core::SchemaId,
    first_log: u64,
    docs: usize,
    updates: usize,
    fields: impl Fn(usize, usize) -> hoffnung_core::Fields,
) -> Vec<Signed> {
    presigned_logs(key, schema_id, first_log, docs, updates, fields, true).0
}

fn presigned_logs(
    key: &hoffnung_core::KeyPair,
    schema_id: &hoffnung_core::SchemaId,
    first_log: u64,
    docs: usize,
    updates: usize,
    fields: impl Fn(usize, usize) -> hoffnung_core::Fields,
    delete: bool,
) -> (Vec<Signed>, Vec<Vec<hoffnung_core::EncodedEntry>>) {
    use hoffnung_core::entry::NextArgs;
    use hoffnung_core::publish::{next_args_after, next_skiplink_seq_num};
    use hoffnung_core::{sign_entry, DocumentViewId, EncodedEntry, Operation};
    let mut out = Vec::with_capacity(docs * (updates + 1));
    let mut logs: Vec<Vec<EncodedEntry>> = Vec::with_capacity(docs);
    for d in 0..docs {
        let op = Operation::create(schema_id.clone(), fields(d, 0)).encode();
        let args = NextArgs {
            log_id: first_log + d as u64,
            seq_num: 1,
            backlink: None,
            skiplink: None,
        };
        let entry = sign_entry(key, &args, &op).unwrap();
        out.push((entry.as_bytes().to_vec(), op));
        logs.push(vec![entry]);
    }
    for r in 1..=updates + usize::from(delete) {
        for (d, log) in logs.iter_mut().enumerate() {
            let latest = log.last().unwrap();
            let position = latest.position();
            let skiplink =
                next_skiplink_seq_num(position.seq_num).map(|s| log[(s - 1) as usize].hash());
            let previous = DocumentViewId::from_operation(latest.hash());
            let op = if r > updates {
                Operation::delete(schema_id.clone(), previous)
            } else {
                Operation::update(schema_id.clone(), previous, fields(d, r))
            }
            .encode();
            let entry = sign_entry(key, &next_args_after(&position, skiplink), &op).unwrap();
            out.push((entry.as_bytes().to_vec(), op));
            log.push(entry);
        }
    }
    (out, logs)
}

/// Runs a test body against SQLite, and against PostgreSQL and
/// MariaDB/MySQL when configured.
/// The body gets a fresh database each time.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident($db:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($db: &$crate::test_utils::TestDb) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::test_utils::TestDb::sqlite();
                    run(&db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    // Without the variable, `postgres` says "skipped" on stderr.
                    if let Some(db) = $crate::test_utils::TestDb::postgres().await {
                        run(&db).await;
                        db.cleanup().await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    if let Some(db) = $crate::test_utils::TestDb::mysql().await {
                        run(&db).await;
                        db.cleanup().await;
                    }
                }
            }
        )*
    };
}
