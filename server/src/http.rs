//! HTTP routes: GraphQL on `/graphql` (see `graphql_http.rs`), blob files
//! on `/blobs/…` (see `blobs.rs`), the apps on `/apps/…` (see `apps.rs`),
//! and `/health`, `/metrics`, `/status` for operators.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hoffnung_graphql::LiveSchema;

use crate::graphql_http;
use crate::metrics::NodeParts;
use crate::serve::HttpLimits;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: Arc<LiveSchema>,
    /// The node's: a WebSocket outlives its HTTP request, so the node
    /// tracks it and ends it at shutdown.
    pub(crate) tasks: TaskTracker,
    pub(crate) stop: CancellationToken,
    pub(crate) parts: NodeParts,
    pub(crate) parsed: Arc<ParsedQueries>,
    /// `None`: the node keeps no blob files (every blob is a 404).
    pub(crate) blobs: Option<hoffnung_blobs::Blobs>,
    pub(crate) limits: Arc<HttpLimits>,
    /// Where WebSocket connections run (see [`crate::websockets`]).
    pub(crate) websockets: Arc<crate::websockets::WebSocketRuntime>,
}

/// Parsed query documents by query text. Clients send the same few
/// queries over and over (`nextArgs`, `publish` with variables), and
/// parsing them was about 6 % of the node's CPU under publish load.
#[derive(Default)]
pub(crate) struct ParsedQueries {
    docs: std::sync::Mutex<std::collections::HashMap<String, ExecutableDocument>>,
}

/// Distinct queries kept; the map starts over when it is full.
const PARSED_QUERIES: usize = 256;
/// Longer query texts are parsed each time and not kept.
const PARSED_QUERY_LEN: usize = 4096;

impl ParsedQueries {
    /// Sets the parsed document of `request` from the cache, or parses it
    /// and keeps it. A query that does not parse is left to the executor,
    /// which reports the error.
    pub(crate) fn prepare(&self, request: &mut async_graphql::Request) {
        if request.query.len() > PARSED_QUERY_LEN {
            return;
        }
        let cached = self
            .docs
            .lock()
            .ok()
            .and_then(|docs| docs.get(&request.query).cloned());
        if let Some(doc) = cached {
            request.set_parsed_query(doc);
            return;
        }
        if let Ok(doc) = async_graphql::parser::parse_query(&request.query) {
            if let Ok(mut docs) = self.docs.lock() {
                if docs.len() >= PARSED_QUERIES {
                    docs.clear();
                }
                docs.insert(request.query.clone(), doc.clone());
            }
            request.set_parsed_query(doc);
        }
    }
}

/// The node's routes; `apps`: with the built-in apps under `/apps/`.
pub(crate) fn router(state: AppState, apps: bool) -> Router {
    // By default as upstream: any origin may call the API (p2panda web
    // apps call nodes from their own origin); an operator may name them.
    let origins = match &state.limits.origins {
        None => AllowOrigin::any(),
        Some(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|o| axum::http::HeaderValue::from_str(o).ok()),
        ),
    };
    let cors = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::OPTIONS,
        ])
        .allow_headers([axum::http::header::CONTENT_TYPE]);
    let router = if apps {
        crate::apps::routes()
    } else {
        Router::new()
    };
    router
        .route(
            "/graphql",
            get(graphql_http::graphiql_or_subscriptions).post(graphql_http::graphql),
        )
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/blobs/{document}", get(crate::blobs::by_document))
        .route("/blobs/{document}/{view}", get(crate::blobs::by_view))
        .with_state(state)
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

/// `GET /health`: 200 when the database answers, 503 otherwise.
async fn health(State(state): State<AppState>) -> Response {
    match state.parts.store.ping().await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "unavailable", "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// `GET /metrics`: the OpenMetrics text format (Prometheus reads it).
async fn metrics(State(state): State<AppState>) -> Response {
    match state.parts.metrics().await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// `GET /status`: what `hoffnung status` shows.
async fn status(State(state): State<AppState>) -> Response {
    match state.parts.status().await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_queries_are_kept_and_bounded() {
        let cache = ParsedQueries::default();
        let query = "query { nextArgs(publicKey: \"00\") { logId } }";
        for _ in 0..2 {
            let mut request = async_graphql::Request::new(query);
            cache.prepare(&mut request);
            assert!(request.parsed_query().is_ok());
        }
        assert_eq!(cache.docs.lock().unwrap().len(), 1);

        // Not kept: a query that does not parse (the executor reports it).
        let mut broken = async_graphql::Request::new("query {");
        cache.prepare(&mut broken);
        assert!(broken.parsed_query().is_err());
        assert_eq!(cache.docs.lock().unwrap().len(), 1);

        for i in 0..PARSED_QUERIES + 10 {
            let mut request = async_graphql::Request::new(format!("query Q{i} {{ a }}"));
            cache.prepare(&mut request);
        }
        assert!(cache.docs.lock().unwrap().len() <= PARSED_QUERIES);
    }
}
