//! Every SQL statement of the event store, written once with `?`
//! placeholders and rendered for the backend at connect time.

use sqlx::any::AnyArguments;
use sqlx::Arguments;

use crate::config::ForkedAuthors;
use crate::error::{Failure, StoreError};
use crate::forks::with_forks;

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// MariaDB 10.6+ (for `JSON_TABLE`), or MySQL.
    MySql,
}

/// A statement as `backend` runs it: `?` placeholders as `$1, $2, …` for
/// PostgreSQL; the log conditions through their generated columns for
/// MariaDB/MySQL (see [`for_backend`]), so no statement can miss them.
pub(crate) fn render(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => sql.to_string(),
        Backend::MySql => for_backend(sql, backend),
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// An `INSERT` that, on SQLite, rolls the whole transaction back on a
/// constraint violation instead of undoing just itself: every append and
/// view write is all-or-nothing anyway, and a multi-row statement that may
/// undo only itself keeps a statement journal (a copy of every page it
/// changes), which cost about 7 % of the writer's time.
pub(crate) fn all_or_nothing(insert: &str, backend: Backend) -> String {
    match (backend, insert.strip_prefix("INSERT INTO ")) {
        (Backend::Sqlite, Some(rest)) => format!("INSERT OR ROLLBACK INTO {rest}"),
        _ => insert.to_string(),
    }
}

/// `head` + `rows` groups of `width` placeholders + `tail`, rendered.
pub(crate) fn multi_row(
    head: &str,
    width: usize,
    rows: usize,
    tail: &str,
    backend: Backend,
) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    multi_row_of(head, &row, rows, tail, backend)
}

/// `head` + `rows` copies of `row` (a parenthesized placeholder list) + `tail`.
pub(crate) fn multi_row_of(
    head: &str,
    row: &str,
    rows: usize,
    tail: &str,
    backend: Backend,
) -> String {
    let sql = format!("{head}{}{tail}", vec![row; rows].join(", "));
    render(&sql, backend)
}

/// Bound parameters one statement may hold: SQLite's limit (32,766;
/// PostgreSQL's is 65,535).
pub(crate) const MAX_PARAMS: usize = 32_766;

/// Splits `n` rows into chunks of 64, 32, …, 1 rows, so that only a few
/// distinct statements are ever prepared.
pub(crate) fn row_chunks(n: usize) -> Vec<std::ops::Range<usize>> {
    row_chunks_of(n, 1)
}

/// [`row_chunks`] of rows of `width` parameters each: no chunk holds more
/// than [`MAX_PARAMS`] (64 rows of a 1,024-field schema would hold 65,856).
pub(crate) fn row_chunks_of(n: usize, width: usize) -> Vec<std::ops::Range<usize>> {
    let most = (MAX_PARAMS / width.max(1)).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for size in [64, 32, 16, 8, 4, 2, 1].into_iter().filter(|s| *s <= most) {
        while n - start >= size {
            out.push(start..start + size);
            start += size;
        }
    }
    out
}

/// Bytes of bound parameters one MariaDB/MySQL statement carries at most:
/// a statement and its parameters travel in one packet, which the server
/// refuses beyond `max_allowed_packet` (16 MiB by default); 64 rows of
/// 256 kB blob pieces would be 16 MB.
pub(crate) const MAX_STATEMENT_BYTES: usize = 8 << 20;

/// [`row_chunks_of`], and on MariaDB/MySQL no chunk of more than one row
/// over [`MAX_STATEMENT_BYTES`] (`bytes` of row `i`). The same few sizes.
pub(crate) fn row_chunks_within(
    n: usize,
    width: usize,
    backend: Backend,
    bytes: impl Fn(usize) -> usize,
) -> Vec<std::ops::Range<usize>> {
    if backend != Backend::MySql {
        return row_chunks_of(n, width);
    }
    let most = (MAX_PARAMS / width.max(1)).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let fits = |size: usize| {
            size <= most
                && start + size <= n
                && (start..start + size).map(&bytes).sum::<usize>() <= MAX_STATEMENT_BYTES
        };
        let size = [64, 32, 16, 8, 4, 2]
            .into_iter()
            .find(|s| fits(*s))
            .unwrap_or(1);
        out.push(start..start + size);
        start += size;
    }
    out
}

/// `ON CONFLICT (key) DO NOTHING`, or `DO UPDATE SET` the columns
/// `updates` to the new row's values, as the backend spells it (`table`,
/// quoted, is where the row goes).
pub(crate) fn on_conflict(table: &str, key: &str, updates: &[String], backend: Backend) -> String {
    match (backend, updates.is_empty()) {
        // Named with the table: an `INSERT … SELECT` may read a column of
        // that name too.
        (Backend::MySql, true) => format!(" ON DUPLICATE KEY UPDATE {table}.{key} = {table}.{key}"),
        (Backend::MySql, false) => format!(
            " ON DUPLICATE KEY UPDATE {}",
            assignments(updates, |c| format!("VALUES({c})"))
        ),
        (_, true) => format!(" ON CONFLICT ({key}) DO NOTHING"),
        (_, false) => format!(
            " ON CONFLICT ({key}) DO UPDATE SET {}",
            assignments(updates, |c| format!("excluded.{c}"))
        ),
    }
}

/// `c = <new value of c>, …` for each column.
fn assignments(columns: &[String], new: impl Fn(&str) -> String) -> String {
    columns
        .iter()
        .map(|c| format!("{c} = {}", new(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bound parameter of a generated statement. Nulls are typed, as
/// PostgreSQL wants them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Blob(Option<Vec<u8>>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Text(Option<String>),
}

impl Param {
    /// About the bytes it takes in a statement.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Param::Blob(Some(b)) => b.len(),
            Param::Text(Some(t)) => t.len(),
            _ => 8,
        }
    }

    pub(crate) fn add_to(self, args: &mut AnyArguments<'_>) -> Result<(), StoreError> {
        let r = match self {
            Param::Blob(b) => args.add(b),
            Param::Int(i) => args.add(i),
            Param::Float(f) => args.add(f),
            Param::Bool(b) => args.add(b),
            Param::Text(t) => args.add(t),
        };
        r.map_err(|e| StoreError::WriteFailed(Failure::shared("encoding a parameter", e.into())))
    }
}

/// A text column: MariaDB reports text of a binary collation (`_bin`) as
/// bytes, which sqlx then refuses to read as a string.
pub(crate) fn text_at(row: &sqlx::any::AnyRow, idx: usize) -> Result<Option<String>, StoreError> {
    use sqlx::Row;
    match row.try_get::<Option<String>, _>(idx) {
        Ok(s) => Ok(s),
        Err(e) => match row.try_get::<Option<Vec<u8>>, _>(idx) {
            Ok(b) => b
                .map(|b| {
                    String::from_utf8(b)
                        .map_err(|e| StoreError::Corrupt(Failure::caused_by("text column", e)))
                })
                .transpose(),
            Err(_) => Err(e.into()),
        },
    }
}

/// Binds `params` in order.
pub(crate) fn arguments(params: Vec<Param>) -> Result<AnyArguments<'static>, StoreError> {
    let mut args = AnyArguments::default();
    for p in params {
        p.add_to(&mut args)?;
    }
    Ok(args)
}

macro_rules! statements {
    ($($name:ident = $sql:expr;)*) => {
        /// The statements, rendered for one backend and fork policy.
        pub(crate) struct Statements {
            $(pub $name: String,)*
            pub forked_authors: ForkedAuthors,
        }

        impl Statements {
            pub fn new(backend: Backend, forked_authors: ForkedAuthors) -> Self {
                Self {
                    $($name: render(&with_forks($sql, forked_authors), backend),)*
                    forked_authors,
                }
            }
        }

        #[cfg(test)]
        const ALL_STATEMENTS: &[&str] = &[$($sql),*];
    };
}

/// The number of a schema id in `schema_ids` (migration 0011), which
/// entries name their schema by; binds the schema id.
macro_rules! schema_ref {
    () => {
        "(SELECT id FROM schema_ids WHERE schema_id = ?)"
    };
}
pub(crate) use schema_ref;

/// The schema id of entry `e` (see [`schema_ref`]).
macro_rules! schema_of_entry {
    () => {
        "(SELECT s.schema_id FROM schema_ids s WHERE s.id = e.schema_ref)"
    };
}
pub(crate) use schema_of_entry;

/// The number of an author's public key in `authors` (migration 0011), which
/// entries and proofs of forks name their author by; binds the key.
macro_rules! author_ref {
    () => {
        "(SELECT id FROM authors WHERE public_key = ?)"
    };
}
pub(crate) use author_ref;

/// The public key of the author of entry `e` (see [`author_ref`]).
macro_rules! author_of_entry {
    () => {
        "(SELECT au.public_key FROM authors au WHERE au.id = e.author)"
    };
}
pub(crate) use author_of_entry;

/// The logs of a document, as `(author, log_id)` rows; binds the
/// document id, the schema id, the document id, the schema id (see
/// [`bind_document_logs`]). Its author's log is found through its create,
/// whose hash is the document id; the logs other authors' updates and
/// deletes opened through `entries_document_logs` (migration 0006).
macro_rules! document_logs {
    () => {
        concat!(
            "(SELECT author, log_id FROM entries WHERE entry_hash = ? AND seq_num = 1 AND action = 0 AND schema_ref = ",
            crate::sql::schema_ref!(),
            " UNION ALL SELECT author, log_id FROM entries \
             WHERE document_id = ? AND seq_num = 1 AND action <> 0 AND schema_ref = ",
            crate::sql::schema_ref!(),
            ")"
        )
    };
}
pub(crate) use document_logs;

/// The condition that entry `e` is not in the frozen part of a forked log
/// (see migration 0008): documents keep the state from below a fork.
/// Under [`ForkedAuthors::Block`] (`forks::with_forks`) it holds for no
/// entry of a forked author.
macro_rules! not_frozen {
    () => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM forks k WHERE k.author = e.author",
            crate::sql::frozen_part!(),
            ")"
        )
    };
}
pub(crate) use not_frozen;

/// The part of [`not_frozen`] that limits it to the forked log.
macro_rules! frozen_part {
    () => {
        " AND k.log_id = e.log_id AND e.seq_num >= k.seq_num"
    };
}
pub(crate) use frozen_part;

/// Binds the parameters of [`document_logs`].
pub(crate) fn bind_document_logs<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>,
    schema_id: String,
    document_id: &'q [u8],
) -> sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>> {
    query
        .bind(document_id)
        .bind(schema_id.clone())
        .bind(document_id)
        .bind(schema_id)
}

/// Binds the parameters of `document_log`: the author's log of a document.
pub(crate) fn bind_author_document_log<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>,
    public_key: &'q [u8],
    document_id: &'q [u8],
) -> sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>> {
    query
        .bind(public_key)
        .bind(document_id)
        .bind(public_key)
        .bind(public_key)
        .bind(document_id)
}

// Logs are read from their entries (migrations 0005-0007): a log's first
// entry (`seq_num = 1`) names its document and schema; a create's log is
// found through its hash (the document id), the logs that updates and
// deletes opened through the partial indexes `entries_foreign_logs` and
// `entries_document_logs`, a schema's logs through `entries_schema_logs`,
// an author's through the unique `(author, log_id, seq_num)`. A log's
// head is its entry with the highest seq num.
statements! {
    log_head = concat!("SELECT seq_num, entry_hash, document_id FROM entries WHERE author = ", author_ref!(), " AND log_id = ? \
                ORDER BY seq_num DESC LIMIT 1");
    // The author's log of a document, at its head; binds as
    // [`bind_author_document_log`]. The log of the author's own create,
    // else one its update or delete opened (`entries_foreign_logs`).
    document_log = concat!("SELECT e.log_id, e.seq_num, e.entry_hash FROM entries e WHERE e.author = ", author_ref!(), " AND e.log_id = \
                    (SELECT f.log_id FROM entries f WHERE f.entry_hash = ? AND f.author = ", author_ref!(), " AND f.seq_num = 1 AND f.action = 0 \
                     UNION ALL SELECT f.log_id FROM entries f \
                     WHERE f.author = ", author_ref!(), " AND f.document_id = ? AND f.seq_num = 1 AND f.action <> 0 LIMIT 1) \
                    ORDER BY e.seq_num DESC LIMIT 1");
    max_log_id = concat!("SELECT MAX(log_id) FROM entries WHERE author = ", author_ref!());
    entry_hash_at = concat!("SELECT entry_hash FROM entries WHERE author = ", author_ref!(), " AND log_id = ? AND seq_num = ?");
    entry_at = concat!("SELECT entry FROM entries WHERE author = ", author_ref!(), " AND log_id = ? AND seq_num = ?");
    entry_exists = "SELECT 1 FROM entries WHERE entry_hash = ?";
    // Forked logs (migration 0008): frozen from `seq_num` on.
    forks_frozen = "SELECT a.public_key, k.log_id, k.seq_num FROM forks k JOIN authors a ON a.id = k.author";
    fork_of_log = concat!("SELECT seq_num FROM forks WHERE author = ", author_ref!(), " AND log_id = ?");
    fork_of_author = concat!("SELECT 1 FROM forks WHERE author = ", author_ref!(), " LIMIT 1");
    fork_delete = concat!("DELETE FROM forks WHERE author = ", author_ref!(), " AND log_id = ?");
    fork_insert = concat!("INSERT INTO forks (author, log_id, seq_num, entry_a, entry_b, detected_at) \
                   VALUES (", author_ref!(), ", ?, ?, ?, ?, ?)");
    operation_meta = concat!("SELECT e.document_id, ", schema_of_entry!(), ", e.action FROM entries e WHERE e.entry_hash = ?");
    document_deleted = concat!("SELECT 1 FROM ", document_logs!(), " l \
                        JOIN entries e ON e.author = l.author AND e.log_id = l.log_id \
                        WHERE e.action = 2 LIMIT 1");
    // Every log of an author with its head.
    author_logs = concat!("SELECT l.log_id, h.seq_num, h.entry_hash, l.document_id FROM entries l \
                   JOIN entries h ON h.author = l.author AND h.log_id = l.log_id \
                   AND h.seq_num = (SELECT MAX(m.seq_num) FROM entries m WHERE m.author = l.author AND m.log_id = l.log_id) \
                   WHERE l.author = ", author_ref!(), " AND l.seq_num = 1 LIMIT 10001");
    count_entries = "SELECT COUNT(*) FROM entries";
    count_operations = "SELECT COUNT(*) FROM entries WHERE payload IS NOT NULL";
    count_logs = "SELECT COUNT(*) FROM entries WHERE seq_num = 1";
    document_operations = concat!("SELECT e.entry_hash, ", author_of_entry!(), ", e.payload FROM ", document_logs!(), " l \
                           JOIN entries e ON e.author = l.author AND e.log_id = l.log_id \
                           WHERE ", not_frozen!(), " ORDER BY e.id");
    documents_of_schema = concat!("SELECT DISTINCT document_id FROM entries WHERE schema_ref = ", schema_ref!(), " AND seq_num = 1");
    // Deleted documents waiting for their purge (migrations 0009, 0011).
    deletions_due = "SELECT document_id, schema_id, deleted_at, unused FROM deletions \
                     WHERE deleted_at <= ? \
                     AND (unused = 0 AND deleted_at <= ? OR unused <> 0 AND deleted_at <= ?) \
                     ORDER BY deleted_at LIMIT ?";
    deletion_oldest = "SELECT MIN(CASE WHEN unused = 0 THEN deleted_at END), \
                       MIN(CASE WHEN unused <> 0 THEN deleted_at END) \
                       FROM deletions";
    deletion_counts = "SELECT (SELECT documents FROM purge_total WHERE id = 1), \
                       (SELECT COUNT(*) FROM deletions WHERE unused = 0)";
    document_deleted_below_forks = concat!("SELECT 1 FROM ", document_logs!(), " l \
                        JOIN entries e ON e.author = l.author AND e.log_id = l.log_id \
                        WHERE e.action = 2 AND ", not_frozen!(), " LIMIT 1");
}

/// The conditions of the partial indexes SQLite and PostgreSQL keep, and
/// the generated columns MariaDB indexes instead (NULL where the condition
/// does not hold; see `migrations/mysql`): its planner uses an index of a
/// generated column only when the statement names the column.
const MYSQL_LOG_COLUMNS: &[(&str, &str)] = &[
    (
        "document_id = ? AND seq_num = 1 AND action <> 0",
        "log_document = ?",
    ),
    (
        "f.document_id = ? AND f.seq_num = 1 AND f.action <> 0",
        "f.log_document = ?",
    ),
    (
        concat!("schema_ref = ", schema_ref!(), " AND seq_num = 1"),
        concat!("log_schema = ", schema_ref!()),
    ),
    (
        "FROM entries WHERE seq_num = 1",
        "FROM entries WHERE log_schema IS NOT NULL",
    ),
];

/// A statement as `backend` runs it (see [`MYSQL_LOG_COLUMNS`]).
pub(crate) fn for_backend(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::MySql => MYSQL_LOG_COLUMNS
            .iter()
            .fold(sql.to_string(), |sql, (from, to)| sql.replace(from, to)),
        _ => sql.to_string(),
    }
}

/// Counts documents as all logs (`entries_schema_logs`) minus the logs that
/// updates and deletes opened (`entries_foreign_logs`): both partial indexes
/// hold one row per log and answer a count alone, where counting creates
/// directly (`action = 0`) reads every log's row. SQLite is told the
/// indexes: without statistics for `entries` its planner takes
/// `entries_schema_logs` for the second count too and reads each log's
/// action from the table. PostgreSQL picks index-only scans itself.
pub(crate) fn count_documents(backend: Backend) -> String {
    let (logs, foreign) = match backend {
        Backend::Sqlite => (
            " INDEXED BY entries_schema_logs",
            " INDEXED BY entries_foreign_logs",
        ),
        Backend::Postgres => ("", ""),
        Backend::MySql => {
            return "SELECT (SELECT COUNT(*) FROM entries WHERE log_schema IS NOT NULL) \
                    - (SELECT COUNT(*) FROM entries WHERE log_document IS NOT NULL)"
                .into()
        }
    };
    format!(
        "SELECT (SELECT COUNT(*) FROM entries{logs} WHERE seq_num = 1) \
         - (SELECT COUNT(*) FROM entries{foreign} WHERE seq_num = 1 AND action <> 0)"
    )
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
