//! Reads of stored views: by document or view id, a schema's current
//! views, the items of a relation list.

use std::str::FromStr;

use hoffnung_core::{DocumentId, DocumentViewId};

use super::codec::decode_row;
use super::layout::{hex_of, is_list, quote, ViewTable};
use super::ViewRow;
use crate::error::StoreError;
use crate::sql::{render, Param};
use crate::Store;

impl Store {
    /// The current view of a document (deleted ones too).
    pub async fn current_view(
        &self,
        table: &ViewTable,
        document_id: &DocumentId,
    ) -> Result<Option<ViewRow>, StoreError> {
        Ok(self
            .views_by_key(table, false, &[document_id.to_hex()])
            .await?
            .pop())
    }

    /// A view that was a document's current view.
    pub async fn stored_view(
        &self,
        table: &ViewTable,
        view_id: &DocumentViewId,
    ) -> Result<Option<ViewRow>, StoreError> {
        Ok(self
            .views_by_key(table, true, &[view_id.to_string()])
            .await?
            .pop())
    }

    /// Many views at once: current views by document id (hex), or
    /// (`by_view_id`) views by view id, current or not. Rows of keys not
    /// found (or not parsing as view ids) are left out; the order is the
    /// database's.
    pub async fn views_by_key(
        &self,
        table: &ViewTable,
        by_view_id: bool,
        keys: &[String],
    ) -> Result<Vec<ViewRow>, StoreError> {
        let backend = self.backend();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            self.count_read();
            let marks = |n: usize| vec!["?"; n].join(", ");
            let (sql, params) = if by_view_id {
                // History by view id; current views through the document of
                // each view id's first operation (the current table is keyed
                // by document, and keeps no second index by view id).
                let (keys, hashes): (Vec<&String>, Vec<Param>) = chunk
                    .iter()
                    .filter_map(|k| {
                        let first = *DocumentViewId::from_str(k).ok()?.ids().first()?;
                        Some((k, Param::Blob(Some(first.as_bytes().to_vec()))))
                    })
                    .unzip();
                if keys.is_empty() {
                    continue;
                }
                let sql = format!(
                    "SELECT {cols} FROM {history} WHERE _view_id IN ({k}) UNION ALL \
                     SELECT {cols} FROM {current} WHERE _document_id IN \
                     (SELECT {doc} FROM entries e WHERE e.entry_hash IN ({h})) AND _view_id IN ({k})",
                    cols = table.column_list(),
                    history = quote(&table.views_table()),
                    current = quote(&table.table),
                    doc = hex_of("e.document_id", backend),
                    k = marks(keys.len()),
                    h = marks(hashes.len()),
                );
                let text = |k: &&String| Param::Text(Some((*k).clone()));
                let params: Vec<Param> = keys
                    .iter()
                    .map(text)
                    .chain(hashes)
                    .chain(keys.iter().map(text))
                    .collect();
                (sql, params)
            } else {
                let sql = format!(
                    "SELECT {} FROM {} WHERE _document_id IN ({})",
                    table.column_list(),
                    quote(&table.table),
                    marks(chunk.len())
                );
                let params = chunk.iter().map(|k| Param::Text(Some(k.clone()))).collect();
                (sql, params)
            };
            let sql = render(&sql, backend);
            let rows = sqlx::query_with(&sql, crate::sql::arguments(params)?)
                .fetch_all(self.pool())
                .await?;
            for row in rows {
                out.push(decode_row(table, &row, backend)?);
            }
        }
        if by_view_id {
            // A database written before current views left history holds
            // them in both tables.
            let mut seen = std::collections::HashSet::new();
            out.retain(|r| seen.insert(r.view_id.to_string()));
        }
        Ok(out)
    }

    /// Every current view of a schema, by document id.
    pub async fn current_views(&self, table: &ViewTable) -> Result<Vec<ViewRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} ORDER BY _document_id",
            table.column_list(),
            quote(&table.table)
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| decode_row(table, r, self.backend()))
            .collect()
    }

    /// The items of a relation list of a current view, in list order.
    pub async fn list_items(
        &self,
        table: &ViewTable,
        document_id: &DocumentId,
        field: &str,
    ) -> Result<Vec<String>, StoreError> {
        let Some(column) = table.column(field).filter(|c| is_list(&c.ty)) else {
            return Ok(Vec::new());
        };
        let sql = render(
            &format!(
                "SELECT _target FROM {} WHERE _document_id = ? AND _field = ? ORDER BY _idx",
                quote(&table.lists_table())
            ),
            self.backend(),
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(document_id.to_hex())
            .bind(column.column.clone())
            .fetch_all(self.pool())
            .await?)
    }
}
