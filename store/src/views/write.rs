//! Writes of the view tables: the materializer's batches (current rows,
//! history, list items, with the cursor) and planner statistics.

use std::collections::HashMap;
use std::sync::Arc;

use hoffnung_core::{DocumentId, DocumentView, Schema, SchemaId};

use super::changes::{ChangedView, PendingChanges, ViewChanges};
use super::codec::list_items;
use super::layout::{quote, ViewTable, META};
use super::unused::{keeps_history, pinners, Unpinned};
use super::{pieces, purge};
use crate::error::StoreError;
use crate::sql::{
    all_or_nothing, multi_row, multi_row_of, on_conflict, render, row_chunks, row_chunks_within,
    Backend, Param,
};
use crate::Store;

impl Store {
    /// Refreshes the query planner's statistics of these view tables
    /// (bounded work on SQLite). Without them SQLite takes any equality
    /// filter for selective and sorts instead of walking the order's index.
    pub async fn analyze(&self, tables: &[&ViewTable]) -> Result<(), StoreError> {
        let mut statements = Vec::new();
        for t in tables {
            // MariaDB/MySQL: `ANALYZE TABLE`, which also reads a sample.
            let analyze = match self.backend() {
                Backend::MySql => "ANALYZE TABLE",
                _ => "ANALYZE",
            };
            statements.push(format!("{analyze} {}", quote(&t.table)));
            if t.has_lists() {
                statements.push(format!("{analyze} {}", quote(&t.lists_table())));
            }
        }
        match self.backend() {
            // Through the writer: SQLite has one writer at a time.
            Backend::Sqlite => {
                let statements = std::iter::once("PRAGMA analysis_limit = 10000".to_string())
                    .chain(statements)
                    .map(|sql| (sql, Vec::new()))
                    .collect();
                self.run_script(statements, None).await?;
            }
            // Beside it: PostgreSQL's ANALYZE samples, takes no write lock,
            // and must not hold up appends while it runs.
            Backend::Postgres | Backend::MySql => {
                for sql in statements {
                    sqlx::query(&sql).execute(self.pool()).await?;
                }
            }
        }
        self.mark_analyzed();
        Ok(())
    }

    /// The writer of the view tables (the materializer's).
    pub fn view_writer(&self) -> ViewWriter {
        ViewWriter {
            store: self.clone(),
            tables: HashMap::new(),
            statements: HashMap::new(),
            current_statements: HashMap::new(),
        }
    }
}

/// Builds the writes of view tables; they run on the store's writer (one
/// writer per database), each batch in one transaction with the cursor.
pub struct ViewWriter {
    store: Store,
    tables: HashMap<SchemaId, Arc<ViewTable>>,
    statements: HashMap<(String, u8, usize), String>,
    current_statements: HashMap<(String, Vec<bool>, usize), String>,
}

/// What a batch of the materializer writes.
#[derive(Debug, Default)]
pub struct ViewBatch<'a> {
    /// The new current view of each changed document (one per document).
    pub current: Vec<&'a DocumentView>,
    /// Views to keep by view id that are not current: those a document
    /// passed through within the batch. (The current views a batch
    /// replaces move to history by themselves.)
    pub history: Vec<&'a DocumentView>,
    /// For each current view (same position), the view its document's row
    /// holds before this batch, where known: only the columns that differ
    /// are then rewritten, so an index over unchanged columns is left
    /// alone (rewriting a column rewrites its index entries, one more
    /// random page per index and document). Missing: rewrite every column.
    pub replaced: Vec<Option<&'a DocumentView>>,
    /// Documents whose rows go altogether (current, history, list items):
    /// nothing of them is left to show (a log forked from its create).
    pub removed: Vec<(SchemaId, DocumentId)>,
    /// Documents seen deleted: their grace period starts (see `purge`).
    pub deleted: Vec<(SchemaId, DocumentId)>,
    /// Documents recorded as deleted that are not (any more).
    pub undeleted: Vec<DocumentId>,
    /// Deleted documents whose payloads and rows are purged now.
    pub purged: Vec<(SchemaId, DocumentId)>,
}

#[derive(Clone, Copy)]
enum Kind {
    History = 1,
    Lists = 2,
    ClearLists = 3,
    Supersede = 4,
}

impl ViewWriter {
    /// The tables of `schema`, created (with their indexes) if needed.
    /// `true` if they were created now.
    pub async fn ensure_table(&mut self, schema: &Schema) -> Result<bool, StoreError> {
        if self.tables.contains_key(schema.id()) {
            return Ok(false);
        }
        let table = self.store.views().table(schema);
        let backend = self.store.backend();
        let existed = self.store.has_view_table(schema.id()).await?;
        if !existed {
            let mut statements: Vec<(String, Vec<Param>)> = table
                .ddl(backend)
                .into_iter()
                .map(|sql| (sql, Vec::new()))
                .collect();
            statements.push((
                render(
                    &format!(
                        "INSERT INTO view_tables (schema_id, table_name) VALUES (?, ?){}",
                        on_conflict("view_tables", "schema_id", &[], backend)
                    ),
                    backend,
                ),
                vec![
                    Param::Text(Some(schema.id().to_string())),
                    Param::Text(Some(table.table.clone())),
                ],
            ));
            self.store.run_script(statements, None).await?;
            tracing::info!(schema = %schema.id(), table = %table.table, "view tables created");
        } else {
            let mut upgrades = table.upgrade_indexes(backend);
            if backend == Backend::MySql && !self.store.has_views_by_document(&table).await? {
                upgrades.push(format!(
                    "CREATE INDEX {} ON {} (_document_id)",
                    quote(&table.views_by_document_index()),
                    quote(&table.views_table())
                ));
            }
            if !upgrades.is_empty() {
                let upgrades = upgrades.into_iter().map(|sql| (sql, Vec::new())).collect();
                self.store.run_script(upgrades, None).await?;
            }
        }
        self.tables.insert(schema.id().clone(), table);
        Ok(!existed)
    }

    /// The layout of a schema whose tables [`ViewWriter::ensure_table`] made.
    pub fn table(&self, schema_id: &SchemaId) -> Option<Arc<ViewTable>> {
        self.tables.get(schema_id).cloned()
    }

    /// Writes a batch and moves the cursor from `from` to `to`, in one
    /// transaction. Fails without writing if the cursor is not at `from`
    /// (another materializer moved it).
    pub async fn write(
        &mut self,
        batch: &ViewBatch<'_>,
        from: i64,
        to: i64,
    ) -> Result<(), StoreError> {
        self.begin_write(batch, from, to).await?.finish().await
    }

    /// Queues the write of a batch (see [`ViewWriter::write`]) and returns
    /// without waiting for it: the materializer prepares its next batch
    /// meanwhile. Writes run in the order they were queued.
    pub async fn begin_write(
        &mut self,
        batch: &ViewBatch<'_>,
        from: i64,
        to: i64,
    ) -> Result<crate::QueuedWrite, StoreError> {
        let statements = self.statements(batch)?;
        let mut queued = self
            .store
            .queue_script(statements, Some((from, to)))
            .await?;
        queued.changes = Some(PendingChanges {
            feed: self.store.inner.view_changes.clone(),
            changes: ViewChanges {
                cursor: to,
                views: batch
                    .current
                    .iter()
                    .map(|v| ChangedView {
                        schema_id: v.schema_id.clone(),
                        document_id: v.document_id,
                        view_id: v.view_id.clone(),
                        is_deleted: v.is_deleted,
                    })
                    .collect(),
            },
        });
        Ok(queued)
    }

    fn statements(
        &mut self,
        batch: &ViewBatch<'_>,
    ) -> Result<Vec<(String, Vec<Param>)>, StoreError> {
        type Current<'v> = (&'v DocumentView, Option<&'v DocumentView>);
        let mut by_table: HashMap<&SchemaId, (Vec<Current>, Vec<&DocumentView>)> = HashMap::new();
        for (i, v) in batch.current.iter().enumerate() {
            let replaced = batch.replaced.get(i).copied().flatten();
            by_table
                .entry(&v.schema_id)
                .or_default()
                .0
                .push((v, replaced));
        }
        for v in &batch.history {
            by_table.entry(&v.schema_id).or_default().1.push(v);
        }
        let mut out = Vec::new();
        let backend = self.store.backend();
        for (schema_id, document) in &batch.removed {
            let table = self
                .tables
                .get(schema_id)
                .cloned()
                .ok_or_else(|| StoreError::NoViewTable(schema_id.clone()))?;
            out.extend(purge::removed(document, &table, backend));
        }
        let now = crate::now_millis() as i64;
        out.extend(purge::deleted(&batch.deleted, now, backend));
        out.extend(purge::forgotten(&batch.undeleted, backend));
        out.extend(pieces::candidates(batch, &self.tables, now, backend));
        for (schema_id, document) in &batch.purged {
            // A schema without tables here has no rows to remove.
            let table = self.tables.get(schema_id).map(Arc::as_ref);
            out.extend(purge::purged(schema_id, document, table, backend));
        }
        let mut unpinned = Unpinned::default();
        for (schema_id, (current, history)) in by_table {
            let table = self
                .tables
                .get(schema_id)
                .cloned()
                .ok_or_else(|| StoreError::NoViewTable(schema_id.clone()))?;
            // History only of views something can pin (see `unused`).
            let pinnable =
                keeps_history(schema_id) || !pinners(self.tables.values(), schema_id).is_empty();
            for (v, replaced) in &current {
                if let Some(r) = replaced {
                    unpinned.replaced(&table, v, r, pinnable);
                }
            }
            let (supersede, history) = if pinnable {
                history.iter().for_each(|v| unpinned.passed(v));
                (current.len(), history)
            } else {
                (0, Vec::new())
            };
            // The current rows these views replace become history (a view
            // id belongs to one document, so `NOT IN` keeps a rewritten
            // current view where it is).
            for chunk in row_chunks(supersede) {
                let sql = self.statement(&table, Kind::Supersede, chunk.len());
                let params = current[chunk.clone()]
                    .iter()
                    .map(|(v, _)| Param::Text(Some(v.document_id.to_hex())))
                    .chain(
                        current[chunk]
                            .iter()
                            .map(|(v, _)| Param::Text(Some(v.view_id.to_string()))),
                    )
                    .collect();
                out.push((sql, params));
            }
            // Rows grouped by the columns that change (all of them for a new
            // document or an unknown row).
            let mut by_change: HashMap<Vec<bool>, Vec<Vec<Param>>> = HashMap::new();
            for (v, replaced) in &current {
                let row = table.row_params(v, backend);
                let changed = match replaced {
                    Some(r) => {
                        let old = table.row_params(r, backend);
                        row.iter().zip(&old).skip(1).map(|(n, o)| n != o).collect()
                    }
                    None => vec![true; row.len() - 1],
                };
                by_change.entry(changed).or_default().push(row);
            }
            let row_bytes = |row: &[Param]| row.iter().map(Param::bytes).sum::<usize>();
            for (changed, rows) in by_change {
                let bytes = |i: usize| row_bytes(&rows[i]);
                for chunk in row_chunks_within(rows.len(), table.width(), backend, bytes) {
                    let sql = self.current_statement(&table, &changed, chunk.len());
                    let params = rows[chunk].iter().flatten().cloned().collect();
                    out.push((sql, params));
                }
            }
            let history: Vec<Vec<Param>> = history
                .iter()
                .map(|v| table.row_params(v, backend))
                .collect();
            let bytes = |i: usize| row_bytes(&history[i]);
            let chunks = row_chunks_within(history.len(), table.width(), backend, bytes);
            let mut history_rows = history.into_iter();
            for chunk in chunks {
                let sql = self.statement(&table, Kind::History, chunk.len());
                let params = history_rows.by_ref().take(chunk.len()).flatten().collect();
                out.push((sql, params));
            }
            if table.has_lists() {
                for chunk in row_chunks(current.len()) {
                    let sql = self.statement(&table, Kind::ClearLists, chunk.len());
                    let params = current[chunk]
                        .iter()
                        .map(|(v, _)| Param::Text(Some(v.document_id.to_hex())))
                        .collect();
                    out.push((sql, params));
                }
                let items: Vec<Param> = current
                    .iter()
                    .flat_map(|(v, _)| {
                        let doc = v.document_id.to_hex();
                        list_items(&table, v)
                            .flat_map(move |(column, idx, target)| {
                                [
                                    Param::Text(Some(doc.clone())),
                                    Param::Text(Some(column.to_string())),
                                    Param::Int(Some(idx)),
                                    Param::Text(Some(target)),
                                ]
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let rows = items.len() / 4;
                let mut items = items.into_iter();
                for chunk in row_chunks(rows) {
                    let sql = self.statement(&table, Kind::Lists, chunk.len());
                    out.push((sql, items.by_ref().take(chunk.len() * 4).collect()));
                }
            }
        }
        // Last: whether a view is pinned depends on every current row.
        out.extend(unpinned.statements(&self.tables, backend));
        Ok(out)
    }

    /// The upsert of `rows` current rows that rewrites the columns marked
    /// in `changed` (all but the document id, in `row_params` order).
    fn current_statement(&mut self, table: &ViewTable, changed: &[bool], rows: usize) -> String {
        // Masks are few in practice (the sets of fields updates write);
        // bounded all the same.
        if self.current_statements.len() >= 1024 {
            self.current_statements.clear();
        }
        let backend = self.store.backend();
        self.current_statements
            .entry((table.table.clone(), changed.to_vec(), rows))
            .or_insert_with(|| all_or_nothing(&current_sql(table, changed, rows, backend), backend))
            .clone()
    }

    fn statement(&mut self, table: &ViewTable, kind: Kind, rows: usize) -> String {
        let backend = self.store.backend();
        self.statements
            .entry((table.table.clone(), kind as u8, rows))
            .or_insert_with(|| all_or_nothing(&statement_sql(table, kind, rows, backend), backend))
            .clone()
    }
}

/// Upserts `rows` current rows: new documents get the whole row, existing
/// ones only the columns marked in `changed` (meta columns after the
/// document id, then fields).
fn current_sql(table: &ViewTable, changed: &[bool], rows: usize, backend: Backend) -> String {
    let updates: Vec<String> = META[1..]
        .iter()
        .map(|m| m.to_string())
        .chain(table.columns.iter().map(|c| quote(&c.column)))
        .zip(changed.iter().chain(std::iter::repeat(&true)))
        .filter(|(_, changed)| **changed)
        .map(|(c, _)| c)
        .collect();
    multi_row_of(
        &format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(&table.table),
            table.column_list()
        ),
        &table.row_placeholders(backend),
        rows,
        &on_conflict(&quote(&table.table), "_document_id", &updates, backend),
        backend,
    )
}

/// The SQL of one kind of view write for `rows` rows.
fn statement_sql(table: &ViewTable, kind: Kind, rows: usize, backend: Backend) -> String {
    match kind {
        Kind::Supersede => {
            let marks = vec!["?"; rows].join(", ");
            render(
                &format!(
                    "INSERT INTO {} ({cols}) SELECT {cols} FROM {} \
                     WHERE _document_id IN ({marks}) AND _view_id NOT IN ({marks}){}",
                    quote(&table.views_table()),
                    quote(&table.table),
                    on_conflict(&quote(&table.views_table()), "_view_id", &[], backend),
                    cols = table.column_list(),
                ),
                backend,
            )
        }
        Kind::History => multi_row_of(
            &format!(
                "INSERT INTO {} ({}) VALUES ",
                quote(&table.views_table()),
                table.column_list()
            ),
            &table.row_placeholders(backend),
            rows,
            &on_conflict(&quote(&table.views_table()), "_view_id", &[], backend),
            backend,
        ),
        Kind::ClearLists => render(
            &format!(
                "DELETE FROM {} WHERE _document_id IN ({})",
                quote(&table.lists_table()),
                vec!["?"; rows].join(", ")
            ),
            backend,
        ),
        Kind::Lists => multi_row(
            &format!(
                "INSERT INTO {} (_document_id, _field, _idx, _target) VALUES ",
                quote(&table.lists_table())
            ),
            4,
            rows,
            "",
            backend,
        ),
    }
}
