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
fn push_items(sql: &mut Sql, items: &Items) {
    match items {
        Items::Stored { lists_table, .. } => sql.push(&format!("{} i", quote(lists_table))),
        Items::Given(items) => {
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
        Backend::Sqlite => format!("unhex(substr({column}, 1, 68))"),
        Backend::Postgres => format!("decode(substr({column}, 1, 68), 'hex')"),
    }
}
