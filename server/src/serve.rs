//! The HTTP accept loop, with the bounds a public server needs and
//! `axum::serve` does not set: a cap on open connections below the process's
//! descriptor limit (so that accepting never fails with "too many open
//! files" and the database and blob files always find a descriptor), a
//! deadline for each request's header (which also ends idle keep-alive
//! connections), and a stop that does not wait for clients.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

/// Bounds of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections open at once (WebSockets included); further clients
    /// wait in the listen backlog. Lowered at start to fit the descriptor
    /// limit.
    pub max_connections: usize,
    /// Time a client has to send a request's header, from the moment the
    /// connection is ready for it (opened, or the previous answer sent):
    /// also how long an idle connection is kept.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body.
    pub body_timeout: Duration,
    /// Largest request body (`/graphql`); 413 beyond.
    pub max_body: usize,
    /// Time a WebSocket has to send `connection_init`.
    pub init_timeout: Duration,
    /// Origins allowed to call the API from a browser (CORS) and to open a
    /// WebSocket; `None`: any.
    pub origins: Option<Vec<String>>,
}

/// Request bodies up to 4 MiB: a publish of the largest operation the node
/// takes (1 MiB, as hex) fits, so that its refusal is the precise
/// `PAYLOAD_TOO_LARGE` of the operation rather than of the body.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_body: DEFAULT_MAX_BODY,
            init_timeout: Duration::from_secs(10),
            origins: None,
        }
    }
}

/// Descriptors kept free of connections: database files and sockets,
/// libp2p, logs.
const RESERVED_DESCRIPTORS: u64 = 256;
/// How long open requests may take to finish once the node stops.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// Pause after an accept error (out of descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The connection cap that fits the process's descriptor limit: each
/// connection may hold two (its socket and a blob file it serves).
pub(crate) fn fitting_connections(wanted: usize) -> usize {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    let fits = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS) / 2)
        .unwrap_or(usize::MAX)
        .max(1);
    if wanted > fits {
        tracing::warn!(
            wanted,
            fits,
            descriptor_limit = soft,
            "fewer HTTP connections than configured: the descriptor limit is too low"
        );
    }
    wanted.min(fits)
}

/// The slot of a connection, in each request's extensions: a WebSocket
/// keeps it (and so counts against the cap) until it closes.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// Serves `app` on `listener` until `stop`; returns once every connection
/// has closed (open requests get [`STOP_GRACE`] to finish).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpLimits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        () = stop.cancelled() => break,
                    }
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new(slot));
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(slot.clone());
                app.clone().call(request.map(axum::body::Body::new))
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let stop = stop.clone();
        connections.spawn(async move {
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result),
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    if let Ok(result) = tokio::time::timeout(STOP_GRACE, connection).await {
                        log_end(result);
                    }
                }
            }
        });
    }
    connections.close();
    connections.wait().await;
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts and clients that go away are routine.
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}
