//! The writer's transactions, each in as few round trips as its backend
//! allows. SQLite gets its statements as one script with bound parameters
//! (one call to its worker thread). MariaDB/MySQL gets them as one
//! text-protocol query, which may hold several statements, with the
//! parameters written in as literals: a prepared statement takes a round
//! trip each, and with `BEGIN`, the append lock and `COMMIT` the writer's
//! serial path spent most of its time waiting on them.

use std::fmt::Write as _;

use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Connection, Executor};

use crate::error::StoreError;
use crate::sql::{arguments, Backend, Param, MAX_STATEMENT_BYTES};

/// Whose turn a transaction waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// The appends of every process on the database take turns (a lock
    /// released at commit), so entry ids become visible in increasing
    /// order: the materializer's cursor may then skip none. SQLite's
    /// `BEGIN IMMEDIATE` takes that turn by itself.
    Appends,
    /// No one's: the materializer's view writes.
    Any,
}

/// The append lock on PostgreSQL.
const APPEND_LOCK: &str = "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(7265110101)) AS l";

/// The same on MariaDB/MySQL: a row lock (see `migrations/mysql`).
const MYSQL_APPEND_LOCK: &str = "SELECT id FROM append_lock WHERE id = 1 FOR UPDATE";

/// Runs `statements` as one transaction in as few round trips as the
/// backend allows: one on SQLite and, unless too large for a packet, on
/// MariaDB/MySQL; one per statement on PostgreSQL.
pub(super) async fn transaction(
    conn: &mut AnyConnection,
    backend: Backend,
    turn: Turn,
    statements: Vec<(String, Vec<Param>)>,
) -> Result<(), StoreError> {
    let lock = match (backend, turn) {
        (_, Turn::Any) | (Backend::Sqlite, _) => None,
        (Backend::Postgres, Turn::Appends) => Some(APPEND_LOCK),
        (Backend::MySql, Turn::Appends) => Some(MYSQL_APPEND_LOCK),
    };
    match backend {
        Backend::Sqlite => return sqlite_transaction(conn, statements).await,
        Backend::MySql => {
            if let Some(script) = mysql_script(lock, &statements) {
                return mysql_transaction(conn, script).await;
            }
        }
        Backend::Postgres => {}
    }
    let mut tx = conn.begin().await?;
    if let Some(lock) = lock {
        sqlx::query(lock).execute(&mut *tx).await?;
    }
    for (sql, params) in statements {
        sqlx::query_with(&sql, arguments(params)?)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs `statements` as one transaction in one script (one round trip to
/// the connection's thread); rolls back if any fails.
async fn sqlite_transaction(
    conn: &mut AnyConnection,
    statements: Vec<(String, Vec<Param>)>,
) -> Result<(), StoreError> {
    let mut script = String::from("BEGIN IMMEDIATE; ");
    let mut args = AnyArguments::default();
    for (sql, params) in statements {
        script.push_str(&sql);
        script.push_str("; ");
        for p in params {
            p.add_to(&mut args)?;
        }
    }
    script.push_str("COMMIT;");
    let result = sqlx::query_with(&script, args).execute(&mut *conn).await;
    finish(conn, result).await
}

/// Runs a script of [`mysql_script`] (one transaction in one query); rolls
/// back if a statement of it fails.
async fn mysql_transaction(conn: &mut AnyConnection, script: String) -> Result<(), StoreError> {
    // A bare string goes over the text protocol, which allows several
    // statements; `sqlx::query` would prepare it.
    let result = (&mut *conn).execute(script.as_str()).await;
    finish(conn, result).await
}

/// A script stops at its first failing statement, inside its transaction.
async fn finish(
    conn: &mut AnyConnection,
    result: Result<sqlx::any::AnyQueryResult, sqlx::Error>,
) -> Result<(), StoreError> {
    if let Err(e) = result {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(())
}

/// The MariaDB/MySQL script of one transaction: `lock`, then `statements`
/// with their parameters as literals; `None` if it would not fit in one
/// packet (the caller then prepares the statements one by one), if a
/// statement's placeholders do not match its parameters, or if a float is
/// not finite (neither can be stored: the prepared path reports it).
fn mysql_script(lock: Option<&str>, statements: &[(String, Vec<Param>)]) -> Option<String> {
    let size: usize = statements
        .iter()
        .map(|(sql, p)| sql.len() + 2 + p.iter().map(|p| 2 * p.bytes() + 12).sum::<usize>())
        .sum();
    if size > MAX_STATEMENT_BYTES {
        return None;
    }
    let mut script = String::with_capacity(size + 64);
    script.push_str("START TRANSACTION; ");
    if let Some(lock) = lock {
        script.push_str(lock);
        script.push_str("; ");
    }
    for (sql, params) in statements {
        inline(&mut script, sql, params)?;
        script.push_str("; ");
    }
    script.push_str("COMMIT");
    Some(script)
}

/// Appends `sql` with each `?` outside quotes replaced by the next of
/// `params` as a literal.
fn inline(out: &mut String, sql: &str, params: &[Param]) -> Option<()> {
    let mut params = params.iter();
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '?') => {
                literal(out, params.next()?)?;
                continue;
            }
            (None, _) => {}
        }
        out.push(c);
    }
    params.next().is_none().then_some(())
}

/// `param` as a MariaDB/MySQL literal of the same value. Bytes and text go
/// as hexadecimal, so nothing needs escaping whatever the SQL mode; text
/// carries the `_utf8mb4` introducer, so it compares and converts as text.
fn literal(out: &mut String, param: &Param) -> Option<()> {
    match param {
        Param::Blob(None)
        | Param::Int(None)
        | Param::Float(None)
        | Param::Bool(None)
        | Param::Text(None) => out.push_str("NULL"),
        Param::Blob(Some(b)) => hex(out, "X'", b),
        Param::Text(Some(t)) => hex(out, "_utf8mb4 X'", t.as_bytes()),
        Param::Int(Some(i)) => {
            let _ = write!(out, "{i}");
        }
        // The exponent makes it a DOUBLE literal (not DECIMAL); Rust
        // prints the shortest digits that read back as the same double.
        Param::Float(Some(f)) if f.is_finite() => {
            let _ = write!(out, "{f:e}");
        }
        Param::Float(Some(_)) => return None,
        Param::Bool(Some(b)) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
    }
    Some(())
}

fn hex(out: &mut String, prefix: &str, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push_str(prefix);
    out.reserve(bytes.len() * 2 + 1);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str, params: Vec<Param>) -> Option<String> {
        let mut out = String::new();
        inline(&mut out, sql, &params).map(|()| out)
    }

    #[test]
    fn parameters_become_literals_outside_quotes() {
        let sql = "INSERT INTO `t?` (a, b, c, d, e, f) VALUES (?, ?, '?', ?, ?, ?, ?)";
        let params = vec![
            Param::Blob(Some(vec![0, 0xab, 0xff])),
            Param::Text(Some("é'\\".into())),
            Param::Int(Some(-9_007_199_254_740_993)),
            Param::Float(Some(0.1)),
            Param::Bool(Some(true)),
            Param::Text(None),
        ];
        assert_eq!(
            one(sql, params).as_deref(),
            Some(
                "INSERT INTO `t?` (a, b, c, d, e, f) VALUES (X'00abff', _utf8mb4 X'c3a9275c', '?', \
                 -9007199254740993, 1e-1, TRUE, NULL)"
            )
        );
    }

    #[test]
    fn a_mismatch_or_a_float_mysql_cannot_hold_is_left_to_the_prepared_path() {
        assert_eq!(one("SELECT ?, ?", vec![Param::Int(Some(1))]), None);
        assert_eq!(one("SELECT ?", vec![Param::Int(Some(1)); 2]), None);
        assert_eq!(one("SELECT ?", vec![Param::Float(Some(f64::NAN))]), None);
        let big = vec![(
            "INSERT INTO t VALUES (?)".to_string(),
            vec![Param::Blob(Some(vec![0; MAX_STATEMENT_BYTES / 2]))],
        )];
        assert_eq!(mysql_script(None, &big), None);
    }

    /// A random row of every kind of parameter (ids are added later).
    fn rows(n: usize) -> Vec<Vec<Param>> {
        use proptest::prelude::*;
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let row = (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<f64>().prop_filter("finite", |f| f.is_finite())),
            proptest::option::of(any::<bool>()),
        );
        let mut runner = TestRunner::deterministic();
        (0..n)
            .map(|_| {
                let (b, t, i, f, o) = row.new_tree(&mut runner).unwrap().current();
                vec![
                    Param::Blob(b),
                    Param::Text(t),
                    Param::Int(i),
                    Param::Float(f),
                    Param::Bool(o),
                ]
            })
            .collect()
    }

    const TABLE: &str = "CREATE TABLE lit (id BIGINT PRIMARY KEY, b BLOB, \
        t TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, i BIGINT, f DOUBLE, o BOOLEAN)";
    const INSERT: &str = "INSERT INTO lit (id, b, t, i, f, o) VALUES (?, ?, ?, ?, ?, ?)";

    type Row = (
        Option<Vec<u8>>,
        Option<String>,
        Option<i64>,
        Option<f64>,
        Option<bool>,
    );

    async fn read(conn: &mut AnyConnection, id: i64) -> Row {
        use sqlx::Row as _;
        let row = sqlx::query("SELECT b, t, i, f, CAST(o AS SIGNED) FROM lit WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        (
            row.try_get(0).unwrap(),
            crate::sql::text_at(&row, 1).unwrap(),
            row.try_get(2).unwrap(),
            row.try_get(3).unwrap(),
            // The Any driver reads no TINYINT.
            row.try_get::<Option<i64>, _>(4).unwrap().map(|o| o != 0),
        )
    }

    /// Each row goes in once with bound parameters and once as literals of
    /// a script: MariaDB must store the same values.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn literals_store_what_bound_parameters_store() {
        let Some(db) = crate::test_utils::TestDb::mysql().await else {
            return;
        };
        let store = db.store().await;
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query(TABLE).execute(&mut *conn).await.unwrap();
        let rows = rows(200);
        let with_id = |id: usize, row: &Vec<Param>| {
            let mut p = vec![Param::Int(Some(id as i64))];
            p.extend(row.iter().cloned());
            (INSERT.to_string(), p)
        };
        let script: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(n, r)| with_id(2 * n + 1, r))
            .collect();
        let script = mysql_script(None, &script).unwrap();
        mysql_transaction(&mut conn, script).await.unwrap();
        for (n, row) in rows.iter().enumerate() {
            let (sql, params) = with_id(2 * n, row);
            let args = crate::sql::arguments(params).unwrap();
            sqlx::query_with(&sql, args)
                .execute(&mut *conn)
                .await
                .unwrap();
            let bound = read(&mut conn, 2 * n as i64).await;
            let literal = read(&mut conn, 2 * n as i64 + 1).await;
            assert_eq!(bound, literal, "{row:?}");
        }
        drop(conn);
        store.close().await;
        db.cleanup().await;
    }

    /// A script that fails part way leaves nothing of its transaction, and
    /// the connection goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_script_stores_nothing() {
        let Some(db) = crate::test_utils::TestDb::mysql().await else {
            return;
        };
        let store = db.store().await;
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query(TABLE).execute(&mut *conn).await.unwrap();
        let row = |id: i64| {
            (
                INSERT.to_string(),
                vec![
                    Param::Int(Some(id)),
                    Param::Blob(None),
                    Param::Text(None),
                    Param::Int(None),
                    Param::Float(None),
                    Param::Bool(None),
                ],
            )
        };
        let twice = mysql_script(None, &[row(1), row(2), row(1)]).unwrap();
        let err = mysql_transaction(&mut conn, twice).await.unwrap_err();
        assert!(err.to_string().contains("Duplicate"), "{err}");
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lit")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(count, 0);
        let once = mysql_script(None, &[row(1)]).unwrap();
        mysql_transaction(&mut conn, once).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lit")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(count, 1);
        drop(conn);
        store.close().await;
        db.cleanup().await;
    }
}
