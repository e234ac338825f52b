//! How a schema's views are laid out in SQL: table and column names, the
//! tables' DDL and the meta columns every statement uses.

use hoffnung_core::{FieldType, Hash, Schema, SchemaId};

use crate::sql::Backend;

/// PostgreSQL truncates longer identifiers (MariaDB/MySQL refuse those
/// over 64 characters).
const MAX_IDENTIFIER: usize = 63;

/// How one field of a schema is stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ViewColumn {
    pub(crate) field: String,
    /// Column name, unquoted.
    pub(crate) column: String,
    pub(crate) ty: FieldType,
}

/// The SQL layout of one schema's views. Derived from the schema alone, so
/// every reader computes the same names. Outside the store it is a handle:
/// taken from the catalogue ([`crate::Store::views`]) and given back to
/// reads and queries, its names stay inside.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewTable {
    pub(crate) schema_id: SchemaId,
    /// The current-views table, unquoted; the other two add a suffix.
    pub(crate) table: String,
    pub(crate) columns: Vec<ViewColumn>,
}

/// Meta columns, in the order every statement here uses them.
pub(super) const META: [&str; 5] = ["_document_id", "_view_id", "_owner", "_edited", "_deleted"];

pub(crate) fn is_list(ty: &FieldType) -> bool {
    matches!(
        ty,
        FieldType::RelationList(_) | FieldType::PinnedRelationList(_)
    )
}

/// Truncates to at most `max` bytes (names here are ASCII).
pub(super) fn truncated(s: &str, max: usize) -> &str {
    &s[..s.len().min(max)]
}

/// SQL for the lowercase hex text of a BLOB column (how view tables
/// spell ids).
pub(crate) fn hex_of(column: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!("lower(hex({column}))"),
        Backend::Postgres => format!("encode({column}, 'hex')"),
        Backend::MySql => format!("lower(hex({column}))"),
    }
}

/// Quotes an identifier (all names here are `[a-z0-9_]`, quoting keeps
/// reserved words such as `order` usable).
pub(crate) fn quote(identifier: &str) -> String {
    format!("\"{identifier}\"")
}

impl ViewTable {
    /// The layout of `schema`'s tables (built once per schema by the
    /// catalogue).
    pub(crate) fn for_schema(schema: &Schema) -> Self {
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

    /// The schema whose views these are.
    pub fn schema_id(&self) -> &SchemaId {
        &self.schema_id
    }

    pub(crate) fn views_table(&self) -> String {
        format!("{}__views", self.table)
    }

    pub(crate) fn lists_table(&self) -> String {
        format!("{}__lists", self.table)
    }

    pub(crate) fn has_lists(&self) -> bool {
        self.columns.iter().any(|c| is_list(&c.ty))
    }

    pub(crate) fn column(&self, field: &str) -> Option<&ViewColumn> {
        self.columns.iter().find(|c| c.field == field)
    }

    /// Meta and field columns, quoted, comma-separated.
    pub(super) fn column_list(&self) -> String {
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
    pub(super) fn ddl(&self, backend: Backend) -> Vec<String> {
        if backend == Backend::MySql {
            return self.mysql_ddl();
        }
        let text = match backend {
            Backend::Sqlite => "TEXT",
            // Byte order, as SQLite and the ids' own order.
            _ => "TEXT COLLATE \"C\"",
        };
        let boolean = match backend {
            Backend::Sqlite => "INTEGER",
            _ => "BOOLEAN",
        };
        let sql_type = |ty: &FieldType| match ty {
            FieldType::Bool => boolean,
            FieldType::Int => "BIGINT",
            FieldType::Float => match backend {
                Backend::Sqlite => "REAL",
                _ => "DOUBLE PRECISION",
            },
            FieldType::Bytes => match backend {
                Backend::Sqlite => "BLOB",
                _ => "BYTEA",
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
            _ => "",
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
        out.push(self.views_by_document());
        // Filtering and ordering by a field, with the document id as the
        // tie-break of cursors.
        // Partial indexes of live documents only: collections never show
        // deleted ones, so counts and filters are index-only. Each field
        // index holds every live document (nulls included), so it also
        // serves unfiltered counts: the index of live ids alone is made
        // only for a schema without one (it cost every new document one
        // more page with a random key).
        let live = live_condition(backend);
        if !self.columns.iter().any(|c| is_indexed(&c.ty)) {
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (_document_id) WHERE {live}",
                quote(&format!("{}__live", self.table))
            ));
        }
        out.extend(self.field_indexes(backend));
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
}

impl ViewTable {
    /// The indexes of the field columns: `(column, _document_id)` over
    /// live documents; on PostgreSQL a text column is keyed by its first
    /// [`TEXT_KEY_CHARS`] characters instead (see [`text_key`]).
    fn field_indexes(&self, backend: Backend) -> Vec<String> {
        let t = quote(&self.table);
        let live = live_condition(backend);
        let mut out = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            if !is_indexed(&c.ty) {
                continue;
            }
            let (name, key) = match text_key(&c.ty, &quote(&c.column), backend) {
                Some(key) => (format!("{}__k{i}", self.table), key),
                None => (format!("{}__i{i}", self.table), quote(&c.column)),
            };
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} ({key}, _document_id) WHERE {live}",
                quote(&name)
            ));
        }
        out
    }
}

/// Characters of a text value a PostgreSQL index holds: at most 2,048
/// bytes of UTF-8, below its limit of about 2,700 bytes per index row (a
/// longer value in a plain index failed the whole view write).
pub(crate) const TEXT_KEY_CHARS: usize = 512;

/// The same on MariaDB/MySQL: its key columns count toward the 65,535
/// bytes a row's definition may hold, 4 bytes per character (512 allowed
/// about 30 text fields per schema, 128 allows 63 keyed ones).
pub(crate) const MYSQL_TEXT_KEY_CHARS: usize = 128;

/// Characters of a text key on `backend`.
pub(crate) fn text_key_chars(backend: Backend) -> usize {
    match backend {
        Backend::MySql => MYSQL_TEXT_KEY_CHARS,
        _ => TEXT_KEY_CHARS,
    }
}

/// On PostgreSQL, the index key of a text field column (`column` quoted,
/// with its alias if any): its first [`TEXT_KEY_CHARS`] characters.
/// Under the "C" collation that prefix orders as the whole value does
/// where the prefixes differ, so statements compare the prefix first (the
/// index) and the whole value after. `None`: the column itself is the key.
/// On MariaDB/MySQL, the key is a generated column (see
/// [`ViewTable::mysql_ddl`]): its planner uses an index of an expression
/// only by that column's name.
pub(crate) fn text_key(ty: &FieldType, column: &str, backend: Backend) -> Option<String> {
    if !is_text(ty) {
        return None;
    }
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(format!("left({column}, {TEXT_KEY_CHARS})")),
        // `alias."name"` becomes `alias."k_name"`.
        Backend::MySql => column
            .rsplit_once('"')
            .and_then(|(head, _)| head.rsplit_once('"'))
            .map(|(alias, name)| format!("{alias}\"{}\"", key_column(name))),
    }
}

/// A field stored as text (strings and relations, not lists).
pub(super) fn is_text(ty: &FieldType) -> bool {
    !matches!(
        ty,
        FieldType::Bool | FieldType::Int | FieldType::Float | FieldType::Bytes
    ) && !is_list(ty)
}

/// The name of a text column's key column on MariaDB/MySQL.
pub(super) fn key_column(column: &str) -> String {
    truncated(&format!("k_{column}"), 64).to_string()
}

/// Whether a field's column gets an index. Not lists (their items are
/// indexed in `<t>__lists`) and not bytes: a blob piece's 256,000 bytes
/// would double the disk it takes, and exceed PostgreSQL's index row
/// limit (8 KB), which failed the whole view write; filters on bytes scan.
pub(super) fn is_indexed(ty: &FieldType) -> bool {
    !is_list(ty) && *ty != FieldType::Bytes
}

impl ViewTable {
    /// What tables made by earlier versions need: drop the indexes of
    /// bytes columns, and on PostgreSQL replace those of whole text values
    /// by prefix keys (see [`text_key`]).
    pub(crate) fn upgrade_indexes(&self, backend: Backend) -> Vec<String> {
        if backend == Backend::MySql {
            // Its tables were made with the current layout, but for the
            // index of history by document (`Store` checks it exists).
            return Vec::new();
        }
        let mut out: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ty == FieldType::Bytes || text_key(&c.ty, "", backend).is_some())
            .map(|(i, _)| {
                format!(
                    "DROP INDEX IF EXISTS {}",
                    quote(&format!("{}__i{i}", self.table))
                )
            })
            .collect();
        if backend == Backend::Postgres {
            out.extend(self.field_indexes(backend));
        }
        out.push(self.views_by_document());
        out
    }

    /// The name of the index of history rows by document.
    pub(crate) fn views_by_document_index(&self) -> String {
        format!("{}__vdoc", self.table)
    }

    /// History rows by document: a purged document's rows are found
    /// without reading every view (SQLite and PostgreSQL).
    fn views_by_document(&self) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (_document_id)",
            quote(&self.views_by_document_index()),
            quote(&self.views_table())
        )
    }
}

/// The condition of live (not deleted) rows, as a literal: the planner
/// uses a partial index only when the query states its condition.
pub(crate) fn live_condition(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite | Backend::MySql => "_deleted = 0",
        Backend::Postgres => "_deleted = false",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoffnung_core::DocumentViewId;

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
