//! Reads of stored views: by document or view id, a schema's current
//! views, the items of a relation list.

use hoffnung_core::{DocumentId, DocumentViewId, FieldType};

use super::codec::{corrupt, decode_row};
use super::layout::{hex_of, is_list, live_condition, quote, ViewTable};
use super::ViewRow;
use crate::error::StoreError;
use crate::sql::{render, text_at, Backend, Param};
use crate::Store;

/// Which view a read asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ViewKey {
    /// A document's current view (deleted ones too).
    Document(DocumentId),
    /// A view by its id: a document's current view or one it had before.
    View(DocumentViewId),
}

/// Keys per statement.
const KEYS_PER_READ: usize = 500;

impl Store {
    /// The current view of a document (deleted ones too).
    pub async fn current_view(
        &self,
        table: &ViewTable,
        document_id: &DocumentId,
    ) -> Result<Option<ViewRow>, StoreError> {
        Ok(self
            .read_views(table, &[ViewKey::Document(*document_id)])
            .await?
            .pop()
            .map(|(_, row)| row))
    }

    /// A view that was a document's current view.
    pub async fn stored_view(
        &self,
        table: &ViewTable,
        view_id: &DocumentViewId,
    ) -> Result<Option<ViewRow>, StoreError> {
        Ok(self
            .read_views(table, &[ViewKey::View(view_id.clone())])
            .await?
            .pop()
            .map(|(_, row)| row))
    }

    /// Many views of one schema at once, each with the key that found it:
    /// one statement per kind of key (and per 500 keys). Keys not found are
    /// left out; the order is the database's.
    pub async fn read_views(
        &self,
        table: &ViewTable,
        keys: &[ViewKey],
    ) -> Result<Vec<(ViewKey, ViewRow)>, StoreError> {
        let backend = self.backend();
        let (mut documents, mut views) = (Vec::new(), Vec::new());
        for key in keys {
            match key {
                ViewKey::Document(d) => documents.push(d),
                ViewKey::View(v) => views.push(v),
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        for chunk in documents.chunks(KEYS_PER_READ) {
            let (sql, params) = by_document(table, chunk);
            for row in self.read_rows(table, &sql, params).await? {
                out.push((ViewKey::Document(row.document_id), row));
            }
        }
        // A database written before current views left history holds them
        // in both tables: each view id answers once.
        let mut seen = std::collections::HashSet::new();
        for chunk in views.chunks(KEYS_PER_READ) {
            let cols = table.column_list();
            let Some((sql, params)) = by_view_id(table, chunk, &cols, backend) else {
                continue;
            };
            for row in self.read_rows(table, &sql, params).await? {
                if seen.insert(row.view_id.clone()) {
                    out.push((ViewKey::View(row.view_id.clone()), row));
                }
            }
        }
        Ok(out)
    }

    /// Which of these views (of `table`'s schema) a row holds, current or
    /// history: only their ids are read.
    pub async fn stored_view_ids(
        &self,
        table: &ViewTable,
        views: &[&DocumentViewId],
    ) -> Result<std::collections::HashSet<DocumentViewId>, StoreError> {
        let backend = self.backend();
        let mut out = std::collections::HashSet::new();
        for chunk in views.chunks(KEYS_PER_READ) {
            let Some((sql, params)) = by_view_id(table, chunk, "_view_id", backend) else {
                continue;
            };
            self.count_read();
            let rows = sqlx::query_with(&render(&sql, backend), crate::sql::arguments(params)?)
                .fetch_all(self.pool())
                .await?;
            for row in &rows {
                let text = text_at(row, 0)?.unwrap_or_default();
                out.insert(text.parse().map_err(|e| corrupt("stored view id", e))?);
            }
        }
        Ok(out)
    }

    /// Runs one read of view rows (counted in [`Store::view_reads`]).
    async fn read_rows(
        &self,
        table: &ViewTable,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Vec<ViewRow>, StoreError> {
        self.count_read();
        let backend = self.backend();
        let rows = sqlx::query_with(&render(sql, backend), crate::sql::arguments(params)?)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| decode_row(table, r, backend)).collect()
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
        let rows = sqlx::query(&sql)
            .bind(document_id.to_hex())
            .bind(column.column.clone())
            .fetch_all(self.pool())
            .await?;
        texts(&rows)
    }
    /// Every view id that a pinned relation (list) field of the current,
    /// not deleted views holds: what must stay available of the target
    /// schema's history. Reads the whole column (for clean-ups, not for
    /// requests); a field that is not a pinned relation gives nothing.
    pub async fn pinned_views(
        &self,
        table: &ViewTable,
        field: &str,
    ) -> Result<Vec<DocumentViewId>, StoreError> {
        let Some(column) = table.column(field).filter(|c| {
            matches!(
                c.ty,
                FieldType::PinnedRelation(_) | FieldType::PinnedRelationList(_)
            )
        }) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {c} FROM {t} WHERE {c} IS NOT NULL AND {live}",
            c = quote(&column.column),
            t = quote(&table.table),
            live = live_condition(self.backend()),
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        let values = texts(&rows)?;
        let mut out = Vec::new();
        for value in &values {
            for item in value.split(' ').filter(|i| !i.is_empty()) {
                out.push(
                    item.parse()
                        .map_err(|e| corrupt("a pinned view id in a view table", e))?,
                );
            }
        }
        Ok(out)
    }
}

/// The first column of each row, as text (see [`text_at`]).
fn texts(rows: &[sqlx::any::AnyRow]) -> Result<Vec<String>, StoreError> {
    rows.iter()
        .map(|r| text_at(r, 0)?.ok_or_else(|| StoreError::Corrupt("a NULL text".into())))
        .collect()
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Current views by document id.
fn by_document(table: &ViewTable, documents: &[&DocumentId]) -> (String, Vec<Param>) {
    let sql = format!(
        "SELECT {} FROM {} WHERE _document_id IN ({})",
        table.column_list(),
        quote(&table.table),
        marks(documents.len())
    );
    let params = documents
        .iter()
        .map(|d| Param::Text(Some(d.to_hex())))
        .collect();
    (sql, params)
}

/// Views by view id: history by view id; current views through the
/// document of each view id's first operation (the current table is keyed
/// by document, and keeps no second index by view id).
fn by_view_id(
    table: &ViewTable,
    views: &[&DocumentViewId],
    cols: &str,
    backend: Backend,
) -> Option<(String, Vec<Param>)> {
    let (keys, hashes): (Vec<String>, Vec<Param>) = views
        .iter()
        .filter_map(|v| {
            let first = *v.ids().first()?;
            Some((v.to_string(), Param::Blob(Some(first.as_bytes().to_vec()))))
        })
        .unzip();
    if keys.is_empty() {
        return None;
    }
    let sql = format!(
        "SELECT {cols} FROM {history} WHERE _view_id IN ({k}) UNION ALL \
         SELECT {cols} FROM {current} WHERE _document_id IN \
         (SELECT {doc} FROM entries e WHERE e.entry_hash IN ({h})) AND _view_id IN ({k})",
        history = quote(&table.views_table()),
        current = quote(&table.table),
        doc = hex_of("e.document_id", backend),
        k = marks(keys.len()),
        h = marks(hashes.len()),
    );
    let text = |k: &String| Param::Text(Some(k.clone()));
    let params = keys
        .iter()
        .map(text)
        .chain(hashes)
        .chain(keys.iter().map(text))
        .collect();
    Some((sql, params))
}
