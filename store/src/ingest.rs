//! The ingest path: every entry (publish, replication, import) goes through
//! here. CPU work (decoding, signatures, schema validation) happens in the
//! caller's task; the checks against stored state and the append happen in
//! the writer, in one transaction per batch.

use std::sync::Arc;

use hoffnung_core::entry::{EncodedEntry, EntryError, NextArgs};
use hoffnung_core::publish::{self, PreviousOperation};
use hoffnung_core::{
    lipmaa, verify_batch, DocumentId, LogPosition, OperationAction, OperationId, PlainOperation,
    SchemaId,
};
use sqlx::any::Any;
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, Connection, Row};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{IngestError, StoreError};
use crate::sql::Statements;
use crate::{hash_col, schema_col, SchemaSource, Store};

/// What an accepted entry became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub operation_id: OperationId,
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    pub action: OperationAction,
    /// The arguments for the author's next entry in the same log.
    pub next_args: NextArgs,
}

/// An entry whose own checks passed; what remains needs stored state.
pub(crate) struct Checked {
    entry: EncodedEntry,
    operation: PlainOperation,
    payload: Vec<u8>,
}

type JobResult = Result<Vec<Result<Ingested, IngestError>>, StoreError>;

pub(crate) struct Job {
    items: Vec<Result<Checked, IngestError>>,
    reply: oneshot::Sender<JobResult>,
}

impl Store {
    /// Ingests one entry and its operation: decodes and verifies both, checks
    /// them against the schema and the stored logs and documents, and
    /// appends them durably. A rejected input stores nothing.
    pub async fn ingest(
        &self,
        entry: &[u8],
        operation: &[u8],
        schemas: &dyn SchemaSource,
    ) -> Result<Ingested, IngestError> {
        let entry = EncodedEntry::decode(entry);
        let checked = precheck(
            entry,
            operation,
            schemas,
            self.config().max_payload_size,
            true,
        )?;
        let mut results = self.submit(vec![Ok(checked)]).await?;
        results
            .pop()
            .unwrap_or(Err(IngestError::Store(StoreError::WriteFailed(
                "no result".into(),
            ))))
    }

    /// Ingests many entries at once (replication, import): signatures are
    /// verified as a batch and everything is appended in one transaction,
    /// in the given order (entries of a log must come in seq order). Each
    /// entry gets its own result; a rejected one stores nothing and does not
    /// stop the others.
    pub async fn ingest_bulk(
        &self,
        items: &[(Vec<u8>, Vec<u8>)],
        schemas: &dyn SchemaSource,
    ) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        let max = self.config().max_payload_size;
        let decoded: Vec<Result<EncodedEntry, EntryError>> =
            items.iter().map(|(e, _)| EncodedEntry::decode(e)).collect();
        let ok: Vec<&EncodedEntry> = decoded.iter().filter_map(|d| d.as_ref().ok()).collect();
        let bad_signatures: Vec<usize> = match verify_batch(&ok) {
            Ok(()) => Vec::new(),
            Err(e) => e.failed,
        };
        let mut ok_index = 0;
        let checked: Vec<Result<Checked, IngestError>> = items
            .iter()
            .zip(decoded)
            .map(|((_, operation), decoded)| {
                let decoded = decoded.and_then(|d| {
                    let i = ok_index;
                    ok_index += 1;
                    if bad_signatures.contains(&i) {
                        Err(EntryError::InvalidSignature)
                    } else {
                        Ok(d)
                    }
                });
                precheck(decoded, operation, schemas, max, false)
            })
            .collect();
        let mut out = Vec::with_capacity(checked.len());
        for chunk in chunks(checked, self.config().max_batch) {
            out.extend(self.submit(chunk).await?);
        }
        Ok(out)
    }

    async fn submit(&self, items: Vec<Result<Checked, IngestError>>) -> JobResult {
        let (reply, rx) = oneshot::channel();
        self.writer()
            .send(Job { items, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn chunks<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(size.min(items.len()));
    for item in items {
        current.push(item);
        if current.len() >= size.max(1) {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The checks that need no stored state, in upstream's order: operation,
/// schema, entry (and signature unless verified in a batch), sizes, fields.
fn precheck(
    entry: Result<EncodedEntry, EntryError>,
    payload: &[u8],
    schemas: &dyn SchemaSource,
    max_payload_size: u64,
    verify: bool,
) -> Result<Checked, IngestError> {
    let operation = PlainOperation::decode(payload)?;
    let schema = schemas
        .schema(&operation.schema_id)
        .ok_or_else(|| IngestError::SchemaNotFound(operation.schema_id.clone()))?;
    let entry = entry?;
    if verify {
        entry.verify_signature()?;
    }
    let e = entry.entry();
    e.check_payload_limit(max_payload_size)?;
    for (what, value) in [("log id", e.log_id), ("seq num", e.seq_num)] {
        if value > i64::MAX as u64 {
            return Err(IngestError::NumberTooLarge { what, value });
        }
    }
    operation.validate(&schema)?;
    Ok(Checked {
        entry,
        operation,
        payload: payload.to_vec(),
    })
}

/// The single writer: takes jobs as they come, appends up to `max_batch`
/// entries per transaction, answers each job after the commit.
pub(crate) async fn writer(
    mut conn: PoolConnection<Any>,
    sql: Arc<Statements>,
    mut rx: mpsc::Receiver<Job>,
    mut closed: watch::Receiver<bool>,
    max_batch: usize,
) {
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
        match write_batch(&mut conn, &sql, &mut jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(e) => {
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

async fn write_batch(
    conn: &mut AnyConnection,
    sql: &Statements,
    jobs: &mut [Job],
) -> Result<Vec<Vec<Result<Ingested, IngestError>>>, StoreError> {
    let mut tx = conn.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs.iter_mut() {
        let mut job_results = Vec::with_capacity(job.items.len());
        for item in std::mem::take(&mut job.items) {
            let result = match item {
                Ok(checked) => append(&mut tx, sql, &checked).await?,
                Err(e) => Err(e),
            };
            job_results.push(result);
        }
        results.push(job_results);
    }
    tx.commit().await?;
    Ok(results)
}

/// Checks one entry against the stored state and appends it. The outer
/// `Result` is a database failure (the batch rolls back); the inner one the
/// verdict on the entry.
async fn append(
    conn: &mut AnyConnection,
    sql: &Statements,
    item: &Checked,
) -> Result<Result<Ingested, IngestError>, StoreError> {
    let entry = item.entry.entry();
    let hash = item.entry.hash();
    let span = tracing::debug_span!("ingest", %hash, author = %entry.public_key, log_id = entry.log_id, seq_num = entry.seq_num);
    let _enter = span.enter();
    let pk = entry.public_key.as_bytes().as_slice();

    if sqlx::query(&sql.entry_exists)
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(&mut *conn)
        .await?
        .is_some()
    {
        return Ok(Err(IngestError::Duplicate(hash)));
    }

    let head = sqlx::query(&sql.log_head)
        .bind(pk)
        .bind(entry.log_id as i64)
        .fetch_optional(&mut *conn)
        .await?;
    let head = match head {
        Some(row) => Some(LogPosition {
            public_key: entry.public_key,
            log_id: entry.log_id,
            seq_num: row.try_get::<i64, _>(0)? as u64,
            hash: hash_col(&row, 1)?,
        }),
        None => None,
    };
    let skiplink_entry = match entry.skiplink {
        Some(_) => {
            let seq = lipmaa(entry.seq_num);
            sqlx::query(&sql.entry_hash_at)
                .bind(pk)
                .bind(entry.log_id as i64)
                .bind(seq as i64)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| {
                    Ok::<_, StoreError>(LogPosition {
                        public_key: entry.public_key,
                        log_id: entry.log_id,
                        seq_num: seq,
                        hash: hash_col(&row, 0)?,
                    })
                })
                .transpose()?
        }
        None => None,
    };
    if let Err(e) =
        publish::check_entry_in_log(entry, &item.payload, head.as_ref(), skiplink_entry.as_ref())
    {
        return Ok(Err(e.into()));
    }

    let mut found = Vec::new();
    for id in item.operation.previous.iter().flat_map(|p| p.ids()) {
        if let Some(row) = sqlx::query(&sql.operation_meta)
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&mut *conn)
            .await?
        {
            let action = match row.try_get::<i64, _>(2)? {
                0 => OperationAction::Create,
                1 => OperationAction::Update,
                _ => OperationAction::Delete,
            };
            found.push(PreviousOperation {
                id: *id,
                document_id: hash_col(&row, 0)?,
                schema_id: schema_col(&row, 1)?,
                action,
            });
        }
    }
    let document_id = match publish::document_of(hash, &item.operation, &found) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e.into())),
    };
    let doc_log: Option<i64> = sqlx::query_scalar(&sql.document_log)
        .bind(pk)
        .bind(document_id.as_bytes().as_slice())
        .fetch_optional(&mut *conn)
        .await?;
    if let Err(e) = publish::check_log_id(entry, &document_id, doc_log.map(|l| l as u64)) {
        return Ok(Err(e.into()));
    }

    // Append. The log row moves first and conditionally, so that a
    // concurrent writer on the same database loses cleanly.
    let schema_id = item.operation.schema_id.to_string();
    let moved = if entry.seq_num == 1 {
        sqlx::query(&sql.insert_log)
            .bind(pk)
            .bind(entry.log_id as i64)
            .bind(document_id.as_bytes().as_slice())
            .bind(schema_id.as_str())
            .bind(1i64)
            .bind(hash.as_bytes().as_slice())
            .execute(&mut *conn)
            .await
    } else {
        sqlx::query(&sql.update_log)
            .bind(entry.seq_num as i64)
            .bind(hash.as_bytes().as_slice())
            .bind(pk)
            .bind(entry.log_id as i64)
            .bind((entry.seq_num - 1) as i64)
            .execute(&mut *conn)
            .await
    };
    match moved {
        Ok(r) if r.rows_affected() == 1 => {}
        Ok(_) => return Ok(Err(IngestError::SeqNumTaken)),
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Ok(Err(IngestError::SeqNumTaken))
        }
        Err(e) => return Err(e.into()),
    }
    sqlx::query(&sql.insert_entry)
        .bind(hash.as_bytes().as_slice())
        .bind(pk)
        .bind(entry.log_id as i64)
        .bind(entry.seq_num as i64)
        .bind(item.entry.as_bytes())
        .bind(item.payload.as_slice())
        .execute(&mut *conn)
        .await?;
    sqlx::query(&sql.insert_operation)
        .bind(hash.as_bytes().as_slice())
        .bind(document_id.as_bytes().as_slice())
        .bind(schema_id.as_str())
        .bind(item.operation.action.as_u64() as i64)
        .bind(pk)
        .bind(item.operation.previous.as_ref().map(|p| p.to_string()))
        .execute(&mut *conn)
        .await?;

    let latest = item.entry.position();
    let skiplink = match publish::next_skiplink_seq_num(entry.seq_num) {
        Some(seq) => Some(
            sqlx::query(&sql.entry_hash_at)
                .bind(pk)
                .bind(entry.log_id as i64)
                .bind(seq as i64)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| hash_col(&row, 0))
                .transpose()?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("log {} misses seq {seq}", entry.log_id))
                })?,
        ),
        None => None,
    };
    Ok(Ok(Ingested {
        operation_id: hash,
        document_id,
        schema_id: item.operation.schema_id.clone(),
        action: item.operation.action,
        next_args: publish::next_args_after(&latest, skiplink),
    }))
}
