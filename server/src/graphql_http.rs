//! `/graphql` over HTTP: `POST` runs a request, `GET` upgrades to a
//! WebSocket for subscriptions or serves GraphiQL. The body is read here,
//! not by async-graphql's extractor, so that its size and time are bounded
//! before it is read and only JSON runs (a form or `text/plain` body from
//! another site's page would skip the browser's CORS preflight).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use futures::{SinkExt, StreamExt};

use hoffnung_store::ErrorCode;

use crate::http::AppState;
use crate::metrics::RequestKind;
use crate::serve::{ConnectionSlot, HttpLimits};

/// `POST /graphql`.
pub(crate) async fn graphql(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(refusal) = check_content_type(&parts.headers) {
        return refusal;
    }
    let body = match read_body(body, &parts.headers, &state.limits).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    // Batches are refused as upstream refuses them (status and body).
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return (StatusCode::BAD_REQUEST, "UnsupportedBatch").into_response();
    }
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let mut message = format!("the body is not a GraphQL request: {e}");
            message.truncate(hoffnung_graphql::MAX_PARSE_ERROR);
            return refuse(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message);
        }
    };
    state.parsed.prepare(&mut request);
    let kind = if request.query.trim_start().starts_with("mutation") {
        RequestKind::Mutation
    } else {
        RequestKind::Query
    };
    let started = Instant::now();
    let response = state.schema.execute(request).await;
    state.parts.metrics.observe_request(kind, started.elapsed());
    GraphQLResponse::from(response).into_response()
}

/// Only `application/json` (any parameters) runs.
#[allow(clippy::result_large_err)]
fn check_content_type(headers: &HeaderMap) -> Result<(), Response> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(t) if t.eq_ignore_ascii_case("application/json") => Ok(()),
        other => Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!(
                "a GraphQL request is sent as `Content-Type: application/json`, not {}",
                other.map_or("without a content type".to_string(), |t| format!("`{t}`"))
            ),
        )),
    }
}

/// The body, if it is at most `max_body` bytes and arrives within
/// `body_timeout`. A declared length over the limit is refused without
/// keeping a byte of it.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limits: &HttpLimits,
) -> Result<axum::body::Bytes, Response> {
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("request bodies are limited to {} bytes", limits.max_body),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(too_large());
    }
    // Read chunk by chunk so that going over the limit is told apart from a
    // broken body (to_bytes reports both as one error).
    let collect = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BodyError::Broken)?;
            if bytes.len() + chunk.len() > limits.max_body {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(axum::body::Bytes::from(bytes))
    };
    match tokio::time::timeout(limits.body_timeout, collect).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(BodyError::TooLarge)) => Err(too_large()),
        Ok(Err(BodyError::Broken(e))) => Err(refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("the request body could not be read: {e}"),
        )),
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                limits.body_timeout.as_secs()
            ),
        )),
    }
}

enum BodyError {
    TooLarge,
    Broken(axum::Error),
}

/// A refusal in the shape of a GraphQL error, with a code as every other.
fn refuse(status: StatusCode, code: ErrorCode, message: String) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    });
    (status, axum::Json(body)).into_response()
}

/// Whether a browser page of `headers`' origin may use the API.
pub(crate) fn origin_allowed(limits: &HttpLimits, headers: &HeaderMap) -> bool {
    let (Some(allowed), Some(origin)) = (&limits.origins, headers.get(header::ORIGIN)) else {
        // Any origin, or not a browser (browsers always send Origin on a
        // WebSocket handshake).
        return true;
    };
    allowed.iter().any(|a| a.as_bytes() == origin.as_bytes())
}

/// Longest close reason a WebSocket close frame can carry (RFC 6455 5.5:
/// control frames hold 125 bytes, two of them the code).
const MAX_CLOSE_REASON: usize = 123;

/// A close frame whose reason fits the protocol (async-graphql puts whole
/// parse errors there).
fn fit_close_frame(message: Message) -> Message {
    match message {
        Message::Close(Some(CloseFrame { code, reason })) if reason.len() > MAX_CLOSE_REASON => {
            let mut end = MAX_CLOSE_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            Message::Close(Some(CloseFrame {
                code,
                reason: reason.as_str()[..end].into(),
            }))
        }
        other => other,
    }
}

/// `GET /graphql`: a WebSocket upgrade (graphql-ws or
/// graphql-transport-ws) serves subscriptions; anything else gets GraphiQL.
pub(crate) async fn graphiql_or_subscriptions(
    State(state): State<AppState>,
    request: Request,
) -> Response {
    let wants_socket = request
        .headers()
        .get(header::UPGRADE)
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
    if !origin_allowed(&state.limits, request.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::OriginNotAllowed,
            "this node does not accept WebSockets from that origin".into(),
        );
    }
    let (mut parts, _body) = request.into_parts();
    let slot = parts.extensions.get::<ConnectionSlot>().cloned();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    // The schema as it is now; a new schema needs a new connection.
    let executor = match state.schema.whole().await {
        Ok(schema) => schema,
        Err(e) => {
            tracing::error!(error = %e, "building the GraphQL API failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "the API could not be built".into(),
            );
        }
    };
    let init_timeout = state.limits.init_timeout;
    let (tasks, stop) = (state.tasks, state.stop);
    let runtime = state.websockets.handle().cloned();
    // A stop between the answer and the upgrade waits for the connection
    // too, so that the client gets its close frame.
    let upgrading = tasks.token();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let connection = async move {
                let _upgrading = upgrading;
                // Counts against the connection cap while it is open.
                let _slot = slot;
                let (mut sink, stream) = socket.split();
                let initialised = Arc::new(AtomicBool::new(false));
                let ended = {
                    let on_init = initialised.clone();
                    let sink = (&mut sink)
                        .with(|m| futures::future::ready(Ok::<_, axum::Error>(fit_close_frame(m))));
                    // Its own subscription count, for the per-connection cap.
                    let serve = GraphQLWebSocket::new_with_pair(sink, stream, executor, protocol)
                        .with_data(hoffnung_graphql::connection_data())
                        .on_connection_init(move |_| {
                            on_init.store(true, Ordering::Release);
                            futures::future::ready(Ok(async_graphql::Data::default()))
                        })
                        .serve();
                    let init_deadline = async {
                        tokio::time::sleep(init_timeout).await;
                        if initialised.load(Ordering::Acquire) {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::select! {
                        () = serve => None,
                        () = init_deadline => Some((4408, "Connection initialisation timeout")),
                        () = stop.cancelled() => Some((1001, "the node is stopping")),
                    }
                };
                if let Some((code, reason)) = ended {
                    let close = Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    }));
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(500),
                        sink.send(close),
                    )
                    .await;
                }
            };
            tasks.track_future(async move {
                match runtime {
                    // (Its socket stays with the node's I/O driver; only the
                    // work moves.)
                    Some(runtime) => {
                        let _ = runtime.spawn(connection).await;
                    }
                    None => connection.await,
                }
            })
        })
}
