//! What a power failure may undo: an SQLite database checked page by page
//! (after a crash, before a node opens it again), and the server settings
//! that make a PostgreSQL or MariaDB commit durable.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::error::StoreError;
use crate::sql::Backend;

/// What `PRAGMA integrity_check` finds wrong in the SQLite database at
/// `path` (an empty list: nothing). Opening it replays its WAL, as a node's
/// start would.
pub async fn sqlite_integrity(path: &Path) -> Result<Vec<String>, StoreError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .connect()
        .await?;
    let found: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await?;
    conn.close().await?;
    Ok(found.into_iter().filter(|line| line != "ok").collect())
}

/// The server settings a durable commit rests on, as `(name, value)`
/// pairs read from `conn` (none for SQLite, whose settings the store sets).
pub(crate) async fn durability_settings(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<Vec<(String, String)>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => return Ok(Vec::new()),
        Backend::Postgres => {
            "SELECT name, setting FROM pg_settings \
             WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')"
        }
        // Server variables (MySQL 8 has no information_schema table of them).
        Backend::MySql => {
            "SELECT 'innodb_flush_log_at_trx_commit', \
                    LOWER(CAST(@@GLOBAL.innodb_flush_log_at_trx_commit AS CHAR)) \
             UNION ALL SELECT 'innodb_doublewrite', LOWER(CAST(@@GLOBAL.innodb_doublewrite AS CHAR))"
        }
    };
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
        .collect()
}

fn text(row: &sqlx::any::AnyRow, i: usize) -> Result<String, StoreError> {
    Ok(crate::sql::text_at(row, i)?.unwrap_or_default())
}

/// What in `settings` lets an acknowledged commit be lost to a power
/// failure, or a page be torn, each as a sentence for the operator.
pub(crate) fn durability_problems(backend: Backend, settings: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in settings {
        let problem = match (backend, name.as_str(), value.as_str()) {
            (Backend::Postgres, "fsync", "off") => {
                "PostgreSQL runs with fsync = off: a power failure can lose or corrupt acknowledged entries"
            }
            (Backend::Postgres, "synchronous_commit", "off") => {
                "PostgreSQL runs with synchronous_commit = off: a power failure or crash can lose the last acknowledged entries"
            }
            (Backend::Postgres, "full_page_writes", "off") => {
                "PostgreSQL runs with full_page_writes = off: a power failure can leave torn pages"
            }
            (Backend::MySql, "innodb_flush_log_at_trx_commit", v) if v != "1" => {
                "MariaDB/MySQL runs with innodb_flush_log_at_trx_commit other than 1: a power failure can lose the last acknowledged entries"
            }
            (Backend::MySql, "innodb_doublewrite", "off" | "0") => {
                "MariaDB/MySQL runs with innodb_doublewrite = OFF: a power failure can leave torn pages"
            }
            _ => continue,
        };
        problems.push(problem.to_string());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_that_lose_acknowledged_commits_are_named() {
        let safe = settings(&[
            ("fsync", "on"),
            ("synchronous_commit", "local"),
            ("full_page_writes", "on"),
        ]);
        assert!(durability_problems(Backend::Postgres, &safe).is_empty());
        let unsafe_pg = settings(&[
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
        ]);
        assert_eq!(durability_problems(Backend::Postgres, &unsafe_pg).len(), 3);
        let safe = settings(&[
            ("innodb_flush_log_at_trx_commit", "1"),
            ("innodb_doublewrite", "on"),
        ]);
        assert!(durability_problems(Backend::MySql, &safe).is_empty());
        let unsafe_my = settings(&[
            ("innodb_flush_log_at_trx_commit", "2"),
            ("innodb_doublewrite", "off"),
        ]);
        assert_eq!(durability_problems(Backend::MySql, &unsafe_my).len(), 2);
    }

    crate::backend_tests! {
        the_test_servers_keep_acknowledged_commits(db) {
            // The servers the tests run on are set up as the node expects:
            // the settings are read, and none is found wanting.
            let store = db.store().await;
            let mut conn = store.pool().acquire().await.unwrap();
            let found = durability_settings(&mut conn, db.backend).await.unwrap();
            let expected = match db.backend {
                Backend::Sqlite => 0,
                Backend::Postgres => 3,
                Backend::MySql => 2,
            };
            assert_eq!(found.len(), expected, "{found:?}");
            assert_eq!(durability_problems(db.backend, &found), Vec::<String>::new());
            drop(conn);
            store.close().await;
        }
    }
}
