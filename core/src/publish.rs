//! The checks of `publish` (and of every other ingest) that need to know
//! what is already stored, as pure functions over facts the store looked up.
//!
//! The order follows upstream (section 7.3 of the spec): seq num, skiplink
//! target present, payload, log integrity, then the document rules and the
//! log id. Decoding, signature and schema validation come before these.

use crate::entry::{
    check_log_integrity, Entry, EntryError, LogId, LogIntegrityError, LogPosition, NextArgs, SeqNum,
};
use crate::hash::Hash;
use crate::ids::{DocumentId, OperationId, SchemaId};
use crate::keys::PublicKey;
use crate::lipmaa::{lipmaa, skiplink_required};
use crate::operation::{OperationAction, PlainOperation};

/// Why an entry and its operation cannot be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("Entry's claimed seq num of {claimed} does not match expected seq num of {expected} for given public key and log")]
    SeqNum { claimed: SeqNum, expected: SeqNum },
    #[error(
        "log {log_id} of {public_key} is full: no entry may follow seq num {}",
        u64::MAX
    )]
    LogFull {
        public_key: PublicKey,
        log_id: LogId,
    },
    #[error("Expected skiplink entry not found in store: public key {public_key}, log id {log_id}, seq num {seq_num}")]
    SkiplinkEntryMissing {
        public_key: PublicKey,
        log_id: LogId,
        seq_num: SeqNum,
    },
    #[error(transparent)]
    Payload(EntryError),
    #[error(transparent)]
    LogIntegrity(#[from] LogIntegrityError),
    #[error("Previous operation {0} not found in store")]
    PreviousNotFound(OperationId),
    #[error("Operations in passed document view id originate from different documents")]
    PreviousFromDifferentDocuments,
    #[error(
        "Operation {operation} claims incorrect schema {claimed} for document with schema {actual}"
    )]
    ClaimedSchemaMismatch {
        operation: OperationId,
        claimed: SchemaId,
        actual: SchemaId,
    },
    #[error("You are trying to update or delete a document which has been deleted")]
    BuildsOnDelete,
    #[error("Entry's claimed log id of {claimed} does not match existing log id of {existing} for given public key and document id")]
    LogIdMismatch { claimed: LogId, existing: LogId },
    #[error(
        "Expected log not found in store for: public key {public_key}, document id {document_id}"
    )]
    LogNotFound {
        public_key: PublicKey,
        document_id: DocumentId,
    },
}

/// Checks an entry against its log: it must be the next seq num, its
/// skiplink target must be stored, its payload must match, and its links
/// must match the stored entries.
///
/// `log_head` is the latest stored entry of (public key, log id), which is
/// also the backlink target; `skiplink_entry` the stored entry at
/// `lipmaa(seq)` if the entry claims a skiplink.
pub fn check_entry_in_log(
    entry: &Entry,
    payload: &[u8],
    log_head: Option<&LogPosition>,
    skiplink_entry: Option<&LogPosition>,
) -> Result<(), PublishError> {
    let expected = match log_head {
        Some(head) => head.seq_num.checked_add(1).ok_or(PublishError::LogFull {
            public_key: entry.public_key,
            log_id: entry.log_id,
        })?,
        None => 1,
    };
    if entry.seq_num != expected {
        return Err(PublishError::SeqNum {
            claimed: entry.seq_num,
            expected,
        });
    }
    // Upstream refuses the entry after which the next seq num would overflow.
    if entry.seq_num == u64::MAX {
        return Err(PublishError::LogFull {
            public_key: entry.public_key,
            log_id: entry.log_id,
        });
    }
    if entry.skiplink.is_some() && skiplink_entry.is_none() {
        return Err(PublishError::SkiplinkEntryMissing {
            public_key: entry.public_key,
            log_id: entry.log_id,
            seq_num: lipmaa(entry.seq_num),
        });
    }
    entry
        .check_payload(payload)
        .map_err(PublishError::Payload)?;
    let skiplink_entry = if entry.skiplink.is_some() {
        skiplink_entry
    } else {
        None
    };
    check_log_integrity(
        entry,
        log_head.filter(|_| entry.seq_num > 1),
        skiplink_entry,
    )?;
    Ok(())
}

/// What the store knows of an operation named in `previous`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousOperation {
    pub id: OperationId,
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    pub action: OperationAction,
}

/// The document an operation belongs to. A CREATE starts the document whose
/// id is its own operation id (`operation_id`); an UPDATE or DELETE belongs to
/// the document of its `previous`, which must all be known (`found`, in any
/// order), of one document, of the operation's schema, and not a DELETE.
pub fn document_of(
    operation_id: OperationId,
    operation: &PlainOperation,
    found: &[PreviousOperation],
) -> Result<DocumentId, PublishError> {
    let Some(previous) = &operation.previous else {
        return Ok(operation_id);
    };
    let mut document: Option<DocumentId> = None;
    for id in previous.ids() {
        let p = found
            .iter()
            .find(|p| &p.id == id)
            .ok_or(PublishError::PreviousNotFound(*id))?;
        if p.schema_id != operation.schema_id {
            return Err(PublishError::ClaimedSchemaMismatch {
                operation: p.id,
                claimed: operation.schema_id.clone(),
                actual: p.schema_id.clone(),
            });
        }
        match document {
            Some(d) if d != p.document_id => {
                return Err(PublishError::PreviousFromDifferentDocuments)
            }
            _ => document = Some(p.document_id),
        }
    }
    // Only building on a DELETE is refused; an operation concurrent to a
    // DELETE is accepted and the document stays deleted (spec 13.2b).
    if found.iter().any(|p| p.action == OperationAction::Delete) {
        return Err(PublishError::BuildsOnDelete);
    }
    // invariant: a view id is never empty, so the loop set `document`.
    document.ok_or(PublishError::PreviousFromDifferentDocuments)
}

/// Checks the claimed log id: the first entry of a log must open a log the
/// author does not have yet for a document it has no log for; later entries
/// must go into the author's log of that document.
///
/// `document_log` is the author's log for `document_id`, if any.
pub fn check_log_id(
    entry: &Entry,
    document_id: &DocumentId,
    document_log: Option<LogId>,
) -> Result<(), PublishError> {
    match (entry.seq_num, document_log) {
        (1, None) => Ok(()),
        (_, Some(existing)) if existing == entry.log_id && entry.seq_num > 1 => Ok(()),
        (_, Some(existing)) => Err(PublishError::LogIdMismatch {
            claimed: entry.log_id,
            existing,
        }),
        (_, None) => Err(PublishError::LogNotFound {
            public_key: entry.public_key,
            document_id: *document_id,
        }),
    }
}

/// The next args for the entry after `latest` in the same log.
/// `skiplink_target` is the hash of the entry at `lipmaa(latest.seq_num + 1)`,
/// needed only if [`next_skiplink_seq_num`] says so.
pub fn next_args_after(latest: &LogPosition, skiplink_target: Option<Hash>) -> NextArgs {
    let seq_num = latest.seq_num.saturating_add(1);
    NextArgs {
        log_id: latest.log_id,
        seq_num,
        backlink: Some(latest.hash),
        skiplink: if skiplink_required(seq_num) {
            skiplink_target
        } else {
            None
        },
    }
}

/// The seq num whose entry hash the next args after `latest_seq_num` need as
/// skiplink, if any.
pub fn next_skiplink_seq_num(latest_seq_num: SeqNum) -> Option<SeqNum> {
    let next = latest_seq_num.saturating_add(1);
    skiplink_required(next).then(|| lipmaa(next))
}

/// The next args for a new log of an author whose highest log id is `max_log_id`.
pub fn next_args_new_log(max_log_id: Option<LogId>) -> NextArgs {
    NextArgs {
        log_id: max_log_id.map_or(0, |l| l.saturating_add(1)),
        seq_num: 1,
        backlink: None,
        skiplink: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::sign_entry;
    use crate::keys::KeyPair;

    #[test]
    fn a_log_refuses_the_entry_after_which_no_seq_num_is_left() {
        let key = KeyPair::from_private_key(&[3; 32]);
        let seq = u64::MAX;
        let args = NextArgs {
            log_id: 0,
            seq_num: seq,
            backlink: Some(Hash::of(b"back")),
            skiplink: skiplink_required(seq).then(|| Hash::of(b"skip")),
        };
        let entry = sign_entry(&key, &args, b"op").unwrap();
        let head = LogPosition {
            public_key: key.public_key(),
            log_id: 0,
            seq_num: seq - 1,
            hash: Hash::of(b"back"),
        };
        let skip = LogPosition {
            seq_num: lipmaa(seq),
            hash: Hash::of(b"skip"),
            ..head
        };
        assert!(matches!(
            check_entry_in_log(entry.entry(), b"op", Some(&head), Some(&skip)),
            Err(PublishError::LogFull { .. })
        ));
    }
}
