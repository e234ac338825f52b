//! Tests of `sql`: the rendered statements and their plans.

use super::*;

/// The plan of the document count, one line per step.
async fn document_count_plan(store: &crate::Store) -> Vec<String> {
    use sqlx::Connection;
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
        Backend::MySql => "EXPLAIN",
    };
    let sql = format!("{explain} {}", count_documents(store.backend()));
    let rows = sqlx::query(&sql).fetch_all(&mut *tx).await.unwrap();
    let text = |r: &sqlx::any::AnyRow, i: usize| text_at(r, i).unwrap().unwrap_or_default();
    match store.backend() {
        Backend::Sqlite => rows.iter().map(|r| text(r, 3)).collect(),
        Backend::Postgres => rows.iter().map(|r| text(r, 0)).collect(),
        // Columns: id, select_type, table, type, possible_keys, key,
        // key_len, ref, rows, Extra.
        Backend::MySql => rows
            .iter()
            .filter(|r| text(r, 2) == "entries")
            .map(|r| format!("Scan of {} ({})", text(r, 5), text(r, 9)))
            .collect(),
    }
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
                Backend::MySql => (read.contains("of entries_schema_logs")
                    || read.contains("of entries_document_logs")
                    || read.contains("of entries_foreign_logs"))
                    && read.contains("Using index"),
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

/// Each condition MariaDB reads through a generated column is in a
/// statement as written: a reworded statement would silently miss it.
#[test]
fn every_mysql_log_column_replaces_a_condition() {
    let all = ALL_STATEMENTS.join(" ") + &count_documents(Backend::Sqlite);
    for (from, to) in MYSQL_LOG_COLUMNS {
        assert!(all.contains(from), "{from}");
        assert!(!for_backend(&all, Backend::MySql).contains(from), "{from}");
        assert!(for_backend(&all, Backend::MySql).contains(to), "{to}");
    }
}

/// On MariaDB/MySQL chunks stay under the packet size (a row over it
/// alone), elsewhere they are [`row_chunks_of`]; either way every row
/// once, in order.
#[test]
fn chunks_stay_under_the_packet_size() {
    let sizes: Vec<usize> = (0..300)
        .map(|i| [100, 256_000, 9 << 20, 1_000][i % 4])
        .collect();
    let bytes = |i: usize| sizes[i];
    let chunks = row_chunks_within(sizes.len(), 10, Backend::MySql, bytes);
    assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), sizes.len());
    assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
    for c in &chunks {
        let total: usize = c.clone().map(bytes).sum();
        assert!(
            c.len() == 1 || total <= MAX_STATEMENT_BYTES,
            "{c:?}: {total}"
        );
        assert!([64, 32, 16, 8, 4, 2, 1].contains(&c.len()));
    }
    assert!(chunks.iter().any(|c| c.len() > 1));
    for backend in [Backend::Sqlite, Backend::Postgres] {
        assert_eq!(
            row_chunks_within(sizes.len(), 10, backend, bytes),
            row_chunks_of(sizes.len(), 10)
        );
    }
}

#[test]
fn renders_numbered_placeholders() {
    assert_eq!(
        render("a = ? AND b = ?", Backend::Postgres),
        "a = $1 AND b = $2"
    );
    assert_eq!(render("a = ?", Backend::Sqlite), "a = ?");
    // Every statement, not only the named ones, takes the log columns.
    assert_eq!(
        render(
            "document_id = ? AND seq_num = 1 AND action <> 0",
            Backend::MySql
        ),
        "log_document = ?"
    );
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
