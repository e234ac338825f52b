//! Fresh databases for tests: a SQLite file in a temporary directory, or a
//! new PostgreSQL database when `HOFFNUNG_POSTGRES_TEST_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Executor};

use crate::{Backend, Store, StoreConfig};

/// The environment variable naming a PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "HOFFNUNG_POSTGRES_TEST_URL";

/// A fresh, empty database that lives as long as this value (SQLite) or
/// until [`TestDb::cleanup`] (PostgreSQL).
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("hoffnung.db").display());
        Self {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new database on the PostgreSQL server of `HOFFNUNG_POSTGRES_TEST_URL`,
    /// or `None` if it is not set.
    pub async fn postgres() -> Option<Self> {
        let base = std::env::var(POSTGRES_ENV).ok()?;
        let name = format!(
            "hoffnung_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={base} is set but unreachable: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let (prefix, _) = base.rsplit_once('/').expect("url with a database");
        Some(Self {
            url: format!("{prefix}/{name}"),
            backend: Backend::Postgres,
            _dir: None,
            postgres: Some((base, name)),
        })
    }

    /// A fresh database of the given backend (`None`: PostgreSQL not configured).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url, StoreConfig::default())
            .await
            .expect("connect store")
    }

    /// Drops the PostgreSQL database (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        if let Some((base, name)) = &self.postgres {
            if let Ok(mut conn) = sqlx::PgConnection::connect(base).await {
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
            }
        }
    }
}

/// Runs a test body against SQLite, and against PostgreSQL when configured.
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
                    match $crate::test_utils::TestDb::postgres().await {
                        Some(db) => {
                            run(&db).await;
                            db.cleanup().await;
                        }
                        None => eprintln!(
                            "{} not set: PostgreSQL variant not run",
                            $crate::test_utils::POSTGRES_ENV
                        ),
                    }
                }
            }
        )*
    };
}
