//! Errors of the store, and the stable codes the API shows for them.

use hoffnung_core::entry::EntryError;
use hoffnung_core::operation::OperationError;
use hoffnung_core::publish::PublishError;
use hoffnung_core::{Hash, SchemaId, ValidationError};

/// A failure of the database itself (not of the input).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}`: use sqlite:<path> or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    #[error("the write batch failed: {0}")]
    WriteFailed(String),
    #[error("cannot start the thread that flushes the database: {0}")]
    FlushThread(std::io::Error),
    #[error("no view tables for schema {0}")]
    NoViewTable(SchemaId),
}

/// Why an entry and its operation were not ingested. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Operation(#[from] OperationError),
    #[error("Schema not found: {0}")]
    SchemaNotFound(SchemaId),
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// A stable, machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Operation(_) => "INVALID_OPERATION",
            IngestError::SchemaNotFound(_) => "SCHEMA_NOT_FOUND",
            IngestError::Entry(EntryError::InvalidSignature) => "INVALID_SIGNATURE",
            IngestError::Entry(EntryError::PayloadTooLarge { .. }) => "PAYLOAD_TOO_LARGE",
            IngestError::Entry(
                EntryError::PayloadHashMismatch | EntryError::PayloadSizeMismatch { .. },
            ) => "PAYLOAD_MISMATCH",
            IngestError::Entry(_) => "INVALID_ENTRY",
            IngestError::Validation(_) => "OPERATION_DOES_NOT_MATCH_SCHEMA",
            IngestError::Publish(p) => match p {
                // Behind the head: the position is taken (a fork or a lost race).
                PublishError::SeqNum { claimed, expected } if claimed < expected => "SEQ_NUM_TAKEN",
                PublishError::SeqNum { .. } => "SEQ_NUM_GAP",
                PublishError::LogFull { .. } => "LOG_FULL",
                PublishError::SkiplinkEntryMissing { .. } => "SKIPLINK_ENTRY_MISSING",
                PublishError::Payload(EntryError::PayloadTooLarge { .. }) => "PAYLOAD_TOO_LARGE",
                PublishError::Payload(_) => "PAYLOAD_MISMATCH",
                PublishError::LogIntegrity(_) => "LOG_INTEGRITY",
                PublishError::PreviousNotFound(_) => "PREVIOUS_NOT_FOUND",
                PublishError::PreviousFromDifferentDocuments => "PREVIOUS_FROM_DIFFERENT_DOCUMENTS",
                PublishError::ClaimedSchemaMismatch { .. } => "PREVIOUS_SCHEMA_MISMATCH",
                PublishError::BuildsOnDelete => "DOCUMENT_DELETED",
                PublishError::LogIdMismatch { .. } => "LOG_ID_MISMATCH",
                PublishError::LogNotFound { .. } => "LOG_NOT_FOUND",
            },
            IngestError::Duplicate(_) => "DUPLICATE_ENTRY",
            IngestError::NumberTooLarge { .. } => "UNSUPPORTED_NUMBER",
            IngestError::SeqNumTaken => "SEQ_NUM_TAKEN",
            IngestError::Store(_) => "INTERNAL",
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NextArgsError {
    pub fn code(&self) -> &'static str {
        match self {
            NextArgsError::PreviousNotFound(_) => "PREVIOUS_NOT_FOUND",
            NextArgsError::DifferentDocuments => "PREVIOUS_FROM_DIFFERENT_DOCUMENTS",
            NextArgsError::DocumentDeleted => "DOCUMENT_DELETED",
            NextArgsError::Store(_) => "INTERNAL",
        }
    }
}
