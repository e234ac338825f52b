//! The single writer of a store. It checks entries against the stored state
//! and appends them, a batch per transaction (group commit).
//!
//! Because it is the only writer of its database, it keeps what it learned
//! (log heads, which log an author uses for a document, operation metadata,
//! entry hashes by position) in memory: most entries need no read at all,
//! and a batch is written with a few multi-row inserts. The caches hold only
//! committed state plus the current batch, and are dropped when a batch
//! rolls back. One node per database is therefore a requirement.

use std::collections::HashMap;
use std::sync::Arc;

use hoffnung_core::publish::{self, PreviousOperation};
use hoffnung_core::{
    lipmaa, DocumentId, Hash, LogId, LogPosition, OperationAction, OperationId, PublicKey,
    SchemaId, SeqNum,
};
use sqlx::any::{Any, AnyArguments};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, Arguments, Connection, Row};
use tokio::sync::{mpsc, watch};

use crate::error::{IngestError, StoreError};
use crate::ingest::{Checked, Ingested, Job};
use crate::sql::{render, Backend, Statements};
use crate::{hash_col, schema_col};

/// Entries kept in the caches before they are dropped wholesale.
const CACHE_LIMIT: usize = 500_000;

#[derive(Clone, Copy)]
struct Head {
    seq_num: SeqNum,
    hash: Hash,
}

#[derive(Default)]
struct Cache {
    /// `None`: the log is known not to exist.
    heads: HashMap<(PublicKey, LogId), Option<Head>>,
    /// `None`: the author is known to have no log for the document.
    document_logs: HashMap<(PublicKey, DocumentId), Option<LogId>>,
    operations: HashMap<OperationId, PreviousOperation>,
    positions: HashMap<(PublicKey, LogId, SeqNum), Hash>,
}

impl Cache {
    fn len(&self) -> usize {
        self.heads.len() + self.document_logs.len() + self.operations.len() + self.positions.len()
    }
}

/// Rows of the current batch, written when it ends.
#[derive(Default)]
struct Pending {
    entries: Vec<Checked>,
    operations: Vec<(OperationId, DocumentId, String)>,
    /// Logs created in this batch: (public key, log id) → (document, schema).
    new_logs: HashMap<(PublicKey, LogId), (DocumentId, String)>,
    /// Existing logs moved in this batch: head before the batch.
    moved_logs: HashMap<(PublicKey, LogId), SeqNum>,
}

pub(crate) struct Writer {
    conn: PoolConnection<Any>,
    state: State,
}

struct State {
    sql: Arc<Statements>,
    backend: Backend,
    cache: Cache,
    /// Multi-row insert statements by (table, rows).
    insert_sql: HashMap<(&'static str, usize), String>,
}

impl Writer {
    pub(crate) fn new(conn: PoolConnection<Any>, sql: Arc<Statements>, backend: Backend) -> Self {
        Self {
            conn,
            state: State {
                sql,
                backend,
                cache: Cache::default(),
                insert_sql: HashMap::new(),
            },
        }
    }

    /// Takes jobs as they come, appends up to `max_batch` entries per
    /// transaction, answers each job after the commit.
    pub(crate) async fn run(
        self,
        mut rx: mpsc::Receiver<Job>,
        mut closed: watch::Receiver<bool>,
        max_batch: usize,
    ) {
        let Writer {
            mut conn,
            mut state,
        } = self;
        loop {
            let first = tokio::select! {
                biased;
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
                _ = closed.wait_for(|c| *c) => break,
            };
            let mut jobs = vec![first];
            let mut n = jobs[0].items.len();
            while n < max_batch {
                match rx.try_recv() {
                    Ok(job) => {
                        n += job.items.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            if state.cache.len() > CACHE_LIMIT {
                state.cache = Cache::default();
            }
            match state.write_batch(&mut conn, &mut jobs).await {
                Ok(results) => {
                    for (job, result) in jobs.into_iter().zip(results) {
                        let _ = job.reply.send(Ok(result));
                    }
                }
                Err(e) => {
                    // The caches may hold the rolled-back batch.
                    state.cache = Cache::default();
                    tracing::error!(error = %e, entries = n, "write batch failed, rolled back");
                    let msg = e.to_string();
                    for job in jobs {
                        let _ = job.reply.send(Err(StoreError::WriteFailed(msg.clone())));
                    }
                }
            }
        }
        // Later jobs are answered with `Closed` when their reply sender drops.
        rx.close();
        tracing::debug!("store writer stopped");
    }
}

impl State {
    async fn write_batch(
        &mut self,
        conn: &mut AnyConnection,
        jobs: &mut [Job],
    ) -> Result<Vec<Vec<Result<Ingested, IngestError>>>, StoreError> {
        let mut tx = conn.begin().await?;
        let mut pending = Pending::default();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            let mut job_results = Vec::with_capacity(job.items.len());
            for item in std::mem::take(&mut job.items) {
                let result = match item {
                    Ok(checked) => {
                        check_and_stage(&mut tx, &self.sql, &mut self.cache, &mut pending, checked)
                            .await?
                    }
                    Err(e) => Err(e),
                };
                job_results.push(result);
            }
            results.push(job_results);
        }
        self.flush(&mut tx, pending).await?;
        tx.commit().await?;
        Ok(results)
    }

    /// `INSERT INTO <table> (<cols>) VALUES (…), (…)` for `rows` rows.
    fn insert_statement(
        &mut self,
        table: &'static str,
        cols: &'static str,
        width: usize,
        rows: usize,
    ) -> String {
        let backend = self.backend;
        self.insert_sql
            .entry((table, rows))
            .or_insert_with(|| {
                let row = format!("({})", vec!["?"; width].join(", "));
                let values = vec![row; rows].join(", ");
                render(
                    &format!("INSERT INTO {table} ({cols}) VALUES {values}"),
                    backend,
                )
            })
            .clone()
    }

    async fn flush(
        &mut self,
        conn: &mut AnyConnection,
        pending: Pending,
    ) -> Result<(), StoreError> {
        // Logs first, then entries, then operations (which reference entries).
        let logs: Vec<_> = pending.new_logs.into_iter().collect();
        for chunk in row_chunks(logs.len()) {
            let sql = self.insert_statement(
                "logs",
                "public_key, log_id, document_id, schema_id, latest_seq_num, latest_hash",
                6,
                chunk.len(),
            );
            let mut args = AnyArguments::default();
            for ((pk, log_id), (doc, schema)) in &logs[chunk] {
                let head = self
                    .cache
                    .heads
                    .get(&(*pk, *log_id))
                    .copied()
                    .flatten()
                    .ok_or_else(|| StoreError::Corrupt("new log without head".into()))?;
                add(&mut args, pk.as_bytes().to_vec())?;
                add(&mut args, *log_id as i64)?;
                add(&mut args, doc.as_bytes().to_vec())?;
                add(&mut args, schema.clone())?;
                add(&mut args, head.seq_num as i64)?;
                add(&mut args, head.hash.as_bytes().to_vec())?;
            }
            sqlx::query_with(&sql, args).execute(&mut *conn).await?;
        }
        for ((pk, log_id), before) in &pending.moved_logs {
            let Some(Some(head)) = self.cache.heads.get(&(*pk, *log_id)).copied() else {
                return Err(StoreError::Corrupt("moved log without head".into()));
            };
            let moved = sqlx::query(&self.sql.update_log)
                .bind(head.seq_num as i64)
                .bind(head.hash.as_bytes().as_slice())
                .bind(pk.as_bytes().as_slice())
                .bind(*log_id as i64)
                .bind(*before as i64)
                .execute(&mut *conn)
                .await?;
            if moved.rows_affected() != 1 {
                // Another writer moved the log: this node is not alone on its database.
                return Err(StoreError::WriteFailed(format!(
                    "log {log_id} of {pk} was changed by another writer"
                )));
            }
        }
        for chunk in row_chunks(pending.entries.len()) {
            let sql = self.insert_statement(
                "entries",
                "entry_hash, public_key, log_id, seq_num, entry, payload",
                6,
                chunk.len(),
            );
            let mut args = AnyArguments::default();
            for c in &pending.entries[chunk] {
                let e = c.entry.entry();
                add(&mut args, c.entry.hash().as_bytes().to_vec())?;
                add(&mut args, e.public_key.as_bytes().to_vec())?;
                add(&mut args, e.log_id as i64)?;
                add(&mut args, e.seq_num as i64)?;
                add(&mut args, c.entry.as_bytes().to_vec())?;
                add(&mut args, c.payload.clone())?;
            }
            sqlx::query_with(&sql, args).execute(&mut *conn).await?;
        }
        for chunk in row_chunks(pending.entries.len()) {
            let sql = self.insert_statement(
                "operations",
                "operation_id, document_id, schema_id, action, public_key, previous",
                6,
                chunk.len(),
            );
            let mut args = AnyArguments::default();
            for (c, (id, doc, schema)) in pending.entries[chunk.clone()]
                .iter()
                .zip(&pending.operations[chunk])
            {
                add(&mut args, id.as_bytes().to_vec())?;
                add(&mut args, doc.as_bytes().to_vec())?;
                add(&mut args, schema.clone())?;
                add(&mut args, c.operation.action.as_u64() as i64)?;
                add(&mut args, c.entry.entry().public_key.as_bytes().to_vec())?;
                add(
                    &mut args,
                    c.operation.previous.as_ref().map(|p| p.to_string()),
                )?;
            }
            sqlx::query_with(&sql, args).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

fn add<'q, T>(args: &mut AnyArguments<'q>, value: T) -> Result<(), StoreError>
where
    T: 'q + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
{
    args.add(value)
        .map_err(|e| StoreError::WriteFailed(format!("encoding a parameter: {e}")))
}

/// Splits `n` rows into chunks of 64, 32, …, 1 rows, so that only a few
/// distinct statements are ever prepared.
fn row_chunks(n: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for size in [64, 32, 16, 8, 4, 2, 1] {
        while n - start >= size {
            out.push(start..start + size);
            start += size;
        }
    }
    out
}

async fn log_head(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pk: PublicKey,
    log_id: LogId,
) -> Result<Option<Head>, StoreError> {
    if let Some(h) = cache.heads.get(&(pk, log_id)) {
        return Ok(*h);
    }
    let row = sqlx::query(&sql.log_head)
        .bind(pk.as_bytes().as_slice())
        .bind(log_id as i64)
        .fetch_optional(&mut *conn)
        .await?;
    let head = match row {
        Some(row) => Some(Head {
            seq_num: row.try_get::<i64, _>(0)? as u64,
            hash: hash_col(&row, 1)?,
        }),
        None => None,
    };
    cache.heads.insert((pk, log_id), head);
    Ok(head)
}

async fn hash_at(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pk: PublicKey,
    log_id: LogId,
    seq_num: SeqNum,
) -> Result<Option<Hash>, StoreError> {
    if let Some(h) = cache.positions.get(&(pk, log_id, seq_num)) {
        return Ok(Some(*h));
    }
    let row = sqlx::query(&sql.entry_hash_at)
        .bind(pk.as_bytes().as_slice())
        .bind(log_id as i64)
        .bind(seq_num as i64)
        .fetch_optional(&mut *conn)
        .await?;
    let hash = row.map(|r| hash_col(&r, 0)).transpose()?;
    if let Some(h) = hash {
        cache.positions.insert((pk, log_id, seq_num), h);
    }
    Ok(hash)
}

async fn operation_meta(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    id: &OperationId,
) -> Result<Option<PreviousOperation>, StoreError> {
    if let Some(m) = cache.operations.get(id) {
        return Ok(Some(m.clone()));
    }
    let Some(row) = sqlx::query(&sql.operation_meta)
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let action = match row.try_get::<i64, _>(2)? {
        0 => OperationAction::Create,
        1 => OperationAction::Update,
        _ => OperationAction::Delete,
    };
    let meta = PreviousOperation {
        id: *id,
        document_id: hash_col(&row, 0)?,
        schema_id: schema_col(&row, 1)?,
        action,
    };
    cache.operations.insert(*id, meta.clone());
    Ok(Some(meta))
}

async fn document_log(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pk: PublicKey,
    document_id: DocumentId,
) -> Result<Option<LogId>, StoreError> {
    if let Some(l) = cache.document_logs.get(&(pk, document_id)) {
        return Ok(*l);
    }
    let log: Option<i64> = sqlx::query_scalar(&sql.document_log)
        .bind(pk.as_bytes().as_slice())
        .bind(document_id.as_bytes().as_slice())
        .fetch_optional(&mut *conn)
        .await?;
    let log = log.map(|l| l as u64);
    cache.document_logs.insert((pk, document_id), log);
    Ok(log)
}

/// Checks one entry against the stored state (and the batch so far) and
/// stages it. The outer `Result` is a database failure (the batch rolls
/// back); the inner one the verdict on the entry.
async fn check_and_stage(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pending: &mut Pending,
    item: Checked,
) -> Result<Result<Ingested, IngestError>, StoreError> {
    let entry = item.entry.entry();
    let hash = item.entry.hash();
    let pk = entry.public_key;
    let span = tracing::debug_span!("ingest", %hash, author = %pk, log_id = entry.log_id, seq_num = entry.seq_num);
    let _enter = span.enter();

    let head = log_head(conn, sql, cache, pk, entry.log_id).await?;
    // At or behind the head: the same entry again, or a fork of the log.
    if let Some(h) = head {
        if entry.seq_num <= h.seq_num {
            let stored = if entry.seq_num == h.seq_num {
                Some(h.hash)
            } else {
                hash_at(conn, sql, cache, pk, entry.log_id, entry.seq_num).await?
            };
            if stored == Some(hash) {
                return Ok(Err(IngestError::Duplicate(hash)));
            }
        }
    }
    let head_pos = head.map(|h| LogPosition {
        public_key: pk,
        log_id: entry.log_id,
        seq_num: h.seq_num,
        hash: h.hash,
    });
    let skiplink_entry = match entry.skiplink {
        Some(_) if head.is_some_and(|h| h.seq_num + 1 == entry.seq_num) => {
            let seq = lipmaa(entry.seq_num);
            hash_at(conn, sql, cache, pk, entry.log_id, seq)
                .await?
                .map(|hash| LogPosition {
                    public_key: pk,
                    log_id: entry.log_id,
                    seq_num: seq,
                    hash,
                })
        }
        _ => None,
    };
    if let Err(e) = publish::check_entry_in_log(
        entry,
        &item.payload,
        head_pos.as_ref(),
        skiplink_entry.as_ref(),
    ) {
        return Ok(Err(e.into()));
    }

    let mut found = Vec::new();
    for id in item.operation.previous.iter().flat_map(|p| p.ids()) {
        if let Some(meta) = operation_meta(conn, sql, cache, id).await? {
            found.push(meta);
        }
    }
    let document_id = match publish::document_of(hash, &item.operation, &found) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e.into())),
    };
    let doc_log = document_log(conn, sql, cache, pk, document_id).await?;
    if let Err(e) = publish::check_log_id(entry, &document_id, doc_log) {
        return Ok(Err(e.into()));
    }

    // Stage: update what later entries of this batch will see.
    let schema_id: SchemaId = item.operation.schema_id.clone();
    let schema_text = schema_id.to_string();
    let key = (pk, entry.log_id);
    match head {
        None => {
            pending
                .new_logs
                .insert(key, (document_id, schema_text.clone()));
        }
        Some(h) => {
            if !pending.new_logs.contains_key(&key) {
                pending.moved_logs.entry(key).or_insert(h.seq_num);
            }
        }
    }
    cache.heads.insert(
        key,
        Some(Head {
            seq_num: entry.seq_num,
            hash,
        }),
    );
    cache
        .positions
        .insert((pk, entry.log_id, entry.seq_num), hash);
    cache
        .document_logs
        .insert((pk, document_id), Some(entry.log_id));
    cache.operations.insert(
        hash,
        PreviousOperation {
            id: hash,
            document_id,
            schema_id: schema_id.clone(),
            action: item.operation.action,
        },
    );

    let latest = item.entry.position();
    let skiplink = match publish::next_skiplink_seq_num(entry.seq_num) {
        Some(seq) => Some(
            hash_at(conn, sql, cache, pk, entry.log_id, seq)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("log {} misses seq {seq}", entry.log_id))
                })?,
        ),
        None => None,
    };
    let ingested = Ingested {
        operation_id: hash,
        document_id,
        schema_id,
        action: item.operation.action,
        next_args: publish::next_args_after(&latest, skiplink),
    };
    pending.operations.push((hash, document_id, schema_text));
    pending.entries.push(item);
    Ok(Ok(ingested))
}

#[cfg(test)]
mod tests {
    use super::row_chunks;

    #[test]
    fn chunks_cover_all_rows() {
        for n in 0..300 {
            let chunks = row_chunks(n);
            assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), n);
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
        }
    }
}
