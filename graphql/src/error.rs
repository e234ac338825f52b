//! The one place where domain errors become GraphQL errors.

/// A GraphQL error with a stable `extensions.code`.
pub type ApiError = async_graphql::Error;

use async_graphql::ErrorExtensions;

/// An error whose message tells the client what was wrong and whose
/// `extensions.code` a program can match on.
pub fn api_error(code: &'static str, message: impl Into<String>) -> ApiError {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// A domain error as a GraphQL error. Rejections of input tell the client
/// what was wrong; internal failures are logged and answered generically,
/// so database details never reach clients.
pub fn domain_error(code: &'static str, error: &dyn std::fmt::Display) -> ApiError {
    if code == "INTERNAL" {
        tracing::error!(%error, "request failed inside the node");
        api_error(code, "internal error; the node's log has the details")
    } else {
        api_error(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_in_the_log() {
        let e = domain_error("INTERNAL", &"database error: no such table: entries");
        assert!(!e.message.contains("no such table"));
        let e = domain_error("SEQ_NUM_GAP", &"claimed seq num of 26");
        assert_eq!(e.message, "claimed seq num of 26");
        let code = e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
        assert_eq!(code, Some(async_graphql::Value::from("SEQ_NUM_GAP")));
    }
}
