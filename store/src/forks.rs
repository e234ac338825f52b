//! Reads and writes of the proofs of forked logs (migration 0008; the
//! writer finds forks as entries arrive, see `writer/forks.rs`).

use hoffnung_core::{DocumentId, EncodedEntry, ForkProof, LogId, PublicKey, SchemaId, SeqNum};
use sqlx::Row;
use tokio::sync::oneshot;

use crate::error::{Failure, StoreError};
use crate::ingest::Job;
use crate::sql::render;
use crate::{hash_col, schema_col, ForkedAuthors, Store};

/// A stored proof and when this node learnt of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkRecord {
    pub proof: ForkProof,
    /// Milliseconds since the Unix epoch.
    pub detected_at: u64,
}

/// A document with a log of an author who forked a log: its views may only
/// hold what is below the fork (none of it when `frozen_from` is 1), and
/// what the store's policy lets count of the author's other logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkedDocument {
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    pub public_key: PublicKey,
    pub log_id: LogId,
    /// `None`: this log is not held back.
    pub frozen_from: Option<SeqNum>,
}

fn public_key(row: &sqlx::any::AnyRow, i: usize) -> Result<PublicKey, StoreError> {
    let bytes: Vec<u8> = row.try_get(i)?;
    let bytes: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt("public key length".into()))?;
    PublicKey::from_bytes(&bytes)
        .map_err(|e| StoreError::Corrupt(Failure::caused_by("public key", e)))
}

impl Store {
    /// Every proof of a fork this node holds, the latest learnt last.
    pub async fn forks(&self) -> Result<Vec<ForkRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT entry_a, entry_b, detected_at FROM forks ORDER BY detected_at, author, log_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let a: Vec<u8> = row.try_get(0)?;
                let b: Vec<u8> = row.try_get(1)?;
                let at: i64 = row.try_get(2)?;
                // Verified when recorded: decoded here, not verified again.
                let decode = |bytes: &[u8]| {
                    EncodedEntry::decode(bytes).map_err(|e| {
                        StoreError::Corrupt(Failure::caused_by("stored fork proof", e))
                    })
                };
                let proof = ForkProof::from_verified(decode(&a)?, decode(&b)?)
                    .map_err(|e| StoreError::Corrupt(Failure::caused_by("stored fork proof", e)))?;
                Ok(ForkRecord {
                    proof,
                    detected_at: at.max(0) as u64,
                })
            })
            .collect()
    }

    /// Records proofs that arrived on their own (from a peer, an import),
    /// verified by the caller ([`ForkProof::new`]): each log is frozen from
    /// its proof's seq num, unless it is frozen lower already. Durable when
    /// this returns.
    pub async fn record_forks(&self, proofs: Vec<ForkProof>) -> Result<(), StoreError> {
        if proofs.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.writer()
            .send(Job {
                items: Vec::new(),
                reply,
                publish_queued: None,
                forks: proofs,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)??;
        Ok(())
    }

    /// The documents of every log of an author who forked one: frozen from
    /// the fork in a forked log, and with [`ForkedAuthors::Block`] in every
    /// log from seq num 1. The unforked logs are listed under both
    /// policies, so that documents are right again after a change of it.
    pub async fn forked_documents(&self) -> Result<Vec<ForkedDocument>, StoreError> {
        let frozen_from = match self.config().forked_authors {
            ForkedAuthors::Freeze => "f.seq_num",
            ForkedAuthors::Block => "e.seq_num",
        };
        let sql = render(
            &format!(
                "SELECT {}, e.log_id, {frozen_from}, e.document_id, {} \
                 FROM (SELECT DISTINCT author FROM forks) a \
                 JOIN entries e ON e.author = a.author AND e.seq_num = 1 \
                 LEFT JOIN forks f ON f.author = e.author AND f.log_id = e.log_id",
                crate::sql::author_of_entry!(),
                crate::sql::schema_of_entry!()
            ),
            self.backend(),
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(ForkedDocument {
                    public_key: public_key(row, 0)?,
                    log_id: row.try_get::<i64, _>(1)? as u64,
                    frozen_from: row.try_get::<Option<i64>, _>(2)?.map(|s| s as u64),
                    document_id: hash_col(row, 3)?,
                    schema_id: schema_col(row, 4)?,
                })
            })
            .collect()
    }

    /// Whether nothing of this author is taken any more: a log of theirs
    /// is forked and the store blocks forked authors.
    pub async fn author_blocked(&self, public_key: &PublicKey) -> Result<bool, StoreError> {
        if self.config().forked_authors == ForkedAuthors::Freeze {
            return Ok(false);
        }
        Ok(sqlx::query(&self.inner.sql.fork_of_author)
            .bind(public_key.as_bytes().as_slice())
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }

    /// The seq num a log is frozen from, if it is forked.
    pub async fn frozen_from(
        &self,
        public_key: &PublicKey,
        log_id: LogId,
    ) -> Result<Option<SeqNum>, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar(&self.inner.sql.fork_of_log)
            .bind(public_key.as_bytes().as_slice())
            .bind(log_id as i64)
            .fetch_optional(self.pool())
            .await?;
        Ok(seq.map(|s| s as u64))
    }
}

/// `sql` for a fork policy: under [`ForkedAuthors::Block`] its
/// `sql::not_frozen` conditions leave out every entry of a forked author.
pub(crate) fn with_forks(sql: &str, forked: ForkedAuthors) -> std::borrow::Cow<'_, str> {
    match forked {
        ForkedAuthors::Freeze => sql.into(),
        ForkedAuthors::Block => sql.replace(crate::sql::frozen_part!(), "").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{not_frozen, Backend, Statements};

    #[test]
    fn blocking_forked_authors_widens_the_frozen_part_to_the_author() {
        let sql = concat!("SELECT 1 FROM entries e WHERE ", not_frozen!());
        assert_eq!(with_forks(sql, ForkedAuthors::Freeze), sql);
        assert_eq!(
            with_forks(sql, ForkedAuthors::Block),
            "SELECT 1 FROM entries e WHERE NOT EXISTS (SELECT 1 FROM forks k WHERE k.author = e.author)"
        );
        let blocked = Statements::new(Backend::Sqlite, ForkedAuthors::Block);
        assert!(!blocked.document_operations.contains("k.log_id"));
        assert!(!blocked.document_deleted_below_forks.contains("k.log_id"));
        let frozen = Statements::new(Backend::Sqlite, ForkedAuthors::Freeze);
        assert!(frozen
            .document_operations
            .contains(crate::sql::frozen_part!()));
    }
}
