//! An SQLite database checked page by page, without starting a store: after
//! a crash or a power cut, before a node opens it again.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::error::StoreError;

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
