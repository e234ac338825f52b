//! Running a collection query: one page (on SQLite through a bounded
//! window first when filtered), and the count.

use sqlx::Row;

use super::filter::push_filter;
use super::order::{order_column, order_type, position, push_after, read_operand};
use super::scope::from_where;
use super::{CollectionQuery, Cursor, Page, QueryError, Sql};
use crate::error::StoreError;
use crate::sql::{arguments, render, Backend, Param};
use crate::views::{decode_row, ViewTable};
use crate::Store;

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
