//! The API being served, as the registry's schemas change. A request runs
//! on a build of the part of the API it names ([`crate::route`]): builds
//! are kept by the set of schemas in them, and a schema's types never
//! change (its id is the hash of its definition), so a new schema only
//! costs a build of the requests that name it. The whole API (introspection
//! of `__schema`, WebSocket connections) is built when first asked for
//! after a change.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_graphql::dynamic::{Schema, SchemaError};
use async_graphql::{Request, Response, ServerError};

use crate::error::ErrorCode;
use crate::route::{candidate_ids, needs, Needs};
use crate::{build, loader, queryable_schemas, Api};

/// Builds of parts kept; the map starts over when it is full (a client
/// that names ever new combinations of schemas pays for its builds).
const PARTS: usize = 256;

/// The schemas the API serves right now.
struct Served {
    /// Counts changes, so that a whole build knows when it is stale.
    generation: u64,
    schemas: HashMap<String, Arc<hoffnung_core::Schema>>,
}

impl Served {
    /// The schemas `names` stand for, with the relation targets of each
    /// (their types are part of its types), sorted by id.
    fn part(&self, names: &[String]) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        let mut todo: Vec<&str> = names
            .iter()
            .flat_map(|name| candidate_ids(name))
            .filter(|id| self.schemas.contains_key(*id))
            .collect();
        while let Some(id) = todo.pop() {
            if !ids.insert(id.to_string()) {
                continue;
            }
            if let Some(schema) = self.schemas.get(id) {
                for (_, ty) in schema.fields() {
                    if let Some(target) = ty.relation_target() {
                        if let Some((id, _)) = self.schemas.get_key_value(&target.to_string()) {
                            todo.push(id);
                        }
                    }
                }
            }
        }
        ids
    }
}

/// The API served by the node: builds of its parts, and of the whole.
pub struct LiveSchema {
    api: Api,
    served: RwLock<Arc<Served>>,
    parts: Mutex<HashMap<BTreeSet<String>, Schema>>,
    whole: tokio::sync::Mutex<Option<(u64, Schema)>>,
    builds: AtomicU64,
    built_schemas: AtomicU64,
}

/// How much building the API has cost since start.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildStats {
    /// Builds of a part or of the whole.
    pub builds: u64,
    /// Schemas in those builds, summed: what the builds cost grows with.
    pub schemas: u64,
}

impl LiveSchema {
    /// The API of the registry's schemas; fails if its fixed part (no
    /// schemas) does not build.
    pub fn new(api: Api) -> Result<Self, SchemaError> {
        let live = Self {
            api,
            served: RwLock::new(Arc::new(Served {
                generation: 0,
                schemas: HashMap::new(),
            })),
            parts: Mutex::new(HashMap::new()),
            whole: tokio::sync::Mutex::new(None),
            builds: AtomicU64::new(0),
            built_schemas: AtomicU64::new(0),
        };
        let fixed = build(live.api.clone(), Vec::new())?;
        if let Ok(mut parts) = live.parts.lock() {
            parts.insert(BTreeSet::new(), fixed);
        }
        live.refresh();
        Ok(live)
    }

    /// Takes up the registry's current schemas. Cheap: builds happen when
    /// requests need them. Drops a whole build that has become stale, which
    /// takes about as long as building it: call it beside the async runtime.
    pub fn refresh(&self) {
        let schemas = queryable_schemas(&self.api.registry)
            .into_iter()
            .map(|s| (s.id().to_string(), s))
            .collect();
        let stale = {
            let mut served = match self.served.write() {
                Ok(s) => s,
                Err(e) => e.into_inner(),
            };
            let generation = served.generation + 1;
            *served = Arc::new(Served {
                generation,
                schemas,
            });
            self.whole.try_lock().ok().and_then(|mut w| w.take())
        };
        drop(stale);
    }

    fn served(&self) -> Arc<Served> {
        match self.served.read() {
            Ok(s) => s.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    /// The whole API as it is now (built if the schemas changed since it
    /// was last asked for).
    pub async fn whole(&self) -> Result<Schema, SchemaError> {
        let served = self.served();
        let mut whole = self.whole.lock().await;
        if let Some((generation, schema)) = whole.as_ref() {
            if *generation == served.generation {
                return Ok(schema.clone());
            }
        }
        let schemas = served.schemas.values().cloned().collect();
        let schema = self.build_beside(schemas).await?;
        let stale = whole.replace((served.generation, schema.clone()));
        drop(whole);
        if stale.is_some() {
            tokio::task::spawn_blocking(move || drop(stale));
        }
        Ok(schema)
    }

    /// The build of the schemas `ids` (and the fixed part of the API).
    async fn part(&self, served: &Served, ids: BTreeSet<String>) -> Result<Schema, SchemaError> {
        let kept = self.parts.lock().ok().and_then(|p| p.get(&ids).cloned());
        if let Some(schema) = kept {
            return Ok(schema);
        }
        let schemas = ids
            .iter()
            .filter_map(|id| served.schemas.get(id).cloned())
            .collect();
        let schema = self.build_beside(schemas).await?;
        if let Ok(mut parts) = self.parts.lock() {
            if parts.len() >= PARTS {
                parts.clear();
            }
            parts.insert(ids, schema.clone());
        }
        Ok(schema)
    }

    /// The hub of the API's subscriptions.
    pub fn subscriptions(&self) -> &crate::SubscriptionHub {
        &self.api.subscriptions
    }

    /// What building the API has cost since start.
    pub fn stats(&self) -> BuildStats {
        BuildStats {
            builds: self.builds.load(Ordering::Relaxed),
            schemas: self.built_schemas.load(Ordering::Relaxed),
        }
    }

    /// Builds on a blocking thread: a build of many schemas takes a while.
    async fn build_beside(
        &self,
        schemas: Vec<Arc<hoffnung_core::Schema>>,
    ) -> Result<Schema, SchemaError> {
        self.builds.fetch_add(1, Ordering::Relaxed);
        self.built_schemas
            .fetch_add(schemas.len() as u64, Ordering::Relaxed);
        let api = self.api.clone();
        match tokio::task::spawn_blocking(move || build(api, schemas)).await {
            Ok(built) => built,
            Err(e) => Err(SchemaError(format!("the API build stopped: {e}"))),
        }
    }

    /// The build a request runs on.
    async fn schema_for(&self, request: &mut Request) -> Result<Schema, SchemaError> {
        let served = self.served();
        let variables = request.variables.clone();
        // A query that does not parse is reported by any build.
        let needs = match request.parsed_query() {
            Ok(doc) => needs(doc, &variables),
            Err(_) => Needs::Names(Vec::new()),
        };
        match needs {
            Needs::Whole => self.whole().await,
            Needs::Names(names) => {
                let ids = served.part(&names);
                self.part(&served, ids).await
            }
        }
    }

    /// Runs one request, with a store of related rows of its own.
    pub async fn execute(&self, mut request: Request) -> Response {
        let loader = loader::Related::new(self.api.store.clone());
        let mut response = match self.schema_for(&mut request).await {
            Ok(schema) => schema.execute(request.data(loader)).await,
            Err(e) => {
                tracing::error!(error = %e, "building the GraphQL API failed");
                let mut error = ServerError::new("the API could not be built", None);
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", ErrorCode::Internal.as_str());
                Response::from_errors(vec![error])
            }
        };
        // Errors of the request itself (syntax, unknown fields, argument
        // types) come from async-graphql without a code: they get one, so
        // that every error a client sees can be matched on.
        for e in &mut response.errors {
            let coded = e
                .extensions
                .as_ref()
                .is_some_and(|x| x.get("code").is_some());
            if !coded {
                e.extensions
                    .get_or_insert_with(Default::default)
                    .set("code", ErrorCode::InvalidQuery.as_str());
            }
        }
        response
    }
}
