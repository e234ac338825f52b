//! Rows of the view tables to and from SQL: the parameters of a view's
//! row and its list items, and a stored row decoded into a [`ViewRow`].

use std::str::FromStr;

use hoffnung_core::{
    DocumentId, DocumentView, DocumentViewId, FieldType, Fields, Hash, OperationValue,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::layout::{ViewTable, META};
use crate::error::{Failure, StoreError};
use crate::sql::{text_at, Backend, Param};

impl ViewTable {
    /// The parameters of one row: meta columns, then fields (typed nulls
    /// for a deleted view).
    pub(super) fn row_params(&self, view: &DocumentView, backend: Backend) -> Vec<Param> {
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
    pub(super) fn row_placeholders(&self, backend: Backend) -> String {
        let fields = self.columns.iter().map(|c| match (&c.ty, backend) {
            (FieldType::Float, Backend::Postgres) => "CAST(? AS DOUBLE PRECISION)",
            _ => "?",
        });
        let all: Vec<&str> = std::iter::repeat_n("?", META.len()).chain(fields).collect();
        format!("({})", all.join(", "))
    }
}

/// Separates the items of a relation list in its column.
const LIST_SEPARATOR: char = ' ';

fn param_of(ty: &FieldType, value: Option<&OperationValue>, backend: Backend) -> Param {
    use OperationValue as V;
    match (ty, value) {
        // See `ViewTable::row_placeholders`.
        (FieldType::Float, None) if backend == Backend::Postgres => Param::Text(None),
        // See `ordered_bits`.
        (FieldType::Float, None) if backend == Backend::MySql => Param::Int(None),
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
        Backend::MySql => Param::Int(Some(ordered_bits(f))),
    }
}

/// MariaDB/MySQL: a float as an integer of the same order. A DOUBLE holds
/// no NaN and no infinity; these integers order every float as PostgreSQL
/// does (NaN after +inf) and compare equal where the floats do (-0 is
/// stored as 0, as SQLite stores it too; every NaN as one NaN).
pub(crate) fn ordered_bits(f: f64) -> i64 {
    let f = if f.is_nan() {
        f64::NAN
    } else if f == 0.0 {
        0.0
    } else {
        f
    };
    let bits = f.to_bits() as i64;
    // Negative floats grow in magnitude as their bits grow: flipping all
    // but the sign bit reverses that.
    if bits < 0 {
        bits ^ i64::MAX
    } else {
        bits
    }
}

/// The float [`ordered_bits`] stored.
pub(crate) fn from_ordered_bits(key: i64) -> f64 {
    let bits = if key < 0 { key ^ i64::MAX } else { key };
    f64::from_bits(bits as u64)
}

/// A float column (see [`SQLITE_NAN`] and [`ordered_bits`]).
pub(crate) fn read_float(
    row: &AnyRow,
    idx: usize,
    backend: Backend,
) -> Result<Option<f64>, StoreError> {
    if backend == Backend::MySql {
        return Ok(row.try_get::<Option<i64>, _>(idx)?.map(from_ordered_bits));
    }
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
pub(super) fn list_items<'a>(
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
    /// The author of the document's CREATE: a public key in hex, as stored
    /// (validated at ingest; making it a key again would cost a point
    /// decompression per row read, a quarter of a page query's CPU).
    pub owner: String,
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
            owner: view.owner.to_hex(),
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

pub(super) fn corrupt(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Corrupt(Failure::caused_by(what, e))
}

fn get_bool(row: &AnyRow, idx: usize, backend: Backend) -> Result<Option<bool>, StoreError> {
    Ok(match backend {
        Backend::Sqlite | Backend::MySql => row.try_get::<Option<i64>, _>(idx)?.map(|v| v != 0),
        Backend::Postgres => row.try_get::<Option<bool>, _>(idx)?,
    })
}

fn parse_list<T: FromStr>(s: &str) -> Result<Vec<T>, StoreError>
where
    T::Err: std::error::Error + Send + Sync + 'static,
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
    let text = |i: usize| -> Result<String, StoreError> {
        text_at(row, i)?.ok_or_else(|| StoreError::Corrupt("a NULL id".into()))
    };
    let document_id = Hash::from_str(&text(0)?).map_err(|e| corrupt("document id", e))?;
    let view_id = DocumentViewId::from_str(&text(1)?).map_err(|e| corrupt("view id", e))?;
    let owner = text(2)?;
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
                FieldType::Float => read_float(row, idx, backend)?.map(OperationValue::Float),
                FieldType::Bytes => row
                    .try_get::<Option<Vec<u8>>, _>(idx)?
                    .map(OperationValue::Bytes),
                ty => match text_at(row, idx)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The integers MariaDB stores order and compare floats as PostgreSQL
    /// does: -inf < … < -0 = 0 < … < +inf < NaN, and read back the same.
    #[test]
    fn ordered_bits_keep_the_order_of_floats() {
        let floats = [
            f64::NEG_INFINITY,
            f64::MIN,
            -1e300,
            -2.0,
            -1.5,
            -1.0,
            -f64::MIN_POSITIVE,
            -5e-324,
            0.0,
            5e-324,
            f64::MIN_POSITIVE,
            1.0,
            1.5,
            2.0,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
        ];
        for pair in floats.windows(2) {
            assert!(ordered_bits(pair[0]) < ordered_bits(pair[1]), "{pair:?}");
        }
        for f in floats {
            let back = from_ordered_bits(ordered_bits(f));
            assert!(back == f || (back.is_nan() && f.is_nan()), "{f}");
        }
        assert_eq!(ordered_bits(-0.0), ordered_bits(0.0));
        assert_eq!(ordered_bits(-f64::NAN), ordered_bits(f64::NAN));
    }
}
