//! Unused views: the history table of a schema (`<t>__views`) keeps a view
//! that is no longer current only while a current view of some document
//! pins it (a pinned relation, or an item of a pinned relation list). A
//! view nothing pins is not needed: a `viewId` query reduces it from the
//! document's operations on request, as it does for a view that was never
//! current here.
//!
//! Collected as views become unused, in the transaction of the batch that
//! makes them so ([`Unpinned`]): a replaced current view, the views a
//! document passed through within the batch, and the views a replaced view
//! pinned. A schema nothing can pin writes no history at all. Schema and
//! field definitions keep theirs. [`Store::collect_unused_views`] sweeps
//! whole tables (`hoffnung gc`), for what was kept before.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hoffnung_core::{DocumentView, DocumentViewId, FieldType, OperationValue, SchemaId};

use super::layout::{live_condition, quote, text_key, text_key_chars, ViewColumn, ViewTable};
use sqlx::Row;

use crate::error::StoreError;
use crate::sql::{render, row_chunks, Backend, Param};
use crate::Store;

/// Whether a schema's history is kept whole: the definitions of schemas
/// and fields, which schema ids name by view.
pub(crate) fn keeps_history(schema: &SchemaId) -> bool {
    *schema == SchemaId::SCHEMA_DEFINITION_V1 || *schema == SchemaId::SCHEMA_FIELD_DEFINITION_V1
}

/// A field of some schema's current views that pins views of another.
pub(crate) struct Pin {
    table: Arc<ViewTable>,
    column: ViewColumn,
}

/// The fields among `tables` that pin views of `target`.
pub(crate) fn pinners<'a>(
    tables: impl Iterator<Item = &'a Arc<ViewTable>>,
    target: &SchemaId,
) -> Vec<Pin> {
    let mut out = Vec::new();
    for table in tables {
        for c in &table.columns {
            if let FieldType::PinnedRelation(s) | FieldType::PinnedRelationList(s) = &c.ty {
                if s == target {
                    out.push(Pin {
                        table: table.clone(),
                        column: c.clone(),
                    });
                }
            }
        }
    }
    out
}

/// SQL: whether a live current view pins the view named by `view` (an SQL
/// expression), through one of `pins`. Each arm is an index lookup: the
/// field's index of live documents, or the list items' `(_field, _target)`.
fn pinned(pins: &[Pin], view: &str, backend: Backend) -> String {
    if pins.is_empty() {
        return "1 = 0".into();
    }
    let live = live_condition(backend);
    let arms: Vec<String> = pins
        .iter()
        .map(|p| {
            if let FieldType::PinnedRelationList(_) = p.column.ty {
                return format!(
                    "EXISTS (SELECT 1 FROM {} l WHERE l._field = '{}' AND l._target = {view})",
                    quote(&p.table.lists_table()),
                    p.column.column
                );
            }
            let col = format!("p.{}", quote(&p.column.column));
            let keyed = backend != Backend::MySql || p.table.mysql_indexed(&p.column.field);
            let key = text_key(&p.column.ty, &col, backend).filter(|_| keyed);
            let equal = match key {
                Some(key) => format!(
                    "{key} = left({view}, {}) AND {col} = {view}",
                    text_key_chars(backend)
                ),
                None => format!("{col} = {view}"),
            };
            format!(
                "EXISTS (SELECT 1 FROM {} p WHERE p.{live} AND {equal})",
                quote(&p.table.table)
            )
        })
        .collect();
    format!("({})", arms.join(" OR "))
}

/// Deletes those of `views` (ids of `table`'s schema) from its history
/// that no current view pins.
fn collect(
    table: &ViewTable,
    pins: &[Pin],
    views: &[String],
    backend: Backend,
) -> Vec<(String, Vec<Param>)> {
    row_chunks(views.len())
        .into_iter()
        .map(|chunk| {
            let sql = render(
                &format!(
                    "DELETE FROM {} WHERE _view_id IN ({}) AND NOT {}",
                    quote(&table.views_table()),
                    vec!["?"; chunk.len()].join(", "),
                    pinned(
                        pins,
                        &format!("{}._view_id", quote(&table.views_table())),
                        backend
                    )
                ),
                backend,
            );
            let params = views[chunk]
                .iter()
                .map(|v| Param::Text(Some(v.clone())))
                .collect();
            (sql, params)
        })
        .collect()
}

/// The views a batch may leave unused, by schema.
#[derive(Default)]
pub(super) struct Unpinned {
    views: HashMap<SchemaId, HashSet<String>>,
}

impl Unpinned {
    /// A current view `replaced` by `current`: the replaced view (if it
    /// went to history), and the views it pinned that `current` does not.
    pub(super) fn replaced(
        &mut self,
        table: &ViewTable,
        current: &DocumentView,
        replaced: &DocumentView,
        to_history: bool,
    ) {
        if to_history && replaced.view_id != current.view_id {
            self.add(&table.schema_id, replaced.view_id.to_string());
        }
        for c in &table.columns {
            let (FieldType::PinnedRelation(target) | FieldType::PinnedRelationList(target)) = &c.ty
            else {
                continue;
            };
            let now: HashSet<&DocumentViewId> = pinned_views(current, &c.field).collect();
            for view in pinned_views(replaced, &c.field).filter(|v| !now.contains(v)) {
                self.add(target, view.to_string());
            }
        }
    }

    /// A view written to history in passing.
    pub(super) fn passed(&mut self, view: &DocumentView) {
        self.add(&view.schema_id, view.view_id.to_string());
    }

    fn add(&mut self, schema: &SchemaId, view: String) {
        if !keeps_history(schema) {
            self.views.entry(schema.clone()).or_default().insert(view);
        }
    }

    /// The statements that delete those no current view pins, once the
    /// batch's current views are written.
    pub(super) fn statements(
        self,
        tables: &HashMap<SchemaId, Arc<ViewTable>>,
        backend: Backend,
    ) -> Vec<(String, Vec<Param>)> {
        let mut out = Vec::new();
        for (schema, views) in self.views {
            // A schema without tables here has no history to collect.
            let Some(table) = tables.get(&schema) else {
                continue;
            };
            let mut views: Vec<String> = views.into_iter().collect();
            views.sort_unstable();
            let pins = pinners(tables.values(), &schema);
            out.extend(collect(table, &pins, &views, backend));
        }
        out
    }
}

/// The views a view's field pins (a pinned relation or list).
pub fn pinned_views<'v>(
    view: &'v DocumentView,
    field: &str,
) -> impl Iterator<Item = &'v DocumentViewId> {
    let value = view
        .fields
        .as_ref()
        .and_then(|f| f.get(field))
        .map(|f| &f.value);
    let (one, many) = match value {
        Some(OperationValue::PinnedRelation(v)) => (Some(v), &[][..]),
        Some(OperationValue::PinnedRelationList(l)) => (None, l.as_slice()),
        _ => (None, &[][..]),
    };
    one.into_iter().chain(many)
}

/// What a sweep found in the history of one schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedViews {
    pub schema_id: SchemaId,
    pub views: u64,
    /// About the bytes of their values (what the rows hold, not the pages
    /// and indexes around them).
    pub bytes: u64,
}

/// SQL: about the bytes of a row of `table`.
fn row_bytes(table: &ViewTable, backend: Backend) -> String {
    let len = |c: &str| format!("COALESCE(LENGTH({c}), 0)");
    let mut parts: Vec<String> = ["_document_id", "_view_id", "_owner"]
        .iter()
        .map(|c| len(c))
        .collect();
    parts.push("16".into());
    for c in &table.columns {
        parts.push(match c.ty {
            FieldType::Bool | FieldType::Int | FieldType::Float => "8".into(),
            _ => len(&quote(&c.column)),
        });
    }
    let sum = format!("COALESCE(SUM({}), 0)", parts.join(" + "));
    match backend {
        Backend::Sqlite => sum,
        Backend::Postgres => format!("CAST({sum} AS BIGINT)"),
        Backend::MySql => format!("CAST({sum} AS SIGNED)"),
    }
}

impl Store {
    /// Deletes (or with `dry_run` only counts) the views in the history of
    /// each of `tables` that no current view of `tables` pins. Scans every
    /// history table: for what was kept before views were collected as
    /// they became unused, and what that misses (the pins of a document
    /// whose rows are removed whole: purged, or forked from its create).
    pub async fn collect_unused_views(
        &self,
        tables: &[Arc<ViewTable>],
        dry_run: bool,
    ) -> Result<Vec<UnusedViews>, StoreError> {
        let backend = self.backend();
        let by_schema: HashMap<SchemaId, Arc<ViewTable>> = tables
            .iter()
            .map(|t| (t.schema_id.clone(), t.clone()))
            .collect();
        let mut out = Vec::new();
        for table in tables {
            if keeps_history(&table.schema_id) || !self.has_view_table(&table.schema_id).await? {
                continue;
            }
            let history = quote(&table.views_table());
            let pins = pinners(by_schema.values(), &table.schema_id);
            let unused = format!(
                "NOT {}",
                pinned(&pins, &format!("{history}._view_id"), backend)
            );
            let count = render(
                &format!(
                    "SELECT COUNT(*), {} FROM {history} WHERE {unused}",
                    row_bytes(table, backend)
                ),
                backend,
            );
            let row = sqlx::query(&count).fetch_one(self.pool()).await?;
            let views = row.try_get::<i64, _>(0)?.max(0) as u64;
            let bytes = row.try_get::<i64, _>(1)?.max(0) as u64;
            if views > 0 && !dry_run {
                // Through the writer, like every other write of views.
                let delete = render(&format!("DELETE FROM {history} WHERE {unused}"), backend);
                self.queue_script(vec![(delete, Vec::new())], None)
                    .await?
                    .finish()
                    .await?;
            }
            out.push(UnusedViews {
                schema_id: table.schema_id.clone(),
                views,
                bytes,
            });
        }
        Ok(out)
    }
}
