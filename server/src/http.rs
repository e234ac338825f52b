//! HTTP routes: GraphQL on `POST /graphql`, GraphiQL or subscriptions on
//! `GET /graphql`, blob files on `/blobs/…` (see `blobs.rs`), and `/health`,
//! `/metrics`, `/status` for operators.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hoffnung_graphql::LiveSchema;

use crate::metrics::{NodeParts, RequestKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

/// Request bodies up to 4 MiB: a maximal operation (1 MiB) as hex, plus room.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

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
    fn prepare(&self, request: &mut async_graphql::Request) {
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

pub(crate) fn router(state: AppState) -> Router {
    // Same as upstream: any origin may call the API (browser apps).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::OPTIONS,
        ])
        .allow_headers([axum::http::header::CONTENT_TYPE]);
    Router::new()
        .route("/graphql", get(graphiql_or_subscriptions).post(graphql))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/blobs/{document}", get(crate::blobs::by_document))
        .route("/blobs/{document}/{view}", get(crate::blobs::by_view))
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

async fn graphql(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    let mut request = request.into_inner();
    state.parsed.prepare(&mut request);
    let kind = if request.query.trim_start().starts_with("mutation") {
        RequestKind::Mutation
    } else {
        RequestKind::Query
    };
    let started = Instant::now();
    let response = state.schema.execute(request).await;
    state.parts.metrics.observe_request(kind, started.elapsed());
    response.into()
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

/// `GET /graphql`: a WebSocket upgrade (graphql-ws or
/// graphql-transport-ws) serves subscriptions; anything else gets GraphiQL.
async fn graphiql_or_subscriptions(State(state): State<AppState>, request: Request) -> Response {
    let wants_socket = request
        .headers()
        .get(axum::http::header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !wants_socket {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .finish(),
        )
        .into_response();
    }
    let (mut parts, _body) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    // The schema as it is now; a new schema needs a new connection.
    let executor = state.schema.get();
    let (tasks, stop) = (state.tasks, state.stop);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            // Its own subscription count, for the per-connection cap.
            let serve = GraphQLWebSocket::new(socket, executor, protocol)
                .with_data(hoffnung_graphql::connection_data())
                .serve();
            tasks.track_future(async move {
                tokio::select! {
                    () = serve => {}
                    () = stop.cancelled() => {}
                }
            })
        })
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
