//! The one place where domain errors become GraphQL errors.

/// A GraphQL error with a stable `extensions.code`.
pub type ApiError = async_graphql::Error;

use async_graphql::ErrorExtensions;

/// An error whose message tells the client what was wrong and whose
/// `extensions.code` a program can match on.
pub fn api_error(code: &'static str, message: impl Into<String>) -> ApiError {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}
