//! Node metrics in the Prometheus text format (`GET /metrics`), and the
//! JSON status (`GET /status`) the `hoffnung status` command shows.
//!
//! Counters live where the events happen (the store counts ingest outcomes);
//! this module only keeps what the HTTP layer and the node see, and reads
//! everything else at scrape time.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hoffnung_materializer::Materializer;
use hoffnung_replication::Replication;
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{Backend, Store, StoreError};
use serde_json::{json, Value};

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// What kind of GraphQL request was timed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequestKind {
    Query,
    Mutation,
}

/// Metrics of one node.
pub(crate) struct Metrics {
    started: Instant,
    queries: Histogram,
    mutations: Histogram,
    /// Since when the materializer has been behind the store (None: caught up).
    behind_since: Mutex<Option<Instant>>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            queries: Histogram::default(),
            mutations: Histogram::default(),
            behind_since: Mutex::new(None),
        }
    }

    pub(crate) fn observe_request(&self, kind: RequestKind, took: Duration) {
        match kind {
            RequestKind::Query => self.queries.observe(took),
            RequestKind::Mutation => self.mutations.observe(took),
        }
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
}

/// The parts of a node the metrics and status read.
#[derive(Clone)]
pub(crate) struct NodeParts {
    pub(crate) store: Store,
    pub(crate) registry: Arc<SchemaRegistry>,
    pub(crate) materializer: Option<Arc<Materializer>>,
    pub(crate) replication: Option<Arc<Replication>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) database_url: String,
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

    /// The Prometheus exposition.
    pub(crate) async fn metrics(&self) -> Result<String, StoreError> {
        let mut out = String::with_capacity(4096);
        let stats = self.store.ingest_stats();
        metric(
            &mut out,
            "hoffnung_entries_ingested_total",
            "counter",
            "Entries accepted (publish, import, replication) since start.",
        );
        let _ = writeln!(out, "hoffnung_entries_ingested_total {}", stats.accepted);
        metric(
            &mut out,
            "hoffnung_entries_rejected_total",
            "counter",
            "Entries rejected since start, by error code.",
        );
        for (code, n) in &stats.rejected {
            let _ = writeln!(
                out,
                "hoffnung_entries_rejected_total{{code=\"{code}\"}} {n}"
            );
        }
        metric(
            &mut out,
            "hoffnung_entries",
            "gauge",
            "Entries in the event store.",
        );
        let _ = writeln!(out, "hoffnung_entries {}", self.store.entry_count().await?);
        metric(
            &mut out,
            "hoffnung_documents",
            "gauge",
            "Documents (one log each) in the event store.",
        );
        let _ = writeln!(out, "hoffnung_documents {}", self.store.log_count().await?);
        metric(
            &mut out,
            "hoffnung_schemas",
            "gauge",
            "Schemas this node knows and accepts (system schemas included).",
        );
        let _ = writeln!(out, "hoffnung_schemas {}", self.registry.schemas().len());
        if let Some((cursor, backlog)) = self.backlog().await? {
            metric(
                &mut out,
                "hoffnung_materializer_cursor",
                "gauge",
                "Id of the last entry the materialized views reflect.",
            );
            let _ = writeln!(out, "hoffnung_materializer_cursor {cursor}");
            metric(
                &mut out,
                "hoffnung_materializer_backlog_entries",
                "gauge",
                "Entries stored but not yet materialized.",
            );
            let _ = writeln!(out, "hoffnung_materializer_backlog_entries {backlog}");
            metric(
                &mut out,
                "hoffnung_materializer_lag_seconds",
                "gauge",
                "Seconds since the materializer was last caught up (0 when it is).",
            );
            let lag = if backlog == 0 {
                0.0
            } else {
                self.metrics.lag().as_secs_f64()
            };
            let _ = writeln!(out, "hoffnung_materializer_lag_seconds {lag}");
        }
        if let Some(r) = &self.replication {
            let s = r.stats();
            let counters = [
                (
                    "hoffnung_peers",
                    "gauge",
                    "Connected peers.",
                    s.peers.len() as u64,
                ),
                (
                    "hoffnung_replication_sessions_open",
                    "gauge",
                    "Replication sessions running.",
                    s.sessions_open,
                ),
                (
                    "hoffnung_replication_sessions_started_total",
                    "counter",
                    "Replication sessions started (by either side).",
                    s.sessions_started,
                ),
                (
                    "hoffnung_replication_entries_received_total",
                    "counter",
                    "Entries received from peers and stored.",
                    s.entries_received,
                ),
                (
                    "hoffnung_replication_entries_sent_total",
                    "counter",
                    "Entries sent to peers in sessions.",
                    s.entries_sent,
                ),
                (
                    "hoffnung_replication_entries_rejected_total",
                    "counter",
                    "Invalid entries received from peers.",
                    s.entries_rejected,
                ),
                (
                    "hoffnung_replication_gossip_sent_total",
                    "counter",
                    "Entries announced live with gossip.",
                    s.gossip_sent,
                ),
                (
                    "hoffnung_replication_peer_faults_total",
                    "counter",
                    "Times a peer was dropped for invalid data.",
                    s.faults,
                ),
            ];
            for (name, kind, help, value) in counters {
                metric(&mut out, name, kind, help);
                let _ = writeln!(out, "{name} {value}");
            }
        }
        metric(
            &mut out,
            "hoffnung_graphql_request_duration_seconds",
            "histogram",
            "Time to answer GraphQL requests over HTTP, by operation type.",
        );
        self.metrics.queries.write(
            &mut out,
            "hoffnung_graphql_request_duration_seconds",
            "operation=\"query\"",
        );
        self.metrics.mutations.write(
            &mut out,
            "hoffnung_graphql_request_duration_seconds",
            "operation=\"mutation\"",
        );
        metric(
            &mut out,
            "hoffnung_uptime_seconds",
            "gauge",
            "Seconds since the node started.",
        );
        let _ = writeln!(
            out,
            "hoffnung_uptime_seconds {}",
            self.metrics.started.elapsed().as_secs_f64()
        );
        if let Some(rss) = resident_memory_bytes() {
            metric(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        Ok(out)
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
        Ok(json!({
            "node": "hoffnung",
            "replication": replication,
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": self.metrics.started.elapsed().as_secs(),
            "database": {
                "backend": backend,
                "url": redact_password(&self.database_url),
            },
            "entries": self.store.entry_count().await?,
            "documents": self.store.log_count().await?,
            "schemas": schemas,
            "materializer": materializer,
        }))
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub(crate) fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// RSS from `/proc/self/statm` (Linux only).
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_password("postgres://u@h/db?x=@"),
            "postgres://u@h/db?x=@"
        );
        assert_eq!(redact_password("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        let mut out = String::new();
        h.write(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.0005\"} 1\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.005\"} 2\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 2\n"));
        assert!(out.contains("x_count{a=\"b\"} 2\n"));
    }
}
