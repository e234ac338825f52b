//! Blob pieces that no blob uses. A piece is used while a live current blob
//! view lists it, or an old blob view kept in history does (a current view
//! pins that one). A piece that is not is purged after the grace period,
//! as a deleted document is (`purge`): its payload and rows go, its entry
//! stays.
//!
//! Candidates are recorded in `deletions` with `unused = 1` by the batch
//! that may leave them unused: a new piece, and the pieces a blob's
//! replaced (or passed-through) views listed that no new blob view lists.
//! Whether a candidate is still unused is checked when its time comes
//! ([`Store::piece_unused`]); [`Store::unused_pieces`] sweeps every piece
//! for what the batches miss (`hoffnung gc`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hoffnung_core::{DocumentView, DocumentViewId, Schema, SchemaId};
use sqlx::Row;

use super::layout::{live_condition, quote, ViewTable};
use super::unused::pinned_views;
use super::write::ViewBatch;
use crate::error::StoreError;
use crate::sql::{on_conflict, render, row_chunks, Backend, Param};
use crate::Store;

/// The field of `blob_v1` that lists its pieces.
const PIECES: &str = "pieces";

/// The statements that record the pieces `batch` may leave unused (seen
/// unused at `now_ms`), given the view tables the writer knows.
pub(super) fn candidates(
    batch: &ViewBatch<'_>,
    tables: &HashMap<SchemaId, Arc<ViewTable>>,
    now_ms: i64,
    backend: Backend,
) -> Vec<(String, Vec<Param>)> {
    let Some(pieces) = tables.get(&SchemaId::BLOB_PIECE_V1) else {
        return Vec::new();
    };
    let blob = |v: &DocumentView| v.schema_id == SchemaId::BLOB_V1;
    let listed = |v: &DocumentView| pinned_views(v, PIECES).cloned().collect::<Vec<_>>();
    // Pieces a live blob view of this batch lists are used.
    let used: HashSet<DocumentViewId> = batch
        .current
        .iter()
        .filter(|v| blob(v) && !v.is_deleted)
        .flat_map(|v| listed(v))
        .collect();
    let mut new_pieces: Vec<String> = Vec::new();
    for (i, v) in batch.current.iter().enumerate() {
        let replaced = batch.replaced.get(i).copied().flatten();
        if v.schema_id == SchemaId::BLOB_PIECE_V1
            && replaced.is_none()
            && !used.contains(&DocumentViewId::from_operation(v.document_id))
            && !used.contains(&v.view_id)
        {
            new_pieces.push(v.document_id.to_hex());
        }
    }
    let mut left: Vec<String> = batch
        .replaced
        .iter()
        .flatten()
        .chain(batch.history.iter())
        .filter(|v| blob(v))
        .flat_map(|v| listed(v))
        .filter(|p| !used.contains(p))
        .map(|p| p.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    left.sort_unstable();

    let conflict = on_conflict("deletions", "document_id", &[], backend);
    let mut out = record(&new_pieces, now_ms, backend);
    // A listed view names its piece by view id: the piece's row says whose.
    for chunk in row_chunks(left.len()) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = render(
            &format!(
                "INSERT INTO deletions (document_id, schema_id, deleted_at, unused) \
                 SELECT _document_id, ?, ?, 1 FROM {} \
                 WHERE _view_id IN ({marks}) OR _document_id IN ({marks}){conflict}",
                quote(&pieces.table)
            ),
            backend,
        );
        let views = left[chunk].iter().map(|v| Param::Text(Some(v.clone())));
        let params = [
            Param::Text(Some(SchemaId::BLOB_PIECE_V1.to_string())),
            Param::Int(Some(now_ms)),
        ]
        .into_iter()
        .chain(views.clone())
        .chain(views)
        .collect();
        out.push((sql, params));
    }
    out
}

/// Records `documents` (hex ids of pieces) as unused since `now_ms`; those
/// recorded already keep their row.
fn record(documents: &[String], now_ms: i64, backend: Backend) -> Vec<(String, Vec<Param>)> {
    let conflict = on_conflict("deletions", "document_id", &[], backend);
    row_chunks(documents.len())
        .into_iter()
        .map(|chunk| {
            let sql = render(
                &format!(
                    "INSERT INTO deletions (document_id, schema_id, deleted_at, unused) VALUES {}{conflict}",
                    vec!["(?, ?, ?, 1)"; chunk.len()].join(", ")
                ),
                backend,
            );
            let params = documents[chunk]
                .iter()
                .flat_map(|doc| {
                    [
                        Param::Text(Some(doc.clone())),
                        Param::Text(Some(SchemaId::BLOB_PIECE_V1.to_string())),
                        Param::Int(Some(now_ms)),
                    ]
                })
                .collect();
            (sql, params)
        })
        .collect()
}

/// SQL: whether the piece of row `p` is used by a live current blob view
/// (`blob`) or a kept old one.
fn used(blob: &ViewTable, backend: Backend) -> Option<String> {
    let column = &blob.columns.iter().find(|c| c.field == PIECES)?.column;
    let contains = |hay: &str, needle: &str| match backend {
        Backend::Sqlite => format!("instr({hay}, {needle}) > 0"),
        Backend::Postgres => format!("strpos({hay}, {needle}) > 0"),
        Backend::MySql => format!("LOCATE({needle}, {hay}) > 0"),
    };
    let h = format!("h.{}", quote(column));
    Some(format!(
        "(EXISTS (SELECT 1 FROM {lists} l JOIN {current} b ON b._document_id = l._document_id \
           WHERE b.{live} AND l._field = '{column}' AND l._target IN (p._view_id, p._document_id)) \
          OR EXISTS (SELECT 1 FROM {history} h WHERE {} OR {}))",
        contains(&h, "p._view_id"),
        contains(&h, "p._document_id"),
        lists = quote(&blob.lists_table()),
        current = quote(&blob.table),
        history = quote(&blob.views_table()),
        live = live_condition(backend),
    ))
}

/// What a sweep found: blob pieces no blob uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnusedPieces {
    pub pieces: u64,
    /// The bytes of their data.
    pub bytes: u64,
}

impl Store {
    fn system_table(&self, id: &SchemaId) -> Result<Arc<ViewTable>, StoreError> {
        let schema = Schema::system(id)
            .ok_or_else(|| StoreError::Corrupt(format!("no system schema {id}").into()))?;
        Ok(self.views().table(&schema))
    }

    /// Whether a blob piece is unused now: no live current blob view and no
    /// kept old one lists any view of it (one with no row is unused).
    pub async fn piece_unused(
        &self,
        document: &hoffnung_core::DocumentId,
    ) -> Result<bool, StoreError> {
        if !self.has_view_table(&SchemaId::BLOB_PIECE_V1).await?
            || !self.has_view_table(&SchemaId::BLOB_V1).await?
        {
            return Ok(true);
        }
        let pieces = self.system_table(&SchemaId::BLOB_PIECE_V1)?;
        let blob = self.system_table(&SchemaId::BLOB_V1)?;
        let Some(used) = used(&blob, self.backend()) else {
            return Ok(true);
        };
        let sql = render(
            &format!(
                "SELECT 1 FROM {} p WHERE p._document_id = ? AND {used}",
                quote(&pieces.table)
            ),
            self.backend(),
        );
        let found = sqlx::query(&sql)
            .bind(document.to_hex())
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_none())
    }

    /// Sweeps every blob piece for those no blob uses; unless `dry_run`,
    /// records those not recorded yet, so that they are purged after the
    /// grace period (the node's materializer does it).
    pub async fn unused_pieces(&self, dry_run: bool) -> Result<UnusedPieces, StoreError> {
        if !self.has_view_table(&SchemaId::BLOB_PIECE_V1).await? {
            return Ok(UnusedPieces::default());
        }
        let backend = self.backend();
        let pieces_table = self.system_table(&SchemaId::BLOB_PIECE_V1)?;
        let pieces = quote(&pieces_table.table);
        let unused = if self.has_view_table(&SchemaId::BLOB_V1).await? {
            match used(self.system_table(&SchemaId::BLOB_V1)?.as_ref(), backend) {
                Some(used) => format!("NOT {used}"),
                None => "1 = 1".into(),
            }
        } else {
            "1 = 1".into()
        };
        let data = pieces_table
            .columns
            .iter()
            .find(|c| c.field == "data")
            .map_or("NULL".to_string(), |c| format!("p.{}", quote(&c.column)));
        let rows = sqlx::query(&format!(
            "SELECT p._document_id, COALESCE(LENGTH({data}), 0) FROM {pieces} p WHERE {unused}"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut found = UnusedPieces::default();
        for row in &rows {
            ids.push(row.try_get::<String, _>(0)?);
            found.pieces += 1;
            found.bytes += row.try_get::<i64, _>(1)?.max(0) as u64;
        }
        if !dry_run && !ids.is_empty() {
            let statements = record(&ids, crate::now_millis() as i64, backend);
            self.queue_script(statements, None).await?.finish().await?;
        }
        Ok(found)
    }
}
