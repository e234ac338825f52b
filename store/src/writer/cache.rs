//! What the writer remembers of the stored logs and operations
//! ([`Cache`], aged a generation at a time), and the lookups that fill it
//! from the database.

use std::collections::{BTreeMap, HashMap};

use hoffnung_core::publish::PreviousOperation;
use hoffnung_core::{DocumentId, Hash, LogId, OperationAction, OperationId, PublicKey, SeqNum};
use sqlx::{AnyConnection, Row};

use crate::error::StoreError;
use crate::sql::Statements;
use crate::{hash_col, schema_col};

/// Authors with up to this many logs are loaded whole at first sight.
const AUTHOR_LOGS_LIMIT: usize = 10_000;

/// An author in the caches' keys: the compressed key (32 bytes, where a
/// [`PublicKey`] keeps its decompressed point too).
type Author = [u8; 32];

pub(super) fn author(pk: &PublicKey) -> Author {
    *pk.as_bytes()
}

#[derive(Clone, Copy)]
pub(super) struct Head {
    pub(super) seq_num: SeqNum,
    pub(super) hash: Hash,
}

/// A map that forgets what was not used for a while, a generation at a
/// time: entries go into the young generation, a hit in the old one moves
/// the entry back, and when the young one is full the old one is dropped.
/// Dropping everything at once instead sent every lookup of a large working
/// set to the database at the same moment (updates at 100,000 documents
/// fell by a fifth).
pub(super) struct Generations<K, V> {
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
    pub(super) fn get(&mut self, key: &K) -> Option<&V> {
        if !self.young.contains_key(key) {
            let value = self.old.remove(key)?;
            self.young.insert(*key, value);
        }
        self.young.get(key)
    }

    pub(super) fn insert(&mut self, key: K, value: V) {
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
pub(super) struct Cache {
    /// `None`: the log is known not to exist.
    pub(super) heads: Generations<(Author, LogId), Option<Head>>,
    /// `None`: the author is known to have no log for the document.
    pub(super) document_logs: Generations<(Author, DocumentId), Option<LogId>>,
    pub(super) operations: Generations<OperationId, PreviousOperation>,
    pub(super) positions: Generations<(Author, LogId, SeqNum), Hash>,
    /// Authors whose logs are all in `heads` and `document_logs`.
    complete_authors: std::collections::HashSet<Author>,
    /// Authors already looked up (complete or not).
    loaded_authors: std::collections::HashSet<Author>,
    /// Forked logs and the seq num each is frozen from, all of them
    /// (there are few); `None` until first read.
    pub(super) frozen: Option<BTreeMap<(Author, LogId), SeqNum>>,
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
    pub(super) fn age(&mut self, generation: usize) {
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

pub(super) async fn log_head(
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

pub(super) async fn hash_at(
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

pub(super) async fn operation_meta(
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

pub(super) async fn document_log(
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

#[cfg(test)]
mod tests {
    use super::{Cache, Generations, Head};
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
}
