//! Forked logs and the proof of a fork.
//!
//! A Bamboo log is append-only: an author signs exactly one entry per
//! position. Two valid entries signed by one author for one log that cannot
//! both belong to one chain prove that the author forked the log, by
//! accident (two devices, a restored backup) or on purpose (showing peers
//! different histories). The proof is the two encoded entries: anyone can
//! check it with nothing else, no payload and no stored state.
//!
//! Two entries `a` (lower seq num) and `b` are a fork when
//! - both are at one seq num and their hashes differ, or
//! - `b` follows `a` directly (`b.seq = a.seq + 1`) and `b`'s backlink is
//!   not `a`'s hash, or
//! - `b`'s skiplink points at `a`'s seq num and is not `a`'s hash.
//!
//! In each case there are two different entries at `a`'s seq num (`a`, and
//! the one `b` links to): the log is disputed from there on, and a node
//! freezes it from that seq num ([`ForkProof::frozen_from`]).

use crate::entry::{EncodedEntry, EntryError, LogId, SeqNum};
use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::lipmaa::lipmaa;

/// How the two entries of a proof contradict each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkKind {
    /// Two entries at one position.
    SamePosition,
    /// The later entry's backlink names another entry than the earlier one.
    Backlink,
    /// The later entry's skiplink names another entry than the earlier one.
    Skiplink,
}

impl ForkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForkKind::SamePosition => "same position",
            ForkKind::Backlink => "backlink",
            ForkKind::Skiplink => "skiplink",
        }
    }
}

/// Why two entries are not a proof of a fork.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkProofError {
    #[error("entry {which} of the proof: {source}")]
    Entry {
        which: char,
        #[source]
        source: EntryError,
    },
    #[error("the two entries are the same entry")]
    SameEntry,
    #[error("the two entries are of different authors")]
    DifferentAuthors,
    #[error("the two entries are of different logs ({0} and {1})")]
    DifferentLogs(LogId, LogId),
    #[error("entries at seq nums {0} and {1} agree with one chain")]
    NoContradiction(SeqNum, SeqNum),
}

/// Two signed entries of one author and log that cannot both be in its log.
/// Made only through [`ForkProof::new`], which verifies them; the entries are
/// kept in a canonical order (lower seq num first, then lower hash), so one
/// fork has one proof whichever entry arrived first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkProof {
    a: EncodedEntry,
    b: EncodedEntry,
    kind: ForkKind,
}

impl ForkProof {
    /// Checks two encoded entries (signatures included) and makes the proof.
    pub fn new(first: &[u8], second: &[u8]) -> Result<Self, ForkProofError> {
        let first = EncodedEntry::decode_and_verify(first)
            .map_err(|source| ForkProofError::Entry { which: 'a', source })?;
        let second = EncodedEntry::decode_and_verify(second)
            .map_err(|source| ForkProofError::Entry { which: 'b', source })?;
        Self::from_verified(first, second)
    }

    /// The proof of two entries whose signatures were verified already.
    pub fn from_verified(x: EncodedEntry, y: EncodedEntry) -> Result<Self, ForkProofError> {
        if x.hash() == y.hash() {
            return Err(ForkProofError::SameEntry);
        }
        let (ex, ey) = (x.entry(), y.entry());
        if ex.public_key != ey.public_key {
            return Err(ForkProofError::DifferentAuthors);
        }
        if ex.log_id != ey.log_id {
            return Err(ForkProofError::DifferentLogs(ex.log_id, ey.log_id));
        }
        let (a, b) = if (ex.seq_num, x.hash().as_bytes()) <= (ey.seq_num, y.hash().as_bytes()) {
            (x, y)
        } else {
            (y, x)
        };
        let kind = contradiction(&a, &b).ok_or(ForkProofError::NoContradiction(
            a.entry().seq_num,
            b.entry().seq_num,
        ))?;
        Ok(Self { a, b, kind })
    }

    /// The entry at the lower position (or the lower hash of two at one).
    pub fn a(&self) -> &EncodedEntry {
        &self.a
    }

    pub fn b(&self) -> &EncodedEntry {
        &self.b
    }

    pub fn kind(&self) -> ForkKind {
        self.kind
    }

    pub fn public_key(&self) -> PublicKey {
        self.a.entry().public_key
    }

    pub fn log_id(&self) -> LogId {
        self.a.entry().log_id
    }

    /// The first disputed seq num: nothing at or above it can be trusted.
    pub fn frozen_from(&self) -> SeqNum {
        self.a.entry().seq_num
    }

    /// An id of the proof: the hash of both entries' hashes in order.
    pub fn id(&self) -> Hash {
        let mut both = Vec::with_capacity(2 * self.a.hash().as_bytes().len());
        both.extend_from_slice(self.a.hash().as_bytes());
        both.extend_from_slice(self.b.hash().as_bytes());
        Hash::of(&both)
    }
}

fn contradiction(a: &EncodedEntry, b: &EncodedEntry) -> Option<ForkKind> {
    let (ea, eb) = (a.entry(), b.entry());
    if ea.seq_num == eb.seq_num {
        return Some(ForkKind::SamePosition);
    }
    if ea.seq_num.checked_add(1) == Some(eb.seq_num) && eb.backlink != Some(a.hash()) {
        return Some(ForkKind::Backlink);
    }
    if eb.skiplink.is_some() && lipmaa(eb.seq_num) == ea.seq_num && eb.skiplink != Some(a.hash()) {
        return Some(ForkKind::Skiplink);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{sign_entry, NextArgs};
    use crate::keys::KeyPair;
    use crate::lipmaa::skiplink_required;

    /// A log of `n` entries with payloads `tag ‖ seq`.
    fn log(key: &KeyPair, n: u64, tag: u8) -> Vec<EncodedEntry> {
        let mut out: Vec<EncodedEntry> = Vec::new();
        for seq in 1..=n {
            let args = NextArgs {
                log_id: 3,
                seq_num: seq,
                backlink: out.last().map(|e| e.hash()),
                skiplink: skiplink_required(seq).then(|| out[(lipmaa(seq) - 1) as usize].hash()),
            };
            let payload = [tag, seq as u8];
            out.push(sign_entry(key, &args, &payload).expect("sign"));
        }
        out
    }

    #[test]
    fn two_entries_at_one_position_are_a_fork_in_either_order() {
        let key = KeyPair::from_private_key(&[1; 32]);
        let (one, two) = (log(&key, 5, 1), log(&key, 5, 2));
        let p = ForkProof::new(one[4].as_bytes(), two[4].as_bytes()).expect("proof");
        let q = ForkProof::new(two[4].as_bytes(), one[4].as_bytes()).expect("proof");
        assert_eq!(p, q);
        assert_eq!(p.id(), q.id());
        assert_eq!(p.kind(), ForkKind::SamePosition);
        assert_eq!(p.frozen_from(), 5);
        assert_eq!(p.log_id(), 3);
        assert_eq!(p.public_key(), key.public_key());
        // The first entries differ too: a fork from seq 1.
        let first = ForkProof::new(one[0].as_bytes(), two[0].as_bytes()).expect("proof");
        assert_eq!(first.frozen_from(), 1);
    }

    #[test]
    fn a_link_to_another_entry_is_a_fork() {
        let key = KeyPair::from_private_key(&[1; 32]);
        let (one, two) = (log(&key, 8, 1), log(&key, 8, 2));
        let back = ForkProof::new(one[5].as_bytes(), two[6].as_bytes()).expect("backlink");
        assert_eq!(back.kind(), ForkKind::Backlink);
        assert_eq!(back.frozen_from(), 6);
        // seq 8 skips to seq 4 (lipmaa(8) = 4).
        assert_eq!(lipmaa(8), 4);
        let skip = ForkProof::new(two[7].as_bytes(), one[3].as_bytes()).expect("skiplink");
        assert_eq!(skip.kind(), ForkKind::Skiplink);
        assert_eq!(skip.frozen_from(), 4);
    }

    #[test]
    fn entries_of_one_chain_or_of_others_are_no_proof() {
        let key = KeyPair::from_private_key(&[1; 32]);
        let other = KeyPair::from_private_key(&[2; 32]);
        let one = log(&key, 8, 1);
        let two = log(&key, 8, 2);
        for (x, y) in [(0, 1), (3, 7), (6, 7), (0, 7)] {
            assert_eq!(
                ForkProof::new(one[x].as_bytes(), one[y].as_bytes()),
                Err(ForkProofError::NoContradiction(x as u64 + 1, y as u64 + 1))
            );
        }
        // Entries of two branches that link to nothing of each other.
        assert!(matches!(
            ForkProof::new(one[1].as_bytes(), two[6].as_bytes()),
            Err(ForkProofError::NoContradiction(2, 7))
        ));
        assert_eq!(
            ForkProof::new(one[2].as_bytes(), one[2].as_bytes()),
            Err(ForkProofError::SameEntry)
        );
        let theirs = log(&other, 3, 1);
        assert_eq!(
            ForkProof::new(one[2].as_bytes(), theirs[2].as_bytes()),
            Err(ForkProofError::DifferentAuthors)
        );
    }

    #[test]
    fn a_forged_entry_is_no_proof() {
        let key = KeyPair::from_private_key(&[1; 32]);
        let one = log(&key, 2, 1);
        let mut forged = log(&key, 2, 2)[1].as_bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(matches!(
            ForkProof::new(one[1].as_bytes(), &forged),
            Err(ForkProofError::Entry {
                which: 'b',
                source: EntryError::InvalidSignature
            })
        ));
    }
}
