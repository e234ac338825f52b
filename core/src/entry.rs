//! Bamboo entries (the signed envelope of an operation): encoding, decoding,
//! signatures, link rules and log integrity.
//!
//! Layout: tag ‖ public key ‖ varu64 log id ‖ varu64 seq num ‖ [skiplink] ‖
//! [backlink] ‖ varu64 payload size ‖ payload hash ‖ signature. The skiplink
//! comes before the backlink and is omitted when it would equal the backlink.

use crate::hash::{Hash, HashError, HASH_SIZE};
use crate::keys::{KeyError, KeyPair, PublicKey, PUBLIC_KEY_SIZE, SIGNATURE_SIZE};
use crate::lipmaa::{lipmaa, skiplink_required};
use crate::varu64::{self, Varu64Error};

/// Per-author log number. Starts at 0.
pub type LogId = u64;
/// Position of an entry in its log. Starts at 1.
pub type SeqNum = u64;

/// A sane default bound for operations: a maximal blob piece (256 000 data
/// bytes, about 256 020 operation bytes) must fit, with room to spare.
pub const DEFAULT_MAX_PAYLOAD_SIZE: u64 = 1024 * 1024;
/// Smallest possible entry (seq 1, small numbers).
pub const MIN_ENTRY_SIZE: usize = 1 + PUBLIC_KEY_SIZE + 3 + HASH_SIZE + SIGNATURE_SIZE;
/// Largest possible entry: three 9-byte varu64s and three hashes.
pub const MAX_ENTRY_SIZE: usize =
    1 + PUBLIC_KEY_SIZE + 3 * varu64::MAX_LEN + 3 * HASH_SIZE + SIGNATURE_SIZE;

/// A field of the entry encoding, named in decode errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryField {
    Tag,
    PublicKey,
    LogId,
    SeqNum,
    Skiplink,
    Backlink,
    PayloadSize,
    PayloadHash,
    Signature,
}

impl std::fmt::Display for EntryField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntryField::Tag => "tag",
            EntryField::PublicKey => "public key",
            EntryField::LogId => "log id",
            EntryField::SeqNum => "seq num",
            EntryField::Skiplink => "skiplink",
            EntryField::Backlink => "backlink",
            EntryField::PayloadSize => "payload size",
            EntryField::PayloadHash => "payload hash",
            EntryField::Signature => "signature",
        })
    }
}

/// Why an entry is malformed on its own (no log context needed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is too large: {0} bytes, the maximum is {MAX_ENTRY_SIZE}")]
    TooLarge(usize),
    #[error("could not decode {0}: unexpected end of entry")]
    UnexpectedEnd(EntryField),
    #[error("could not decode {0}: non-canonical varu64 encoding")]
    NonCanonicalVaru64(EntryField),
    #[error("could not decode author public key: {0}")]
    PublicKey(#[source] KeyError),
    #[error("could not decode {field} hash: {source}")]
    Hash {
        field: EntryField,
        #[source]
        source: HashError,
    },
    #[error("entry sequence must be larger than 0 but was 0")]
    SeqNumZero,
    #[error("{0} unexpected bytes after the signature")]
    TrailingBytes(usize),
    #[error("backlink and skiplink are identical")]
    SkiplinkEqualsBacklink,
    #[error("entry with seq num {0} must not have links")]
    UnexpectedLinks(SeqNum),
    #[error("entry with seq num {0} requires a backlink")]
    MissingBacklink(SeqNum),
    #[error("entry with seq num {0} requires a skiplink")]
    MissingSkiplink(SeqNum),
    #[error("entry with seq num {0} must not have a skiplink")]
    UnexpectedSkiplink(SeqNum),
    #[error("signature invalid")]
    InvalidSignature,
    #[error("operation needs to match payload hash of encoded entry")]
    PayloadHashMismatch,
    #[error("operation needs to match payload size of encoded entry: entry claims {claimed} bytes, operation has {actual}")]
    PayloadSizeMismatch { claimed: u64, actual: u64 },
    #[error("payload of {size} bytes is larger than the maximum of {max} bytes")]
    PayloadTooLarge { size: u64, max: u64 },
}

/// The fields of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Bamboo tag byte: 0 normally. Upstream accepts any value and ignores it.
    pub tag: u8,
    pub public_key: PublicKey,
    pub log_id: LogId,
    pub seq_num: SeqNum,
    /// Hash of the entry at `lipmaa(seq_num)`, present only when required.
    pub skiplink: Option<Hash>,
    /// Hash of the entry at `seq_num - 1`, present iff `seq_num > 1`.
    pub backlink: Option<Hash>,
    pub payload_size: u64,
    pub payload_hash: Hash,
    pub signature: [u8; SIGNATURE_SIZE],
}

impl Entry {
    /// Checks which links are present for the seq num (Bamboo's rules).
    pub fn check_link_rules(&self) -> Result<(), EntryError> {
        check_link_rules(self.seq_num, self.skiplink.as_ref(), self.backlink.as_ref())
    }

    /// Checks the payload against the size and hash claimed by the entry.
    pub fn check_payload(&self, payload: &[u8]) -> Result<(), EntryError> {
        if Hash::of(payload) != self.payload_hash {
            return Err(EntryError::PayloadHashMismatch);
        }
        if payload.len() as u64 != self.payload_size {
            return Err(EntryError::PayloadSizeMismatch {
                claimed: self.payload_size,
                actual: payload.len() as u64,
            });
        }
        Ok(())
    }

    /// Refuses entries that announce a payload larger than `max` bytes, so a
    /// node can bound what it reads and stores before it looks at the payload.
    pub fn check_payload_limit(&self, max: u64) -> Result<(), EntryError> {
        if self.payload_size > max {
            return Err(EntryError::PayloadTooLarge {
                size: self.payload_size,
                max,
            });
        }
        Ok(())
    }

    /// Seq num whose entry the skiplink must point at.
    pub fn skiplink_seq_num(&self) -> Option<SeqNum> {
        self.skiplink.map(|_| lipmaa(self.seq_num))
    }

    fn encode_unsigned(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        out.extend_from_slice(self.public_key.as_bytes());
        varu64::encode(self.log_id, out);
        varu64::encode(self.seq_num, out);
        if let Some(s) = &self.skiplink {
            out.extend_from_slice(s.as_bytes());
        }
        if let Some(b) = &self.backlink {
            out.extend_from_slice(b.as_bytes());
        }
        varu64::encode(self.payload_size, out);
        out.extend_from_slice(self.payload_hash.as_bytes());
    }

    /// Encodes the entry with its signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_ENTRY_SIZE);
        self.encode_unsigned(&mut out);
        out.extend_from_slice(&self.signature);
        out
    }
}

fn check_link_rules(
    seq_num: SeqNum,
    skiplink: Option<&Hash>,
    backlink: Option<&Hash>,
) -> Result<(), EntryError> {
    match (seq_num, skiplink, backlink) {
        (0, _, _) => Err(EntryError::SeqNumZero),
        (1, None, None) => Ok(()),
        (1, _, _) => Err(EntryError::UnexpectedLinks(1)),
        (n, _, None) => Err(EntryError::MissingBacklink(n)),
        (n, Some(s), Some(b)) if skiplink_required(n) => {
            if s == b {
                Err(EntryError::SkiplinkEqualsBacklink)
            } else {
                Ok(())
            }
        }
        (n, None, Some(_)) if skiplink_required(n) => Err(EntryError::MissingSkiplink(n)),
        (n, Some(_), Some(_)) => Err(EntryError::UnexpectedSkiplink(n)),
        (_, None, Some(_)) => Ok(()),
    }
}

/// What a new entry needs to know to be signed: the next position in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextArgs {
    pub log_id: LogId,
    pub seq_num: SeqNum,
    pub backlink: Option<Hash>,
    pub skiplink: Option<Hash>,
}

/// Signs an entry for `payload` at the position given by `args`.
pub fn sign_entry(
    key_pair: &KeyPair,
    args: &NextArgs,
    payload: &[u8],
) -> Result<EncodedEntry, EntryError> {
    check_link_rules(args.seq_num, args.skiplink.as_ref(), args.backlink.as_ref())?;
    let mut entry = Entry {
        tag: 0,
        public_key: key_pair.public_key(),
        log_id: args.log_id,
        seq_num: args.seq_num,
        skiplink: args.skiplink,
        backlink: args.backlink,
        payload_size: payload.len() as u64,
        payload_hash: Hash::of(payload),
        signature: [0; SIGNATURE_SIZE],
    };
    let mut bytes = Vec::with_capacity(MAX_ENTRY_SIZE);
    entry.encode_unsigned(&mut bytes);
    entry.signature = key_pair.sign(&bytes);
    bytes.extend_from_slice(&entry.signature);
    let hash = Hash::of(&bytes);
    Ok(EncodedEntry { bytes, entry, hash })
}

/// A decoded entry together with its exact bytes and its hash (the operation id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEntry {
    bytes: Vec<u8>,
    entry: Entry,
    hash: Hash,
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: EntryField) -> Result<&'a [u8], EntryError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.input.len());
        let end = end.ok_or(EntryError::UnexpectedEnd(field))?;
        let out = &self.input[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn varu64(&mut self, field: EntryField) -> Result<u64, EntryError> {
        let (n, len) = varu64::decode(&self.input[self.pos..]).map_err(|e| match e {
            Varu64Error::UnexpectedEof => EntryError::UnexpectedEnd(field),
            Varu64Error::NonCanonical => EntryError::NonCanonicalVaru64(field),
        })?;
        self.pos += len;
        Ok(n)
    }

    fn hash(&mut self, field: EntryField) -> Result<Hash, EntryError> {
        let bytes = self.take(HASH_SIZE, field)?;
        Hash::from_bytes(bytes).map_err(|source| EntryError::Hash { field, source })
    }
}

impl EncodedEntry {
    /// Decodes an entry and checks its link rules, but not its signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        let mut c = Cursor {
            input: bytes,
            pos: 0,
        };
        let tag = c.take(1, EntryField::Tag)?[0];
        let pk_bytes: &[u8; PUBLIC_KEY_SIZE] = c
            .take(PUBLIC_KEY_SIZE, EntryField::PublicKey)?
            .try_into()
            .map_err(|_| EntryError::UnexpectedEnd(EntryField::PublicKey))?;
        let public_key = PublicKey::from_bytes(pk_bytes).map_err(EntryError::PublicKey)?;
        let log_id = c.varu64(EntryField::LogId)?;
        let seq_num = c.varu64(EntryField::SeqNum)?;
        if seq_num == 0 {
            return Err(EntryError::SeqNumZero);
        }
        let (skiplink, backlink) = if seq_num == 1 {
            (None, None)
        } else if skiplink_required(seq_num) {
            let s = c.hash(EntryField::Skiplink)?;
            (Some(s), Some(c.hash(EntryField::Backlink)?))
        } else {
            (None, Some(c.hash(EntryField::Backlink)?))
        };
        let payload_size = c.varu64(EntryField::PayloadSize)?;
        let payload_hash = c.hash(EntryField::PayloadHash)?;
        let signature: [u8; SIGNATURE_SIZE] = c
            .take(SIGNATURE_SIZE, EntryField::Signature)?
            .try_into()
            .map_err(|_| EntryError::UnexpectedEnd(EntryField::Signature))?;
        if c.pos != bytes.len() {
            return Err(EntryError::TrailingBytes(bytes.len() - c.pos));
        }
        let entry = Entry {
            tag,
            public_key,
            log_id,
            seq_num,
            skiplink,
            backlink,
            payload_size,
            payload_hash,
            signature,
        };
        entry.check_link_rules()?;
        Ok(Self {
            bytes: bytes.to_vec(),
            entry,
            hash: Hash::of(bytes),
        })
    }

    /// Decodes an entry, checks its link rules and verifies its signature.
    pub fn decode_and_verify(bytes: &[u8]) -> Result<Self, EntryError> {
        let e = Self::decode(bytes)?;
        e.verify_signature()?;
        Ok(e)
    }

    /// Decodes from hex (as entries travel in GraphQL).
    pub fn from_hex(s: &str) -> Result<Self, EntryFromHexError> {
        let bytes = hex::decode(s).map_err(|_| EntryFromHexError::InvalidHex)?;
        Ok(Self::decode(&bytes)?)
    }

    /// Verifies the signature over all bytes but the final 64.
    pub fn verify_signature(&self) -> Result<(), EntryError> {
        let (unsigned, _) = self.bytes.split_at(self.bytes.len() - SIGNATURE_SIZE);
        if self
            .entry
            .public_key
            .verify(unsigned, &self.entry.signature)
        {
            Ok(())
        } else {
            Err(EntryError::InvalidSignature)
        }
    }

    /// The decoded fields.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The exact bytes as received or signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Hash of the bytes: the operation id of the payload's operation.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Lower-case hex of the bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// Position of this entry, for checking later entries against it.
    pub fn position(&self) -> LogPosition {
        LogPosition {
            public_key: self.entry.public_key,
            log_id: self.entry.log_id,
            seq_num: self.entry.seq_num,
            hash: self.hash,
        }
    }
}

/// Why a hex string is not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryFromHexError {
    #[error("invalid hex encoding in entry")]
    InvalidHex,
    #[error(transparent)]
    Entry(#[from] EntryError),
}

/// Verifies the signatures of many entries at once. Ed25519 batch
/// verification is markedly faster per signature than one-by-one; if the
/// batch fails, each entry is checked alone to report exactly which failed.
pub fn verify_batch(entries: &[&EncodedEntry]) -> Result<(), BatchVerifyError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut messages = Vec::with_capacity(entries.len());
    let mut signatures = Vec::with_capacity(entries.len());
    let mut keys = Vec::with_capacity(entries.len());
    for e in entries {
        messages.push(&e.bytes[..e.bytes.len() - SIGNATURE_SIZE]);
        signatures.push(ed25519_dalek::Signature::from_bytes(&e.entry.signature));
        keys.push(*e.entry.public_key.verifying_key());
    }
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        return Ok(());
    }
    let failed: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.verify_signature().is_err())
        .map(|(i, _)| i)
        .collect();
    if failed.is_empty() {
        // Batch and single verification disagree only on crafted edge cases
        // (small-order components); single verification is the reference.
        Ok(())
    } else {
        Err(BatchVerifyError { failed })
    }
}

/// Signatures that failed in a batch, by index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signature invalid for {} entries of the batch (first at index {})", failed.len(), failed.first().copied().unwrap_or_default())]
pub struct BatchVerifyError {
    pub failed: Vec<usize>,
}

/// Where an entry sits in its log, and its hash: what later entries link to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    pub public_key: PublicKey,
    pub log_id: LogId,
    pub seq_num: SeqNum,
    pub hash: Hash,
}

/// Why an entry does not fit onto the entries it links to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogIntegrityError {
    #[error("claimed hash does not match {0} entry")]
    HashMismatch(LinkKind),
    #[error("{0} entry belongs to another author")]
    AuthorMismatch(LinkKind),
    #[error("{0} entry belongs to log {found}, expected log {expected}", found = .1, expected = .2)]
    LogIdMismatch(LinkKind, LogId, LogId),
    #[error("{kind} entry has seq num {found}, expected {expected}")]
    SeqNumMismatch {
        kind: LinkKind,
        found: SeqNum,
        expected: SeqNum,
    },
    #[error("{0} entry missing")]
    MissingLinkEntry(LinkKind),
    #[error("entry claims no {0} but one was given")]
    UnexpectedLinkEntry(LinkKind),
}

/// Which of the two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Backlink,
    Skiplink,
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkKind::Backlink => "backlink",
            LinkKind::Skiplink => "skiplink",
        })
    }
}

/// Checks an entry against the entries its links claim: the skiplink
/// target (at `lipmaa(seq)`) first, then the backlink target (at `seq - 1`),
/// each for author, log id, position and hash. Every stored entry was
/// checked this way, so log integrity follows inductively.
pub fn check_log_integrity(
    entry: &Entry,
    backlink_entry: Option<&LogPosition>,
    skiplink_entry: Option<&LogPosition>,
) -> Result<(), LogIntegrityError> {
    let check = |kind: LinkKind,
                 claimed: Option<Hash>,
                 target: Option<&LogPosition>,
                 seq: SeqNum| match (claimed, target) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(LogIntegrityError::MissingLinkEntry(kind)),
        (None, Some(_)) => Err(LogIntegrityError::UnexpectedLinkEntry(kind)),
        (Some(hash), Some(t)) => {
            if t.log_id != entry.log_id {
                Err(LogIntegrityError::LogIdMismatch(
                    kind,
                    t.log_id,
                    entry.log_id,
                ))
            } else if t.public_key != entry.public_key {
                Err(LogIntegrityError::AuthorMismatch(kind))
            } else if t.seq_num != seq {
                Err(LogIntegrityError::SeqNumMismatch {
                    kind,
                    found: t.seq_num,
                    expected: seq,
                })
            } else if t.hash != hash {
                Err(LogIntegrityError::HashMismatch(kind))
            } else {
                Ok(())
            }
        }
    };
    check(
        LinkKind::Skiplink,
        entry.skiplink,
        skiplink_entry,
        lipmaa(entry.seq_num),
    )?;
    check(
        LinkKind::Backlink,
        entry.backlink,
        backlink_entry,
        entry.seq_num.saturating_sub(1),
    )
}
