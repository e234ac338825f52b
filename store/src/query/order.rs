//! Ordering and keyset pagination: the order key, the cursor condition,
//! and reading a row's cursor back.

use hoffnung_core::FieldType;
use sqlx::Row;

use super::filter::{bind_operand, column_of, key_of, push_key_value};
use super::{Operand, Query, QueryError, Sql, Target};
use crate::error::StoreError;
use crate::sql::{Backend, Param};
use crate::views::ViewTable;

/// The list position column of a list scope.
pub(super) fn position(query: &Query) -> &'static str {
    match &query.list {
        Some(scope) if scope.pinned => "t._idx",
        _ => "i._idx",
    }
}

/// Keyset condition: rows after the cursor in the query's order. With a
/// text key (`prefix`, see [`crate::views::text_key`]) the prefix bounds
/// the index scan first.
pub(super) fn push_after(
    sql: &mut Sql,
    query: &Query,
    key: &str,
    prefix: Option<&str>,
    tie: &str,
    backend: Backend,
) -> Result<(), QueryError> {
    let Some(after) = &query.after else {
        return Ok(());
    };
    let gt = if query.descending { "<" } else { ">" };
    if let Some(prefix) = prefix {
        sql.push(&format!(" AND {prefix} {gt}= "));
        push_key_value(sql, &after.key, backend);
    }
    sql.push(&format!(" AND ({key} {gt} "));
    bind_operand(sql, &after.key, backend);
    sql.push(&format!(" OR ({key} = "));
    bind_operand(sql, &after.key, backend);
    sql.push(&format!(" AND {tie} {gt} "));
    let tie_value = if query.list.is_some() {
        match after.document_id.parse::<i64>() {
            Ok(i) => Param::Int(Some(i)),
            Err(_) => return Err(QueryError::MalformedCursor),
        }
    } else {
        Param::Text(Some(after.document_id.clone()))
    };
    sql.bind(tie_value);
    sql.push("))");
    Ok(())
}

/// The order key column (or the list position).
pub(super) fn order_column(table: &ViewTable, query: &Query) -> Result<String, QueryError> {
    match (&query.order_by, &query.list) {
        (Some(t), _) => {
            if let Target::Field(name) = t {
                if table.column(name).is_none() {
                    return Err(QueryError::UnknownField(name.clone()));
                }
            }
            column_of(table, t, "t")
        }
        (None, Some(_)) => Ok(position(query).to_string()),
        (None, None) => Ok("t._document_id".to_string()),
    }
}

/// The text key of the order column on PostgreSQL (see
/// [`crate::views::text_key`]), ordered by before the column itself.
pub(super) fn order_prefix(table: &ViewTable, query: &Query, backend: Backend) -> Option<String> {
    key_of(table, query.order_by.as_ref()?, "t", backend)
}

/// `ORDER BY` the key (after its prefix, if any), then the tie-break.
pub(super) fn order_by(prefix: Option<&str>, key: &str, tie: &str, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let prefix = prefix.map(|p| format!("{p} {dir}, ")).unwrap_or_default();
    format!(" ORDER BY {prefix}{key} {dir}, {tie} {dir}")
}

/// The type of the order key.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyType {
    Bool,
    Int,
    Float,
    Text,
    Bytes,
}

pub(super) fn order_type(table: &ViewTable, query: &Query) -> KeyType {
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

pub(super) fn read_operand(
    row: &sqlx::any::AnyRow,
    idx: usize,
    ty: KeyType,
    backend: Backend,
) -> Result<Operand, StoreError> {
    Ok(match ty {
        KeyType::Bool => Operand::Bool(match backend {
            Backend::Sqlite | Backend::MySql => row.try_get::<i64, _>(idx)? != 0,
            Backend::Postgres => row.try_get::<bool, _>(idx)?,
        }),
        KeyType::Int => Operand::Int(row.try_get(idx)?),
        KeyType::Float => Operand::Float(
            crate::views::read_float(row, idx, backend)?
                .ok_or_else(|| StoreError::Corrupt("a float key is NULL".into()))?,
        ),
        KeyType::Text => Operand::Text(
            crate::sql::text_at(row, idx)?
                .ok_or_else(|| StoreError::Corrupt("a text key is NULL".into()))?,
        ),
        KeyType::Bytes => Operand::Bytes(row.try_get(idx)?),
    })
}
