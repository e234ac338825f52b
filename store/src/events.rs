//! Reads of the event store: counts, entries, a document's operations,
//! where an operation belongs, and `nextArgs`.

use hoffnung_core::entry::NextArgs;
use hoffnung_core::publish::{next_args_after, next_args_new_log, next_skiplink_seq_num};
use hoffnung_core::{
    DocumentId, DocumentOperation, DocumentViewId, Hash, LogPosition, PlainOperation, PublicKey,
    Schema, SchemaId,
};
use sqlx::Row;

use crate::error::{Failure, NextArgsError, StoreError};
use crate::{hash_col, schema_col, sql, Store};

impl Store {
    /// The number of stored entries.
    pub async fn entry_count(&self) -> Result<u64, StoreError> {
        self.count(&self.inner.sql.count_entries).await
    }

    /// The number of stored operations.
    pub async fn operation_count(&self) -> Result<u64, StoreError> {
        self.count(&self.inner.sql.count_operations).await
    }

    /// The number of logs.
    pub async fn log_count(&self) -> Result<u64, StoreError> {
        self.count(&self.inner.sql.count_logs).await
    }

    /// The number of documents: one create each, the first entry of its
    /// author's log. A log that another author's update or delete opened
    /// is not a document.
    pub async fn document_count(&self) -> Result<u64, StoreError> {
        self.count(&sql::count_documents(self.backend())).await
    }

    /// Entries after `cursor` (the materializer's backlog).
    pub async fn entries_after_count(&self, cursor: i64) -> Result<u64, StoreError> {
        let sql = sql::render("SELECT COUNT(*) FROM entries WHERE id > ?", self.backend());
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(cursor)
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.inner.pool).await?;
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.inner.pool).await?;
        Ok(n.max(0) as u64)
    }

    /// The arguments for the next entry of `public_key`: a new log, or the
    /// next position in its log of the document that `view_id` belongs to.
    pub async fn next_args(
        &self,
        public_key: &PublicKey,
        view_id: Option<&DocumentViewId>,
    ) -> Result<NextArgs, NextArgsError> {
        let sql = &self.inner.sql;
        let pool = &self.inner.pool;
        let pk = public_key.as_bytes().as_slice();
        if self.author_blocked(public_key).await? {
            return Err(NextArgsError::AuthorForked);
        }
        let new_log = || async {
            let max: Option<i64> = sqlx::query_scalar(&sql.max_log_id)
                .bind(pk)
                .fetch_one(pool)
                .await
                .map_err(StoreError::from)?;
            Ok::<_, NextArgsError>(next_args_new_log(max.map(|m| m as u64)))
        };
        let Some(view_id) = view_id else {
            return new_log().await;
        };
        let mut document: Option<(Vec<u8>, String)> = None;
        for id in view_id.ids() {
            let row = sqlx::query(&sql.operation_meta)
                .bind(id.as_bytes().as_slice())
                .fetch_optional(pool)
                .await
                .map_err(StoreError::from)?
                .ok_or(NextArgsError::PreviousNotFound(*id))?;
            let doc: Vec<u8> = row.try_get(0).map_err(StoreError::from)?;
            match &document {
                Some((d, _)) if *d != doc => return Err(NextArgsError::DifferentDocuments),
                Some(_) => {}
                None => {
                    let schema = sql::text_at(&row, 1)?.unwrap_or_default();
                    document = Some((doc, schema));
                }
            }
        }
        let (document, schema) = document.ok_or(NextArgsError::DifferentDocuments)?;
        let deleted = sql::bind_document_logs(
            sqlx::query(&sql.document_deleted),
            schema,
            document.as_slice(),
        )
        .fetch_optional(pool)
        .await
        .map_err(StoreError::from)?;
        if deleted.is_some() {
            return Err(NextArgsError::DocumentDeleted);
        }
        let log =
            sql::bind_author_document_log(sqlx::query(&sql.document_log), pk, document.as_slice())
                .fetch_optional(pool)
                .await
                .map_err(StoreError::from)?;
        let Some(log) = log else {
            return new_log().await;
        };
        let log_id: i64 = log.try_get(0).map_err(StoreError::from)?;
        if self.frozen_from(public_key, log_id as u64).await?.is_some() {
            // No entry of a forked log is accepted any more.
            return Err(NextArgsError::LogForked {
                log_id: log_id as u64,
            });
        }
        let seq: i64 = log.try_get(1).map_err(StoreError::from)?;
        let latest = LogPosition {
            public_key: *public_key,
            log_id: log_id as u64,
            seq_num: seq as u64,
            hash: hash_col(&log, 2)?,
        };
        let skiplink = match next_skiplink_seq_num(latest.seq_num) {
            Some(target) => Some(
                self.entry_hash_at(public_key, latest.log_id, target)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("log {log_id} misses seq {target}").into())
                    })?,
            ),
            None => None,
        };
        Ok(next_args_after(&latest, skiplink))
    }

    async fn entry_hash_at(
        &self,
        public_key: &PublicKey,
        log_id: u64,
        seq_num: u64,
    ) -> Result<Option<Hash>, StoreError> {
        let row = sqlx::query(&self.inner.sql.entry_hash_at)
            .bind(public_key.as_bytes().as_slice())
            .bind(log_id as i64)
            .bind(seq_num as i64)
            .fetch_optional(&self.inner.pool)
            .await?;
        row.map(|r| hash_col(&r, 0)).transpose()
    }

    /// Whether an entry with this hash is stored.
    pub async fn has_entry(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(sqlx::query(&self.inner.sql.entry_exists)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool)
            .await?
            .is_some())
    }

    /// The bytes of a stored entry (replication and tests send them on).
    pub async fn entry_bytes(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = sql::render(
            "SELECT entry FROM entries WHERE entry_hash = ?",
            self.backend(),
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool)
            .await?)
    }

    /// The operations of a document, in ingest order, typed by `schema`.
    pub async fn document_operations(
        &self,
        document_id: &DocumentId,
        schema: &Schema,
    ) -> Result<Vec<DocumentOperation>, StoreError> {
        let rows = sql::bind_document_logs(
            sqlx::query(&self.inner.sql.document_operations),
            schema.id().to_string(),
            document_id.as_bytes().as_slice(),
        )
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter()
            // Purged operations (their document was deleted) are no more:
            // a view of them no longer reduces.
            .filter(|r| r.try_get::<Vec<u8>, _>(2).map_or(true, |p| !p.is_empty()))
            .map(|r| {
                let id = hash_col(r, 0)?;
                let pk: Vec<u8> = r.try_get(1)?;
                let pk: [u8; 32] = pk
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("public key length".into()))?;
                let public_key = PublicKey::from_bytes(&pk)
                    .map_err(|e| StoreError::Corrupt(Failure::caused_by("public key", e)))?;
                let payload: Vec<u8> = r.try_get(2)?;
                let operation = PlainOperation::decode(&payload)
                    .map_err(|e| StoreError::Corrupt(Failure::caused_by("operation", e)))?
                    .validate(schema)
                    .map_err(|e| StoreError::Corrupt(Failure::caused_by("operation", e)))?;
                Ok(DocumentOperation {
                    id,
                    public_key,
                    operation,
                })
            })
            .collect()
    }

    /// The document an operation belongs to, if the operation is stored.
    pub async fn operation_document(&self, id: &Hash) -> Result<Option<DocumentId>, StoreError> {
        Ok(self.operation_origin(id).await?.map(|(doc, _)| doc))
    }

    /// The document and schema of a stored operation.
    pub async fn operation_origin(
        &self,
        id: &Hash,
    ) -> Result<Option<(DocumentId, SchemaId)>, StoreError> {
        let row = sqlx::query(&self.inner.sql.operation_meta)
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool)
            .await?;
        row.map(|r| Ok((hash_col(&r, 0)?, schema_col(&r, 1)?)))
            .transpose()
    }

    /// The ids of every document of a schema.
    pub async fn documents_of_schema(
        &self,
        schema_id: &SchemaId,
    ) -> Result<Vec<DocumentId>, StoreError> {
        let rows = sqlx::query(&self.inner.sql.documents_of_schema)
            .bind(schema_id.to_string())
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(|r| hash_col(r, 0)).collect()
    }
}
