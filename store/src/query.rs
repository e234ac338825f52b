//! Collection queries on the view tables: filters, ordering and keyset
//! pagination compiled to SQL (no filtering in memory), for `all_<schema>`
//! queries and relation lists.

use hoffnung_core::FieldType;
use sqlx::Row;

use crate::error::StoreError;
use crate::sql::{arguments, render, Backend, Param};
use crate::views::{decode_row, hex_of, is_list, live_condition, quote, ViewRow, ViewTable};
use crate::Store;

/// A value to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Strings, ids in their hex / view id string form.
    Text(String),
    Bytes(Vec<u8>),
}

impl Operand {
    fn param(&self, backend: Backend) -> Param {
        match self {
            Operand::Bool(b) => Param::Bool(Some(*b)),
            Operand::Int(i) => Param::Int(Some(*i)),
            Operand::Float(f) => crate::views::float_param(*f, backend),
            Operand::Text(s) => Param::Text(Some(s.clone())),
            Operand::Bytes(b) => Param::Blob(Some(b.clone())),
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    NotEq,
    In,
    NotIn,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    NotContains,
}

/// What a filter or the order looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    DocumentId,
    ViewId,
    Owner,
    Edited,
    Deleted,
    /// An application field, by name.
    Field(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub target: Target,
    pub op: FilterOp,
    /// One value, or the set of `In` / `NotIn`.
    pub values: Vec<Operand>,
}

/// Where a page starts: after the row with this order key and document id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub key: Operand,
    pub document_id: String,
}

/// A collection query on one schema's current views.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionQuery {
    pub filters: Vec<Filter>,
    /// `None`: by document id (or, inside a relation list, by list position).
    pub order_by: Option<Target>,
    pub descending: bool,
    pub first: u32,
    pub after: Option<Cursor>,
    /// Only the documents a relation list names, in its order.
    pub list: Option<ListScope>,
}

/// The items of one relation list of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ListScope {
    pub items: ListItems,
    /// Pinned lists name views (`_view_id`), others documents.
    pub pinned: bool,
}

/// Where the items of a list come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ListItems {
    /// The list of a current view, in the lists table of its schema.
    Stored {
        lists_table: String,
        owner_document: String,
        /// The list field's column name.
        column: String,
    },
    /// The items themselves (a historic view's list), in list order.
    Given(Vec<String>),
}

/// One page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<(ViewRow, Cursor)>,
    pub has_next_page: bool,
}

/// SQL pieces with their parameters, in order.
struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }
    fn bind(&mut self, p: Param) {
        self.text.push('?');
        self.params.push(p);
    }
}

/// An error in a query that the caller should see (bad field, bad operand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn column_of(table: &ViewTable, target: &Target, alias: &str) -> Result<String, QueryError> {
    let meta = |c: &str| format!("{alias}.{c}");
    Ok(match target {
        Target::DocumentId => meta("_document_id"),
        Target::ViewId => meta("_view_id"),
        Target::Owner => meta("_owner"),
        Target::Edited => meta("_edited"),
        Target::Deleted => meta("_deleted"),
        Target::Field(name) => {
            let c = table
                .column(name)
                .ok_or_else(|| QueryError(format!("unknown field `{name}`")))?;
            format!("{alias}.{}", quote(&c.column))
        }
    })
}

fn push_filter(
    sql: &mut Sql,
    table: &ViewTable,
    filter: &Filter,
    backend: Backend,
) -> Result<(), QueryError> {
    let list_field = match &filter.target {
        Target::Field(name) => table.column(name).filter(|c| is_list(&c.ty)),
        _ => None,
    };
    if let Some(c) = list_field {
        // A list matches `in` if any item is in the set; `notIn` if none is.
        let negate = match filter.op {
            FilterOp::In => false,
            FilterOp::NotIn => true,
            op => return Err(QueryError(format!("{op:?} does not apply to a list"))),
        };
        if filter.values.is_empty() {
            // No item is in the empty set (and `IN ()` is not SQL everywhere).
            sql.push(if negate { "1 = 1" } else { "1 = 0" });
            return Ok(());
        }
        sql.push(if negate { "NOT EXISTS (" } else { "EXISTS (" });
        sql.push(&format!(
            "SELECT 1 FROM {} l WHERE l._document_id = t._document_id AND l._field = ",
            quote(&table.lists_table())
        ));
        sql.bind(Param::Text(Some(c.column.clone())));
        sql.push(" AND l._target IN (");
        push_values(sql, &filter.values, backend);
        sql.push("))");
        return Ok(());
    }
    let col = column_of(table, &filter.target, "t")?;
    let value = |sql: &mut Sql| -> Result<(), QueryError> {
        let v = filter
            .values
            .first()
            .ok_or_else(|| QueryError("a filter needs a value".into()))?;
        bind_operand(sql, v, backend);
        Ok(())
    };
    let cmp = |sql: &mut Sql, op: &str| -> Result<(), QueryError> {
        sql.push(&format!("{col} {op} "));
        value(sql)
    };
    match filter.op {
        FilterOp::Eq => cmp(sql, "=")?,
        FilterOp::NotEq => cmp(sql, "<>")?,
        FilterOp::Gt => cmp(sql, ">")?,
        FilterOp::Gte => cmp(sql, ">=")?,
        FilterOp::Lt => cmp(sql, "<")?,
        FilterOp::Lte => cmp(sql, "<=")?,
        FilterOp::In | FilterOp::NotIn => {
            if filter.values.is_empty() {
                // Nothing is in the empty set.
                sql.push(if filter.op == FilterOp::In {
                    "1 = 0"
                } else {
                    "1 = 1"
                });
            } else {
                sql.push(&col);
                sql.push(if filter.op == FilterOp::In {
                    " IN ("
                } else {
                    " NOT IN ("
                });
                push_values(sql, &filter.values, backend);
                sql.push(")");
            }
        }
        FilterOp::Contains | FilterOp::NotContains => {
            // ASCII letters match either case, everything else literally, on
            // every backend alike (docs/compatibility.md): SQLite's LIKE and
            // PostgreSQL's ILIKE under the "C" collation fold ASCII only.
            let text = match filter.values.first() {
                Some(Operand::Text(s)) => s,
                _ => return Err(QueryError("`contains` needs a string".into())),
            };
            let not = if filter.op == FilterOp::Contains {
                ""
            } else {
                "NOT "
            };
            let like = match backend {
                Backend::Sqlite => format!("{col} {not}LIKE "),
                Backend::Postgres => format!("{col} COLLATE \"C\" {not}ILIKE "),
            };
            sql.push(&like);
            sql.bind(Param::Text(Some(contains_pattern(text))));
            sql.push(&format!(" ESCAPE '{LIKE_ESCAPE}'"));
        }
    }
    Ok(())
}

/// The escape character of `contains` patterns: not a backslash, which
/// some SQL dialects read as an escape inside string literals.
const LIKE_ESCAPE: char = '!';

/// `%<text>%` with the wildcards `%` and `_` (and the escape character
/// itself) in `text` escaped, so that the text matches literally.
fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_') || c == LIKE_ESCAPE {
            out.push(LIKE_ESCAPE);
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn bind_operand(sql: &mut Sql, v: &Operand, backend: Backend) {
    if let (Operand::Float(_), Backend::Postgres) = (v, backend) {
        sql.push("CAST(");
        sql.bind(v.param(backend));
        sql.push(" AS DOUBLE PRECISION)");
    } else {
        sql.bind(v.param(backend));
    }
}

fn push_values(sql: &mut Sql, values: &[Operand], backend: Backend) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        bind_operand(sql, v, backend);
    }
}

/// `FROM` and `WHERE` of a collection: live documents, the filters, the
/// list scope.
fn from_where(
    table: &ViewTable,
    query: &CollectionQuery,
    backend: Backend,
) -> Result<Sql, QueryError> {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    match &query.list {
        Some(scope) if scope.pinned => {
            // Items name views: superseded ones are in the history table,
            // current ones in the current table, found through the document
            // of the view id's first operation. One arm per table, each a
            // lookup by key; the union is as long as the list.
            let history = quote(&table.views_table());
            let arm = |sql: &mut Sql, current: bool| {
                let alias = if current { "c" } else { "h" };
                sql.push(&format!(
                    "SELECT i._idx AS _idx, {} FROM ",
                    table.column_list_as(alias)
                ));
                push_items(sql, &scope.items);
                if current {
                    sql.push(&format!(
                        " JOIN {} c ON c._document_id = (SELECT {} FROM entries e WHERE e.entry_hash = {}) \
                         AND c._view_id = i._target WHERE NOT EXISTS (SELECT 1 FROM {history} h WHERE h._view_id = i._target)",
                        quote(&table.table),
                        hex_of("e.document_id", backend),
                        first_operation_of("i._target", backend),
                    ));
                } else {
                    sql.push(&format!(
                        " JOIN {history} h ON h._view_id = i._target WHERE 1 = 1"
                    ));
                }
                push_items_condition(sql, &scope.items);
            };
            sql.push(" FROM (");
            arm(&mut sql, false);
            sql.push(" UNION ALL ");
            arm(&mut sql, true);
            sql.push(") t WHERE ");
        }
        Some(scope) => {
            sql.push(" FROM ");
            push_items(&mut sql, &scope.items);
            sql.push(&format!(
                " JOIN {} t ON t._document_id = i._target WHERE 1 = 1",
                quote(&table.table)
            ));
            push_items_condition(&mut sql, &scope.items);
            sql.push(" AND ");
        }
        None => sql.push(&format!(" FROM {} t WHERE ", quote(&table.table))),
    }
    // Deleted documents never appear (as upstream), whatever the filters say.
    sql.push(&format!("t.{}", live_condition(backend)));
    for f in &query.filters {
        sql.push(" AND ");
        push_filter(&mut sql, table, f, backend)?;
    }
    Ok(sql)
}

/// The items of a list scope as a table `i` (`_idx`, `_target`, and for a
/// stored list its owner and field, see [`push_items_condition`]).
fn push_items(sql: &mut Sql, items: &ListItems) {
    match items {
        ListItems::Stored { lists_table, .. } => sql.push(&format!("{} i", quote(lists_table))),
        ListItems::Given(items) => {
            sql.push("(");
            if items.is_empty() {
                sql.push("SELECT 0 AS _idx, '' AS _target WHERE 1 = 0");
            }
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.push(&format!("SELECT {n} AS _idx, "));
                sql.bind(Param::Text(Some(item.clone())));
                sql.push(" AS _target");
            }
            sql.push(") i");
        }
    }
}

/// ` AND` the rows of [`push_items`] that belong to the list.
fn push_items_condition(sql: &mut Sql, items: &ListItems) {
    if let ListItems::Stored {
        owner_document,
        column,
        ..
    } = items
    {
        sql.push(" AND i._document_id = ");
        sql.bind(Param::Text(Some(owner_document.clone())));
        sql.push(" AND i._field = ");
        sql.bind(Param::Text(Some(column.clone())));
    }
}

/// SQL for the hash (BLOB) of the first operation of a view id held as
/// text in `column`: its first 68 hex digits.
fn first_operation_of(column: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!("unhex(substr({column}, 1, 68))"),
        Backend::Postgres => format!("decode(substr({column}, 1, 68), 'hex')"),
    }
}

/// The list position column of a list scope.
fn position(query: &CollectionQuery) -> &'static str {
    match &query.list {
        Some(scope) if scope.pinned => "t._idx",
        _ => "i._idx",
    }
}

/// Keyset condition: rows after the cursor in the query's order.
fn push_after(
    sql: &mut Sql,
    query: &CollectionQuery,
    key: &str,
    tie: &str,
    backend: Backend,
) -> Result<(), QueryError> {
    let Some(after) = &query.after else {
        return Ok(());
    };
    let gt = if query.descending { "<" } else { ">" };
    sql.push(&format!(" AND ({key} {gt} "));
    bind_operand(sql, &after.key, backend);
    sql.push(&format!(" OR ({key} = "));
    bind_operand(sql, &after.key, backend);
    sql.push(&format!(" AND {tie} {gt} "));
    let tie_value = if query.list.is_some() {
        match after.document_id.parse::<i64>() {
            Ok(i) => Param::Int(Some(i)),
            Err(_) => return Err(QueryError("malformed cursor".into())),
        }
    } else {
        Param::Text(Some(after.document_id.clone()))
    };
    sql.bind(tie_value);
    sql.push("))");
    Ok(())
}

/// The order key column (or the list position).
fn order_column(table: &ViewTable, query: &CollectionQuery) -> Result<String, QueryError> {
    match (&query.order_by, &query.list) {
        (Some(t), _) => {
            if let Target::Field(name) = t {
                if table.column(name).is_none() {
                    return Err(QueryError(format!("unknown field `{name}`")));
                }
            }
            column_of(table, t, "t")
        }
        (None, Some(_)) => Ok(position(query).to_string()),
        (None, None) => Ok("t._document_id".to_string()),
    }
}

impl Store {
    /// One page of a collection.
    pub async fn query_collection(
        &self,
        table: &ViewTable,
        query: &CollectionQuery,
    ) -> Result<Result<Page, QueryError>, StoreError> {
        let backend = self.backend();
        let mut sql = match from_where(table, query, backend) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let key = match order_column(table, query) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        // The tie-break is the document id (or the list position, unique
        // within a list even with duplicates).
        let tie = if query.list.is_some() {
            position(query)
        } else {
            "t._document_id"
        };
        if let Err(e) = push_after(&mut sql, query, &key, tie, backend) {
            return Ok(Err(e));
        }
        let dir = if query.descending { "DESC" } else { "ASC" };
        sql.push(&format!(" ORDER BY {key} {dir}, {tie} {dir} LIMIT "));
        sql.bind(Param::Int(Some(i64::from(query.first) + 1)));
        let select = format!(
            "SELECT {}, {key}, {tie}{}",
            table.column_list_as("t"),
            sql.text
        );
        let windowed =
            if backend == Backend::Sqlite && query.list.is_none() && !query.filters.is_empty() {
                match self.windowed(table, query, &key, tie).await? {
                    Ok(rows) => rows,
                    Err(e) => return Ok(Err(e)),
                }
            } else {
                None
            };
        let rows = match windowed {
            Some(rows) => rows,
            None => {
                self.count_read();
                sqlx::query_with(&render(&select, backend), arguments(sql.params)?)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        let width = table.width();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows.iter().take(query.first as usize) {
            let view = decode_row(table, row, backend)?;
            let key = read_operand(row, width, order_type(table, query), backend)?;
            let tie: String = if query.list.is_some() {
                row.try_get::<i64, _>(width + 1)?.to_string()
            } else {
                row.try_get(width + 1)?
            };
            out.push((
                view,
                Cursor {
                    key,
                    document_id: tie,
                },
            ));
        }
        Ok(Ok(Page {
            has_next_page: rows.len() > query.first as usize,
            rows: out,
        }))
    }

    /// SQLite's planner (3.46) sorts every row an equality filter matches
    /// rather than walk the order's index and stop at the page, whatever
    /// the statistics say: a page of 25 of 100,000 documents would sort
    /// 25,000. So first look at the next `query_window` documents in order
    /// (the order's index, bounded work) and filter those; that settles
    /// the page if it fills it or reaches the end. Otherwise (a selective
    /// filter) `None`: the planner's plan, which suits that case.
    async fn windowed(
        &self,
        table: &ViewTable,
        query: &CollectionQuery,
        key: &str,
        tie: &str,
    ) -> Result<Result<Option<Vec<sqlx::any::AnyRow>>, QueryError>, StoreError> {
        let backend = self.backend();
        let mut unfiltered = query.clone();
        unfiltered.filters.clear();
        let mut inner = match from_where(table, &unfiltered, backend) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = push_after(&mut inner, query, key, tie, backend) {
            return Ok(Err(e));
        }
        let dir = if query.descending { "DESC" } else { "ASC" };
        // At least four pages' worth, so that a filter matching a quarter
        // of the documents fills the page from the window.
        let window =
            i64::from(self.config().query_window.max(1)).max(4 * (i64::from(query.first) + 1));
        inner.push(&format!(
            " ORDER BY {key} {dir}, {tie} {dir} LIMIT {window}"
        ));
        let inner_sql = format!("SELECT t.*{}", inner.text);
        let mut outer = Sql {
            text: format!(
                "SELECT {}, {key}, {tie} FROM ({inner_sql}) t WHERE 1 = 1",
                table.column_list_as("t")
            ),
            params: inner.params.clone(),
        };
        for f in &query.filters {
            outer.push(" AND ");
            if let Err(e) = push_filter(&mut outer, table, f, backend) {
                return Ok(Err(e));
            }
        }
        outer.push(&format!(" ORDER BY {key} {dir}, {tie} {dir} LIMIT "));
        outer.bind(Param::Int(Some(i64::from(query.first) + 1)));
        self.count_read();
        let rows = sqlx::query_with(&render(&outer.text, backend), arguments(outer.params)?)
            .fetch_all(self.pool())
            .await?;
        if rows.len() > query.first as usize {
            return Ok(Ok(Some(rows)));
        }
        self.count_read();
        let seen: i64 = sqlx::query_scalar_with(
            &render(&format!("SELECT COUNT(*) FROM ({inner_sql}) w"), backend),
            arguments(inner.params)?,
        )
        .fetch_one(self.pool())
        .await?;
        Ok(Ok((seen < window).then_some(rows)))
    }

    /// How many documents match (the whole collection, not a page).
    pub async fn count_collection(
        &self,
        table: &ViewTable,
        query: &CollectionQuery,
    ) -> Result<Result<u64, QueryError>, StoreError> {
        let backend = self.backend();
        let sql = match from_where(table, query, backend) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let select = format!("SELECT COUNT(*){}", sql.text);
        self.count_read();
        let n: i64 = sqlx::query_scalar_with(&render(&select, backend), arguments(sql.params)?)
            .fetch_one(self.pool())
            .await?;
        Ok(Ok(n.max(0) as u64))
    }
}

/// The type of the order key.
#[derive(Clone, Copy)]
enum KeyType {
    Bool,
    Int,
    Float,
    Text,
    Bytes,
}

fn order_type(table: &ViewTable, query: &CollectionQuery) -> KeyType {
    match (&query.order_by, &query.list) {
        (Some(Target::Field(name)), _) => match table.column(name).map(|c| &c.ty) {
            Some(FieldType::Bool) => KeyType::Bool,
            Some(FieldType::Int) => KeyType::Int,
            Some(FieldType::Float) => KeyType::Float,
            Some(FieldType::Bytes) => KeyType::Bytes,
            _ => KeyType::Text,
        },
        (Some(Target::Edited | Target::Deleted), _) => KeyType::Bool,
        (Some(_), _) => KeyType::Text,
        (None, Some(_)) => KeyType::Int,
        (None, None) => KeyType::Text,
    }
}

fn read_operand(
    row: &sqlx::any::AnyRow,
    idx: usize,
    ty: KeyType,
    backend: Backend,
) -> Result<Operand, StoreError> {
    Ok(match ty {
        KeyType::Bool => Operand::Bool(match backend {
            Backend::Sqlite => row.try_get::<i64, _>(idx)? != 0,
            Backend::Postgres => row.try_get::<bool, _>(idx)?,
        }),
        KeyType::Int => Operand::Int(row.try_get(idx)?),
        KeyType::Float => Operand::Float(
            crate::views::read_float(row, idx)?
                .ok_or_else(|| StoreError::Corrupt("a float key is NULL".into()))?,
        ),
        KeyType::Text => Operand::Text(row.try_get(idx)?),
        KeyType::Bytes => Operand::Bytes(row.try_get(idx)?),
    })
}
