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
    /// (pages in use and free), on PostgreSQL `pg_database_size`, on
    /// MariaDB/MySQL the data and indexes of its tables.
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
            Backend::Postgres => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())::BIGINT")
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
    /// PostgreSQL `VACUUM FULL` of the event store and the view tables,
    /// MariaDB/MySQL `OPTIMIZE TABLE`. Each table is locked while it is
    /// rewritten, and it needs free disk space of the table's size: run it
    /// when the node is quiet (`hoffnung compact`).
    pub async fn compact(&self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => {
                sqlx::query("VACUUM").execute(self.pool()).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(self.pool())
                    .await?;
            }
            Backend::Postgres | Backend::MySql => {
                let views: Vec<String> = sqlx::query_scalar("SELECT table_name FROM view_tables")
                    .fetch_all(self.pool())
                    .await?;
                let mut tables = vec!["entries".to_string()];
                for t in views {
                    tables.extend([t.clone(), format!("{t}__views"), format!("{t}__lists")]);
                }
                for t in tables {
                    if !self.table_exists(&t).await? {
                        continue;
                    }
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

    async fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
        let sql = match self.backend() {
            Backend::Postgres => {
                "SELECT 1 FROM information_schema.tables \
                                  WHERE table_schema = current_schema() AND table_name = $1"
            }
            _ => {
                "SELECT 1 FROM information_schema.tables \
                  WHERE table_schema = DATABASE() AND table_name = ?"
            }
        };
        Ok(sqlx::query(sql)
            .bind(table)
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }
}
