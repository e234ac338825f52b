//! The materialized views: one set of tables per schema, the SQL that
//! creates, writes and reads them, and the materializer's cursor.
//!
//! For a schema the tables are `<t>` (the current view of every document,
//! typed columns per field, indexed for filtering and ordering),
//! `<t>__views` (every view that was a document's current one and no longer
//! is, by view id: with `<t>` it answers pinned relations and `viewId`
//! queries; current views are not copied there, which would double the
//! rows a new document writes) and, if the schema has relation
//! lists, `<t>__lists` (one row per list item of current views, so lists
//! can be joined and filtered). Meta columns start with `_`; field columns
//! are `f<index>_<name>`, which no field name can clash with.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use hoffnung_core::{
    DocumentId, DocumentView, DocumentViewId, FieldType, Fields, Hash, OperationValue, PublicKey,
    Schema, SchemaId,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::StoreError;
use crate::sql::{all_or_nothing, multi_row, multi_row_of, render, row_chunks, Backend, Param};
use crate::{hash_col, schema_col, Store};

/// PostgreSQL truncates longer identifiers.
const MAX_IDENTIFIER: usize = 63;

/// How one field of a schema is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewColumn {
    pub field: String,
    /// Column name, unquoted.
    pub column: String,
    pub ty: FieldType,
}

/// The SQL layout of one schema's views. Derived from the schema alone, so
/// every reader computes the same names.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewTable {
    pub schema_id: SchemaId,
    /// The current-views table, unquoted; the other two add a suffix.
    pub table: String,
    pub columns: Vec<ViewColumn>,
}

/// Meta columns, in the order every statement here uses them.
const META: [&str; 5] = ["_document_id", "_view_id", "_owner", "_edited", "_deleted"];

pub(crate) fn is_list(ty: &FieldType) -> bool {
    matches!(
        ty,
        FieldType::RelationList(_) | FieldType::PinnedRelationList(_)
    )
}

/// Truncates to at most `max` bytes (names here are ASCII).
fn truncated(s: &str, max: usize) -> &str {
    &s[..s.len().min(max)]
}

/// SQL for the lowercase hex text of a BLOB column (how view tables
/// spell ids).
pub(crate) fn hex_of(column: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!("lower(hex({column}))"),
        Backend::Postgres => format!("encode({column}, 'hex')"),
    }
}

/// Quotes an identifier (all names here are `[a-z0-9_]`, quoting keeps
/// reserved words such as `order` usable).
pub fn quote(identifier: &str) -> String {
    format!("\"{identifier}\"")
}

impl ViewTable {
    pub fn for_schema(schema: &Schema) -> Self {
        let id = schema.id();
        // A readable prefix and a digest of the whole id: unique, and short
        // enough for PostgreSQL with the longest suffix.
        let digest = Hash::of(id.to_string().as_bytes()).to_hex();
        let name = id.name().to_ascii_lowercase();
        let table = format!("{}_{}", truncated(&name, 36), &digest[4..14]);
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, (field, ty))| {
                let column = format!("f{i}_{}", field.to_ascii_lowercase());
                ViewColumn {
                    field: field.clone(),
                    column: truncated(&column, MAX_IDENTIFIER).to_string(),
                    ty: ty.clone(),
                }
            })
            .collect();
        Self {
            schema_id: id.clone(),
            table,
            columns,
        }
    }

    pub fn views_table(&self) -> String {
        format!("{}__views", self.table)
    }

    pub fn lists_table(&self) -> String {
        format!("{}__lists", self.table)
    }

    pub fn has_lists(&self) -> bool {
        self.columns.iter().any(|c| is_list(&c.ty))
    }

    pub fn column(&self, field: &str) -> Option<&ViewColumn> {
        self.columns.iter().find(|c| c.field == field)
    }

    /// Meta and field columns, quoted, comma-separated.
    fn column_list(&self) -> String {
        META.iter()
            .map(|m| m.to_string())
            .chain(self.columns.iter().map(|c| quote(&c.column)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// [`ViewTable::column_list`] with a table alias.
    pub(crate) fn column_list_as(&self, alias: &str) -> String {
        META.iter()
            .map(|m| format!("{alias}.{m}"))
            .chain(
                self.columns
                    .iter()
                    .map(|c| format!("{alias}.{}", quote(&c.column))),
            )
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn width(&self) -> usize {
        META.len() + self.columns.len()
    }

    /// The statements that create the tables and their indexes.
    fn ddl(&self, backend: Backend) -> Vec<String> {
        let text = match backend {
            Backend::Sqlite => "TEXT",
            // Byte order, as SQLite and the ids' own order.
            Backend::Postgres => "TEXT COLLATE \"C\"",
        };
        let boolean = match backend {
            Backend::Sqlite => "INTEGER",
            Backend::Postgres => "BOOLEAN",
        };
        let sql_type = |ty: &FieldType| match ty {
            FieldType::Bool => boolean,
            FieldType::Int => "BIGINT",
            FieldType::Float => match backend {
                Backend::Sqlite => "REAL",
                Backend::Postgres => "DOUBLE PRECISION",
            },
            FieldType::Bytes => match backend {
                Backend::Sqlite => "BLOB",
                Backend::Postgres => "BYTEA",
            },
            _ => text,
        };
        let fields: String = self
            .columns
            .iter()
            .map(|c| format!(", {} {}", quote(&c.column), sql_type(&c.ty)))
            .collect();
        let meta = |key: &str| {
            format!(
                "_document_id {text} NOT NULL{}, _view_id {text} NOT NULL{}, _owner {text} NOT NULL, \
                 _edited {boolean} NOT NULL, _deleted {boolean} NOT NULL",
                if key == "_document_id" { " PRIMARY KEY" } else { "" },
                if key == "_view_id" { " PRIMARY KEY" } else { "" },
            )
        };
        // SQLite: one b-tree per table instead of a rowid table plus a
        // primary key index (the keys are ids, never rowids).
        let without_rowid = match backend {
            Backend::Sqlite => " WITHOUT ROWID",
            Backend::Postgres => "",
        };
        let t = quote(&self.table);
        let mut out = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} ({}{fields}){without_rowid}",
                meta("_document_id")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} ({}{fields}){without_rowid}",
                quote(&self.views_table()),
                meta("_view_id")
            ),
        ];
        // Filtering and ordering by a field, with the document id as the
        // tie-break of cursors.
        // Partial indexes of live documents only: collections never show
        // deleted ones, so counts and filters are index-only. Each field
        // index holds every live document (nulls included), so it also
        // serves unfiltered counts: the index of live ids alone is made
        // only for a schema without one (it cost every new document one
        // more page with a random key).
        let live = live_condition(backend);
        if self.columns.iter().all(|c| is_list(&c.ty)) {
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (_document_id) WHERE {live}",
                quote(&format!("{}__live", self.table))
            ));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if !is_list(&c.ty) {
                out.push(format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {t} ({}, _document_id) WHERE {live}",
                    quote(&format!("{}__i{i}", self.table)),
                    quote(&c.column)
                ));
            }
        }
        if self.has_lists() {
            let l = quote(&self.lists_table());
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {l} (_document_id {text} NOT NULL, _field {text} NOT NULL, \
                 _idx BIGINT NOT NULL, _target {text} NOT NULL, PRIMARY KEY (_document_id, _field, _idx)){without_rowid}"
            ));
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {l} (_field, _target)",
                quote(&format!("{}__target", self.table))
            ));
        }
        out
    }

    /// The parameters of one row: meta columns, then fields (typed nulls
    /// for a deleted view).
    fn row_params(&self, view: &DocumentView, backend: Backend) -> Vec<Param> {
        let mut p = Vec::with_capacity(self.width());
        p.push(Param::Text(Some(view.document_id.to_hex())));
        p.push(Param::Text(Some(view.view_id.to_string())));
        p.push(Param::Text(Some(view.owner.to_hex())));
        p.push(Param::Bool(Some(view.is_edited)));
        p.push(Param::Bool(Some(view.is_deleted)));
        for c in &self.columns {
            let value = view
                .fields
                .as_ref()
                .and_then(|f| f.get(&c.field))
                .map(|f| &f.value);
            p.push(param_of(&c.ty, value, backend));
        }
        p
    }

    /// One row's placeholders. PostgreSQL gets floats as text cast to
    /// DOUBLE PRECISION: sqlx's Any driver binds a NULL double as a float4,
    /// which then poisons the cached statement for non-null doubles.
    fn row_placeholders(&self, backend: Backend) -> String {
        let fields = self.columns.iter().map(|c| match (&c.ty, backend) {
            (FieldType::Float, Backend::Postgres) => "CAST(? AS DOUBLE PRECISION)",
            _ => "?",
        });
        let all: Vec<&str> = std::iter::repeat_n("?", META.len()).chain(fields).collect();
        format!("({})", all.join(", "))
    }
}

/// The condition of live (not deleted) rows, as a literal: the planner
/// uses a partial index only when the query states its condition.
pub(crate) fn live_condition(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "_deleted = 0",
        Backend::Postgres => "_deleted = false",
    }
}

/// Separates the items of a relation list in its column.
const LIST_SEPARATOR: char = ' ';

fn param_of(ty: &FieldType, value: Option<&OperationValue>, backend: Backend) -> Param {
    use OperationValue as V;
    match (ty, value) {
        // See `ViewTable::row_placeholders`.
        (FieldType::Float, None) if backend == Backend::Postgres => Param::Text(None),
        (_, Some(V::Bool(b))) => Param::Bool(Some(*b)),
        (_, Some(V::Int(i))) => Param::Int(Some(*i)),
        (_, Some(V::Float(f))) => float_param(*f, backend),
        (_, Some(V::Str(s))) => Param::Text(Some(s.clone())),
        (_, Some(V::Bytes(b))) => Param::Blob(Some(b.clone())),
        (_, Some(V::Relation(d))) => Param::Text(Some(d.to_hex())),
        (_, Some(V::PinnedRelation(v))) => Param::Text(Some(v.to_string())),
        (_, Some(V::RelationList(l))) => Param::Text(Some(join(l.iter().map(|d| d.to_hex())))),
        (_, Some(V::PinnedRelationList(l))) => {
            Param::Text(Some(join(l.iter().map(|v| v.to_string()))))
        }
        (FieldType::Bool, None) => Param::Bool(None),
        (FieldType::Int, None) => Param::Int(None),
        (FieldType::Float, None) => Param::Float(None),
        (FieldType::Bytes, None) => Param::Blob(None),
        (_, None) => Param::Text(None),
    }
}

/// SQLite has no NaN (it would store NULL): a NaN float is stored as the
/// text `NaN` in its REAL column, which SQLite sorts after every number and
/// finds greater than any of them, as PostgreSQL does with NaN; so filters,
/// ordering and cursors agree on both backends.
const SQLITE_NAN: &str = "NaN";

/// A float as a parameter (PostgreSQL: text, see `row_placeholders`).
pub(crate) fn float_param(f: f64, backend: Backend) -> Param {
    match backend {
        // Debug prints every f64 exactly (`NaN`, `inf` and `-inf` included,
        // which PostgreSQL reads).
        Backend::Postgres => Param::Text(Some(format!("{f:?}"))),
        Backend::Sqlite if f.is_nan() => Param::Text(Some(SQLITE_NAN.into())),
        Backend::Sqlite => Param::Float(Some(f)),
    }
}

/// A float column (see [`SQLITE_NAN`]).
pub(crate) fn read_float(row: &AnyRow, idx: usize) -> Result<Option<f64>, StoreError> {
    match row.try_get::<Option<f64>, _>(idx) {
        Ok(f) => Ok(f),
        Err(e) => match row.try_get::<String, _>(idx) {
            Ok(s) if s == SQLITE_NAN => Ok(Some(f64::NAN)),
            _ => Err(e.into()),
        },
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(&LIST_SEPARATOR.to_string())
}

/// The list items of a view: (column, index, target) per item.
fn list_items<'a>(
    table: &'a ViewTable,
    view: &'a DocumentView,
) -> impl Iterator<Item = (&'a str, i64, String)> + 'a {
    table.columns.iter().flat_map(move |c| {
        let value = view
            .fields
            .as_ref()
            .and_then(|f| f.get(&c.field))
            .map(|f| &f.value);
        let items: Vec<String> = match value {
            Some(OperationValue::RelationList(l)) => l.iter().map(|d| d.to_hex()).collect(),
            Some(OperationValue::PinnedRelationList(l)) => {
                l.iter().map(|v| v.to_string()).collect()
            }
            _ => Vec::new(),
        };
        items
            .into_iter()
            .enumerate()
            .map(move |(i, t)| (c.column.as_str(), i as i64, t))
    })
}

/// A view as the tables hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewRow {
    pub document_id: DocumentId,
    pub view_id: DocumentViewId,
    pub owner: PublicKey,
    pub is_edited: bool,
    pub is_deleted: bool,
    /// `None` when deleted.
    pub fields: Option<Fields>,
}

impl ViewRow {
    /// What a reduced view looks like once stored.
    pub fn of(view: &DocumentView) -> Self {
        Self {
            document_id: view.document_id,
            view_id: view.view_id.clone(),
            owner: view.owner,
            is_edited: view.is_edited,
            is_deleted: view.is_deleted,
            fields: view.fields.as_ref().map(|f| {
                f.iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect()
            }),
        }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn get_bool(row: &AnyRow, idx: usize, backend: Backend) -> Result<Option<bool>, StoreError> {
    Ok(match backend {
        Backend::Sqlite => row.try_get::<Option<i64>, _>(idx)?.map(|v| v != 0),
        Backend::Postgres => row.try_get::<Option<bool>, _>(idx)?,
    })
}

fn parse_list<T: FromStr>(s: &str) -> Result<Vec<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.split(LIST_SEPARATOR)
        .filter(|i| !i.is_empty())
        .map(|i| i.parse::<T>().map_err(|e| corrupt("stored relation", e)))
        .collect()
}

pub(crate) fn decode_row(
    table: &ViewTable,
    row: &AnyRow,
    backend: Backend,
) -> Result<ViewRow, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> { Ok(row.try_get::<String, _>(i)?) };
    let document_id = Hash::from_str(&text(0)?).map_err(|e| corrupt("document id", e))?;
    let view_id = DocumentViewId::from_str(&text(1)?).map_err(|e| corrupt("view id", e))?;
    let owner = PublicKey::from_str(&text(2)?).map_err(|e| corrupt("owner", e))?;
    let is_edited = get_bool(row, 3, backend)?.unwrap_or_default();
    let is_deleted = get_bool(row, 4, backend)?.unwrap_or_default();
    let fields = if is_deleted {
        None
    } else {
        let mut fields = Fields::new();
        for (i, c) in table.columns.iter().enumerate() {
            let idx = META.len() + i;
            let value = match &c.ty {
                FieldType::Bool => get_bool(row, idx, backend)?.map(OperationValue::Bool),
                FieldType::Int => row.try_get::<Option<i64>, _>(idx)?.map(OperationValue::Int),
                FieldType::Float => read_float(row, idx)?.map(OperationValue::Float),
                FieldType::Bytes => row
                    .try_get::<Option<Vec<u8>>, _>(idx)?
                    .map(OperationValue::Bytes),
                ty => match row.try_get::<Option<String>, _>(idx)? {
                    None => None,
                    Some(s) => Some(match ty {
                        FieldType::Relation(_) => OperationValue::Relation(
                            Hash::from_str(&s).map_err(|e| corrupt("relation", e))?,
                        ),
                        FieldType::PinnedRelation(_) => OperationValue::PinnedRelation(
                            DocumentViewId::from_str(&s)
                                .map_err(|e| corrupt("pinned relation", e))?,
                        ),
                        FieldType::RelationList(_) => OperationValue::RelationList(parse_list(&s)?),
                        FieldType::PinnedRelationList(_) => {
                            OperationValue::PinnedRelationList(parse_list(&s)?)
                        }
                        _ => OperationValue::Str(s),
                    }),
                },
            };
            if let Some(v) = value {
                fields.insert(c.field.clone(), v);
            }
        }
        Some(fields)
    };
    Ok(ViewRow {
        document_id,
        view_id,
        owner,
        is_edited,
        is_deleted,
        fields,
    })
}

/// An operation as the materializer reads it from the event store.
#[derive(Debug, Clone)]
pub struct StoredOperation {
    /// Position in the global ingest order.
    pub entry_id: i64,
    pub id: Hash,
    pub public_key: PublicKey,
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    /// The operation as received.
    pub payload: Vec<u8>,
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

const OPERATION_COLUMNS: &str = "id, entry_hash, public_key, document_id, schema_id, payload";

impl Store {
    /// Operations in ingest order after entry id `after`, at most `limit`.
    pub async fn operations_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        let sql = render(
            &format!("SELECT {OPERATION_COLUMNS} FROM entries WHERE id > ? ORDER BY id LIMIT ?"),
            self.backend(),
        );
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
        let columns = OPERATION_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = render(
            &format!(
                "SELECT {columns} FROM {} l \
                 JOIN entries e ON e.public_key = l.public_key AND e.log_id = l.log_id \
                 WHERE e.id <= ? ORDER BY e.id",
                crate::sql::document_logs!()
            ),
            self.backend(),
        );
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
            sqlx::query_scalar("SELECT cursor FROM materializer WHERE id = 1")
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

    /// Refreshes the query planner's statistics of these view tables
    /// (bounded work on SQLite). Without them SQLite takes any equality
    /// filter for selective and sorts instead of walking the order's index.
    pub async fn analyze(&self, tables: &[&ViewTable]) -> Result<(), StoreError> {
        let mut statements = Vec::new();
        for t in tables {
            statements.push(format!("ANALYZE {}", quote(&t.table)));
            if t.has_lists() {
                statements.push(format!("ANALYZE {}", quote(&t.lists_table())));
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
            Backend::Postgres => {
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
        let table = ViewTable::for_schema(schema);
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
                    "INSERT INTO view_tables (schema_id, table_name) VALUES (?, ?) ON CONFLICT (schema_id) DO NOTHING",
                    backend,
                ),
                vec![
                    Param::Text(Some(schema.id().to_string())),
                    Param::Text(Some(table.table.clone())),
                ],
            ));
            self.store.run_script(statements, None).await?;
            tracing::info!(schema = %schema.id(), table = %table.table, "view tables created");
        }
        self.tables.insert(schema.id().clone(), Arc::new(table));
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
        self.store.queue_script(statements, Some((from, to))).await
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
        for (schema_id, (current, history)) in by_table {
            let table = self
                .tables
                .get(schema_id)
                .cloned()
                .ok_or_else(|| StoreError::NoViewTable(schema_id.clone()))?;
            // The current rows these views replace become history (a view
            // id belongs to one document, so `NOT IN` keeps a rewritten
            // current view where it is).
            for chunk in row_chunks(current.len()) {
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
            for (changed, rows) in by_change {
                for chunk in row_chunks(rows.len()) {
                    let sql = self.current_statement(&table, &changed, chunk.len());
                    let params = rows[chunk].iter().flatten().cloned().collect();
                    out.push((sql, params));
                }
            }
            for chunk in row_chunks(history.len()) {
                let sql = self.statement(&table, Kind::History, chunk.len());
                let params = history[chunk]
                    .iter()
                    .flat_map(|v| table.row_params(v, backend))
                    .collect();
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
    let updates = META[1..]
        .iter()
        .map(|m| m.to_string())
        .chain(table.columns.iter().map(|c| quote(&c.column)))
        .zip(changed.iter().chain(std::iter::repeat(&true)))
        .filter(|(_, changed)| **changed)
        .map(|(c, _)| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let on_conflict = if updates.is_empty() {
        " ON CONFLICT (_document_id) DO NOTHING".to_string()
    } else {
        format!(" ON CONFLICT (_document_id) DO UPDATE SET {updates}")
    };
    multi_row_of(
        &format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(&table.table),
            table.column_list()
        ),
        &table.row_placeholders(backend),
        rows,
        &on_conflict,
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
                     WHERE _document_id IN ({marks}) AND _view_id NOT IN ({marks}) \
                     ON CONFLICT (_view_id) DO NOTHING",
                    quote(&table.views_table()),
                    quote(&table.table),
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
            " ON CONFLICT (_view_id) DO NOTHING",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_postgres_and_do_not_clash() {
        let long = "a".repeat(64);
        let schema = Schema::new(
            SchemaId::application(
                &format!("{}b", "x".repeat(62)),
                DocumentViewId::from_operation(Hash::of(b"v")),
            )
            .unwrap(),
            "d",
            vec![
                (long.clone(), FieldType::Int),
                (format!("{}B", &long[..63]), FieldType::Int),
                ("Name".into(), FieldType::Str),
                ("name".into(), FieldType::Str),
            ],
        )
        .unwrap();
        let t = ViewTable::for_schema(&schema);
        assert!(t.lists_table().len() <= MAX_IDENTIFIER);
        let mut cols: Vec<_> = t.columns.iter().map(|c| c.column.clone()).collect();
        assert!(cols.iter().all(|c| c.len() <= MAX_IDENTIFIER));
        cols.sort();
        cols.dedup();
        assert_eq!(cols.len(), 4);
    }
}
