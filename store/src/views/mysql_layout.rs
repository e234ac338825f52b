//! The view tables on MariaDB/MySQL (InnoDB): the same tables and
//! statements as on the other backends, in the types and indexes InnoDB
//! has.
//!
//! - Ids are ASCII text in byte order (`ascii_bin`), strings are
//!   `utf8mb4_nopad_bin`: byte order as on SQLite and PostgreSQL, and no
//!   padding (`'a'` and `'a '` differ).
//! - Booleans and floats are BIGINT: sqlx reads no TINYINT from MariaDB,
//!   and a DOUBLE holds neither NaN nor the infinities (a float is stored
//!   as an integer of the same order, see `codec`).
//! - No partial indexes: the indexes lead with `_deleted`, which every
//!   collection query fixes to 0.
//! - A text column is indexed by its first [`MYSQL_TEXT_KEY_CHARS`]
//!   characters, held in a generated column `k_<column>` (see
//!   [`super::layout::text_key`]).
//! - InnoDB keeps at most 64 secondary indexes per table: fields past the
//!   first [`MAX_FIELD_INDEXES`] indexable ones are filtered and ordered
//!   without an index (and have no key column).

use hoffnung_core::FieldType;

use super::layout::{
    is_indexed, is_list, is_text, key_column, quote, ViewTable, MYSQL_TEXT_KEY_CHARS,
};

/// Field indexes per table (one more is the index of live ids).
pub(crate) const MAX_FIELD_INDEXES: usize = 63;

const ID: &str = "VARCHAR(68) CHARACTER SET ascii COLLATE ascii_bin";
/// The longest key InnoDB indexes is 3,072 bytes.
const VIEW_ID: &str = "VARCHAR(3072) CHARACTER SET ascii COLLATE ascii_bin";
const STRING: &str = "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";
const IDS: &str = "CHARACTER SET ascii COLLATE ascii_bin";

/// The character set and collation of a text field.
fn charset(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Str => STRING,
        _ => IDS,
    }
}

/// The text key of `column` (quoted, with its alias if any).
fn key_of(column: &str) -> String {
    format!("LEFT({column}, {MYSQL_TEXT_KEY_CHARS})")
}

fn sql_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Bool | FieldType::Int | FieldType::Float => "BIGINT".into(),
        FieldType::Bytes => "LONGBLOB".into(),
        FieldType::Str => format!("LONGTEXT {STRING}"),
        // Relations: ids, as long as a view id or a list of them.
        _ => format!("MEDIUMTEXT {IDS}"),
    }
}

impl ViewTable {
    /// Whether a field has an index on MariaDB/MySQL (and, if it is text,
    /// a key column): the first [`MAX_FIELD_INDEXES`] indexable fields.
    pub(crate) fn mysql_indexed(&self, field: &str) -> bool {
        self.columns
            .iter()
            .filter(|c| is_indexed(&c.ty))
            .take(MAX_FIELD_INDEXES)
            .any(|c| c.field == field)
    }

    /// The key columns of `alias` as a derived table over both the current
    /// and the history table must show them: `, LEFT(alias."c", n) AS
    /// "k_c"` for each keyed text column (the history table has none).
    pub(crate) fn mysql_keys_as(&self, alias: &str) -> String {
        self.columns
            .iter()
            .filter(|c| is_text(&c.ty) && self.mysql_indexed(&c.field))
            .map(|c| {
                format!(
                    ", {} AS {}",
                    key_of(&format!("{alias}.{}", quote(&c.column))),
                    quote(&key_column(&c.column))
                )
            })
            .collect()
    }

    pub(super) fn mysql_ddl(&self) -> Vec<String> {
        let mut fields = String::new();
        let mut keys = String::new();
        let mut indexes = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            let column = quote(&c.column);
            fields.push_str(&format!(", {column} {}", sql_type(&c.ty)));
            // The first indexable fields (see `mysql_indexed`).
            if !is_indexed(&c.ty) || indexes.len() == MAX_FIELD_INDEXES {
                continue;
            }
            let key = if is_text(&c.ty) {
                let k = quote(&key_column(&c.column));
                let n = MYSQL_TEXT_KEY_CHARS;
                keys.push_str(&format!(
                    ", {k} VARCHAR({n}) {} AS ({}) VIRTUAL",
                    charset(&c.ty),
                    key_of(&column)
                ));
                k
            } else {
                column
            };
            indexes.push(format!(
                ", INDEX {} (_deleted, {key}, _document_id)",
                quote(&format!("{}__i{i}", self.table))
            ));
        }
        let meta = |key: &str| {
            format!(
                "_document_id {ID} NOT NULL, _view_id {VIEW_ID} NOT NULL, _owner {ID} NOT NULL, \
                 _edited BIGINT NOT NULL, _deleted BIGINT NOT NULL, PRIMARY KEY ({key})"
            )
        };
        if indexes.is_empty() {
            indexes.push(format!(
                ", INDEX {} (_deleted, _document_id)",
                quote(&format!("{}__live", self.table))
            ));
        }
        let engine = " ENGINE = InnoDB";
        let mut out = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {} ({}{fields}{keys}{}){engine}",
                quote(&self.table),
                meta("_document_id"),
                indexes.concat()
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} ({}{fields}, INDEX {} (_document_id)){engine}",
                quote(&self.views_table()),
                meta("_view_id"),
                quote(&self.views_by_document_index())
            ),
        ];
        if self.columns.iter().any(|c| is_list(&c.ty)) {
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (_document_id {ID} NOT NULL, \
                 _field VARCHAR(64) {IDS} NOT NULL, _idx BIGINT NOT NULL, _target {VIEW_ID} NOT NULL, \
                 PRIMARY KEY (_document_id, _field, _idx), INDEX {} (_field, _target(1000))){engine}",
                quote(&self.lists_table()),
                quote(&format!("{}__target", self.table))
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use hoffnung_core::{DocumentViewId, Hash, Schema, SchemaId};

    use super::*;

    /// A schema of 400 fields: the first 63 indexable ones get an index
    /// each (text ones a key column), the others neither.
    #[test]
    fn only_the_first_indexable_fields_get_indexes_and_keys() {
        let id = SchemaId::application("wide", DocumentViewId::from_operation(Hash::of(b"w")));
        let fields = (0..400)
            .map(|i| {
                let ty = if i % 2 == 0 {
                    FieldType::Str
                } else {
                    FieldType::Int
                };
                (format!("n{i:03}"), ty)
            })
            .collect();
        let table = ViewTable::for_schema(&Schema::new(id.unwrap(), "d", fields).unwrap());
        let ddl = table.mysql_ddl();
        assert_eq!(ddl[0].matches(", INDEX ").count(), MAX_FIELD_INDEXES);
        assert_eq!(ddl[0].matches(" VIRTUAL").count(), 32);
        assert!(table.mysql_indexed("n062"));
        assert!(!table.mysql_indexed("n063"));
        assert!(ddl[0].contains("\"k_f62_n062\""), "{}", &ddl[0][..200]);
        assert!(!ddl[0].contains("\"k_f64_n064\""));
    }
}
