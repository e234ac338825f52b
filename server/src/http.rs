//! HTTP routes: GraphQL on `POST /graphql`, GraphiQL on `GET /graphql`.

use std::sync::Arc;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hoffnung_graphql::LiveSchema;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

/// Request bodies up to 4 MiB: a maximal operation (1 MiB) as hex, plus room.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

pub(crate) fn router(schema: Arc<LiveSchema>) -> Router {
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
        .with_state(schema)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

async fn graphql(
    State(schema): State<Arc<LiveSchema>>,
    request: GraphQLRequest,
) -> GraphQLResponse {
    schema.execute(request.into_inner()).await.into()
}

/// `GET /graphql`: a WebSocket upgrade (graphql-ws or
/// graphql-transport-ws) serves subscriptions; anything else gets GraphiQL.
async fn graphiql_or_subscriptions(
    State(schema): State<Arc<LiveSchema>>,
    request: Request,
) -> Response {
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
    let executor = schema.get();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| GraphQLWebSocket::new(socket, executor, protocol).serve())
}
