//! The one place where GraphQL errors are built: every error carries a
//! stable `extensions.code` ([`ErrorCode`]).

use async_graphql::ErrorExtensions;
pub use hoffnung_store::ErrorCode;

/// A GraphQL error with a stable `extensions.code`.
pub type ApiError = async_graphql::Error;

/// An error whose message tells the client what was wrong and whose
/// `extensions.code` a program can match on.
pub fn api_error(code: ErrorCode, message: impl Into<String>) -> ApiError {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// A domain error as a GraphQL error. Rejections of input tell the client
/// what was wrong; internal failures are logged and answered generically,
/// so database details never reach clients.
pub fn domain_error(code: ErrorCode, error: &dyn std::fmt::Display) -> ApiError {
    match code {
        ErrorCode::Internal => {
            tracing::error!(%error, "request failed inside the node");
            api_error(code, "internal error; the node's log has the details")
        }
        ErrorCode::Unavailable => {
            tracing::warn!(%error, "the database is unavailable");
            api_error(
                code,
                "the node's database is unavailable; nothing was stored, try again shortly",
            )
        }
        ErrorCode::StorageFull => {
            tracing::error!(%error, "the database's disk is full");
            api_error(
                code,
                "the node's storage is full; nothing was stored, try again once space is freed",
            )
        }
        _ => api_error(code, error.to_string()),
    }
}

/// A failure inside the node: logged, answered generically.
pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
    domain_error(ErrorCode::Internal, &error)
}

/// An argument the client got wrong.
pub(crate) fn invalid_argument(message: impl Into<String>) -> ApiError {
    api_error(ErrorCode::InvalidArgument, message)
}

/// A value given for argument `name` that does not parse.
pub(crate) fn invalid_value(name: &str, e: impl std::fmt::Display) -> ApiError {
    invalid_argument(format!("Invalid value for argument \"{name}\": {e}"))
}

/// A store error with its code: a query that does not fit its schema (a
/// filter or ordering) is the client's to fix, anything else is internal.
pub(crate) fn store_error(e: hoffnung_store::StoreError) -> ApiError {
    domain_error(e.code(), &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_in_the_log() {
        let e = domain_error(
            ErrorCode::Internal,
            &"database error: no such table: entries",
        );
        assert!(!e.message.contains("no such table"));
        let e = internal("database error: no such table: entries");
        assert!(!e.message.contains("no such table"));
        let e = domain_error(ErrorCode::SeqNumGap, &"claimed seq num of 26");
        assert_eq!(e.message, "claimed seq num of 26");
        let code = e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
        assert_eq!(code, Some(async_graphql::Value::from("SEQ_NUM_GAP")));
    }
}
