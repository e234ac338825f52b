//! Errors of the store, and the stable codes the API shows for them.

use hoffnung_core::entry::EntryError;
use hoffnung_core::operation::OperationError;
use hoffnung_core::publish::PublishError;
use hoffnung_core::{Hash, LogId, PublicKey, SchemaId, SeqNum, ValidationError};

use std::fmt;
use std::sync::Arc;

use crate::code::ErrorCode;
use crate::query::QueryError;

/// The cause of a failure, shared: one failed batch answers every entry
/// in it, and each answer keeps the cause.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// What failed, with the error that caused it if there was one. Cheap to
/// clone; the cause stays reachable through `source()`.
#[derive(Debug, Clone)]
pub struct Failure {
    what: String,
    cause: Option<Cause>,
}

impl Failure {
    /// A failure without an underlying error.
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            cause: None,
        }
    }

    /// A failure caused by `cause`.
    pub fn caused_by(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::shared(what, Arc::new(cause))
    }

    /// A failure caused by an error already shared (or boxed).
    pub fn shared(what: impl Into<String>, cause: Cause) -> Self {
        Self {
            what: what.into(),
            cause: Some(cause),
        }
    }
}

impl fmt::Display for Failure {
    // The cause is printed too: logs show one error's text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {cause}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for Failure {
    fn from(what: String) -> Self {
        Self::new(what)
    }
}

impl From<&str> for Failure {
    fn from(what: &str) -> Self {
        Self::new(what)
    }
}

/// A failure of the database itself, or (`Query`) a query that does not
/// fit its schema.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}`: use sqlite:<path> or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[source] Failure),
    #[error("the store is shut down")]
    Closed,
    #[error("the write batch failed: {0}")]
    WriteFailed(#[source] Failure),
    #[error("cannot start the thread that flushes the database: {0}")]
    FlushThread(std::io::Error),
    #[error("no view tables for schema {0}")]
    NoViewTable(SchemaId),
    /// A list scope names a field that is no relation list of its schema.
    #[error("`{field}` is no relation list of schema {schema_id}")]
    NotAList { schema_id: SchemaId, field: String },
    /// The caller's query does not fit the schema; its message is for
    /// API clients.
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl StoreError {
    /// Whether the database refused the data itself (a row or index entry
    /// too large, a value out of range) rather than failed: writing the
    /// same data again fails again, so a worker must not retry it forever.
    pub fn is_refused_data(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>() {
                if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                    // MariaDB/MySQL: too many columns or indexes, a row,
                    // key or packet too large, an identifier too long; and
                    // data exceptions (SQLSTATE class 22) as below.
                    let limit = matches!(
                        my.number(),
                        1059 | 1069 | 1070 | 1071 | 1117 | 1118 | 1153 | 1406 | 1264 | 1366
                    );
                    return limit
                        || innodb_refused_table(my.number(), my.message())
                        || my.code().is_some_and(|c| c.starts_with("22"));
                }
                return match db.code().as_deref() {
                    // PostgreSQL: SQLSTATE classes 22 (data exception) and
                    // 54 (program limit exceeded: row or index entry size).
                    Some(code) if code.starts_with("22") || code.starts_with("54") => true,
                    // SQLite: SQLITE_TOOBIG, SQLITE_RANGE.
                    Some("18" | "25") => true,
                    _ => false,
                };
            }
            cause = e.source();
        }
        false
    }

    /// A stable, machine-readable code for API clients: a query's own
    /// mistakes are the client's, everything else is inside the node.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Query(_) => ErrorCode::InvalidArgument,
            _ => self.resource_code().unwrap_or(ErrorCode::Internal),
        }
    }

    /// `UNAVAILABLE` or `STORAGE_FULL` when the database could not be
    /// reached or its disk is full (the client may try again; nothing was
    /// stored), `INVALID_ARGUMENT` for a value the database cannot hold;
    /// found anywhere in the chain of causes.
    fn resource_code(&self) -> Option<ErrorCode> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(e) = e.downcast_ref::<sqlx::Error>() {
                return match e {
                    sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                        Some(ErrorCode::Unavailable)
                    }
                    sqlx::Error::Database(db) => match db.code().as_deref() {
                        // PostgreSQL: a value it cannot take (a NUL in a
                        // text, a number out of range): the input's fault.
                        Some(c) if c.starts_with("22") => Some(ErrorCode::InvalidArgument),
                        // PostgreSQL: disk full; SQLite: SQLITE_FULL.
                        Some("53100" | "13") => Some(ErrorCode::StorageFull),
                        // PostgreSQL: connection exceptions (08), shutting
                        // down or starting up (57P01-57P03), too many
                        // connections (53300).
                        Some(c) if c.starts_with("08") || c.starts_with("57P") => {
                            Some(ErrorCode::Unavailable)
                        }
                        Some("53300") => Some(ErrorCode::Unavailable),
                        _ => None,
                    },
                    _ => None,
                };
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::StorageFull {
                    return Some(ErrorCode::StorageFull);
                }
            }
            cause = e.source();
        }
        None
    }
}

/// Why an entry and its operation were not ingested. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Operation(#[from] OperationError),
    #[error("Schema not found: {0}")]
    SchemaNotFound(SchemaId),
    #[error("schema {0} is not accepted by this node")]
    SchemaNotAccepted(SchemaId),
    #[error("{0}")]
    Entry(#[from] EntryError),
    #[error("{0}")]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Publish(#[from] PublishError),
    #[error("entry {0} is already stored")]
    Duplicate(Hash),
    #[error("{what} {value} is above the supported maximum of 2^63-1")]
    NumberTooLarge { what: &'static str, value: u64 },
    #[error("seq num already taken: another entry was stored at this log position concurrently")]
    SeqNumTaken,
    #[error("log {log_id} of {public_key} is forked: no entry at or above seq num {frozen_from} is accepted")]
    LogForked {
        public_key: PublicKey,
        log_id: LogId,
        frozen_from: SeqNum,
    },
    #[error(
        "{0} forked a log and this node blocks forked authors: none of its entries is accepted"
    )]
    AuthorForked(PublicKey),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// A stable, machine-readable code for API clients.
    pub fn code(&self) -> ErrorCode {
        match self {
            IngestError::Operation(_) => ErrorCode::InvalidOperation,
            IngestError::SchemaNotFound(_) => ErrorCode::SchemaNotFound,
            IngestError::SchemaNotAccepted(_) => ErrorCode::SchemaNotAccepted,
            IngestError::Entry(EntryError::InvalidSignature) => ErrorCode::InvalidSignature,
            IngestError::Entry(EntryError::PayloadTooLarge { .. }) => ErrorCode::PayloadTooLarge,
            IngestError::Entry(
                EntryError::PayloadHashMismatch | EntryError::PayloadSizeMismatch { .. },
            ) => ErrorCode::PayloadMismatch,
            IngestError::Entry(_) => ErrorCode::InvalidEntry,
            IngestError::Validation(_) => ErrorCode::OperationDoesNotMatchSchema,
            IngestError::Publish(p) => match p {
                // Behind the head: the position is taken (a fork or a lost race).
                PublishError::SeqNum { claimed, expected } if claimed < expected => {
                    ErrorCode::SeqNumTaken
                }
                PublishError::SeqNum { .. } => ErrorCode::SeqNumGap,
                PublishError::LogFull { .. } => ErrorCode::LogFull,
                PublishError::SkiplinkEntryMissing { .. } => ErrorCode::SkiplinkEntryMissing,
                PublishError::Payload(EntryError::PayloadTooLarge { .. }) => {
                    ErrorCode::PayloadTooLarge
                }
                PublishError::Payload(_) => ErrorCode::PayloadMismatch,
                PublishError::LogIntegrity(_) => ErrorCode::LogIntegrity,
                PublishError::PreviousNotFound(_) => ErrorCode::PreviousNotFound,
                PublishError::PreviousFromDifferentDocuments => {
                    ErrorCode::PreviousFromDifferentDocuments
                }
                PublishError::ClaimedSchemaMismatch { .. } => ErrorCode::PreviousSchemaMismatch,
                PublishError::BuildsOnDelete => ErrorCode::DocumentDeleted,
                PublishError::LogIdMismatch { .. } => ErrorCode::LogIdMismatch,
                PublishError::LogNotFound { .. } => ErrorCode::LogNotFound,
            },
            IngestError::Duplicate(_) => ErrorCode::DuplicateEntry,
            IngestError::NumberTooLarge { .. } => ErrorCode::UnsupportedNumber,
            IngestError::SeqNumTaken => ErrorCode::SeqNumTaken,
            IngestError::LogForked { .. } => ErrorCode::LogForked,
            IngestError::AuthorForked(_) => ErrorCode::AuthorForked,
            IngestError::Store(e) => e.code(),
        }
    }
}

/// Why next args could not be given.
#[derive(Debug, thiserror::Error)]
pub enum NextArgsError {
    #[error("Previous operation {0} not found in store")]
    PreviousNotFound(Hash),
    #[error("Operations in passed document view id originate from different documents")]
    DifferentDocuments,
    #[error("Document is deleted")]
    DocumentDeleted,
    #[error(
        "log {log_id} of this public key for the document is forked: it takes no more entries"
    )]
    LogForked { log_id: LogId },
    #[error("this public key forked a log and this node blocks forked authors: it takes none of its entries")]
    AuthorForked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NextArgsError {
    pub fn code(&self) -> ErrorCode {
        match self {
            NextArgsError::PreviousNotFound(_) => ErrorCode::PreviousNotFound,
            NextArgsError::DifferentDocuments => ErrorCode::PreviousFromDifferentDocuments,
            NextArgsError::DocumentDeleted => ErrorCode::DocumentDeleted,
            NextArgsError::LogForked { .. } => ErrorCode::LogForked,
            NextArgsError::AuthorForked => ErrorCode::AuthorForked,
            NextArgsError::Store(e) => e.code(),
        }
    }
}

/// MariaDB's "can't create table" (1005) carries InnoDB's own reason in
/// its message: errno 185, too many columns (InnoDB's 1,017 are fewer than
/// the server's 4,096, so the server's 1117 does not fire), or 139, a row
/// too large. Other reasons (a full disk, a lock) are not the data's.
fn innodb_refused_table(number: u16, message: &str) -> bool {
    number == 1005 && (message.contains("errno: 185") || message.contains("errno: 139"))
}

#[cfg(test)]
mod tests {
    use super::innodb_refused_table;

    #[test]
    fn innodb_reasons_for_not_making_a_table() {
        let too_many =
            "Can't create table `db`.`wide_529e385e8e` (errno: 185 \"Too many columns\")";
        assert!(innodb_refused_table(1005, too_many));
        assert!(innodb_refused_table(
            1005,
            "Can't create table `db`.`t` (errno: 139 \"Too big row\")"
        ));
        assert!(!innodb_refused_table(
            1005,
            "Can't create table `db`.`t` (errno: 28 \"No space left on device\")"
        ));
        assert!(!innodb_refused_table(1006, too_many));
    }
}
