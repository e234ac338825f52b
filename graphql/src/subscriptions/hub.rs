//! The node's subscriptions in one place: one reader of the store's change
//! feed for all of them. Identical subscriptions (same schema, same
//! filters) form a group evaluated once; each change batch costs one query
//! per group whose schema changed (the filters and `documentId IN (…)`
//! the changed documents), whatever the number of subscribers; the rows go
//! to every subscriber of the group through its own bounded channel.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hoffnung_core::{DocumentId, Schema, SchemaId};
use hoffnung_store::{
    CollectionQuery, Filter, FilterOp, Operand, Store, StoreError, Target, ViewChanges, ViewRow,
    ViewTable,
};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Subscriptions a node holds at most, by default.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 10_000;
/// Subscriptions one WebSocket connection holds at most, by default.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 100;

/// Deliveries a subscriber may fall behind by before it misses some (and
/// is told with `SUBSCRIPTION_LAGGED`): as many as the store's change feed
/// keeps, so a slow subscriber is told no sooner than before the hub.
const SUBSCRIBER_BUFFER: usize = 1024;
/// Change batches already waiting that one round reads together.
const BATCHES_PER_ROUND: usize = 64;
/// Documents per `documentId IN (…)` query (well below both backends'
/// limits on bound parameters).
const IDS_PER_QUERY: usize = 500;

/// The caps on subscriptions.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionLimits {
    /// On the whole node.
    pub max_subscriptions: usize,
    /// On one WebSocket connection (see [`connection_data`]).
    pub max_per_connection: usize,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        Self {
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            max_per_connection: DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
        }
    }
}

/// What the hub counts (the node's metrics read it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Subscriptions open now.
    pub open: usize,
    /// Distinct (schema, filters) among them: what a change is evaluated for.
    pub groups: usize,
    /// Queries run to evaluate changes since start.
    pub queries: u64,
}

/// The subscriptions of one WebSocket connection, counted against
/// [`SubscriptionLimits::max_per_connection`]. Put into each connection's
/// data by the server (see [`connection_data`]).
#[derive(Debug, Default, Clone)]
pub struct ConnectionSubscriptions {
    open: Arc<AtomicUsize>,
}

/// The data a WebSocket connection's subscriptions run with: its own
/// subscription count. The server passes it to
/// `GraphQLWebSocket::with_data`; without it only the node's cap applies.
pub fn connection_data() -> async_graphql::Data {
    let mut data = async_graphql::Data::default();
    data.insert(ConnectionSubscriptions::default());
    data
}

/// Why a subscription was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("this connection holds its maximum of {0} subscriptions")]
    Connection(usize),
    #[error("this node holds its maximum of {0} subscriptions")]
    Node(usize),
}

/// What a subscriber receives.
pub(crate) enum Delivery {
    /// The matching documents of one change batch, in the batch's order.
    Docs(Arc<[ViewRow]>),
    /// This many batches were missed (the subscriber or the hub was too slow).
    Lagged(u64),
    /// Evaluating a batch failed (logged).
    Failed,
}

/// The node's subscriptions (a cheap clone of one handle).
#[derive(Clone)]
pub struct SubscriptionHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    limits: SubscriptionLimits,
    registry: Mutex<Registry>,
    queries: AtomicU64,
    stop: CancellationToken,
    tasks: TaskTracker,
}

#[derive(Default)]
struct Registry {
    groups: HashMap<GroupKey, Group>,
    open: usize,
    next_id: u64,
    /// Whether the task reading the change feed runs (from the first
    /// subscription until shutdown).
    running: bool,
}

/// A schema and its normalized filters: subscriptions with equal keys get
/// the same documents.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    schema: SchemaId,
    filters: String,
}

struct Group {
    table: Arc<ViewTable>,
    filters: Vec<Filter>,
    subscribers: HashMap<u64, Subscriber>,
}

struct Subscriber {
    tx: mpsc::Sender<Delivery>,
    /// Batches missed since the last delivery that got through.
    missed: u64,
}

/// A registered subscription; dropping it (the stream ends: `complete`,
/// the connection closed) releases it.
pub(crate) struct Registration {
    inner: Arc<Inner>,
    key: GroupKey,
    id: u64,
    connection: Option<Arc<AtomicUsize>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = self.inner.lock();
        let registry = &mut *registry;
        if let Some(group) = registry.groups.get_mut(&self.key) {
            if group.subscribers.remove(&self.id).is_some() {
                registry.open = registry.open.saturating_sub(1);
            }
            if group.subscribers.is_empty() {
                registry.groups.remove(&self.key);
            }
        }
        if let Some(open) = &self.connection {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl SubscriptionHub {
    /// A hub on `store`'s change feed; its task starts with the first
    /// subscription.
    pub fn new(store: Store, limits: SubscriptionLimits) -> Self {
        let tasks = TaskTracker::new();
        Self {
            inner: Arc::new(Inner {
                store,
                limits,
                registry: Mutex::default(),
                queries: AtomicU64::new(0),
                stop: CancellationToken::new(),
                tasks,
            }),
        }
    }

    pub fn stats(&self) -> SubscriptionStats {
        let registry = self.inner.lock();
        SubscriptionStats {
            open: registry.open,
            groups: registry.groups.len(),
            queries: self.inner.queries.load(Ordering::Relaxed),
        }
    }

    /// The hub's task (for the node's count of running tasks).
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Stops reading the change feed: every subscription's stream ends.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Registers a subscription to `schema`'s documents matching `filters`.
    pub(crate) fn subscribe(
        &self,
        schema: &Arc<Schema>,
        table: Arc<ViewTable>,
        filters: Vec<Filter>,
        connection: Option<&ConnectionSubscriptions>,
    ) -> Result<(Registration, mpsc::Receiver<Delivery>), Refused> {
        let limits = self.inner.limits;
        let connection = connection.map(|c| c.open.clone());
        if let Some(open) = &connection {
            if open.fetch_add(1, Ordering::Relaxed) >= limits.max_per_connection {
                open.fetch_sub(1, Ordering::Relaxed);
                return Err(Refused::Connection(limits.max_per_connection));
            }
        }
        let mut registry = self.inner.lock();
        if registry.open >= limits.max_subscriptions {
            drop(registry);
            if let Some(open) = &connection {
                open.fetch_sub(1, Ordering::Relaxed);
            }
            return Err(Refused::Node(limits.max_subscriptions));
        }
        if !registry.running && !self.inner.stop.is_cancelled() {
            // Subscribed under the lock: no batch committed after this
            // subscription was registered is missed.
            let events = self.inner.store.view_changes();
            self.inner.tasks.spawn(run(self.inner.clone(), events));
            registry.running = true;
        }
        let key = GroupKey {
            schema: schema.id().clone(),
            filters: normalized(&filters),
        };
        let id = registry.next_id;
        registry.next_id += 1;
        registry.open += 1;
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        registry
            .groups
            .entry(key.clone())
            .or_insert_with(|| Group {
                table,
                filters,
                subscribers: HashMap::new(),
            })
            .subscribers
            .insert(id, Subscriber { tx, missed: 0 });
        let registration = Registration {
            inner: self.inner.clone(),
            key,
            id,
            connection,
        };
        Ok((registration, rx))
    }
}

/// The same filters in any order give the same key.
fn normalized(filters: &[Filter]) -> String {
    let mut parts: Vec<String> = filters.iter().map(|f| format!("{f:?}")).collect();
    parts.sort();
    parts.dedup();
    parts.join("\u{1f}")
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent at every await-free step.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Follows the change feed until shutdown. One round at a time, and one
/// query at a time within a round: subscription work holds at most one of
/// the store's pooled connections however many subscribers there are, so
/// publish, `nextArgs` and the materializer keep the others. (A separate
/// read pool would cost connections on PostgreSQL and memory on SQLite for
/// the same bound; the feed's buffer absorbs the rounds' latency, and a
/// hub that falls behind tells every subscriber with `SUBSCRIPTION_LAGGED`.)
async fn run(inner: Arc<Inner>, mut events: broadcast::Receiver<Arc<ViewChanges>>) {
    loop {
        let first = tokio::select! {
            r = events.recv() => r,
            () = inner.stop.cancelled() => break,
        };
        let mut batches = Vec::new();
        let mut lagged = 0;
        match first {
            Ok(batch) => batches.push(batch),
            Err(broadcast::error::RecvError::Lagged(n)) => lagged = n,
            Err(broadcast::error::RecvError::Closed) => break,
        }
        // What else is waiting is read together: one query per group for
        // all of it.
        while lagged == 0 && batches.len() < BATCHES_PER_ROUND {
            match events.try_recv() {
                Ok(batch) => batches.push(batch),
                Err(broadcast::error::TryRecvError::Lagged(n)) => lagged = n,
                Err(_) => break,
            }
        }
        if !batches.is_empty() {
            deliver(&inner, &batches).await;
        }
        if lagged > 0 {
            tracing::warn!(
                batches = lagged,
                "subscriptions fell behind the change feed"
            );
            let mut registry = inner.lock();
            for group in registry.groups.values_mut() {
                for s in group.subscribers.values_mut() {
                    s.missed += lagged;
                    send(s, None);
                }
            }
        }
    }
    // Every subscription's stream ends (its channel closes).
    let mut registry = inner.lock();
    registry.groups.clear();
    registry.open = 0;
    registry.running = false;
}

/// A group as it was when a round began.
struct Snapshot {
    key: GroupKey,
    table: Arc<ViewTable>,
    filters: Vec<Filter>,
}

/// Evaluates `batches` for every group whose schema changed and hands each
/// subscriber its documents, batch by batch.
async fn deliver(inner: &Inner, batches: &[Arc<ViewChanges>]) {
    // The documents each schema got a new (not deleted) view of.
    let mut changed: HashMap<&SchemaId, Vec<DocumentId>> = HashMap::new();
    let mut seen: HashSet<(&SchemaId, DocumentId)> = HashSet::new();
    for v in batches.iter().flat_map(|b| b.views.iter()) {
        if !v.is_deleted && seen.insert((&v.schema_id, v.document_id)) {
            changed.entry(&v.schema_id).or_default().push(v.document_id);
        }
    }
    let groups: Vec<Snapshot> = {
        let registry = inner.lock();
        registry
            .groups
            .iter()
            .filter(|(key, _)| changed.contains_key(&key.schema))
            .map(|(key, g)| Snapshot {
                key: key.clone(),
                table: g.table.clone(),
                filters: g.filters.clone(),
            })
            .collect()
    };
    for group in groups {
        let Some(documents) = changed.get(&group.key.schema) else {
            continue;
        };
        let rows = match matching(inner, &group, documents).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "subscription query failed");
                fan_out(inner, &group.key, || Delivery::Failed);
                continue;
            }
        };
        if rows.is_empty() {
            continue;
        }
        for batch in batches {
            let docs: Vec<ViewRow> = batch
                .views
                .iter()
                .filter(|v| v.schema_id == group.key.schema && !v.is_deleted)
                // A row read after a later change committed is that later
                // view: it goes out with the batch that made it, once, and
                // the superseded view is skipped rather than sent as it.
                .filter_map(|v| rows.get(&v.document_id).filter(|r| r.view_id == v.view_id))
                .cloned()
                .collect();
            if !docs.is_empty() {
                let docs: Arc<[ViewRow]> = docs.into();
                fan_out(inner, &group.key, || Delivery::Docs(docs.clone()));
            }
        }
    }
}

/// The current rows of `documents` that match the group's filters.
async fn matching(
    inner: &Inner,
    group: &Snapshot,
    documents: &[DocumentId],
) -> Result<HashMap<DocumentId, ViewRow>, StoreError> {
    let mut rows = HashMap::new();
    for chunk in documents.chunks(IDS_PER_QUERY) {
        let mut filters = group.filters.clone();
        filters.push(Filter {
            target: Target::DocumentId,
            op: FilterOp::In,
            values: chunk.iter().map(|d| Operand::Text(d.to_hex())).collect(),
        });
        let query = CollectionQuery {
            filters,
            order_by: Some(Target::DocumentId),
            descending: false,
            first: u32::try_from(chunk.len()).unwrap_or(u32::MAX),
            after: None,
            list: None,
        };
        inner.queries.fetch_add(1, Ordering::Relaxed);
        let page = inner
            .store
            .compile(&group.table, query)?
            .fetch(&inner.store)
            .await?;
        rows.extend(page.rows.into_iter().map(|(row, _)| (row.document_id, row)));
    }
    Ok(rows)
}

/// Hands `delivery` to every subscriber of the group, never waiting: a
/// full channel is a missed batch for that subscriber alone.
fn fan_out(inner: &Inner, key: &GroupKey, delivery: impl Fn() -> Delivery) {
    let mut registry = inner.lock();
    if let Some(group) = registry.groups.get_mut(key) {
        for s in group.subscribers.values_mut() {
            send(s, Some(delivery()));
        }
    }
}

/// Tells a subscriber what it missed (if it did and there is room), then
/// sends `delivery`, or counts it as missed.
fn send(s: &mut Subscriber, delivery: Option<Delivery>) {
    use mpsc::error::TrySendError;
    if s.missed > 0 {
        match s.tx.try_send(Delivery::Lagged(s.missed)) {
            Ok(()) => s.missed = 0,
            Err(TrySendError::Full(_)) => {
                s.missed += u64::from(delivery.is_some());
                return;
            }
            Err(TrySendError::Closed(_)) => return,
        }
    }
    if let Some(d) = delivery {
        if let Err(TrySendError::Full(_)) = s.tx.try_send(d) {
            s.missed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hoffnung_core::{
        DocumentView, DocumentViewId, FieldType, Hash, KeyPair, OperationValue, ViewField,
    };
    use hoffnung_store::test_utils::TestDb;
    use hoffnung_store::{ChangedView, ViewBatch};

    use super::*;

    fn view(schema: &Schema, title: &str) -> DocumentView {
        let document_id = Hash::of(b"the document");
        let op = Hash::of(title.as_bytes());
        let field = ViewField {
            value: OperationValue::Str(title.into()),
            operation_id: op,
        };
        DocumentView {
            document_id,
            schema_id: schema.id().clone(),
            owner: KeyPair::from_private_key(&[7; 32]).public_key(),
            view_id: DocumentViewId::from_operation(op),
            is_deleted: false,
            is_edited: true,
            sorted_operation_ids: Vec::new(),
            fields: Some(BTreeMap::from([("title".to_string(), field)])),
        }
    }

    fn changes(v: &DocumentView) -> Arc<ViewChanges> {
        Arc::new(ViewChanges {
            cursor: 0,
            views: vec![ChangedView {
                schema_id: v.schema_id.clone(),
                document_id: v.document_id,
                view_id: v.view_id.clone(),
                is_deleted: false,
            }],
        })
    }

    fn titles(rx: &mut mpsc::Receiver<Delivery>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(d) = rx.try_recv() {
            let Delivery::Docs(rows) = d else {
                panic!("not documents");
            };
            for r in rows.iter() {
                let fields = r.fields.as_ref().expect("fields");
                out.push(format!("{:?}", fields.get("title").expect("title")));
            }
        }
        out
    }

    /// The hub reads a document's row after its change committed; when a
    /// later change committed meanwhile, the row is that later view, which
    /// goes out once, with its own change.
    #[tokio::test]
    async fn a_superseded_view_is_not_sent_as_the_view_after_it() {
        let db = TestDb::sqlite();
        let store = db.store().await;
        let schema = Schema::new(
            SchemaId::application("notes", DocumentViewId::from_operation(Hash::of(b"s")))
                .expect("schema id"),
            "notes",
            vec![("title".into(), FieldType::Str)],
        )
        .expect("schema");
        let (first, second) = (view(&schema, "first"), view(&schema, "second"));
        let mut writer = store.view_writer();
        writer.ensure_table(&schema).await.expect("table");
        for v in [&first, &second] {
            let batch = ViewBatch {
                current: vec![v],
                ..Default::default()
            };
            writer.write(&batch, 0, 0).await.expect("write");
        }
        let hub = SubscriptionHub::new(store.clone(), SubscriptionLimits::default());
        let table = store.views().table(&schema);
        let (_registration, mut rx) = hub
            .subscribe(&Arc::new(schema), table, Vec::new(), None)
            .expect("subscribe");
        let want = format!("{:?}", OperationValue::Str("second".into()));

        // Both changes in one round, then each in a round of its own.
        deliver(&hub.inner, &[changes(&first), changes(&second)]).await;
        assert_eq!(titles(&mut rx), vec![want.clone()]);
        deliver(&hub.inner, &[changes(&first)]).await;
        assert_eq!(titles(&mut rx), Vec::<String>::new());
        deliver(&hub.inner, &[changes(&second)]).await;
        assert_eq!(titles(&mut rx), vec![want]);
        hub.shutdown().await;
    }
}
