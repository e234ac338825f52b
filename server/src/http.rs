//! HTTP routes: GraphQL on `POST /graphql`, GraphiQL or subscriptions on
//! `GET /graphql`, and `/health`, `/metrics`, `/status` for operators.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hoffnung_graphql::LiveSchema;

use crate::metrics::{NodeParts, RequestKind};
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

/// Request bodies up to 4 MiB: a maximal operation (1 MiB) as hex, plus room.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: Arc<LiveSchema>,
    pub(crate) parts: NodeParts,
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
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

async fn graphql(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    let request = request.into_inner();
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

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    match state.parts.metrics().await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
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
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| GraphQLWebSocket::new(socket, executor, protocol).serve())
}
