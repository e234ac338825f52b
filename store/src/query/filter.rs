//! Filters compiled to SQL conditions, per field type and meta field.

use super::{Filter, FilterOp, Operand, QueryError, Sql, Target};
use crate::sql::{Backend, Param};
use crate::views::{is_list, quote, text_key, text_key_chars, ViewTable};

pub(super) fn column_of(
    table: &ViewTable,
    target: &Target,
    alias: &str,
) -> Result<String, QueryError> {
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
                .ok_or_else(|| QueryError::UnknownField(name.clone()))?;
            format!("{alias}.{}", quote(&c.column))
        }
    })
}

/// The prefix key of a text field column on PostgreSQL (see
/// [`text_key`]), with the table alias; `None` for other targets.
pub(super) fn key_of(
    table: &ViewTable,
    target: &Target,
    alias: &str,
    backend: Backend,
) -> Option<String> {
    let Target::Field(name) = target else {
        return None;
    };
    let c = table.column(name)?;
    if backend == Backend::MySql && !table.mysql_indexed(name) {
        // No index, so no key column (see `views::mysql_layout`).
        return None;
    }
    text_key(&c.ty, &format!("{alias}.{}", quote(&c.column)), backend)
}

/// The text key (see [`text_key`]) of a value.
pub(super) fn push_key_value(sql: &mut Sql, value: &Operand, backend: Backend) {
    sql.push("left(");
    bind_operand(sql, value, backend);
    sql.push(&format!(", {})", text_key_chars(backend)));
}

pub(super) fn push_filter(
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
            op => return Err(QueryError::NotForLists(op)),
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
        let v = filter.values.first().ok_or(QueryError::MissingValue)?;
        bind_operand(sql, v, backend);
        Ok(())
    };
    // A text column keyed by its prefix: the prefix narrows through the
    // index, the whole value decides.
    let key = key_of(table, &filter.target, "t", backend);
    // MariaDB: a value shorter than the key is equal to a column exactly
    // when it is equal to the column's key (the key is then the whole
    // value), and the key alone is answered from the index (a count reads
    // no row).
    let short =
        |v: &Operand| matches!(v, Operand::Text(s) if s.chars().count() < text_key_chars(backend));
    let key_alone = backend == Backend::MySql && key.is_some();
    let cmp = |sql: &mut Sql, op: &str, key_op: &str| -> Result<(), QueryError> {
        if let (Some(key), true, Some(v)) = (&key, key_alone && op == "=", filter.values.first()) {
            if short(v) {
                sql.push(&format!("{key} = "));
                bind_operand(sql, v, backend);
                return Ok(());
            }
        }
        if let Some(key) = &key {
            let v = filter.values.first().ok_or(QueryError::MissingValue)?;
            sql.push(&format!("({key} {key_op} "));
            push_key_value(sql, v, backend);
            sql.push(&format!(" AND {col} {op} "));
            value(sql)?;
            sql.push(")");
            return Ok(());
        }
        sql.push(&format!("{col} {op} "));
        value(sql)
    };
    match filter.op {
        FilterOp::Eq => cmp(sql, "=", "=")?,
        FilterOp::NotEq => {
            sql.push(&format!("{col} <> "));
            value(sql)?
        }
        FilterOp::Gt => cmp(sql, ">", ">=")?,
        FilterOp::Gte => cmp(sql, ">=", ">=")?,
        FilterOp::Lt => cmp(sql, "<", "<=")?,
        FilterOp::Lte => cmp(sql, "<=", "<=")?,
        FilterOp::In | FilterOp::NotIn => {
            if filter.values.is_empty() {
                // Nothing is in the empty set.
                sql.push(if filter.op == FilterOp::In {
                    "1 = 0"
                } else {
                    "1 = 1"
                });
            } else {
                let keyed = key.is_some() && filter.op == FilterOp::In;
                if let (Some(key), true) = (&key, keyed && key_alone) {
                    if filter.values.iter().all(short) {
                        sql.push(&format!("{key} IN ("));
                        push_values(sql, &filter.values, backend);
                        sql.push(")");
                        return Ok(());
                    }
                }
                if let (Some(key), true) = (&key, keyed) {
                    sql.push(&format!("({key} IN ("));
                    for (i, v) in filter.values.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        push_key_value(sql, v, backend);
                    }
                    sql.push(") AND ");
                }
                sql.push(&col);
                sql.push(if filter.op == FilterOp::In {
                    " IN ("
                } else {
                    " NOT IN ("
                });
                push_values(sql, &filter.values, backend);
                sql.push(if keyed { "))" } else { ")" });
            }
        }
        FilterOp::Contains | FilterOp::NotContains => {
            // ASCII letters match either case, everything else literally, on
            // every backend alike (docs/compatibility.md): SQLite's LIKE and
            // PostgreSQL's ILIKE under the "C" collation fold ASCII only.
            let text = match filter.values.first() {
                Some(Operand::Text(s)) => s,
                _ => return Err(QueryError::ContainsNeedsText),
            };
            let not = if filter.op == FilterOp::Contains {
                ""
            } else {
                "NOT "
            };
            let like = match backend {
                Backend::Sqlite => format!("{col} {not}LIKE "),
                Backend::Postgres => format!("{col} COLLATE \"C\" {not}ILIKE "),
                // LIKE under a binary collation matches case; a case
                // insensitive one folds more than ASCII (and accents).
                Backend::MySql => {
                    sql.push(&format!("{col} {not}REGEXP "));
                    sql.bind(Param::Text(Some(contains_regex(text))));
                    return Ok(());
                }
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

/// A regular expression (PCRE) that finds `text` literally, ASCII letters
/// in either case (see `contains_pattern`).
fn contains_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_alphabetic() {
            out.push('[');
            out.push(c.to_ascii_lowercase());
            out.push(c.to_ascii_uppercase());
            out.push(']');
        } else if c == '\0' {
            out.push_str("\\x{0}");
        } else if c.is_ascii() && !c.is_ascii_alphanumeric() && c != ' ' {
            // A backslash before any other ASCII character that is no
            // letter or digit stands for that character.
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn bind_operand(sql: &mut Sql, v: &Operand, backend: Backend) {
    if let (Operand::Float(_), Backend::Postgres) = (v, backend) {
        sql.push("CAST(");
        sql.bind(v.param(backend));
        sql.push(" AS DOUBLE PRECISION)");
    } else {
        sql.bind(v.param(backend));
    }
}

pub(super) fn push_values(sql: &mut Sql, values: &[Operand], backend: Backend) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        bind_operand(sql, v, backend);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_regex_folds_ascii_letters_only_and_escapes_the_rest() {
        assert_eq!(contains_regex("Ab1"), "[aA][bB]1");
        assert_eq!(contains_regex("a.b*"), "[aA]\\.[bB]\\*");
        assert_eq!(contains_regex("ü ß"), "ü ß");
        assert_eq!(contains_regex("\\(?"), "\\\\\\(\\?");
        assert_eq!(contains_regex("x\0"), "[xX]\\x{0}");
    }
}
