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
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::Instrument;

use hoffnung_core::publish::{self, PreviousOperation};
use hoffnung_core::{
    lipmaa, DocumentId, Hash, LogId, LogPosition, OperationAction, OperationId, PublicKey,
    SchemaId, SeqNum,
};
use sqlx::any::{Any, AnyArguments};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, Connection, Row};
use tokio::sync::{mpsc, oneshot, watch};

use crate::checkpoint::{self, Checkpoints};
use crate::durable::{Decided, Durability};
use crate::error::{IngestError, StoreError};
use crate::ingest::{Checked, IngestStats, Ingested, Job};
use crate::sql::{
    all_or_nothing, arguments, multi_row, render, row_chunks, Backend, Param, Statements,
};
use crate::{hash_col, schema_col};

/// Longest a script waits behind ingest jobs.
const SCRIPT_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// Entries a cache generation takes before it becomes the old one (see
/// [`Generations`]): working sets of up to this many entries (about five
/// per document a batch of creates and updates touches) are always found.
const GENERATION: usize = 250_000;
/// Authors with up to this many logs are loaded whole at first sight.
const AUTHOR_LOGS_LIMIT: usize = 10_000;

/// An author in the caches' keys: the compressed key (32 bytes, where a
/// [`PublicKey`] keeps its decompressed point too).
type Author = [u8; 32];

fn author(pk: &PublicKey) -> Author {
    *pk.as_bytes()
}

#[derive(Clone, Copy)]
struct Head {
    seq_num: SeqNum,
    hash: Hash,
}

/// A map that forgets what was not used for a while, a generation at a
/// time: entries go into the young generation, a hit in the old one moves
/// the entry back, and when the young one is full the old one is dropped.
/// Dropping everything at once instead sent every lookup of a large working
/// set to the database at the same moment (updates at 100,000 documents
/// fell by a fifth).
struct Generations<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
}

impl<K, V> Default for Generations<K, V> {
    fn default() -> Self {
        Self {
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy, V> Generations<K, V> {
    fn get(&mut self, key: &K) -> Option<&V> {
        if !self.young.contains_key(key) {
            let value = self.old.remove(key)?;
            self.young.insert(*key, value);
        }
        self.young.get(key)
    }

    fn insert(&mut self, key: K, value: V) {
        self.old.remove(&key);
        self.young.insert(key, value);
    }

    /// Inserts unless the key is known (young or old).
    fn insert_new(&mut self, key: K, value: V) {
        if !self.young.contains_key(&key) && !self.old.contains_key(&key) {
            self.young.insert(key, value);
        }
    }

    fn rotate(&mut self) {
        self.old = std::mem::take(&mut self.young);
    }
}

/// What the writer knows of the stored logs and operations, so that most
/// checks need no query. Everything in it is what the database holds (or
/// the batch being written, which resets the cache if it rolls back).
#[derive(Default)]
struct Cache {
    /// `None`: the log is known not to exist.
    heads: Generations<(Author, LogId), Option<Head>>,
    /// `None`: the author is known to have no log for the document.
    document_logs: Generations<(Author, DocumentId), Option<LogId>>,
    operations: Generations<OperationId, PreviousOperation>,
    positions: Generations<(Author, LogId, SeqNum), Hash>,
    /// Authors whose logs are all in `heads` and `document_logs`.
    complete_authors: std::collections::HashSet<Author>,
    /// Authors already looked up (complete or not).
    loaded_authors: std::collections::HashSet<Author>,
}

impl Cache {
    fn young(&self) -> usize {
        self.heads.young.len()
            + self.document_logs.young.len()
            + self.operations.young.len()
            + self.positions.young.len()
    }

    /// Starts a new generation once the young one is full. An author's logs
    /// may then be forgotten one by one, so no author counts as complete
    /// any more (its next lookup loads it again).
    fn age(&mut self, generation: usize) {
        if self.young() <= generation {
            return;
        }
        self.heads.rotate();
        self.document_logs.rotate();
        self.operations.rotate();
        self.positions.rotate();
        self.complete_authors.clear();
        self.loaded_authors.clear();
    }
}

/// Rows of the current batch, written when it ends.
#[derive(Default)]
struct Pending {
    entries: Vec<Checked>,
    /// Document and schema of each entry's operation.
    operations: Vec<(DocumentId, String)>,
}

pub(crate) struct Writer {
    conn: PoolConnection<Any>,
    state: State,
    /// SQLite: checkpoints run beside the writer (see `checkpoint`).
    checkpoints: Option<Arc<Checkpoints>>,
    /// Sends the answers once their commits are on disk.
    durability: Durability,
    stats: Arc<IngestStats>,
}

struct State {
    sql: Arc<Statements>,
    backend: Backend,
    cache: Cache,
    /// Multi-row insert statements by (table, rows).
    insert_sql: HashMap<(&'static str, usize), String>,
}

impl Writer {
    pub(crate) fn new(
        conn: PoolConnection<Any>,
        sql: Arc<Statements>,
        backend: Backend,
        checkpoints: Option<Arc<Checkpoints>>,
        durability: Durability,
        stats: Arc<IngestStats>,
    ) -> Self {
        Self {
            conn,
            checkpoints,
            durability,
            stats,
            state: State {
                sql,
                backend,
                cache: Cache::default(),
                insert_sql: HashMap::new(),
            },
        }
    }

    /// Takes jobs as they come, appends up to `max_batch` entries per
    /// transaction, answers each job once its commit is durable.
    pub(crate) async fn run(
        self,
        mut rx: mpsc::Receiver<Job>,
        mut scripts: mpsc::Receiver<ScriptJob>,
        mut closed: watch::Receiver<bool>,
        appended: watch::Sender<u64>,
        max_batch: usize,
    ) {
        let Writer {
            mut conn,
            mut state,
            checkpoints,
            durability,
            stats,
        } = self;
        // Commits so far; answers name the one they rest on.
        let mut commits = 0u64;
        let committed = || {
            if let Some(c) = &checkpoints {
                c.committed.notify_one();
            }
        };
        // Ingest jobs go first, but a script (the materializer's views)
        // waits at most `SCRIPT_WAIT`: under a steady stream of entries (a
        // catch-up, heavy publishing) the views would fall behind without
        // bound.
        let mut held: Option<(ScriptJob, std::time::Instant)> = None;
        let mut busy = Busy::default();
        loop {
            enum Next {
                Ingest(Job),
                Script(ScriptJob),
                Stop,
            }
            if checkpoints
                .as_ref()
                .is_some_and(|c| c.restart_due.swap(false, Ordering::Relaxed))
            {
                // Between two transactions: what the background left to
                // copy, so that the next transaction starts the WAL over.
                let t = std::time::Instant::now();
                if let Err(e) = checkpoint::checkpoint(&mut conn).await {
                    tracing::warn!(error = %e, "writer checkpoint failed");
                }
                busy.checkpoints += t.elapsed();
            }
            if held.is_none() {
                if let Ok(script) = scripts.try_recv() {
                    held = Some((script, std::time::Instant::now()));
                }
            }
            let overdue = held
                .as_ref()
                .is_some_and(|(_, since)| since.elapsed() >= SCRIPT_WAIT);
            let next = if overdue {
                held.take().map_or(Next::Stop, |(s, _)| Next::Script(s))
            } else {
                tokio::select! {
                    biased;
                    job = rx.recv() => job.map_or(Next::Stop, Next::Ingest),
                    // No entries waiting: the held script now.
                    _ = std::future::ready(()), if held.is_some() => {
                        held.take().map_or(Next::Stop, |(s, _)| Next::Script(s))
                    }
                    script = scripts.recv(), if held.is_none() => {
                        script.map_or(Next::Stop, Next::Script)
                    }
                    _ = closed.wait_for(|c| *c) => Next::Stop,
                }
            };
            let first = match next {
                Next::Ingest(job) => job,
                Next::Script(script) => {
                    let t = std::time::Instant::now();
                    let result = state.run_script(&mut conn, &script).await;
                    busy.scripts += t.elapsed();
                    busy.script_jobs += 1;
                    if result.is_ok() {
                        commits += 1;
                        committed();
                    }
                    let _ = script.reply.send(result);
                    continue;
                }
                Next::Stop => break,
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
            if let Some(msg) = durability.failed() {
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(StoreError::WriteFailed(msg.to_string())));
                }
                continue;
            }
            state.cache.age(GENERATION);
            let t = std::time::Instant::now();
            let written = state.write_batch(&mut conn, &mut jobs).await;
            let took = t.elapsed();
            busy.ingest += took;
            for queued in jobs.iter().filter_map(|j| j.publish_queued) {
                stats.record_append(t.saturating_duration_since(queued), took);
            }
            busy.ingest_batches += 1;
            match written {
                Ok((results, wrote)) => {
                    if wrote {
                        commits += 1;
                        appended.send_modify(|n| *n += 1);
                        committed();
                    }
                    // Rejections too wait for the flush: they may rest on
                    // an entry of an earlier, not yet durable commit.
                    durability.send(Decided {
                        upto: commits,
                        replies: jobs
                            .into_iter()
                            .zip(results)
                            .map(|(job, result)| (job.reply, Ok(result)))
                            .collect(),
                    });
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
        durability.stop().await;
        tracing::debug!(
            ingest_ms = busy.ingest.as_millis() as u64,
            ingest_batches = busy.ingest_batches,
            script_ms = busy.scripts.as_millis() as u64,
            scripts = busy.script_jobs,
            checkpoint_ms = busy.checkpoints.as_millis() as u64,
            "store writer stopped"
        );
    }
}

/// Where a writer's time went, logged when it stops.
#[derive(Default)]
struct Busy {
    ingest: std::time::Duration,
    ingest_batches: u64,
    scripts: std::time::Duration,
    script_jobs: u64,
    checkpoints: std::time::Duration,
}

/// Writes of derived data (the materializer's view tables) that go
/// through this writer, so that SQLite never sees two writers wait on each
/// other's lock.
pub(crate) struct ScriptJob {
    pub(crate) statements: Vec<(String, Vec<Param>)>,
    /// Move the materializer cursor from the first to the second value, in
    /// the same transaction; fails if it is not at the first.
    pub(crate) cursor: Option<(i64, i64)>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

impl State {
    /// Runs a script job in one transaction, answered at once: its data is
    /// derived and moves with its cursor, so a crash loses both or neither;
    /// the next flush of the WAL (see `durable`) covers its frames.
    async fn run_script(
        &mut self,
        conn: &mut AnyConnection,
        job: &ScriptJob,
    ) -> Result<(), StoreError> {
        let mut all = Vec::with_capacity(job.statements.len() + 1);
        if let Some((from, to)) = job.cursor {
            // An UPDATE that fails (CHECK cursor >= 0) unless the cursor is at `from`.
            all.push((
                render(
                    "UPDATE materializer SET cursor = CASE WHEN cursor = ? THEN ? ELSE -1 END WHERE id = 1",
                    self.backend,
                ),
                vec![Param::Int(Some(from)), Param::Int(Some(to))],
            ));
        }
        all.extend(job.statements.iter().cloned());
        let result = match self.backend {
            Backend::Sqlite => {
                // One round trip to the connection's thread, like the appends.
                sqlite_transaction(conn, all).await
            }
            Backend::Postgres => {
                let mut tx = conn.begin().await?;
                for (sql, p) in all {
                    sqlx::query_with(&sql, arguments(p)?)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        };
        match (result, job.cursor) {
            (Err(e), Some((from, _))) => {
                let at: Option<i64> =
                    sqlx::query_scalar("SELECT cursor FROM materializer WHERE id = 1")
                        .fetch_optional(&mut *conn)
                        .await
                        .ok()
                        .flatten();
                if at.is_some_and(|c| c != from) {
                    Err(StoreError::WriteFailed(
                        "the materializer cursor was moved by another writer".into(),
                    ))
                } else {
                    Err(e)
                }
            }
            (r, _) => r,
        }
    }

    async fn write_batch(
        &mut self,
        conn: &mut AnyConnection,
        jobs: &mut [Job],
    ) -> Result<(Vec<Vec<Result<Ingested, IngestError>>>, bool), StoreError> {
        // Checks read outside the write transaction: this is the only
        // writer, and what the batch itself added is in the caches.
        let mut pending = Pending::default();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            let mut job_results = Vec::with_capacity(job.items.len());
            for item in std::mem::take(&mut job.items) {
                let result = match item {
                    Ok(checked) => {
                        check_and_stage(conn, &self.sql, &mut self.cache, &mut pending, checked)
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
        for chunk in row_chunks(pending.entries.len()) {
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
                    Param::Text(c.operation.previous.as_ref().map(|p| p.to_string())),
                ]);
            }
            out.push((self.statement(INSERT_ENTRIES, chunk.len()), params));
        }
        out
    }

    /// A statement template for `rows` rows, rendered for the backend.
    fn statement(&mut self, template: &'static Template, rows: usize) -> String {
        let backend = self.backend;
        self.insert_sql
            .entry((template.table, rows))
            .or_insert_with(|| {
                all_or_nothing(
                    &multi_row(template.head, template.width, rows, template.tail, backend),
                    backend,
                )
            })
            .clone()
    }

    /// Appends a batch; whether there was anything to append. SQLite gets
    /// the whole batch as one script (one round trip to its worker thread),
    /// committed without a flush (see `durable`); PostgreSQL gets the
    /// statements in a transaction.
    async fn flush(
        &mut self,
        conn: &mut AnyConnection,
        pending: Pending,
    ) -> Result<bool, StoreError> {
        if pending.entries.is_empty() {
            return Ok(false);
        }
        let statements = self.statements(&pending);
        match self.backend {
            Backend::Sqlite => {
                sqlite_transaction(conn, statements).await?;
            }
            Backend::Postgres => {
                let mut tx = conn.begin().await?;
                // Appends of all processes on this database take turns, so
                // entry ids become visible in increasing order: the
                // materializer's cursor may then skip none.
                sqlx::query(APPEND_LOCK).execute(&mut *tx).await?;
                // Another writer's entries make these fail on the unique
                // log positions or the unique log of an author's document.
                for (sql, params) in statements {
                    sqlx::query_with(&sql, arguments(params)?)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(true)
    }
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
    if let Err(e) = sqlx::query_with(&script, args).execute(&mut *conn).await {
        // The script stopped inside its transaction.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(())
}

/// Serializes appends across processes (PostgreSQL); released at commit.
const APPEND_LOCK: &str = "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(7265110101)) AS l";

/// A multi-row statement: `head` + rows of `width` parameters + `tail`.
struct Template {
    table: &'static str,
    head: &'static str,
    width: usize,
    tail: &'static str,
}

const INSERT_ENTRIES: &Template = &Template {
    table: "entries",
    head: "INSERT INTO entries (entry_hash, public_key, log_id, seq_num, entry, payload, \
           document_id, schema_id, action, previous) VALUES ",
    width: 10,
    tail: "",
};

async fn log_head(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pk: PublicKey,
    log_id: LogId,
) -> Result<Option<Head>, StoreError> {
    let a = author(&pk);
    if let Some(h) = cache.heads.get(&(a, log_id)) {
        return Ok(*h);
    }
    load_author(conn, sql, cache, pk).await?;
    if let Some(h) = cache.heads.get(&(a, log_id)) {
        return Ok(*h);
    }
    if cache.complete_authors.contains(&a) {
        cache.heads.insert((a, log_id), None);
        return Ok(None);
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
    cache.heads.insert((a, log_id), head);
    Ok(head)
}

/// Loads every log of an author the first time it is seen, so that its
/// new logs need no lookups (authors with very many logs are looked up log
/// by log instead).
async fn load_author(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pk: PublicKey,
) -> Result<(), StoreError> {
    let a = author(&pk);
    if !cache.loaded_authors.insert(a) {
        return Ok(());
    }
    let rows = sqlx::query(&sql.author_logs)
        .bind(pk.as_bytes().as_slice())
        .fetch_all(&mut *conn)
        .await?;
    for row in &rows {
        let log_id = row.try_get::<i64, _>(0)? as u64;
        let head = Head {
            seq_num: row.try_get::<i64, _>(1)? as u64,
            hash: hash_col(row, 2)?,
        };
        let document_id = hash_col(row, 3)?;
        // The batch may already have moved this log further.
        cache.heads.insert_new((a, log_id), Some(head));
        cache
            .document_logs
            .insert_new((a, document_id), Some(log_id));
    }
    if rows.len() <= AUTHOR_LOGS_LIMIT {
        cache.complete_authors.insert(a);
    }
    Ok(())
}

async fn hash_at(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pk: PublicKey,
    log_id: LogId,
    seq_num: SeqNum,
) -> Result<Option<Hash>, StoreError> {
    if let Some(h) = cache.positions.get(&(author(&pk), log_id, seq_num)) {
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
        cache.positions.insert((author(&pk), log_id, seq_num), h);
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
    let a = author(&pk);
    if let Some(l) = cache.document_logs.get(&(a, document_id)) {
        return Ok(*l);
    }
    load_author(conn, sql, cache, pk).await?;
    if let Some(l) = cache.document_logs.get(&(a, document_id)) {
        return Ok(*l);
    }
    if cache.complete_authors.contains(&a) {
        cache.document_logs.insert((a, document_id), None);
        return Ok(None);
    }
    let row = crate::sql::bind_author_document_log(
        sqlx::query(&sql.document_log),
        pk.as_bytes().as_slice(),
        document_id.as_bytes().as_slice(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    let log = row
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?
        .map(|l| l as u64);
    cache.document_logs.insert((a, document_id), log);
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
    // Instrumented, not entered: a guard held across `.await` would mark
    // other tasks' events on this thread with this entry's span.
    let span = tracing::debug_span!("ingest", hash = %item.entry.hash(), author = %entry.public_key, log_id = entry.log_id, seq_num = entry.seq_num);
    check_and_stage_entry(conn, sql, cache, pending, item)
        .instrument(span)
        .await
}

async fn check_and_stage_entry(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pending: &mut Pending,
    item: Checked,
) -> Result<Result<Ingested, IngestError>, StoreError> {
    let entry = item.entry.entry();
    let hash = item.entry.hash();
    let pk = entry.public_key;

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
    let a = author(&pk);
    cache.heads.insert(
        (a, entry.log_id),
        Some(Head {
            seq_num: entry.seq_num,
            hash,
        }),
    );
    cache
        .positions
        .insert((a, entry.log_id, entry.seq_num), hash);
    cache
        .document_logs
        .insert((a, document_id), Some(entry.log_id));
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
    pending.operations.push((document_id, schema_text));
    pending.entries.push(item);
    Ok(Ok(ingested))
}

#[cfg(test)]
mod tests {
    use super::{Cache, Generations, Head};
    use crate::sql::row_chunks;
    use hoffnung_core::Hash;

    #[test]
    fn generations_keep_what_is_used() {
        let mut g: Generations<u32, &str> = Generations::default();
        g.insert(1, "one");
        g.insert(2, "two");
        g.rotate();
        // A hit in the old generation moves the entry back to the young one.
        assert_eq!(g.get(&1), Some(&"one"));
        g.rotate();
        assert_eq!(g.get(&1), Some(&"one"));
        assert_eq!(g.get(&2), None, "unused for two generations");
        // Known entries are not overwritten by `insert_new`, in either generation.
        g.insert(3, "three");
        g.rotate();
        g.insert_new(3, "other");
        g.insert_new(4, "four");
        assert_eq!(g.get(&3), Some(&"three"));
        assert_eq!(g.get(&4), Some(&"four"));
        // `insert` replaces an old value.
        g.rotate();
        g.insert(4, "new");
        g.rotate();
        assert_eq!(g.get(&4), Some(&"new"));
    }

    #[test]
    fn a_new_generation_forgets_which_authors_are_complete() {
        let mut cache = Cache::default();
        let author = [7u8; 32];
        let head = Head {
            seq_num: 1,
            hash: Hash::of(b"entry"),
        };
        cache.heads.insert((author, 0), Some(head));
        cache.complete_authors.insert(author);
        cache.loaded_authors.insert(author);
        cache.age(1);
        assert!(
            cache.complete_authors.contains(&author),
            "young generation not full"
        );
        cache.heads.insert((author, 1), None);
        cache.age(1);
        // Its logs may now be forgotten one by one: "not in the cache" must
        // no longer read as "no such log".
        assert!(cache.complete_authors.is_empty());
        assert!(cache.loaded_authors.is_empty());
        assert_eq!(
            cache.heads.get(&(author, 0)).map(|h| h.map(|h| h.seq_num)),
            Some(Some(1))
        );
    }

    #[test]
    fn chunks_cover_all_rows() {
        for n in 0..300 {
            let chunks = row_chunks(n);
            assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), n);
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
        }
    }
}
