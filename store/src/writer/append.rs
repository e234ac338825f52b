//! Appending: a batch of checked entries, or a script job (the
//! materializer's view writes), in one transaction.

use std::collections::HashSet;

use sqlx::AnyConnection;

use super::cache::log_head;
use super::check::{check_and_stage, Pending};
use super::forks;
use super::script::{transaction, Turn};
use super::{ScriptJob, State};
use crate::error::{Failure, IngestError, StoreError};
use crate::ingest::{Ingested, Job};
use crate::sql::{all_or_nothing, multi_row_of, on_conflict, render, row_chunks_within, Param};

impl State {
    /// Runs a script job in one transaction, answered at once: its data is
    /// derived and moves with its cursor, so a crash loses both or neither;
    /// the next flush of the WAL (see `durable`) covers its frames.
    pub(super) async fn run_script(
        &mut self,
        conn: &mut AnyConnection,
        job: &ScriptJob,
    ) -> Result<(), StoreError> {
        let mut all = Vec::with_capacity(job.statements.len() + 1);
        if let Some((from, to)) = job.cursor {
            // An UPDATE that fails (CHECK cursor >= 0) unless the cursor is at `from`.
            all.push((
                render(
                    "UPDATE materializer SET \"cursor\" = CASE WHEN \"cursor\" = ? THEN ? ELSE -1 END WHERE id = 1",
                    self.backend,
                ),
                vec![Param::Int(Some(from)), Param::Int(Some(to))],
            ));
        }
        all.extend(job.statements.iter().cloned());
        // One round trip where the backend allows, like the appends.
        let result = transaction(conn, self.backend, Turn::Any, all).await;
        match (result, job.cursor) {
            (Err(e), Some((from, _))) => {
                let at: Option<i64> =
                    sqlx::query_scalar("SELECT \"cursor\" FROM materializer WHERE id = 1")
                        .fetch_optional(&mut *conn)
                        .await
                        .ok()
                        .flatten();
                if at.is_some_and(|c| c != from) {
                    Err(StoreError::WriteFailed(Failure::new(
                        "the materializer cursor was moved by another writer",
                    )))
                } else {
                    Err(e)
                }
            }
            (r, _) => r,
        }
    }

    pub(super) async fn write_batch(
        &mut self,
        conn: &mut AnyConnection,
        jobs: &mut [Job],
    ) -> Result<(Vec<Vec<Result<Ingested, IngestError>>>, Wrote), StoreError> {
        // Checks read outside the write transaction: this is the only
        // writer, and what the batch itself added is in the caches.
        let mut pending = Pending::default();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            for proof in std::mem::take(&mut job.forks) {
                let (pk, log) = (proof.public_key(), proof.log_id());
                // Proofs of logs this node does not hold are not kept: anyone
                // can make keys and fork their own logs without end.
                if log_head(conn, &self.sql, &mut self.cache, pk, log)
                    .await?
                    .is_none()
                {
                    continue;
                }
                forks::frozen_from(conn, &self.sql, &mut self.cache, &pk, log).await?;
                forks::stage(&mut self.cache, &mut pending, proof);
            }
            let publish = job.publish_queued.is_some();
            let mut job_results = Vec::with_capacity(job.items.len());
            for item in std::mem::take(&mut job.items) {
                let result = match item {
                    Ok(checked) => {
                        check_and_stage(
                            conn,
                            &self.sql,
                            &mut self.cache,
                            &mut pending,
                            checked,
                            publish,
                        )
                        .await?
                    }
                    Err(e) => Err(e),
                };
                job_results.push(result);
            }
            results.push(job_results);
        }
        let wrote = self.flush(conn, pending).await?;
        Ok((results, wrote))
    }

    /// The statements that append a batch: the entries with their
    /// operations (and so their logs, see migration 0005), as multi-row
    /// statements of 64, 32, …, 1 rows (so that only a few distinct
    /// statements are ever prepared).
    fn statements(&mut self, pending: &Pending) -> Vec<(String, Vec<Param>)> {
        let mut out = Vec::new();
        // A schema's and an author's number are written with their first
        // entries, in their transaction (see migration 0011); entries name
        // them by subqueries.
        let mut new = HashSet::new();
        for (_, schema) in &pending.operations {
            if !self.schemas.contains(schema) && new.insert(schema) {
                let sql = self.insert_number("schema_ids", "schema_id");
                out.push((sql, vec![Param::Text(Some(schema.clone()))]));
            }
        }
        let mut new = HashSet::new();
        for c in &pending.entries {
            let key = c.entry.entry().public_key;
            if !self.authors.contains(&key) && new.insert(key) {
                let sql = self.insert_number("authors", "public_key");
                out.push((sql, vec![Param::Blob(Some(key.as_bytes().to_vec()))]));
            }
        }
        let bytes = |i: usize| {
            let c = &pending.entries[i];
            c.entry.as_bytes().len() + c.payload.len() + 256
        };
        let n = pending.entries.len();
        for chunk in row_chunks_within(n, INSERT_ENTRIES.width, self.backend, bytes) {
            let mut params = Vec::with_capacity(chunk.len() * INSERT_ENTRIES.width);
            for (c, (doc, schema)) in pending.entries[chunk.clone()]
                .iter()
                .zip(&pending.operations[chunk.clone()])
            {
                let e = c.entry.entry();
                params.extend([
                    Param::Blob(Some(c.entry.hash().as_bytes().to_vec())),
                    Param::Blob(Some(e.public_key.as_bytes().to_vec())),
                    Param::Int(Some(e.log_id as i64)),
                    Param::Int(Some(e.seq_num as i64)),
                    Param::Blob(Some(c.entry.as_bytes().to_vec())),
                    Param::Blob(Some(c.payload.clone())),
                    Param::Blob(Some(doc.as_bytes().to_vec())),
                    Param::Text(Some(schema.clone())),
                    Param::Int(Some(c.operation.action.as_u64() as i64)),
                ]);
            }
            out.push((self.statement(INSERT_ENTRIES, chunk.len()), params));
        }
        out
    }

    /// The statement that gives a value of `column` a number in `table`
    /// (`authors`, `schema_ids`), unless it has one; rendered once.
    fn insert_number(&mut self, table: &'static str, column: &str) -> String {
        let backend = self.backend;
        self.insert_sql
            .entry((table, 1))
            .or_insert_with(|| {
                let conflict = on_conflict(table, column, &[], backend);
                render(
                    &format!("INSERT INTO {table} ({column}) VALUES (?){conflict}"),
                    backend,
                )
            })
            .clone()
    }

    /// A statement template for `rows` rows, rendered for the backend.
    fn statement(&mut self, template: &'static Template, rows: usize) -> String {
        let backend = self.backend;
        self.insert_sql
            .entry((template.table, rows))
            .or_insert_with(|| {
                all_or_nothing(
                    &multi_row_of(template.head, template.row, rows, template.tail, backend),
                    backend,
                )
            })
            .clone()
    }

    /// Appends a batch in one transaction (see `script`); whether there was
    /// anything to append. On SQLite it is committed without a flush (see
    /// `durable`).
    async fn flush(
        &mut self,
        conn: &mut AnyConnection,
        pending: Pending,
    ) -> Result<Wrote, StoreError> {
        if pending.entries.is_empty() && pending.forks.is_empty() {
            return Ok(Wrote::default());
        }
        let mut statements = self.statements(&pending);
        statements.extend(forks::statements(&pending.forks, &self.sql));
        // Another writer's entries make these fail on the unique log
        // positions or the unique log of an author's document.
        transaction(conn, self.backend, Turn::Appends, statements).await?;
        // Known from now on (a rejected batch wrote no schema or author
        // either).
        for c in &pending.entries {
            self.authors.insert(c.entry.entry().public_key);
        }
        for (_, schema) in pending.operations {
            self.schemas.insert(schema);
        }
        Ok(Wrote {
            anything: true,
            forks: !pending.forks.is_empty(),
        })
    }
}

/// What a committed batch held.
#[derive(Default)]
pub(super) struct Wrote {
    pub(super) anything: bool,
    /// Proofs of forks.
    pub(super) forks: bool,
}

/// A multi-row statement: `head` + rows of `width` parameters each (as
/// `row` has them) + `tail`.
struct Template {
    table: &'static str,
    head: &'static str,
    row: &'static str,
    width: usize,
    tail: &'static str,
}

const INSERT_ENTRIES: &Template = &Template {
    table: "entries",
    head: "INSERT INTO entries (entry_hash, author, log_id, seq_num, entry, payload, \
           document_id, schema_ref, action) VALUES ",
    row: concat!(
        "(?, ",
        crate::sql::author_ref!(),
        ", ?, ?, ?, ?, ?, ",
        crate::sql::schema_ref!(),
        ", ?)"
    ),
    width: 9,
    tail: "",
};

#[cfg(test)]
mod tests {
    use crate::sql::row_chunks;

    #[test]
    fn chunks_cover_all_rows() {
        for n in 0..300 {
            let chunks = row_chunks(n);
            assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), n);
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
        }
    }
}
