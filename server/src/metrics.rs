//! Node metrics (`GET /metrics`: the OpenMetrics text of a
//! `prometheus-client` registry) and the JSON status (`GET /status`) the
//! `hoffnung status` command shows.
//!
//! Counters live where the events happen (the store counts ingest outcomes,
//! replication its sessions); a collector reads them while a scrape is
//! encoded. Counts in the database need an async read, which encoding cannot
//! do: a scrape reads them first and sets gauges. Request latencies are
//! observed here; libp2p registers its own metrics (`libp2p_*`) into the
//! same registry.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hoffnung_blobs::{BlobStats, Blobs};
use hoffnung_graphql::{LiveSchema, SubscriptionHub};
use hoffnung_materializer::Materializer;
use hoffnung_replication::Replication;
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{Backend, Store, StoreError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use serde_json::{json, Value};

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What kind of GraphQL request was timed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequestKind {
    Query,
    Mutation,
}

type RequestLabels = [(&'static str, &'static str); 1];

impl RequestKind {
    fn labels(self) -> RequestLabels {
        let operation = match self {
            RequestKind::Query => "query",
            RequestKind::Mutation => "mutation",
        };
        [("operation", operation)]
    }
}

/// Why `GET /metrics` could not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScrapeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encoding the metrics failed")]
    Encode(#[from] fmt::Error),
}

/// What a scrape read from the database.
struct StoredCounts {
    entries: u64,
    documents: u64,
    /// The materializer's cursor and backlog, if it runs.
    materializer: Option<(i64, u64)>,
}

/// Gauges of the counts a scrape reads from the database.
struct StoredGauges {
    entries: Gauge<u64, AtomicU64>,
    documents: Gauge<u64, AtomicU64>,
    materializer: Option<MaterializerGauges>,
}

struct MaterializerGauges {
    cursor: Gauge,
    backlog: Gauge<u64, AtomicU64>,
    lag: Gauge<f64, AtomicU64>,
}

/// Metrics of one node.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    stored: StoredGauges,
    /// Held from setting [`Self::stored`] until the text is encoded, so that
    /// a scrape shows the counts it read, not those of a concurrent one.
    scrape: Mutex<()>,
    started: Instant,
    /// Since when the materializer has been behind the store (None: caught up).
    behind_since: Mutex<Option<Instant>>,
}

impl Metrics {
    /// The node's metrics in `registry` (which may hold libp2p's already).
    pub(crate) fn new(
        mut registry: Registry,
        store: &Store,
        schemas: &Arc<SchemaRegistry>,
        materializer: Option<&Arc<Materializer>>,
        replication: Option<&Arc<Replication>>,
        blobs: Option<&Blobs>,
        api: &Arc<LiveSchema>,
    ) -> Self {
        let started = Instant::now();
        registry.register_collector(Box::new(ProcessCollector));
        let node = registry.sub_registry_with_prefix("hoffnung");
        let requests: Family<RequestLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        // Both series exist from the start, at zero.
        for kind in [RequestKind::Query, RequestKind::Mutation] {
            requests.get_or_create_owned(&kind.labels());
        }
        node.register_with_unit(
            "graphql_request_duration",
            "Time to answer GraphQL requests over HTTP, by operation type",
            Unit::Seconds,
            requests.clone(),
        );
        let stored = StoredGauges {
            entries: Gauge::default(),
            documents: Gauge::default(),
            materializer: materializer.map(|_| MaterializerGauges {
                cursor: Gauge::default(),
                backlog: Gauge::default(),
                lag: Gauge::default(),
            }),
        };
        node.register(
            "entries",
            "Entries in the event store",
            stored.entries.clone(),
        );
        node.register(
            "documents",
            "Documents in the event store (one create each, whoever updated them)",
            stored.documents.clone(),
        );
        if let Some(m) = &stored.materializer {
            node.register(
                "materializer_cursor",
                "Id of the last entry the materialized views reflect",
                m.cursor.clone(),
            );
            node.register(
                "materializer_backlog_entries",
                "Entries stored but not yet materialized",
                m.backlog.clone(),
            );
            node.register_with_unit(
                "materializer_lag",
                "Seconds since the materializer was last caught up (0 when it is)",
                Unit::Seconds,
                m.lag.clone(),
            );
        }
        node.register_collector(Box::new(NodeCollector {
            store: store.clone(),
            schemas: schemas.clone(),
            materializer: materializer.cloned(),
            replication: replication.cloned(),
            blobs: blobs.cloned(),
            subscriptions: api.subscriptions().clone(),
            api: api.clone(),
            started,
        }));
        Self {
            registry,
            requests,
            stored,
            scrape: Mutex::new(()),
            started,
            behind_since: Mutex::new(None),
        }
    }

    pub(crate) fn observe_request(&self, kind: RequestKind, took: Duration) {
        self.requests
            .get_or_create(&kind.labels())
            .observe(took.as_secs_f64());
    }

    /// New entries were appended: the materializer is behind from now on,
    /// unless it already was.
    pub(crate) fn appended(&self) {
        if let Ok(mut b) = self.behind_since.lock() {
            b.get_or_insert_with(Instant::now);
        }
    }

    /// The materializer reached every stored entry.
    pub(crate) fn caught_up(&self) {
        if let Ok(mut b) = self.behind_since.lock() {
            *b = None;
        }
    }

    fn lag(&self) -> Duration {
        self.behind_since
            .lock()
            .ok()
            .and_then(|b| b.map(|t| t.elapsed()))
            .unwrap_or_default()
    }

    /// The exposition, with the counts a scrape read.
    fn encode(&self, counts: StoredCounts) -> Result<String, fmt::Error> {
        // A panic elsewhere while holding it leaves nothing half-written.
        let _scrape = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.stored.entries.set(counts.entries);
        self.stored.documents.set(counts.documents);
        if let (Some(g), Some((cursor, backlog))) = (&self.stored.materializer, counts.materializer)
        {
            g.cursor.set(cursor);
            g.backlog.set(backlog);
            let lag = if backlog == 0 {
                0.0
            } else {
                self.lag().as_secs_f64()
            };
            g.lag.set(lag);
        }
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Reads what other parts count, at each scrape (`hoffnung_*`).
struct NodeCollector {
    store: Store,
    schemas: Arc<SchemaRegistry>,
    materializer: Option<Arc<Materializer>>,
    replication: Option<Arc<Replication>>,
    blobs: Option<Blobs>,
    subscriptions: SubscriptionHub,
    api: Arc<LiveSchema>,
    started: Instant,
}

impl fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCollector").finish_non_exhaustive()
    }
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        // Counter names go without `_total`: the encoder appends it.
        let ingest = self.store.ingest_stats();
        counter(
            &mut encoder,
            "entries_ingested",
            "Entries accepted (publish, import, replication) since start.",
            ingest.accepted,
        )?;
        let mut rejected = encoder.encode_descriptor(
            "entries_rejected",
            "Entries rejected since start, by error code.",
            None,
            MetricType::Counter,
        )?;
        for (code, n) in &ingest.rejected {
            ConstCounter::new(*n).encode(rejected.encode_family(&[("code", code.as_str())])?)?;
        }
        if let Some(m) = &self.materializer {
            counter(
                &mut encoder,
                "materializer_views_refused",
                "Operations whose view the database refused (too large for a row or index); their documents keep the view before.",
                m.refused_views(),
            )?;
        }
        gauge(
            &mut encoder,
            "schemas",
            "Schemas this node knows and accepts (system schemas included).",
            None,
            self.schemas.schemas().len() as u64,
        )?;
        gauge(
            &mut encoder,
            "uptime",
            "Seconds since the node started.",
            Some(&Unit::Seconds),
            self.started.elapsed().as_secs_f64(),
        )?;
        if let Some(blobs) = &self.blobs {
            encode_blobs(&mut encoder, blobs.stats())?;
        }
        let subs = self.subscriptions.stats();
        gauge(
            &mut encoder,
            "subscriptions_open",
            "GraphQL subscriptions open.",
            None,
            subs.open as u64,
        )?;
        gauge(
            &mut encoder,
            "subscription_groups",
            "Distinct (schema, filters) among the open subscriptions: each change is evaluated once per group.",
            None,
            subs.groups as u64,
        )?;
        counter(
            &mut encoder,
            "subscription_queries",
            "Queries run to evaluate view changes for subscriptions since start.",
            subs.queries,
        )?;
        let builds = self.api.stats();
        counter(
            &mut encoder,
            "graphql_builds",
            "Builds of a part of the GraphQL API (the schemas a request names) or of the whole, since start.",
            builds.builds,
        )?;
        counter(
            &mut encoder,
            "graphql_built_schemas",
            "Schemas in those builds, summed: what building the API cost.",
            builds.schemas,
        )?;
        let Some(replication) = &self.replication else {
            return Ok(());
        };
        let s = replication.stats();
        gauge(
            &mut encoder,
            "peers",
            "Connected peers.",
            None,
            s.peers.len() as u64,
        )?;
        gauge(
            &mut encoder,
            "replication_sessions_open",
            "Replication sessions running.",
            None,
            s.sessions_open,
        )?;
        let counters = [
            (
                "replication_sessions_started",
                "Replication sessions started (by either side).",
                s.sessions_started,
            ),
            (
                "replication_entries_received",
                "Entries received from peers and stored.",
                s.entries_received,
            ),
            (
                "replication_entries_sent",
                "Entries sent to peers in sessions.",
                s.entries_sent,
            ),
            (
                "replication_entries_rejected",
                "Invalid entries received from peers.",
                s.entries_rejected,
            ),
            (
                "replication_gossip_sent",
                "Entries announced live with gossip.",
                s.gossip_sent,
            ),
            (
                "replication_peer_faults",
                "Times a peer was dropped for invalid data.",
                s.faults,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut encoder, name, help, value)?;
        }
        Ok(())
    }
}

/// The process's resident memory (`process_resident_memory_bytes`, the name
/// Prometheus client libraries share).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        match resident_memory_bytes() {
            Some(rss) => gauge(
                &mut encoder,
                "process_resident_memory",
                "Resident memory size in bytes.",
                Some(&Unit::Bytes),
                rss,
            ),
            None => Ok(()),
        }
    }
}

fn encode_blobs(encoder: &mut DescriptorEncoder, s: BlobStats) -> fmt::Result {
    gauge(
        encoder,
        "blobs_waiting",
        "Blob views waiting for pieces.",
        None,
        s.waiting,
    )?;
    for (name, help, value) in [
        (
            "blob_files_assembled",
            "Blob files written from their pieces since start.",
            s.assembled,
        ),
        (
            "blob_files_repaired",
            "Blob files found missing or damaged and written again since start.",
            s.repaired,
        ),
        (
            "blobs_invalid",
            "Blob views whose pieces contradict them (never served) since start.",
            s.invalid,
        ),
        (
            "blob_assemblies",
            "Blob file assemblies started since start (some found pieces missing).",
            s.attempts,
        ),
        (
            "blob_files_removed",
            "Blob files removed since start: no current view uses them.",
            s.removed,
        ),
    ] {
        counter(encoder, name, help, value)?;
    }
    Ok(())
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

fn gauge<N>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)
}

/// The parts of a node the metrics and status read.
#[derive(Clone)]
pub(crate) struct NodeParts {
    pub(crate) store: Store,
    pub(crate) registry: Arc<SchemaRegistry>,
    pub(crate) materializer: Option<Arc<Materializer>>,
    pub(crate) replication: Option<Arc<Replication>>,
    pub(crate) metrics: Arc<Metrics>,
}

impl NodeParts {
    /// Entries stored but not yet materialized.
    async fn backlog(&self) -> Result<Option<(i64, u64)>, StoreError> {
        match &self.materializer {
            Some(m) => {
                let cursor = *m.progress().borrow();
                Ok(Some((
                    cursor,
                    self.store.entries_after_count(cursor).await?,
                )))
            }
            None => Ok(None),
        }
    }

    /// The OpenMetrics exposition.
    pub(crate) async fn metrics(&self) -> Result<String, ScrapeError> {
        let counts = StoredCounts {
            entries: self.store.entry_count().await?,
            documents: self.store.document_count().await?,
            materializer: self.backlog().await?,
        };
        Ok(self.metrics.encode(counts)?)
    }

    /// The status document of `GET /status`.
    pub(crate) async fn status(&self) -> Result<Value, StoreError> {
        let schemas: Vec<Value> = self
            .registry
            .schemas()
            .iter()
            .map(|s| {
                json!({
                    "id": s.id().to_string(),
                    "name": s.id().name(),
                    "description": s.description(),
                    "fields": s.fields().len(),
                })
            })
            .collect();
        let materializer = match self.backlog().await? {
            Some((cursor, backlog)) => json!({
                "running": true,
                "cursor": cursor,
                "backlog": backlog,
            }),
            None => json!({ "running": false }),
        };
        let backend = match self.store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        };
        let replication = match &self.replication {
            Some(r) => {
                let s = r.stats();
                let listen: Vec<String> = r
                    .listen_addrs()
                    .await
                    .iter()
                    .map(|a| a.to_string())
                    .collect();
                json!({
                    "peerId": r.peer_id(),
                    "listen": listen,
                    "peers": s.peers,
                    "sessionsOpen": s.sessions_open,
                    "sessionsStarted": s.sessions_started,
                    "entriesReceived": s.entries_received,
                    "entriesSent": s.entries_sent,
                    "entriesRejected": s.entries_rejected,
                    "gossipSent": s.gossip_sent,
                    "peerFaults": s.faults,
                })
            }
            None => json!(null),
        };
        let (purged, waiting) = self.store.deletion_counts().await?;
        Ok(json!({
            "node": "hoffnung",
            "replication": replication,
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": self.metrics.started.elapsed().as_secs(),
            "database": {
                // No URL or path: a page that can read /status learns
                // nothing of the machine's files or database hosts.
                "backend": backend,
            },
            "entries": self.store.entry_count().await?,
            "documents": self.store.document_count().await?,
            "deletedDocuments": { "waiting": waiting, "purged": purged },
            "schemas": schemas,
            "materializer": materializer,
        }))
    }
}

/// Resident memory from `VmRSS` in `/proc/self/status` (Linux only).
fn resident_memory_bytes() -> Option<u64> {
    vm_rss_bytes(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// `VmRSS:    1234 kB` → bytes.
fn vm_rss_bytes(status: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_vm_rss() {
        let status = "Name:\thoffnung\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nVmData:\t 1 kB\n";
        assert_eq!(vm_rss_bytes(status), Some(12345 * 1024));
        assert_eq!(vm_rss_bytes("VmRSS:\t12 MB\n"), None);
        assert_eq!(vm_rss_bytes("Name:\tx\n"), None);
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes().is_some_and(|b| b > 0));
        }
    }
}
