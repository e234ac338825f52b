//! Reading entries back in ingest order, for export and (later) replication.

use hoffnung_core::{PublicKey, SchemaId};
use sqlx::Row;

use crate::error::StoreError;
use crate::Store;

/// Which entries an export takes; empty lists take everything.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// Schemas to take.
    pub schemas: Vec<SchemaId>,
    /// Authors to take.
    pub authors: Vec<PublicKey>,
}

/// A stored entry with its operation, as received.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// Position in the global ingest order.
    pub id: i64,
    pub public_key: [u8; 32],
    pub log_id: u64,
    pub seq_num: u64,
    pub entry: Vec<u8>,
    /// The operation as received; empty once purged (its document was
    /// deleted, see `Deletion`).
    pub operation: Vec<u8>,
}

impl StoredEntry {
    /// Whether its operation was purged.
    pub fn is_purged(&self) -> bool {
        self.operation.is_empty()
    }
}

impl EntryFilter {
    fn clause(&self) -> (String, Vec<SqlArg>) {
        let mut parts = Vec::new();
        let mut args = Vec::new();
        if !self.schemas.is_empty() {
            let ids: Vec<String> = self.schemas.iter().map(|s| s.to_string()).collect();
            parts.push(format!(
                "schema_ref IN (SELECT id FROM schema_ids WHERE schema_id IN ({}))",
                placeholders(ids.len())
            ));
            args.extend(ids.into_iter().map(SqlArg::Text));
        }
        if !self.authors.is_empty() {
            parts.push(format!(
                "author IN (SELECT id FROM authors WHERE public_key IN ({}))",
                placeholders(self.authors.len())
            ));
            args.extend(
                self.authors
                    .iter()
                    .map(|a| SqlArg::Bytes(a.as_bytes().to_vec())),
            );
        }
        let clause = parts
            .iter()
            .map(|p| format!(" AND {p}"))
            .collect::<String>();
        (clause, args)
    }
}

enum SqlArg {
    Text(String),
    Bytes(Vec<u8>),
}

pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Store {
    /// Up to `limit` entries after entry id `after` that pass `filter`, in
    /// ingest order (so every entry comes after those it depends on); none
    /// of the frozen part of a forked log.
    pub async fn entries_after(
        &self,
        after: i64,
        limit: u32,
        filter: &EntryFilter,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let (clause, args) = filter.clause();
        let sql = self.render(&format!(
            "SELECT e.id, {}, e.log_id, e.seq_num, e.entry, e.payload FROM entries e \
                 WHERE e.id > ?{clause} AND {} ORDER BY e.id LIMIT ?",
            crate::sql::author_of_entry!(),
            crate::sql::not_frozen!()
        ));
        let mut query = sqlx::query(&sql).bind(after);
        for arg in args {
            query = match arg {
                SqlArg::Text(t) => query.bind(t),
                SqlArg::Bytes(b) => query.bind(b),
            };
        }
        let rows = query.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(stored_entry).collect()
    }

    /// The entries of each given log (author, log id) after its given seq
    /// num, in ingest order: what a peer that has those logs up to there
    /// lacks. One indexed read per log, for a few logs at a time.
    pub async fn entries_of_logs(
        &self,
        logs: &[([u8; 32], u64, u64)],
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let sql = self.render(concat!(
            "SELECT e.id, ",
            crate::sql::author_of_entry!(),
            ", e.log_id, e.seq_num, e.entry, e.payload FROM entries e \
                 WHERE e.author = ",
            crate::sql::author_ref!(),
            " AND e.log_id = ? AND e.seq_num > ? AND ",
            crate::sql::not_frozen!(),
            " ORDER BY seq_num"
        ));
        let mut out = Vec::new();
        for (key, log_id, after) in logs {
            let rows = sqlx::query(&sql)
                .bind(key.to_vec())
                .bind(*log_id as i64)
                .bind(*after as i64)
                .fetch_all(self.pool())
                .await?;
            for row in &rows {
                out.push(stored_entry(row)?);
            }
        }
        out.sort_unstable_by_key(|e| e.id);
        Ok(out)
    }

    /// How many entries pass `filter` (none of the frozen part of a forked log).
    pub async fn count_entries(&self, filter: &EntryFilter) -> Result<u64, StoreError> {
        let (clause, args) = filter.clause();
        let sql = self.render(&format!(
            "SELECT COUNT(*) FROM entries e WHERE {}{clause}",
            crate::sql::not_frozen!()
        ));
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for arg in args {
            query = match arg {
                SqlArg::Text(t) => query.bind(t),
                SqlArg::Bytes(b) => query.bind(b),
            };
        }
        Ok(query.fetch_one(self.pool()).await?.max(0) as u64)
    }
}

fn stored_entry(r: &sqlx::any::AnyRow) -> Result<StoredEntry, StoreError> {
    let key: Vec<u8> = r.try_get(1)?;
    Ok(StoredEntry {
        id: r.try_get(0)?,
        public_key: key
            .try_into()
            .map_err(|_| StoreError::Corrupt("public key of 32 bytes".into()))?,
        log_id: r.try_get::<i64, _>(2)? as u64,
        seq_num: r.try_get::<i64, _>(3)? as u64,
        entry: r.try_get(4)?,
        operation: r.try_get(5)?,
    })
}
