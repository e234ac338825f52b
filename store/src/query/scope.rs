//! Where a collection's rows come from: the current-views table, or the
//! items of a relation list joined with it, and the conditions every
//! collection shares.

use super::filter::push_filter;
use super::{Items, Query, QueryError, Sql};
use crate::sql::{Backend, Param};
use crate::views::{hex_of, live_condition, quote, ViewTable};

/// `FROM` and `WHERE` of a collection: live documents, the filters, the
/// list scope.
pub(super) fn from_where(
    table: &ViewTable,
    query: &Query,
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
                // Filters and orders on MariaDB/MySQL compare text keys
                // by their column names (see `views::text_key`).
                let keys = match backend {
                    Backend::MySql => table.mysql_keys_as(alias),
                    _ => String::new(),
                };
                sql.push(&format!(
                    "SELECT i._idx AS _idx, {}{keys} FROM ",
                    table.column_list_as(alias)
                ));
                push_items(sql, &scope.items, backend);
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
            push_items(&mut sql, &scope.items, backend);
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
///
/// Given items are one JSON array parameter expanded by the database: a
/// `SELECT` per item joined by `UNION ALL` stopped at SQLite's limit of
/// 500 terms of a compound `SELECT` (a schema definition pins up to 1,024
/// field definitions).
fn push_items(sql: &mut Sql, items: &Items, backend: Backend) {
    match items {
        Items::Stored { lists_table, .. } => sql.push(&format!("{} i", quote(lists_table))),
        Items::Given(items) => {
            let json = json_strings(items);
            match backend {
                Backend::Sqlite => {
                    sql.push("(SELECT CAST(j.key AS INTEGER) AS _idx, j.value AS _target FROM json_each(");
                    sql.bind(Param::Text(Some(json)));
                    sql.push(") j) i");
                }
                Backend::Postgres => {
                    sql.push("(SELECT j.o - 1 AS _idx, j.v COLLATE \"C\" AS _target FROM json_array_elements_text(CAST(");
                    sql.bind(Param::Text(Some(json)));
                    sql.push(" AS json)) WITH ORDINALITY AS j(v, o)) i");
                }
                Backend::MySql => {
                    sql.push("(SELECT j.o - 1 AS _idx, j.v AS _target FROM JSON_TABLE(");
                    sql.bind(Param::Text(Some(json)));
                    sql.push(
                        ", '$[*]' COLUMNS (o FOR ORDINALITY, \
                         v VARCHAR(3072) CHARACTER SET ascii PATH '$')) AS j) i",
                    );
                }
            }
        }
    }
}

/// ` AND` the rows of [`push_items`] that belong to the list.
fn push_items_condition(sql: &mut Sql, items: &Items) {
    if let Items::Stored {
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
        Backend::Sqlite | Backend::MySql => format!("unhex(substr({column}, 1, 68))"),
        Backend::Postgres => format!("decode(substr({column}, 1, 68), 'hex')"),
    }
}

/// A JSON array of the strings (ids: hex digits and `_`; anything else is
/// escaped all the same).
fn json_strings(items: &[String]) -> String {
    let mut out = String::with_capacity(items.iter().map(|i| i.len() + 3).sum::<usize>() + 2);
    out.push('[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}
