//! The log heights of a replication target set (SPEC 10.3): every log of
//! the target's documents, where blobs and their pieces count only as far
//! as the target's application documents need them.
//!
//! A `blob_v1` document is offered when the target holds `blob_v1` and a
//! stored view (current, or an old one something pins) of a document of an
//! application schema of the target relates to it; a `blob_piece_v1` document when the target also
//! holds `blob_piece_v1` and a view of an offered blob pins it. Relations
//! are read from the view tables, so they count once materialized.

use std::sync::Arc;

use hoffnung_core::{FieldType, Schema, SchemaId};
use sqlx::Row;

use crate::error::StoreError;
use crate::export::placeholders;
use crate::sql::{render, Backend};
use crate::views::{hex_of, quote};
use crate::{ForkedAuthors, SchemaSource, Store};

/// (author, log id, seq num of the head).
pub type LogHeight = ([u8; 32], u64, u64);

fn is_blob_schema(id: &SchemaId) -> bool {
    *id == SchemaId::BLOB_V1 || *id == SchemaId::BLOB_PIECE_V1
}

/// How a field names a blob: a document id, or view ids (whose operations
/// lead to their document through `entries`).
#[derive(Clone, Copy, PartialEq)]
enum Names {
    Document,
    Documents,
    Views,
}

fn blob_field(ty: &FieldType) -> Option<Names> {
    match ty {
        FieldType::Relation(s) if *s == SchemaId::BLOB_V1 => Some(Names::Document),
        FieldType::RelationList(s) if *s == SchemaId::BLOB_V1 => Some(Names::Documents),
        FieldType::PinnedRelation(s) | FieldType::PinnedRelationList(s)
            if *s == SchemaId::BLOB_V1 =>
        {
            Some(Names::Views)
        }
        _ => None,
    }
}

/// The blobs and pieces a target set includes, as SQL.
struct IncludedBlobs {
    /// Common table expressions: `related(doc)`, the hex ids of included
    /// blobs, and `pieces(doc)`, the ids of included pieces.
    ctes: String,
    /// Per blob schema, the tail of a SELECT of its included documents'
    /// ids as `entries` holds them.
    documents: Vec<(SchemaId, String)>,
}

/// An application schema of the target and its fields naming blobs.
type Relating = (Arc<Schema>, Vec<(String, Names)>);

/// A FROM item with one row `s.value` per id in the text `column`: list
/// items are separated by spaces, a view id's operations by underscores
/// (neither occurs in a hex id).
fn split_ids(column: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!(
            "json_each('[\"' || replace(replace({column}, ' ', '\",\"'), '_', '\",\"') || '\"]') AS s"
        ),
        Backend::Postgres => {
            format!("unnest(string_to_array(translate({column}, '_', ' '), ' ')) AS s(value)")
        }
        Backend::MySql => format!(
            "JSON_TABLE(CONCAT('[\"', REPLACE(REPLACE({column}, ' ', '\",\"'), '_', '\",\"'), '\"]'), \
             '$[*]' COLUMNS (value VARCHAR(68) PATH '$')) AS s"
        ),
    }
}

/// SQL for the bytes of hex text (how `entries` holds ids).
fn bytes_of_hex(expr: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite | Backend::MySql => format!("unhex({expr})"),
        Backend::Postgres => format!("decode({expr}, 'hex')"),
    }
}

/// Rows `doc` (hex document ids) of what `column` of every row of `table`
/// names.
fn named_documents(table: &str, column: &str, names: Names, backend: Backend) -> String {
    let (t, c) = (quote(table), format!("v.{}", quote(column)));
    match names {
        Names::Document => format!("SELECT {c} AS doc FROM {t} v WHERE {c} IS NOT NULL"),
        Names::Documents => format!(
            "SELECT s.value AS doc FROM {t} v CROSS JOIN {}",
            split_ids(&c, backend)
        ),
        Names::Views => format!(
            "SELECT {} AS doc FROM {t} v CROSS JOIN {} JOIN entries e ON e.entry_hash = {}",
            hex_of("e.document_id", backend),
            split_ids(&c, backend),
            bytes_of_hex("s.value", backend)
        ),
    }
}

impl Store {
    /// The latest seq num of every log of the documents a replication
    /// session over `target` includes, sorted by author and log id.
    /// `schemas` gives the target's schemas (their relation fields decide
    /// which blobs are included; see the module's documentation).
    pub async fn log_heights<S: SchemaSource + ?Sized>(
        &self,
        target: &[SchemaId],
        schemas: &S,
    ) -> Result<Vec<LogHeight>, StoreError> {
        let plain: Vec<&SchemaId> = target.iter().filter(|s| !is_blob_schema(s)).collect();
        // Each log through its first entry, its head by one seek in the
        // log's positions.
        // A forked log is offered up to below its fork (NULL when frozen
        // from seq 1: the log is not offered); a blocked author's logs not
        // at all.
        let frozen_from = match self.config().forked_authors {
            ForkedAuthors::Freeze => {
                "SELECT k.seq_num FROM forks k WHERE k.author = l.author AND k.log_id = l.log_id"
            }
            ForkedAuthors::Block => "SELECT MIN(1) FROM forks k WHERE k.author = l.author",
        };
        let head = format!(
            "(SELECT MAX(m.seq_num) FROM entries m WHERE m.author = l.author AND m.log_id = l.log_id \
             AND m.seq_num < COALESCE(({frozen_from}), 9223372036854775807))"
        );
        // Each log's author, by its key (the group is by its number).
        let key = "(SELECT au.public_key FROM authors au WHERE au.id = l.author)";
        let heights = match self.backend() {
            Backend::Sqlite => format!("group_concat(l.log_id || ',' || {head}, ';')"),
            Backend::Postgres => format!("string_agg(l.log_id::text || ',' || {head}::text, ';')"),
            Backend::MySql => format!("GROUP_CONCAT(l.log_id || ',' || {head} SEPARATOR ';')"),
        };
        // A log's first entry of one of the schemas (MariaDB/MySQL: the
        // generated column, see `crate::sql::for_backend`).
        let numbers = |n: usize| {
            format!(
                "(SELECT id FROM schema_ids WHERE schema_id IN ({}))",
                placeholders(n)
            )
        };
        let of_schemas = |alias: &str, n: usize| match self.backend() {
            Backend::MySql => format!("{alias}log_schema IN {}", numbers(n)),
            _ => format!("{alias}schema_ref IN {} AND {alias}seq_num = 1", numbers(n)),
        };
        let mut args: Vec<String> = plain.iter().map(|s| s.to_string()).collect();
        // Only a target with blobs pays for finding them.
        let blobs = if target.contains(&SchemaId::BLOB_V1) {
            let pieces = target.contains(&SchemaId::BLOB_PIECE_V1);
            self.blob_logs(&plain, schemas, pieces).await?
        } else {
            None
        };
        let sql = match blobs {
            None if plain.is_empty() => return Ok(Vec::new()),
            // One row per author with its logs as "log,seq;log,seq…": a
            // node answers this for every sync session, and per-row costs
            // would make that grow with its number of logs (one per
            // document).
            None => format!(
                "SELECT {key}, {heights} FROM entries l \
                 WHERE {} GROUP BY l.author",
                of_schemas("l.", plain.len())
            ),
            Some(IncludedBlobs { ctes, documents }) => {
                let mut logs = Vec::new();
                if !plain.is_empty() {
                    logs.push(format!(
                        "SELECT author, log_id FROM entries WHERE {}",
                        of_schemas("", plain.len())
                    ));
                }
                for (schema, docs) in documents {
                    logs.push(format!(
                        "SELECT author, log_id FROM entries WHERE {} AND document_id IN (SELECT {docs})",
                        of_schemas("", 1)
                    ));
                    args.push(schema.to_string());
                }
                format!(
                    "WITH {ctes} SELECT {key}, {heights} FROM ({}) l GROUP BY l.author",
                    logs.join(" UNION ALL ")
                )
            }
        };
        let sql = render(&sql, self.backend());
        let mut query = sqlx::query(&sql);
        for s in args {
            query = query.bind(s);
        }
        let rows = query.fetch_all(self.pool()).await?;
        let corrupt = || StoreError::Corrupt("log heights".into());
        let mut out = Vec::new();
        for r in rows {
            let key: [u8; 32] = r
                .try_get::<Vec<u8>, _>(0)?
                .try_into()
                .map_err(|_| StoreError::Corrupt("public key of 32 bytes".into()))?;
            // NULL: every log of the author is forked from seq 1.
            let Some(list) = crate::sql::text_at(&r, 1)? else {
                continue;
            };
            let start = out.len();
            for pair in list.split(';') {
                let (log, seq) = pair.split_once(',').ok_or_else(corrupt)?;
                out.push((
                    key,
                    log.parse().map_err(|_| corrupt())?,
                    seq.parse().map_err(|_| corrupt())?,
                ));
            }
            out[start..].sort_unstable_by_key(|&(_, log, _)| log);
        }
        out.sort_by_key(|h| h.0);
        Ok(out)
    }

    /// The blobs (and with `pieces` their pieces) the application schemas
    /// `plain` include. `None` when no view table of theirs relates to
    /// blobs: no blob is included.
    async fn blob_logs<S: SchemaSource + ?Sized>(
        &self,
        plain: &[&SchemaId],
        schemas: &S,
        pieces: bool,
    ) -> Result<Option<IncludedBlobs>, StoreError> {
        let backend = self.backend();
        // The application schemas of the target with fields naming blobs.
        let relating: Vec<Relating> = plain
            .iter()
            .filter(|id| matches!(id, SchemaId::Application(..)))
            .filter_map(|id| schemas.schema(id))
            .filter_map(|schema| {
                let fields: Vec<(String, Names)> = schema
                    .fields()
                    .iter()
                    .filter_map(|(name, ty)| blob_field(ty).map(|n| (name.clone(), n)))
                    .collect();
                (!fields.is_empty()).then_some((schema, fields))
            })
            .collect();
        if relating.is_empty() {
            return Ok(None);
        }
        // Tables appear as the materializer gets to a schema; until then
        // its documents relate to nothing.
        let mut ids: Vec<String> = relating.iter().map(|(s, _)| s.id().to_string()).collect();
        ids.push(SchemaId::BLOB_V1.to_string());
        let sql = render(
            &format!(
                "SELECT schema_id FROM view_tables WHERE schema_id IN ({})",
                placeholders(ids.len())
            ),
            backend,
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for id in &ids {
            query = query.bind(id);
        }
        let existing = query.fetch_all(self.pool()).await?;
        let exists = |id: &SchemaId| existing.iter().any(|e| *e == id.to_string());

        let mut named = Vec::new();
        for (schema, fields) in &relating {
            if !exists(schema.id()) {
                continue;
            }
            let table = self.views().table(schema);
            for (field, names) in fields {
                let Some(column) = table.column(field) else {
                    continue;
                };
                for t in [table.table.clone(), table.views_table()] {
                    named.push(named_documents(&t, &column.column, *names, backend));
                }
            }
        }
        if named.is_empty() {
            return Ok(None);
        }
        let mut ctes = format!("related(doc) AS ({})", named.join(" UNION ALL "));
        let mut documents = vec![(
            SchemaId::BLOB_V1,
            format!("{} FROM related", bytes_of_hex("doc", backend)),
        )];
        let blob_schema = Schema::system(&SchemaId::BLOB_V1);
        if let Some(blob_schema) = blob_schema.filter(|_| pieces && exists(&SchemaId::BLOB_V1)) {
            let blobs = self.views().table(&blob_schema);
            if let Some(column) = blobs.column("pieces") {
                let c = quote(&column.column);
                let views = [blobs.table.clone(), blobs.views_table()]
                    .iter()
                    .map(|t| {
                        format!(
                            "SELECT {c} FROM {} WHERE _document_id IN (SELECT doc FROM related)",
                            quote(t)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                ctes.push_str(&format!(
                    ", pieces(doc) AS (SELECT e.document_id FROM ({views}) v CROSS JOIN {} \
                     JOIN entries e ON e.entry_hash = {})",
                    split_ids(&format!("v.{c}"), backend),
                    bytes_of_hex("s.value", backend)
                ));
                documents.push((SchemaId::BLOB_PIECE_V1, "doc FROM pieces".into()));
            }
        }
        Ok(Some(IncludedBlobs { ctes, documents }))
    }
}
