//! The hoffnung node as a library: [`Node::bind`] wires the event store, the
//! schema registry and the GraphQL API behind an axum HTTP server and returns
//! a handle. The binary (`src/main.rs`) only turns the command line into a
//! [`NodeConfig`]. The library never reads the environment or files.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod apps;
mod blobs;
mod graphql_http;
mod http;
mod metrics;
mod serve;
mod websockets;

pub use websockets::low_priority_runtime;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hoffnung_blobs::{BlobError, Blobs};
use hoffnung_core::SchemaId;
use hoffnung_graphql::{Api, SubscriptionHub, SubscriptionLimits};
use hoffnung_materializer::{Materializer, MaterializerConfig, MaterializerError};
pub use hoffnung_replication::ReplicationConfig;
use hoffnung_replication::{Replication, ReplicationError};
use hoffnung_schema_registry::{Pipeline, SchemaRegistry};
use hoffnung_store::{Store, StoreConfig, StoreError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use serve::{HttpLimits, DEFAULT_MAX_BODY};

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `sqlite:<path>` (created if missing) or `postgres://…`.
    pub database_url: String,
    /// Where the HTTP server listens; port 0 picks a free port.
    pub http_bind: SocketAddr,
    /// Schema ids this node accepts; `None`: all.
    pub allow_schema_ids: Option<HashSet<SchemaId>>,
    pub store: StoreConfig,
    /// `None`: no materializer runs (entries pile up for a later start).
    pub materializer: Option<MaterializerConfig>,
    /// `None`: no networking, no replication.
    pub replication: Option<ReplicationConfig>,
    /// The largest page of a collection query.
    pub max_page_size: u32,
    /// Subscriptions the node holds at most (`TOO_MANY_SUBSCRIPTIONS` beyond).
    pub max_subscriptions: usize,
    /// Subscriptions one WebSocket connection holds at most.
    pub max_subscriptions_per_connection: usize,
    /// Where blob files are kept (created if missing); `None`: no blob
    /// files, `/blobs/…` answers 404.
    pub blobs_dir: Option<PathBuf>,
    /// Bounds of the HTTP server: connections, timeouts, bodies, origins.
    pub http: HttpLimits,
    /// Serve the built-in apps (the chat app at `/apps/chat/`).
    pub apps: bool,
}

impl NodeConfig {
    /// A node on `database_url`, listening on 127.0.0.1 at a free port.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            http_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_schema_ids: None,
            store: StoreConfig::default(),
            materializer: Some(MaterializerConfig::default()),
            replication: None,
            max_page_size: hoffnung_graphql::DEFAULT_MAX_PAGE,
            max_subscriptions: hoffnung_graphql::DEFAULT_MAX_SUBSCRIPTIONS,
            max_subscriptions_per_connection:
                hoffnung_graphql::DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            blobs_dir: None,
            http: HttpLimits::default(),
            apps: true,
        }
    }
}

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("could not open the database: {0}")]
    Store(#[from] StoreError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start the materializer: {0}")]
    Materializer(#[from] MaterializerError),
    #[error("could not start replication: {0}")]
    Replication(#[from] ReplicationError),
    #[error("could not keep blob files: {0}")]
    Blobs(#[from] BlobError),
    #[error("could not build the GraphQL schema: {0}")]
    Schema(#[from] async_graphql::dynamic::SchemaError),
    #[error("HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
    #[error("node task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Keeps [`metrics::Metrics`] told whether the materializer is behind.
fn track_lag(
    store: &Store,
    materializer: &Arc<Materializer>,
    metrics: Arc<metrics::Metrics>,
    tasks: &TaskTracker,
    stop: CancellationToken,
) {
    let store = store.clone();
    let mut appended = store.appended();
    let mut progress = materializer.progress();
    tasks.spawn(async move {
        loop {
            let progressed = tokio::select! {
                changed = appended.changed() => match changed {
                    Ok(()) => false,
                    Err(_) => break,
                },
                changed = progress.changed() => match changed {
                    Ok(()) => true,
                    Err(_) => break,
                },
                () = stop.cancelled() => break,
            };
            if !progressed {
                metrics.appended();
                continue;
            }
            let cursor = *progress.borrow_and_update();
            let last = store.last_entry_id().await;
            if last.is_ok_and(|last| cursor >= last) {
                metrics.caught_up();
            }
        }
    });
}

/// A running node.
pub struct Node {
    addr: SocketAddr,
    store: Store,
    registry: Arc<SchemaRegistry>,
    pipeline: Pipeline,
    materializer: Option<Arc<Materializer>>,
    replication: Option<Arc<Replication>>,
    blobs: Option<Blobs>,
    subscriptions: SubscriptionHub,
    /// Cancelled to stop the node.
    stop: CancellationToken,
    /// The node's own tasks (taking up new schemas, lag tracking, WebSockets).
    tasks: TaskTracker,
    /// Serves HTTP, then stops every part in order.
    task: JoinHandle<Result<(), NodeError>>,
}

/// Every task a node runs, to tell whether any is left after it stopped.
#[derive(Clone)]
pub struct NodeTasks {
    trackers: Vec<TaskTracker>,
}

impl NodeTasks {
    /// Tasks still running, over the node's own and its parts'.
    pub fn running(&self) -> usize {
        self.trackers.iter().map(TaskTracker::len).sum()
    }
}

impl Node {
    /// Opens the store, loads the schemas, and starts serving HTTP.
    pub async fn bind(config: NodeConfig) -> Result<Self, NodeError> {
        // The port first: a port in use must not leave a store, a
        // materializer or a swarm behind.
        let listener = TcpListener::bind(config.http_bind)
            .await
            .map_err(|source| NodeError::Bind {
                addr: config.http_bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(NodeError::Http)?;
        let store = Store::connect(&config.database_url, config.store.clone()).await?;
        let registry = match SchemaRegistry::load(&store, config.allow_schema_ids.clone()).await {
            Ok(r) => Arc::new(r),
            Err(e) => {
                store.close().await;
                return Err(e.into());
            }
        };
        let materializer = match &config.materializer {
            Some(c) => {
                match Materializer::start(store.clone(), registry.clone(), c.clone()).await {
                    Ok(m) => Some(Arc::new(m)),
                    Err(e) => {
                        store.close().await;
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        // Whatever started is stopped again if a later part fails.
        let tear_down = |materializer: Option<Arc<Materializer>>| {
            let store = store.clone();
            async move {
                if let Some(m) = materializer {
                    m.shutdown().await;
                }
                store.close().await;
            }
        };
        // Every entry comes in through it: publish, replication.
        let pipeline = Pipeline::new(store.clone(), registry.clone());
        // One registry for the node's metrics and libp2p's.
        let mut metrics_registry = prometheus_client::registry::Registry::default();
        let replication = match &config.replication {
            Some(c) => {
                match Replication::start(pipeline.clone(), c.clone(), &mut metrics_registry).await {
                    Ok(r) => Some(Arc::new(r)),
                    Err(e) => {
                        tear_down(materializer).await;
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        // Its task starts with the first subscription and ends at shutdown.
        let subscriptions = SubscriptionHub::new(
            store.clone(),
            SubscriptionLimits {
                max_subscriptions: config.max_subscriptions,
                max_per_connection: config.max_subscriptions_per_connection,
            },
        );
        let api = Api {
            store: store.clone(),
            registry: registry.clone(),
            pipeline: pipeline.clone(),
            views_maintained: materializer.is_some(),
            max_page: config.max_page_size,
            subscriptions: subscriptions.clone(),
        };
        let started = match hoffnung_graphql::LiveSchema::new(api) {
            Ok(s) => match &config.blobs_dir {
                Some(dir) => Blobs::start(store.clone(), registry.clone(), dir.clone())
                    .await
                    .map(|b| (Arc::new(s), Some(b)))
                    .map_err(NodeError::from),
                None => Ok((Arc::new(s), None)),
            },
            Err(e) => Err(e.into()),
        };
        let (schema, blobs) = match started {
            Ok(started) => started,
            Err(e) => {
                if let Some(r) = &replication {
                    r.shutdown().await;
                }
                tear_down(materializer).await;
                return Err(e);
            }
        };
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let metrics = Arc::new(metrics::Metrics::new(
            metrics_registry,
            &store,
            &registry,
            materializer.as_ref(),
            replication.as_ref(),
            blobs.as_ref(),
            &schema,
        ));
        let parts = metrics::NodeParts {
            store: store.clone(),
            registry: registry.clone(),
            materializer: materializer.clone(),
            replication: replication.clone(),
            metrics: metrics.clone(),
        };
        if let Some(m) = &materializer {
            track_lag(&store, m, metrics, &tasks, stop.clone());
        }
        let websocket_runtime = Arc::new(websockets::WebSocketRuntime::start());
        let app = http::router(
            http::AppState {
                schema: schema.clone(),
                tasks: tasks.clone(),
                stop: stop.clone(),
                parts,
                parsed: Default::default(),
                blobs: blobs.clone(),
                limits: Arc::new(config.http.clone()),
                websockets: websocket_runtime.clone(),
            },
            config.apps,
        );
        // New schemas become queryable as soon as the registry has them,
        // and with a materializer, once their tables exist.
        let mut schemas = match &materializer {
            Some(m) => m.tables_ready(),
            None => registry.subscribe(),
        };
        let stop_refresh = stop.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    changed = schemas.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        // Off the runtime's workers: it may drop a whole
                        // build, which takes time in proportion to the schemas.
                        let live = schema.clone();
                        if let Err(e) = tokio::task::spawn_blocking(move || live.refresh()).await {
                            tracing::error!(error = %e, "taking up new schemas panicked");
                        }
                    }
                    () = stop_refresh.cancelled() => break,
                }
            }
        });
        let server_store = store.clone();
        let server_materializer = materializer.clone();
        let server_replication = replication.clone();
        let server_blobs = blobs.clone();
        let server_subscriptions = subscriptions.clone();
        let (server_stop, server_tasks) = (stop.clone(), tasks.clone());
        let mut limits = config.http.clone();
        limits.max_connections = serve::fitting_connections(limits.max_connections);
        let task = tokio::spawn(async move {
            // WebSockets end with the same token, so this does not wait
            // for subscribers to leave.
            serve::serve(listener, app, &limits, server_stop.clone()).await;
            // In order: no more entries from peers, the views of what is
            // stored written, then the store.
            server_stop.cancel();
            if let Some(r) = server_replication {
                r.shutdown().await;
            }
            if let Some(m) = server_materializer {
                m.shutdown().await;
            }
            if let Some(b) = server_blobs {
                b.shutdown().await;
            }
            server_tasks.close();
            server_tasks.wait().await;
            // The WebSocket connections ran there: it goes once they ended
            // (dropping it would end them without their close frames).
            drop(websocket_runtime);
            // The WebSockets ended with their subscriptions: the hub's
            // reader of the change feed goes before the store.
            server_subscriptions.shutdown().await;
            server_store.close().await;
            Ok(())
        });
        tracing::info!(%addr, "GraphQL on http://{addr}/graphql");
        Ok(Self {
            addr,
            store,
            registry,
            pipeline,
            materializer,
            replication,
            blobs,
            subscriptions,
            stop,
            tasks,
            task,
        })
    }

    /// The address the HTTP server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The GraphQL endpoint URL.
    pub fn graphql_url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn registry(&self) -> &Arc<SchemaRegistry> {
        &self.registry
    }

    /// The node's ingest pipeline (what `publish` and replication use).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The materializer, unless the node runs without one.
    pub fn materializer(&self) -> Option<&Arc<Materializer>> {
        self.materializer.as_ref()
    }

    /// Replication, if the node runs it.
    pub fn replication(&self) -> Option<&Arc<Replication>> {
        self.replication.as_ref()
    }

    /// The blob files, if the node keeps them.
    pub fn blobs(&self) -> Option<&Blobs> {
        self.blobs.as_ref()
    }

    /// Asks the node to stop: no new requests, running ones finish,
    /// subscriptions end; [`Node::join`] waits for the rest.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// The node's tasks and those of its parts (none once it has stopped).
    pub fn tasks(&self) -> NodeTasks {
        let mut trackers = vec![self.tasks.clone(), self.store.tasks().clone()];
        trackers.extend(self.materializer.iter().map(|m| m.tasks().clone()));
        trackers.extend(self.replication.iter().map(|r| r.tasks().clone()));
        trackers.extend(self.blobs.iter().map(|b| b.tasks().clone()));
        trackers.push(self.subscriptions.tasks().clone());
        NodeTasks { trackers }
    }

    /// Waits until the node has stopped.
    pub async fn join(self) -> Result<(), NodeError> {
        self.task.await?
    }
}
