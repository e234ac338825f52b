//! Forked logs in the writer: which logs are frozen, the stored entry a new
//! one contradicts, and the proofs a batch records (migration 0008).

use std::collections::BTreeMap;

use hoffnung_core::{EncodedEntry, ForkProof, Hash, LogId, PublicKey, SeqNum};
use sqlx::{AnyConnection, Row};

use super::cache::{author, Cache};
use super::check::Pending;
use crate::error::{IngestError, StoreError};
use crate::sql::{Param, Statements};

/// The seq num a log is frozen from, if it is forked.
pub(super) async fn frozen_from(
    conn: &mut AnyConnection,
    sql: &Statements,
    cache: &mut Cache,
    pk: &PublicKey,
    log_id: LogId,
) -> Result<Option<SeqNum>, StoreError> {
    if cache.frozen.is_none() {
        let rows = sqlx::query(&sql.forks_frozen).fetch_all(&mut *conn).await?;
        let mut frozen = BTreeMap::new();
        for row in &rows {
            let key: Vec<u8> = row.try_get(0)?;
            let key: [u8; 32] = key
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("public key length in forks".into()))?;
            let log: i64 = row.try_get(1)?;
            let seq: i64 = row.try_get(2)?;
            frozen.insert((key, log as u64), seq as u64);
        }
        cache.frozen = Some(frozen);
    }
    Ok(cache
        .frozen
        .as_ref()
        .and_then(|f| f.get(&(author(pk), log_id)).copied()))
}

/// Whether a log of this author is forked (read by [`frozen_from`] before).
pub(super) fn author_forked(cache: &Cache, pk: &PublicKey) -> bool {
    let key = author(pk);
    cache
        .frozen
        .as_ref()
        .is_some_and(|f| f.range((key, 0)..=(key, LogId::MAX)).next().is_some())
}

/// The entry at a position: staged in this batch, or stored.
pub(super) async fn entry_at(
    conn: &mut AnyConnection,
    sql: &Statements,
    pending: &Pending,
    pk: &PublicKey,
    log_id: LogId,
    seq_num: SeqNum,
) -> Result<Option<EncodedEntry>, StoreError> {
    let staged = pending.entries.iter().rev().find(|c| {
        let e = c.entry.entry();
        e.public_key == *pk && e.log_id == log_id && e.seq_num == seq_num
    });
    if let Some(c) = staged {
        return Ok(Some(c.entry.clone()));
    }
    let bytes: Option<Vec<u8>> = sqlx::query_scalar(&sql.entry_at)
        .bind(pk.as_bytes().as_slice())
        .bind(log_id as i64)
        .bind(seq_num as i64)
        .fetch_optional(&mut *conn)
        .await?;
    bytes
        .map(|b| {
            EncodedEntry::decode(&b).map_err(|e| {
                StoreError::Corrupt(crate::error::Failure::caused_by("stored entry", e))
            })
        })
        .transpose()
}

/// Whether an entry with this hash is stored (or staged in this batch).
pub(super) async fn is_stored(
    conn: &mut AnyConnection,
    sql: &Statements,
    pending: &Pending,
    hash: &Hash,
) -> Result<bool, StoreError> {
    if pending.entries.iter().any(|c| c.entry.hash() == *hash) {
        return Ok(true);
    }
    Ok(sqlx::query(&sql.entry_exists)
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

/// Records that `stored` and `arrived` fork their log (both verified: one
/// at ingest, the other before the writer): the proof is written with the
/// batch and the log is frozen for the rest of it. The entry is refused.
pub(super) fn fork(
    cache: &mut Cache,
    pending: &mut Pending,
    stored: EncodedEntry,
    arrived: &EncodedEntry,
) -> Result<IngestError, StoreError> {
    let proof = ForkProof::from_verified(stored, arrived.clone())
        .map_err(|e| StoreError::Corrupt(crate::error::Failure::caused_by("fork proof", e)))?;
    Ok(stage(cache, pending, proof))
}

/// Stages a proof unless the log is frozen at or below its seq num already;
/// the error an entry of the proof's log at or above the freeze gets. The
/// log's freeze must have been read ([`frozen_from`]) before.
pub(super) fn stage(cache: &mut Cache, pending: &mut Pending, proof: ForkProof) -> IngestError {
    let public_key = proof.public_key();
    let log_id = proof.log_id();
    let frozen = cache.frozen.get_or_insert_with(BTreeMap::new);
    let frozen_from = match frozen.get(&(author(&public_key), log_id)) {
        Some(&at) if at <= proof.frozen_from() => at,
        _ => {
            let from = proof.frozen_from();
            frozen.insert((author(&public_key), log_id), from);
            tracing::warn!(
                author = %public_key,
                log_id,
                seq_num = from,
                kind = proof.kind().as_str(),
                "forked log: frozen from this seq num on"
            );
            pending.forks.push(proof);
            from
        }
    };
    IngestError::LogForked {
        public_key,
        log_id,
        frozen_from,
    }
}

/// The statements recording a batch's proofs: each replaces the log's
/// earlier (higher) one.
pub(super) fn statements(forks: &[ForkProof], sql: &Statements) -> Vec<(String, Vec<Param>)> {
    let now = crate::now_millis() as i64;
    let mut out = Vec::with_capacity(forks.len() * 2);
    for p in forks {
        let key = Param::Blob(Some(p.public_key().as_bytes().to_vec()));
        let log = Param::Int(Some(p.log_id() as i64));
        out.push((sql.fork_delete.clone(), vec![key.clone(), log.clone()]));
        out.push((
            sql.fork_insert.clone(),
            vec![
                key,
                log,
                Param::Int(Some(p.frozen_from() as i64)),
                Param::Blob(Some(p.a().as_bytes().to_vec())),
                Param::Blob(Some(p.b().as_bytes().to_vec())),
                Param::Int(Some(now)),
            ],
        ));
    }
    out
}
