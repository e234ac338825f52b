//! The database's size on disk, and giving the space that purges and
//! removals freed back to the file system.
//!
//! A purge (see `views/purge.rs`) frees space inside the database, which
//! new data reuses (SQLite's free pages, PostgreSQL's free space after its
//! autovacuum, InnoDB's free extents); the files do not shrink by
//! themselves. [`Store::compact`] rewrites them.

use sqlx::Row;

use crate::error::StoreError;
use crate::sql::Backend;
use crate::views::quote;
use crate::Store;

impl Store {
    /// Bytes the database takes on disk: on SQLite its file and WAL
    /// (pages in use and free), on PostgreSQL and MariaDB/MySQL the data
    /// and indexes of its tables.
    pub async fn database_bytes(&self) -> Result<u64, StoreError> {
        let bytes: i64 = match self.backend() {
            Backend::Sqlite => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(self.pool())
                    .await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(self.pool())
                    .await?;
                pages * size
            }
            // The tables of this schema with their indexes and TOAST (as
            // on MariaDB/MySQL); `pg_database_size` would also count the
            // system catalogs, about 7.5 MB in any database.
            Backend::Postgres => {
                sqlx::query_scalar(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                )
                .fetch_one(self.pool())
                .await?
            }
            Backend::MySql => {
                let row = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS SIGNED) \
                     FROM information_schema.tables WHERE table_schema = DATABASE()",
                )
                .fetch_one(self.pool())
                .await?;
                row.try_get(0)?
            }
        };
        Ok(bytes.max(0) as u64)
    }

    /// Rewrites the database so that the space freed inside it goes back
    /// to the file system: SQLite `VACUUM` (then the WAL is folded in),
    /// PostgreSQL `VACUUM FULL` and MariaDB/MySQL `OPTIMIZE TABLE` of every
    /// table. Each table is locked while it is rewritten, and it needs free
    /// disk space of the table's size: run it when the node is quiet
    /// (`hoffnung compact`).
    pub async fn compact(&self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => {
                sqlx::query("VACUUM").execute(self.pool()).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(self.pool())
                    .await?;
            }
            Backend::Postgres | Backend::MySql => {
                // Every table: the event store, views, and the bookkeeping a
                // purge rewrites (`deletions`).
                let (name, schema) = match self.backend() {
                    Backend::Postgres => ("table_name::text", "current_schema()"),
                    _ => ("CAST(table_name AS CHAR)", "DATABASE()"),
                };
                let tables: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT {name} FROM information_schema.tables \
                     WHERE table_schema = {schema} AND table_type = 'BASE TABLE'"
                ))
                .fetch_all(self.pool())
                .await?;
                for t in tables {
                    let sql = match self.backend() {
                        Backend::Postgres => format!("VACUUM (FULL, ANALYZE) {}", quote(&t)),
                        _ => format!("OPTIMIZE TABLE {}", quote(&t)),
                    };
                    sqlx::query(&sql).execute(self.pool()).await?;
                }
            }
        }
        Ok(())
    }
}
