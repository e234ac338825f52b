//! Deleted documents and the purge of their payloads (migration 0009).
//!
//! The materializer records each document it sees deleted (`deletions`),
//! and once the grace period has passed purges it: the payloads of its
//! CREATE and UPDATE operations are stored empty (its DELETEs stay whole),
//! and its view rows go (current, history, list items). Entries are never
//! removed, so every log still verifies and `nextArgs` is unchanged. All of
//! it is one transaction, with the materializer's batch.

use hoffnung_core::{DocumentId, SchemaId};
use sqlx::Row;

use super::layout::quote;
use super::ViewTable;
use crate::error::StoreError;
use crate::sql::{on_conflict, render, Backend, Param};
use crate::Store;

/// A deleted document whose payloads are not purged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    /// When this node saw it deleted (or unused), in milliseconds since the
    /// Unix epoch.
    pub deleted_at: i64,
    /// Not deleted: a blob piece no blob used (see `pieces`), purged only
    /// if it still is unused.
    pub unused: bool,
}

impl Store {
    /// Deleted documents not purged yet that were deleted at or before
    /// `deleted_until`, and blob pieces recorded as unused at or before
    /// `unused_until` (milliseconds since the Unix epoch), the oldest first.
    pub async fn deletions_due(
        &self,
        deleted_until: i64,
        unused_until: i64,
        limit: u32,
    ) -> Result<Vec<Deletion>, StoreError> {
        let rows = sqlx::query(&self.sql().deletions_due)
            .bind(deleted_until.max(unused_until))
            .bind(deleted_until)
            .bind(unused_until)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let doc: String = r.try_get(0)?;
                let schema: String = r.try_get(1)?;
                Ok(Deletion {
                    document_id: doc.parse().map_err(|_| {
                        StoreError::Corrupt(format!("deleted document id {doc}").into())
                    })?,
                    schema_id: schema.parse().map_err(|_| {
                        StoreError::Corrupt(format!("deleted document's schema {schema}").into())
                    })?,
                    deleted_at: r.try_get(2)?,
                    unused: r.try_get::<i64, _>(3)? != 0,
                })
            })
            .collect()
    }

    /// When the oldest deletion not purged yet happened, and when the
    /// oldest unused piece was recorded, if any.
    pub async fn oldest_deletion(&self) -> Result<(Option<i64>, Option<i64>), StoreError> {
        let row = sqlx::query(&self.sql().deletion_oldest)
            .fetch_one(self.pool())
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Whether the document has a DELETE below any fork of its logs.
    pub async fn is_deleted(
        &self,
        document_id: &DocumentId,
        schema_id: &SchemaId,
    ) -> Result<bool, StoreError> {
        let bytes = document_id.as_bytes();
        let query = crate::sql::bind_document_logs(
            sqlx::query(&self.sql().document_deleted_below_forks),
            schema_id.to_string(),
            bytes.as_slice(),
        );
        Ok(query.fetch_optional(self.pool()).await?.is_some())
    }

    /// MariaDB/MySQL: whether a schema's history has its index by
    /// document (tables made before it have not; it has no `IF NOT EXISTS`).
    pub(super) async fn has_views_by_document(
        &self,
        table: &ViewTable,
    ) -> Result<bool, StoreError> {
        let found = sqlx::query(
            "SELECT 1 FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1",
        )
        .bind(table.views_table())
        .bind(table.views_by_document_index())
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// How many documents were purged, and how many wait for their grace
    /// period.
    pub async fn deletion_counts(&self) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(&self.sql().deletion_counts)
            .fetch_one(self.pool())
            .await?;
        let purged: i64 = row.try_get(0)?;
        let waiting: i64 = row.try_get(1)?;
        Ok((purged.max(0) as u64, waiting.max(0) as u64))
    }
}

/// What dropping the documents of one schema takes (or would take).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedSchema {
    pub schema_id: SchemaId,
    /// Documents with payloads left to purge.
    pub documents: u64,
    /// The bytes of their CREATE and UPDATE payloads.
    pub bytes: u64,
}

impl Store {
    /// The schema ids of every stored entry.
    pub async fn stored_schema_ids(&self) -> Result<Vec<SchemaId>, StoreError> {
        // A schema's row is written with its first entry (see migration 0011).
        let rows = sqlx::query("SELECT schema_id FROM schema_ids ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| crate::schema_col(row, 0)).collect()
    }

    /// Drops the documents of a schema (one no longer allowed): the
    /// payloads of their CREATEs and UPDATEs are purged, as those of a
    /// deleted document are, and the schema's view tables (`table`, where
    /// they exist) go. Entries stay: logs still verify and `nextArgs` never
    /// hands out their log ids again. With `dry_run`, only counts.
    pub async fn drop_schema_documents(
        &self,
        schema_id: &SchemaId,
        table: Option<&ViewTable>,
        dry_run: bool,
    ) -> Result<DroppedSchema, StoreError> {
        let backend = self.backend();
        let row = sqlx::query(&render(
            concat!(
                "SELECT COUNT(DISTINCT document_id), COALESCE(SUM(LENGTH(payload)), 0) \
                 FROM entries WHERE schema_ref = ",
                crate::sql::schema_ref!(),
                " AND action <> 2 AND LENGTH(payload) > 0"
            ),
            backend,
        ))
        .bind(schema_id.to_string())
        .fetch_one(self.pool())
        .await?;
        let found = DroppedSchema {
            schema_id: schema_id.clone(),
            documents: row.try_get::<i64, _>(0)?.max(0) as u64,
            bytes: row.try_get::<i64, _>(1)?.max(0) as u64,
        };
        if dry_run {
            return Ok(found);
        }
        let purge = render(
            concat!(
                "UPDATE entries SET payload = ? WHERE schema_ref = ",
                crate::sql::schema_ref!(),
                " AND action <> 2 AND length(payload) > 0"
            ),
            backend,
        );
        let params = vec![
            Param::Blob(Some(Vec::new())),
            Param::Text(Some(schema_id.to_string())),
        ];
        self.queue_script(vec![(purge, params)], None)
            .await?
            .finish()
            .await?;
        if let Some(table) = table {
            if self.has_view_table(schema_id).await? {
                let mut statements: Vec<(String, Vec<Param>)> = [
                    table.lists_table(),
                    table.views_table(),
                    table.table.clone(),
                ]
                .iter()
                .map(|t| (format!("DROP TABLE IF EXISTS {}", quote(t)), Vec::new()))
                .collect();
                statements.push((
                    render("DELETE FROM view_tables WHERE schema_id = ?", backend),
                    vec![Param::Text(Some(schema_id.to_string()))],
                ));
                self.run_script(statements, None).await?;
            }
        }
        Ok(found)
    }
}

/// Records documents seen deleted (a document already recorded keeps its
/// time; a piece recorded as unused is deleted now).
pub(super) fn deleted(
    documents: &[(SchemaId, DocumentId)],
    now_ms: i64,
    backend: Backend,
) -> Vec<(String, Vec<Param>)> {
    let sql = render(
        &format!(
            "INSERT INTO deletions (document_id, schema_id, deleted_at, unused) VALUES (?, ?, ?, 0){}",
            on_conflict("deletions", "document_id", &["unused".into()], backend)
        ),
        backend,
    );
    documents
        .iter()
        .map(|(schema, doc)| {
            (
                sql.clone(),
                vec![
                    Param::Text(Some(doc.to_hex())),
                    Param::Text(Some(schema.to_string())),
                    Param::Int(Some(now_ms)),
                ],
            )
        })
        .collect()
}

/// Forgets documents recorded as deleted that are not (their DELETE was in
/// the frozen part of a forked log).
pub(super) fn forgotten(documents: &[DocumentId], backend: Backend) -> Vec<(String, Vec<Param>)> {
    let sql = render("DELETE FROM deletions WHERE document_id = ?", backend);
    documents
        .iter()
        .map(|doc| (sql.clone(), vec![Param::Text(Some(doc.to_hex()))]))
        .collect()
}

/// Purges one document: its CREATE and UPDATE payloads (those not empty
/// yet), its view rows where `table` is known, and its record, which is
/// counted in `purge_total` if it was a deletion (migration 0011: what
/// stays of a purged document is as small as it can be).
pub(super) fn purged(
    schema: &SchemaId,
    document: &DocumentId,
    table: Option<&ViewTable>,
    backend: Backend,
) -> Vec<(String, Vec<Param>)> {
    // Entries are found through the document's logs (there is no index of
    // entries by document).
    let doc = || Param::Blob(Some(document.as_bytes().to_vec()));
    let schema = || Param::Text(Some(schema.to_string()));
    let empty = || Param::Blob(Some(Vec::new()));
    let payloads = match backend {
        // Its planner reads a row-value `IN` by scanning the table.
        Backend::MySql => (
            render(
                concat!(
                    "UPDATE entries e JOIN ",
                    crate::sql::document_logs!(),
                    " l ON e.author = l.author AND e.log_id = l.log_id \
                     SET e.payload = ? WHERE e.action <> 2 AND length(e.payload) > 0"
                ),
                backend,
            ),
            vec![doc(), schema(), doc(), schema(), empty()],
        ),
        _ => (
            render(
                concat!(
                    "UPDATE entries SET payload = ? WHERE (author, log_id) IN \
                     (SELECT l.author, l.log_id FROM ",
                    crate::sql::document_logs!(),
                    " l) AND action <> 2 AND length(payload) > 0"
                ),
                backend,
            ),
            vec![empty(), doc(), schema(), doc(), schema()],
        ),
    };
    let mut out = vec![payloads];
    if let Some(table) = table {
        out.extend(removed(document, table, backend));
    }
    // A document purged again (for operations that came after its purge)
    // has no record left: it is not counted twice.
    let record = || Param::Text(Some(document.to_hex()));
    out.push((
        render(
            "UPDATE purge_total SET documents = documents + \
             (SELECT COUNT(*) FROM deletions WHERE document_id = ? AND unused = 0) WHERE id = 1",
            backend,
        ),
        vec![record()],
    ));
    out.push((
        render("DELETE FROM deletions WHERE document_id = ?", backend),
        vec![record()],
    ));
    out
}

/// Deletes every row of a document: current, history, list items.
pub(super) fn removed(
    document: &DocumentId,
    table: &ViewTable,
    backend: Backend,
) -> Vec<(String, Vec<Param>)> {
    let mut tables = vec![table.table.clone(), table.views_table()];
    if table.has_lists() {
        tables.push(table.lists_table());
    }
    tables
        .into_iter()
        .map(|t| {
            (
                render(
                    &format!("DELETE FROM {} WHERE _document_id = ?", quote(&t)),
                    backend,
                ),
                vec![Param::Text(Some(document.to_hex()))],
            )
        })
        .collect()
}
