//! What the materializer follows: operations in ingest order, a
//! document's operations up to a point, its cursor, and which schemas
//! have tables.

use hoffnung_core::{DocumentId, Hash, PublicKey, SchemaId};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::codec::corrupt;
use crate::error::StoreError;
use crate::sql::render;
use crate::{hash_col, schema_col, Store};

/// An operation as the materializer reads it from the event store.
#[derive(Debug, Clone)]
pub struct StoredOperation {
    /// Position in the global ingest order.
    pub entry_id: i64,
    pub id: Hash,
    pub public_key: PublicKey,
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    /// The operation as received; empty once purged (see `Deletion`).
    pub payload: Vec<u8>,
}

impl StoredOperation {
    /// Whether its payload was purged (its document was deleted).
    pub fn is_purged(&self) -> bool {
        self.payload.is_empty()
    }
}

fn stored_operation(row: &AnyRow) -> Result<StoredOperation, StoreError> {
    let pk: Vec<u8> = row.try_get(2)?;
    let pk: [u8; 32] = pk
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt("public key length".into()))?;
    Ok(StoredOperation {
        entry_id: row.try_get(0)?,
        id: hash_col(row, 1)?,
        public_key: PublicKey::from_bytes(&pk).map_err(|e| corrupt("public key", e))?,
        document_id: hash_col(row, 3)?,
        schema_id: schema_col(row, 4)?,
        payload: row.try_get(5)?,
    })
}

/// Of entry `e`.
const OPERATION_COLUMNS: &str = concat!(
    "e.id, e.entry_hash, ",
    crate::sql::author_of_entry!(),
    ", e.document_id, ",
    crate::sql::schema_of_entry!(),
    ", e.payload"
);

impl Store {
    /// Operations in ingest order after entry id `after`, at most `limit`.
    pub async fn operations_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        let sql = self.render(&format!(
            "SELECT {OPERATION_COLUMNS} FROM entries e WHERE e.id > ? AND {} ORDER BY e.id LIMIT ?",
            crate::sql::not_frozen!()
        ));
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(stored_operation).collect()
    }

    /// A document's operations with entry ids up to `until`, in ingest
    /// order (every operation after those it builds on).
    pub async fn document_operations_until(
        &self,
        document_id: &DocumentId,
        schema_id: &SchemaId,
        until: i64,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        // Through the document's logs (see migrations 0004 to 0006).
        let sql = self.render(&format!(
            "SELECT {OPERATION_COLUMNS} FROM {} l \
                 JOIN entries e ON e.author = l.author AND e.log_id = l.log_id \
                 WHERE e.id <= ? AND {} ORDER BY e.id",
            crate::sql::document_logs!(),
            crate::sql::not_frozen!()
        ));
        let rows = crate::sql::bind_document_logs(
            sqlx::query(&sql),
            schema_id.to_string(),
            document_id.as_bytes().as_slice(),
        )
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored_operation).collect()
    }

    /// The id of the last stored entry (0 if none).
    pub async fn last_entry_id(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM entries")
            .fetch_one(self.pool())
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// Entries up to this id are reflected in the view tables.
    pub async fn materializer_cursor(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT \"cursor\" FROM materializer WHERE id = 1")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Whether the tables of this schema exist.
    pub async fn has_view_table(&self, schema_id: &SchemaId) -> Result<bool, StoreError> {
        let sql = render(
            "SELECT 1 FROM view_tables WHERE schema_id = ?",
            self.backend(),
        );
        Ok(sqlx::query(&sql)
            .bind(schema_id.to_string())
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }
}
