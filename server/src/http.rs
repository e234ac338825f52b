//! HTTP routes: GraphQL on `POST /graphql`, GraphiQL on `GET /graphql`.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{Html, IntoResponse};
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
        .route("/graphql", get(graphiql).post(graphql))
        .with_state(schema)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

async fn graphql(
    State(schema): State<Arc<LiveSchema>>,
    request: GraphQLRequest,
) -> GraphQLResponse {
    schema.get().execute(request.into_inner()).await.into()
}

async fn graphiql() -> impl IntoResponse {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}
