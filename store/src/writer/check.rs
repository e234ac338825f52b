//! The checks of one entry against the stored state (through the cache),
//! and staging it in the batch.

use hoffnung_core::entry::{LinkKind, LogIntegrityError};
use hoffnung_core::publish::{self, PreviousOperation, PublishError};
use hoffnung_core::{lipmaa, DocumentId, ForkProof, LogPosition, SchemaId};
use sqlx::AnyConnection;
use tracing::Instrument;

use super::cache::{author, document_log, hash_at, log_head, operation_meta, Cache, Head};
use super::forks;
use crate::config::ForkedAuthors;
use crate::error::{IngestError, StoreError};
use crate::ingest::{Checked, Ingested};
use crate::sql::Statements;

/// Rows of the current batch, written when it ends.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) entries: Vec<Checked>,
    /// Document and schema of each entry's operation.
    pub(super) operations: Vec<(DocumentId, String)>,
    /// Proofs of forks found in this batch (or handed to it).
    pub(super) forks: Vec<ForkProof>,
}

/// Checks one entry against the stored state (and the batch so far) and
/// stages it. The outer `Result` is a database failure (the batch rolls
/// back); the inner one the verdict on the entry.
pub(super) async fn check_and_stage(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pending: &mut Pending,
    item: Checked,
    publish: bool,
) -> Result<Result<Ingested, IngestError>, StoreError> {
    let entry = item.entry.entry();
    // Instrumented, not entered: a guard held across `.await` would mark
    // other tasks' events on this thread with this entry's span.
    let span = tracing::debug_span!("ingest", hash = %item.entry.hash(), author = %entry.public_key, log_id = entry.log_id, seq_num = entry.seq_num);
    check_and_stage_entry(conn, sql, cache, pending, item, publish)
        .instrument(span)
        .await
}

async fn check_and_stage_entry(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pending: &mut Pending,
    item: Checked,
    publish: bool,
) -> Result<Result<Ingested, IngestError>, StoreError> {
    let entry = item.entry.entry();
    let hash = item.entry.hash();
    let pk = entry.public_key;

    let frozen = forks::frozen_from(conn, sql, cache, &pk, entry.log_id).await?;
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
            let stored =
                forks::entry_at(conn, sql, pending, &pk, entry.log_id, entry.seq_num).await?;
            if let Some(stored) = stored {
                let e = stored.entry();
                // Signed on the same next args as the stored entry and
                // refused here: a client's lost race, which leaves no second
                // branch anywhere this node knows of (nothing is stored).
                let lost_race = publish
                    && e.backlink == entry.backlink
                    && e.skiplink == entry.skiplink
                    && frozen.is_none();
                if !lost_race {
                    let forked = forks::fork(cache, pending, stored, &item.entry)?;
                    if !publish {
                        return Ok(Err(forked));
                    }
                    // A publish keeps upstream's answer (`SEQ_NUM_TAKEN`, below).
                }
            }
        }
    }
    if let Some(from) = frozen.filter(|from| entry.seq_num >= *from) {
        return Ok(Err(IngestError::LogForked {
            public_key: pk,
            log_id: entry.log_id,
            frozen_from: from,
        }));
    }
    if sql.forked_authors == ForkedAuthors::Block && forks::author_forked(cache, &pk) {
        return Ok(Err(IngestError::AuthorForked(pk)));
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
        // A link to another entry than the stored one at its target: the
        // author signed two entries there. (A link to an entry this node
        // holds at another position is a malformed entry, not a fork.)
        let forked_at = match &e {
            PublishError::LogIntegrity(LogIntegrityError::HashMismatch(LinkKind::Backlink)) => {
                head_pos.as_ref().map(|h| (h.seq_num, entry.backlink))
            }
            PublishError::LogIntegrity(LogIntegrityError::HashMismatch(LinkKind::Skiplink)) => {
                skiplink_entry.as_ref().map(|s| (s.seq_num, entry.skiplink))
            }
            _ => None,
        };
        let forked_at = match forked_at {
            Some((seq, Some(named))) if !forks::is_stored(conn, sql, pending, &named).await? => {
                Some(seq)
            }
            _ => None,
        };
        if let Some(seq) = forked_at {
            if let Some(stored) =
                forks::entry_at(conn, sql, pending, &pk, entry.log_id, seq).await?
            {
                let forked = forks::fork(cache, pending, stored, &item.entry)?;
                if !publish {
                    return Ok(Err(forked));
                }
                // A publish keeps upstream's answer (`LOG_INTEGRITY`).
            }
        }
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
                    StoreError::Corrupt(format!("log {} misses seq {seq}", entry.log_id).into())
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
