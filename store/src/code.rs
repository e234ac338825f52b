//! The stable error codes clients see (`extensions.code` in GraphQL) and
//! that the node's parts decide on (replication: retry later or blame the
//! peer). One enum, so that a code is never misspelt and a new one is added
//! in one place.

use std::fmt;

/// A stable, machine-readable error code. The strings ([`ErrorCode::as_str`])
/// never change: clients match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    // Entries and operations (ingest, `nextArgs`).
    InvalidOperation,
    SchemaNotFound,
    /// The node's policy refuses the entry (its schema is not on the allow list).
    SchemaNotAccepted,
    InvalidSignature,
    PayloadTooLarge,
    PayloadMismatch,
    InvalidEntry,
    OperationDoesNotMatchSchema,
    SeqNumTaken,
    SeqNumGap,
    LogFull,
    SkiplinkEntryMissing,
    LogIntegrity,
    PreviousNotFound,
    PreviousFromDifferentDocuments,
    PreviousSchemaMismatch,
    DocumentDeleted,
    LogIdMismatch,
    LogNotFound,
    DuplicateEntry,
    UnsupportedNumber,
    /// The entry is at or above the first disputed seq num of a forked log.
    LogForked,
    /// The author forked a log and the node blocks forked authors
    /// (`forked_authors = "block"`).
    AuthorForked,
    // Requests (GraphQL arguments, limits, subscriptions).
    /// The request is not a valid GraphQL document for this node's schema
    /// (syntax, unknown fields or types, argument types).
    InvalidQuery,
    InvalidArgument,
    InvalidHex,
    PageTooLarge,
    Unsupported,
    SubscriptionLagged,
    // HTTP, before a request runs.
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is not a GraphQL request (not JSON, not its shape).
    BadRequest,
    /// The body did not arrive in time.
    RequestTimeout,
    /// A browser page of an origin the node does not serve.
    OriginNotAllowed,
    // The node's own resources: try again later, nothing was stored.
    /// The database cannot be reached (restarting, network).
    Unavailable,
    /// The disk of the database is full.
    StorageFull,
    /// The connection or the node holds as many subscriptions as it may.
    TooManySubscriptions,
    /// A failure inside the node (database, I/O), not of the input.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 37] = [
        ErrorCode::InvalidOperation,
        ErrorCode::SchemaNotFound,
        ErrorCode::SchemaNotAccepted,
        ErrorCode::InvalidSignature,
        ErrorCode::PayloadTooLarge,
        ErrorCode::PayloadMismatch,
        ErrorCode::InvalidEntry,
        ErrorCode::OperationDoesNotMatchSchema,
        ErrorCode::SeqNumTaken,
        ErrorCode::SeqNumGap,
        ErrorCode::LogFull,
        ErrorCode::SkiplinkEntryMissing,
        ErrorCode::LogIntegrity,
        ErrorCode::PreviousNotFound,
        ErrorCode::PreviousFromDifferentDocuments,
        ErrorCode::PreviousSchemaMismatch,
        ErrorCode::DocumentDeleted,
        ErrorCode::LogIdMismatch,
        ErrorCode::LogNotFound,
        ErrorCode::DuplicateEntry,
        ErrorCode::UnsupportedNumber,
        ErrorCode::LogForked,
        ErrorCode::AuthorForked,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidHex,
        ErrorCode::PageTooLarge,
        ErrorCode::Unsupported,
        ErrorCode::SubscriptionLagged,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::BadRequest,
        ErrorCode::RequestTimeout,
        ErrorCode::OriginNotAllowed,
        ErrorCode::Unavailable,
        ErrorCode::StorageFull,
        ErrorCode::TooManySubscriptions,
        ErrorCode::Internal,
    ];

    /// The code as clients see it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidOperation => "INVALID_OPERATION",
            ErrorCode::SchemaNotFound => "SCHEMA_NOT_FOUND",
            ErrorCode::SchemaNotAccepted => "SCHEMA_NOT_ACCEPTED",
            ErrorCode::InvalidSignature => "INVALID_SIGNATURE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::PayloadMismatch => "PAYLOAD_MISMATCH",
            ErrorCode::InvalidEntry => "INVALID_ENTRY",
            ErrorCode::OperationDoesNotMatchSchema => "OPERATION_DOES_NOT_MATCH_SCHEMA",
            ErrorCode::SeqNumTaken => "SEQ_NUM_TAKEN",
            ErrorCode::SeqNumGap => "SEQ_NUM_GAP",
            ErrorCode::LogFull => "LOG_FULL",
            ErrorCode::SkiplinkEntryMissing => "SKIPLINK_ENTRY_MISSING",
            ErrorCode::LogIntegrity => "LOG_INTEGRITY",
            ErrorCode::PreviousNotFound => "PREVIOUS_NOT_FOUND",
            ErrorCode::PreviousFromDifferentDocuments => "PREVIOUS_FROM_DIFFERENT_DOCUMENTS",
            ErrorCode::PreviousSchemaMismatch => "PREVIOUS_SCHEMA_MISMATCH",
            ErrorCode::DocumentDeleted => "DOCUMENT_DELETED",
            ErrorCode::LogIdMismatch => "LOG_ID_MISMATCH",
            ErrorCode::LogNotFound => "LOG_NOT_FOUND",
            ErrorCode::DuplicateEntry => "DUPLICATE_ENTRY",
            ErrorCode::UnsupportedNumber => "UNSUPPORTED_NUMBER",
            ErrorCode::LogForked => "LOG_FORKED",
            ErrorCode::AuthorForked => "AUTHOR_FORKED",
            ErrorCode::InvalidQuery => "INVALID_QUERY",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::InvalidHex => "INVALID_HEX",
            ErrorCode::PageTooLarge => "PAGE_TOO_LARGE",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::SubscriptionLagged => "SUBSCRIPTION_LAGGED",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::StorageFull => "STORAGE_FULL",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The entry builds on something this node does not have yet (an
    /// earlier entry of its log, the operations it names, its schema): it
    /// may be accepted once that arrives.
    pub const fn is_missing_dependency(self) -> bool {
        matches!(
            self,
            ErrorCode::SeqNumGap
                | ErrorCode::SkiplinkEntryMissing
                | ErrorCode::PreviousNotFound
                | ErrorCode::LogNotFound
                | ErrorCode::SchemaNotFound
        )
    }

    /// The input is wrong in itself, so whoever sent it is at fault: not a
    /// missing dependency, not an entry already here or a position another
    /// entry took first (a lost race), not an entry of a forked log or author (the
    /// author forked it; a peer holding the other branch is not to blame),
    /// not a failure inside the node.
    pub const fn blames_the_sender(self) -> bool {
        !self.is_missing_dependency()
            && !matches!(
                self,
                ErrorCode::DuplicateEntry
                    | ErrorCode::SeqNumTaken
                    | ErrorCode::LogForked
                    | ErrorCode::AuthorForked
                    | ErrorCode::Unavailable
                    | ErrorCode::StorageFull
                    | ErrorCode::Internal
            )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_upper_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
        }
    }

    #[test]
    fn only_input_errors_blame_the_sender() {
        assert!(ErrorCode::InvalidSignature.blames_the_sender());
        assert!(ErrorCode::LogIntegrity.blames_the_sender());
        // Refused by policy: never accepted later, so not held back.
        assert!(ErrorCode::SchemaNotAccepted.blames_the_sender());
        assert!(!ErrorCode::SchemaNotAccepted.is_missing_dependency());
        assert!(!ErrorCode::SeqNumGap.blames_the_sender());
        assert!(ErrorCode::SeqNumGap.is_missing_dependency());
        assert!(!ErrorCode::SeqNumTaken.blames_the_sender());
        assert!(!ErrorCode::DuplicateEntry.blames_the_sender());
        assert!(!ErrorCode::LogForked.blames_the_sender());
        assert!(!ErrorCode::LogForked.is_missing_dependency());
        assert!(!ErrorCode::AuthorForked.blames_the_sender());
        assert!(!ErrorCode::AuthorForked.is_missing_dependency());
        assert!(!ErrorCode::Internal.blames_the_sender());
        assert!(!ErrorCode::Internal.is_missing_dependency());
    }
}
