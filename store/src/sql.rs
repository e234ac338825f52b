//! Every SQL statement of the event store, written once with `?`
//! placeholders and rendered for the backend at connect time.

use sqlx::any::AnyArguments;
use sqlx::Arguments;

use crate::error::{Failure, StoreError};

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Renders `?` placeholders as `$1, $2, …` for PostgreSQL.
pub(crate) fn render(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => sql.to_string(),
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
        /// The statements, rendered for one backend.
        pub(crate) struct Statements {
            $(pub $name: String,)*
        }

        impl Statements {
            pub fn new(backend: Backend) -> Self {
                Self { $($name: render($sql, backend),)* }
            }
        }
    };
}

/// The logs of a document, as `(public_key, log_id)` rows; binds the
/// document id, the schema id, the document id, the schema id (see
/// [`bind_document_logs`]). Its author's log is found through its create,
/// whose hash is the document id; the logs other authors' updates and
/// deletes opened through `entries_document_logs` (migration 0006).
macro_rules! document_logs {
    () => {
        "(SELECT public_key, log_id FROM entries WHERE entry_hash = ? AND seq_num = 1 AND action = 0 AND schema_id = ? \
          UNION ALL SELECT public_key, log_id FROM entries \
          WHERE document_id = ? AND seq_num = 1 AND action <> 0 AND schema_id = ?)"
    };
}
pub(crate) use document_logs;

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
// an author's through the unique `(public_key, log_id, seq_num)`. A log's
// head is its entry with the highest seq num.
statements! {
    log_head = "SELECT seq_num, entry_hash, document_id FROM entries WHERE public_key = ? AND log_id = ? \
                ORDER BY seq_num DESC LIMIT 1";
    // The author's log of a document, at its head; binds as
    // [`bind_author_document_log`]. The log of the author's own create,
    // else one its update or delete opened (`entries_foreign_logs`).
    document_log = "SELECT e.log_id, e.seq_num, e.entry_hash FROM entries e WHERE e.public_key = ? AND e.log_id = \
                    (SELECT f.log_id FROM entries f WHERE f.entry_hash = ? AND f.public_key = ? AND f.seq_num = 1 AND f.action = 0 \
                     UNION ALL SELECT f.log_id FROM entries f \
                     WHERE f.public_key = ? AND f.document_id = ? AND f.seq_num = 1 AND f.action <> 0 LIMIT 1) \
                    ORDER BY e.seq_num DESC LIMIT 1";
    max_log_id = "SELECT MAX(log_id) FROM entries WHERE public_key = ?";
    entry_hash_at = "SELECT entry_hash FROM entries WHERE public_key = ? AND log_id = ? AND seq_num = ?";
    entry_exists = "SELECT 1 FROM entries WHERE entry_hash = ?";
    operation_meta = "SELECT document_id, schema_id, action FROM entries WHERE entry_hash = ?";
    document_deleted = concat!("SELECT 1 FROM ", document_logs!(), " l \
                        JOIN entries e ON e.public_key = l.public_key AND e.log_id = l.log_id \
                        WHERE e.action = 2 LIMIT 1");
    // Every log of an author with its head.
    author_logs = "SELECT l.log_id, h.seq_num, h.entry_hash, l.document_id FROM entries l \
                   JOIN entries h ON h.public_key = l.public_key AND h.log_id = l.log_id \
                   AND h.seq_num = (SELECT MAX(m.seq_num) FROM entries m WHERE m.public_key = l.public_key AND m.log_id = l.log_id) \
                   WHERE l.public_key = ? AND l.seq_num = 1 LIMIT 10001";
    count_entries = "SELECT COUNT(*) FROM entries";
    count_operations = "SELECT COUNT(*) FROM entries WHERE payload IS NOT NULL";
    count_logs = "SELECT COUNT(*) FROM entries WHERE seq_num = 1";
    document_operations = concat!("SELECT e.entry_hash, e.public_key, e.payload FROM ", document_logs!(), " l \
                           JOIN entries e ON e.public_key = l.public_key AND e.log_id = l.log_id \
                           ORDER BY e.id");
    documents_of_schema = "SELECT DISTINCT document_id FROM entries WHERE schema_id = ? AND seq_num = 1";
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
    };
    format!(
        "SELECT (SELECT COUNT(*) FROM entries{logs} WHERE seq_num = 1) \
         - (SELECT COUNT(*) FROM entries{foreign} WHERE seq_num = 1 AND action <> 0)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of the document count, one line per step.
    async fn document_count_plan(store: &crate::Store) -> Vec<String> {
        use sqlx::{Connection, Row};
        let mut conn = store.pool().acquire().await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        let explain = match store.backend() {
            Backend::Sqlite => "EXPLAIN QUERY PLAN",
            Backend::Postgres => {
                // An empty table has no statistics: rule out the plans that
                // read the table, so that the test shows an index-only plan
                // exists (with statistics, the planner prefers it anyway).
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("SET LOCAL enable_bitmapscan = off")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                "EXPLAIN"
            }
        };
        let sql = format!("{explain} {}", count_documents(store.backend()));
        let rows = sqlx::query(&sql).fetch_all(&mut *tx).await.unwrap();
        let detail = match store.backend() {
            Backend::Sqlite => 3,
            Backend::Postgres => 0,
        };
        rows.iter()
            .map(|r| r.try_get::<String, _>(detail).unwrap())
            .collect()
    }

    crate::backend_tests! {
        documents_are_counted_from_the_partial_indexes_of_logs(db) {
            let store = db.store().await;
            let plan = document_count_plan(&store).await;
            let reads: Vec<&String> = plan
                .iter()
                .filter(|l| l.contains("SCAN") || l.contains("Scan"))
                .filter(|l| !l.contains("CONSTANT ROW"))
                .collect();
            assert_eq!(reads.len(), 2, "{plan:#?}");
            for read in reads {
                let index_only = match db.backend {
                    // SQLite calls a partial index whose condition the query
                    // repeats "USING INDEX", but never reads the table for it.
                    Backend::Sqlite => read.contains("USING COVERING INDEX entries_schema_logs")
                        || read.contains("USING INDEX entries_foreign_logs"),
                    Backend::Postgres => read.contains("Index Only Scan using entries_schema_logs")
                        || read.contains("Index Only Scan using entries_foreign_logs")
                        || read.contains("Index Only Scan using entries_document_logs"),
                };
                assert!(index_only, "{read} in {plan:#?}");
            }
            if db.backend == Backend::Sqlite {
                // No column of any row is read: the counts walk the indexes.
                let sql = format!("EXPLAIN {}", count_documents(Backend::Sqlite));
                let rows = sqlx::query(&sql).fetch_all(store.pool()).await.unwrap();
                let ops: Vec<String> = rows
                    .iter()
                    .map(|r| sqlx::Row::try_get::<String, _>(r, 1).unwrap())
                    .collect();
                assert!(!ops.iter().any(|op| op == "Column"), "{ops:?}");
            }
            store.close().await;
        }
    }

    #[test]
    fn renders_numbered_placeholders() {
        assert_eq!(
            render("a = ? AND b = ?", Backend::Postgres),
            "a = $1 AND b = $2"
        );
        assert_eq!(render("a = ?", Backend::Sqlite), "a = ?");
    }

    #[test]
    fn inserts_roll_back_whole_transactions_on_sqlite() {
        assert_eq!(
            all_or_nothing("INSERT INTO t (a) VALUES (?)", Backend::Sqlite),
            "INSERT OR ROLLBACK INTO t (a) VALUES (?)"
        );
        assert_eq!(
            all_or_nothing("INSERT INTO t (a) VALUES ($1)", Backend::Postgres),
            "INSERT INTO t (a) VALUES ($1)"
        );
        assert_eq!(
            all_or_nothing("DELETE FROM t", Backend::Sqlite),
            "DELETE FROM t"
        );
    }
}
