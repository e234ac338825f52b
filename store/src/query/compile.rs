//! A collection query compiled once ([`Store::compile`]), then fetched a
//! page at a time (on SQLite through a bounded window first when
//! filtered) and counted.

use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::filter::push_filter;
use super::order::{
    order_by, order_column, order_prefix, order_type, position, push_after, read_operand, KeyType,
};
use super::scope::from_where;
use super::{CollectionQuery, Cursor, Items, ListScope, Page, Query, QueryError, Scope, Sql};
use crate::error::StoreError;
use crate::sql::{arguments, render, Backend, Param};
use crate::views::{decode_row, is_list, text_key_chars, ViewTable};
use crate::Store;

/// A collection query on one schema's views, compiled to SQL: the page,
/// and the count of every match (`totalCount`). Cheap to fetch again.
#[derive(Debug, Clone)]
pub struct CompiledQuery {
    table: Arc<ViewTable>,
    backend: Backend,
    /// Rows of the page (one more than `first`, to tell whether a next
    /// page follows), each with its order key and tie-break.
    page: Sql,
    /// SQLite, filtered: the page from a window of the order first (see
    /// [`CompiledQuery::windowed`]).
    window: Option<Window>,
    /// MariaDB/MySQL, ordered by a text field: the page ordered by the
    /// field's key and the tie-break alone (see [`CompiledQuery::fetch`]).
    short_keys: Option<Sql>,
    /// How many documents match (the cursor left aside).
    count: Sql,
    first: u32,
    /// The tie-break is the list position (an integer), not a document id.
    in_list: bool,
    key_type: KeyType,
}

/// The statements of a windowed page (see [`CompiledQuery::windowed`]).
#[derive(Debug, Clone)]
struct Window {
    /// The filtered page out of the window.
    page: Sql,
    /// How many documents the window held.
    seen: Sql,
    /// Documents the window looks at.
    size: i64,
}

impl Store {
    /// Compiles a collection query on `table` (a schema's views, from
    /// [`Store::views`]). A query that does not fit the schema (an unknown
    /// field, an operator that does not apply, a malformed cursor) fails
    /// with [`StoreError::Query`].
    pub fn compile(
        &self,
        table: &Arc<ViewTable>,
        query: CollectionQuery,
    ) -> Result<CompiledQuery, StoreError> {
        let backend = self.backend();
        let query = resolve(query)?;
        let mut sql = from_where(table, &query, backend)?;
        let count = Sql {
            text: render(&format!("SELECT COUNT(*){}", sql.text), backend),
            params: sql.params.clone(),
        };
        let key = order_column(table, &query)?;
        // The tie-break is the document id (or the list position, unique
        // within a list even with duplicates).
        let tie = if query.list.is_some() {
            position(&query)
        } else {
            "t._document_id"
        };
        let prefix = order_prefix(table, &query, backend);
        push_after(&mut sql, &query, &key, prefix.as_deref(), tie, backend)?;
        let limited = |mut sql: Sql, order: String| {
            sql.push(&order);
            sql.push(" LIMIT ");
            sql.bind(Param::Int(Some(i64::from(query.first) + 1)));
            let select = format!(
                "SELECT {}, {key}, {tie}{}",
                table.column_list_as("t"),
                sql.text
            );
            Sql {
                text: render(&select, backend),
                params: sql.params,
            }
        };
        let short_keys = match (&prefix, backend) {
            (Some(prefix), Backend::MySql) => Some(limited(
                sql.clone(),
                order_by(None, prefix, tie, query.descending),
            )),
            _ => None,
        };
        let page = limited(
            sql,
            order_by(prefix.as_deref(), &key, tie, query.descending),
        );
        let window =
            if backend == Backend::Sqlite && query.list.is_none() && !query.filters.is_empty() {
                Some(window(
                    table,
                    &query,
                    &key,
                    tie,
                    backend,
                    self.config().query_window,
                )?)
            } else {
                None
            };
        Ok(CompiledQuery {
            key_type: order_type(table, &query),
            table: table.clone(),
            backend,
            page,
            window,
            short_keys,
            count,
            first: query.first,
            in_list: query.list.is_some(),
        })
    }
}

impl CompiledQuery {
    /// One page, from the store that compiled the query.
    pub async fn fetch(&self, store: &Store) -> Result<Page, StoreError> {
        let backend = self.backend;
        let windowed = match &self.window {
            Some(window) => self.windowed(store, window).await?,
            None => None,
        };
        let short = match &self.short_keys {
            Some(short) => self.by_short_keys(store, short).await?,
            None => None,
        };
        let rows = match windowed.or(short) {
            Some(rows) => rows,
            None => {
                store.count_read();
                sqlx::query_with(&self.page.text, arguments(self.page.params.clone())?)
                    .fetch_all(store.pool())
                    .await?
            }
        };
        let table = &self.table;
        let width = table.width();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows.iter().take(self.first as usize) {
            let view = decode_row(table, row, backend)?;
            let key = read_operand(row, width, self.key_type, backend)?;
            let tie: String = if self.in_list {
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
        Ok(Page {
            has_next_page: rows.len() > self.first as usize,
            rows: out,
        })
    }

    /// MariaDB orders by the text key, the whole value, then the document
    /// id by sorting every match: its index holds the key and the id only,
    /// and it has no incremental sort. Where keys are shorter than their
    /// length (`text_key_chars`) they are the whole value, so ordering by key and
    /// id alone (the index, no sort) gives the same rows: only values that
    /// share a full-length key can be ordered differently, and those all
    /// have a full-length key. So the page is read in that order first, and
    /// again in the exact one if a row of it has a full-length key.
    async fn by_short_keys(
        &self,
        store: &Store,
        short: &Sql,
    ) -> Result<Option<Vec<AnyRow>>, StoreError> {
        store.count_read();
        let rows = sqlx::query_with(&short.text, arguments(short.params.clone())?)
            .fetch_all(store.pool())
            .await?;
        let width = self.table.width();
        for row in &rows {
            let key = crate::sql::text_at(row, width)?.unwrap_or_default();
            if key.chars().count() >= text_key_chars(Backend::MySql) {
                return Ok(None);
            }
        }
        Ok(Some(rows))
    }

    /// How many documents match (the whole collection, not a page).
    /// MariaDB 10.11 runs a count's prepared statement by its index the
    /// first time only: each later execution on the connection scans the
    /// whole table (four times the rows for a filter that matches a
    /// quarter). So there the statement is prepared anew each time.
    pub async fn count(&self, store: &Store) -> Result<u64, StoreError> {
        store.count_read();
        let n: i64 =
            sqlx::query_scalar_with(&self.count.text, arguments(self.count.params.clone())?)
                .persistent(self.backend != Backend::MySql)
                .fetch_one(store.pool())
                .await?;
        Ok(n.max(0) as u64)
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
        store: &Store,
        window: &Window,
    ) -> Result<Option<Vec<AnyRow>>, StoreError> {
        store.count_read();
        let rows = sqlx::query_with(&window.page.text, arguments(window.page.params.clone())?)
            .fetch_all(store.pool())
            .await?;
        if rows.len() > self.first as usize {
            return Ok(Some(rows));
        }
        store.count_read();
        let seen: i64 =
            sqlx::query_scalar_with(&window.seen.text, arguments(window.seen.params.clone())?)
                .fetch_one(store.pool())
                .await?;
        Ok((seen < window.size).then_some(rows))
    }
}

/// The statements of a windowed page (see [`CompiledQuery::windowed`]).
fn window(
    table: &ViewTable,
    query: &Query,
    key: &str,
    tie: &str,
    backend: Backend,
    query_window: u32,
) -> Result<Window, QueryError> {
    let mut unfiltered = query.clone();
    unfiltered.filters.clear();
    let mut inner = from_where(table, &unfiltered, backend)?;
    // SQLite only: no text keys.
    push_after(&mut inner, query, key, None, tie, backend)?;
    let order = order_by(None, key, tie, query.descending);
    // At least four pages' worth, so that a filter matching a quarter
    // of the documents fills the page from the window.
    let size = i64::from(query_window.max(1)).max(4 * (i64::from(query.first) + 1));
    inner.push(&format!("{order} LIMIT {size}"));
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
        push_filter(&mut outer, table, f, backend)?;
    }
    outer.push(&format!("{order} LIMIT "));
    outer.bind(Param::Int(Some(i64::from(query.first) + 1)));
    Ok(Window {
        page: Sql {
            text: render(&outer.text, backend),
            params: outer.params,
        },
        seen: Sql {
            text: render(&format!("SELECT COUNT(*) FROM ({inner_sql}) w"), backend),
            params: inner.params,
        },
        size,
    })
}

/// The query with its list scope resolved.
fn resolve(query: CollectionQuery) -> Result<Query, StoreError> {
    Ok(Query {
        list: query.list.map(resolve_list).transpose()?,
        filters: query.filters,
        order_by: query.order_by,
        descending: query.descending,
        first: query.first,
        after: query.after,
    })
}

/// A list scope resolved to the table and column that hold the list (or
/// its items as text, the form the tables compare them in).
fn resolve_list(scope: ListScope) -> Result<Scope, StoreError> {
    let pinned = scope.pinned();
    let items = match scope {
        ListScope::Stored {
            owner,
            document,
            field,
        } => {
            let Some(column) = owner.column(&field).filter(|c| is_list(&c.ty)) else {
                return Err(StoreError::NotAList {
                    schema_id: owner.schema_id.clone(),
                    field,
                });
            };
            Items::Stored {
                lists_table: owner.lists_table(),
                owner_document: document.to_hex(),
                column: column.column.clone(),
            }
        }
        ListScope::Documents(ids) => Items::Given(ids.iter().map(|d| d.to_hex()).collect()),
        ListScope::Views(ids) => Items::Given(ids.iter().map(|v| v.to_string()).collect()),
    };
    Ok(Scope { items, pinned })
}

#[cfg(test)]
mod tests {
    use hoffnung_core::{DocumentViewId, FieldType, Hash, Schema, SchemaId};

    use super::*;
    use crate::query::{Filter, FilterOp, Operand, Target};

    fn table() -> ViewTable {
        let id = SchemaId::application("things", DocumentViewId::from_operation(Hash::of(b"s")));
        let schema = Schema::new(id.unwrap(), "d", vec![("s".into(), FieldType::Str)]);
        ViewTable::for_schema(&schema.unwrap())
    }

    fn filtered(value: &str) -> String {
        let query = resolve(CollectionQuery {
            filters: vec![Filter {
                target: Target::Field("s".into()),
                op: FilterOp::Eq,
                values: vec![Operand::Text(value.into())],
            }],
            order_by: None,
            descending: false,
            first: 10,
            after: None,
            list: None,
        })
        .unwrap();
        from_where(&table(), &query, Backend::MySql).unwrap().text
    }

    /// On MariaDB a value shorter than the key is compared with the key
    /// alone (the index answers a count); a longer one with the whole value
    /// too.
    #[test]
    fn short_values_are_compared_by_their_key_alone_on_mysql() {
        let short = filtered("int");
        assert!(short.contains("t.\"k_f0_s\" = ?"), "{short}");
        assert!(!short.contains("t.\"f0_s\" = ?"), "{short}");
        let long = filtered(&"x".repeat(text_key_chars(Backend::MySql)));
        assert!(long.contains("t.\"k_f0_s\" = left(?"), "{long}");
        assert!(long.contains("t.\"f0_s\" = ?"), "{long}");
    }
}
