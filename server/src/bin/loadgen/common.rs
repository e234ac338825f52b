//! What the subcommands share: the HTTP client, the in-process node,
//! pre-signed entries (from a log's first-entry arguments on), bulk
//! loading, and sending a phase of requests and reporting it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_core::entry::NextArgs;
use hoffnung_core::publish::{next_args_after, next_skiplink_seq_num};
use hoffnung_core::{
    sign_entry, DocumentViewId, EncodedEntry, Fields, Hash, KeyPair, Operation, OperationValue,
    SchemaId,
};
use hoffnung_server::{Node, NodeConfig};
use serde_json::{json, Value};

pub(crate) const PUBLISH: &str = "mutation Publish($entry: String!, $operation: String!) { publish(entry: $entry, operation: $operation) { logId seqNum backlink skiplink } }";
pub(crate) const NEXT_ARGS: &str = "query NextArgs($publicKey: String!, $viewId: String) { nextArgs(publicKey: $publicKey, viewId: $viewId) { logId seqNum backlink skiplink } }";

/// An entry and its operation, hex-encoded as `publish` takes them.
pub(crate) type Signed = (String, String);

/// The HTTP client of the measurements against one node: a request that
/// takes over a minute fails the run instead of hanging it.
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// A client of one node's GraphQL API, publishing as `hoffnung` clients
/// do: `nextArgs`, then `publish`.
pub(crate) struct GraphqlClient {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
}

impl GraphqlClient {
    /// The `data` of a request; an answer with `errors` is an error.
    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = json!({ "query": query, "variables": variables });
        let got: Value = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        if !got["errors"].is_null() {
            bail!("the node answered errors: {}", got["errors"]);
        }
        Ok(got["data"].clone())
    }

    /// `nextArgs` of `key` for a new document (`view_id` none) or after
    /// the view `view_id`.
    pub(crate) async fn next_args(
        &self,
        public_key: &str,
        view_id: Option<&str>,
    ) -> anyhow::Result<NextArgs> {
        let data = self
            .graphql(
                NEXT_ARGS,
                json!({ "publicKey": public_key, "viewId": view_id }),
            )
            .await?;
        let a = &data["nextArgs"];
        let text = |k: &str| a[k].as_str().map(str::to_string);
        let hash = |k: &str| -> anyhow::Result<Option<Hash>> {
            Ok(match text(k) {
                Some(h) => Some(h.parse()?),
                None => None,
            })
        };
        Ok(NextArgs {
            log_id: text("logId").context("no logId")?.parse()?,
            seq_num: text("seqNum").context("no seqNum")?.parse()?,
            backlink: hash("backlink")?,
            skiplink: hash("skiplink")?,
        })
    }

    /// `nextArgs`, then `publish`, as a client does; the operation id.
    pub(crate) async fn publish(
        &self,
        key: &KeyPair,
        operation: &Operation,
    ) -> anyhow::Result<Hash> {
        let view = operation.previous.as_ref().map(|v| v.to_string());
        let args = self
            .next_args(&key.public_key().to_hex(), view.as_deref())
            .await?;
        let payload = operation.encode();
        let entry = sign_entry(key, &args, &payload)?;
        self.graphql(
            PUBLISH,
            json!({ "entry": entry.to_hex(), "operation": hex::encode(&payload) }),
        )
        .await?;
        Ok(entry.hash())
    }

    /// Publishes a schema: a field definition per `(name, type)`, then the
    /// definition. Its id, and the id of the definition's document.
    pub(crate) async fn publish_schema(
        &self,
        key: &KeyPair,
        name: &str,
        fields: &[(String, &str)],
    ) -> anyhow::Result<(SchemaId, Hash)> {
        let mut pinned = Vec::with_capacity(fields.len());
        for (field, ty) in fields {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(field.clone()));
            f.insert("type".into(), OperationValue::Str((*ty).into()));
            let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f);
            pinned.push(DocumentViewId::from_operation(
                self.publish(key, &op).await?,
            ));
        }
        let mut d = Fields::new();
        d.insert("name".into(), OperationValue::Str(name.into()));
        d.insert("description".into(), OperationValue::Str("loadgen".into()));
        d.insert("fields".into(), OperationValue::PinnedRelationList(pinned));
        let def = self
            .publish(key, &Operation::create(SchemaId::SCHEMA_DEFINITION_V1, d))
            .await?;
        let id = SchemaId::application(name, DocumentViewId::from_operation(def))?;
        Ok((id, def))
    }

    /// Whether the API has schema `id` yet: a query for a document of it
    /// (`document`, any id) is an error until then, as the CLI asks.
    pub(crate) async fn has_schema(&self, id: &SchemaId, document: &Hash) -> bool {
        let query =
            format!("query D($id: String!) {{ {id}(id: $id) {{ meta {{ documentId }} }} }}");
        self.graphql(&query, json!({ "id": document.to_string() }))
            .await
            .is_ok()
    }
}

/// The node this process starts and measures.
#[derive(clap::Args)]
pub(crate) struct InProcessArgs {
    /// Database of the in-process node (default: SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// SQLite: the in-process node's `StoreConfig::wal_restart_frames`
    /// (default: the store's).
    #[arg(long)]
    wal_restart_frames: Option<i64>,
}

/// A node started by this process, and the temp dir of its database (if
/// it made one), removed after the node.
pub(crate) struct InProcessNode {
    pub(crate) node: Node,
    _dir: Option<tempfile::TempDir>,
}

impl InProcessArgs {
    /// Starts the node on `--database-url` or on a fresh SQLite file in a
    /// temp dir, with or without its materializer.
    pub(crate) async fn start(&self, materializer: bool) -> anyhow::Result<InProcessNode> {
        self.start_with(materializer, |_| {}).await
    }

    /// [`Self::start`], with `tweak` applied to the node's configuration.
    pub(crate) async fn start_with(
        &self,
        materializer: bool,
        tweak: impl FnOnce(&mut NodeConfig),
    ) -> anyhow::Result<InProcessNode> {
        // The SQLite database (unless another is given) and the blob files.
        let dir = tempfile::tempdir()?;
        let database_url = match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite:{}", dir.path().join("loadgen.db").display()),
        };
        let mut config = NodeConfig::new(database_url);
        config.blobs_dir = Some(dir.path().join("blobs"));
        if !materializer {
            config.materializer = None;
        }
        if let Some(frames) = self.wal_restart_frames {
            config.store.wal_restart_frames = frames;
        }
        tweak(&mut config);
        let node = Node::bind(config).await.context("starting the node")?;
        Ok(InProcessNode {
            node,
            _dir: Some(dir),
        })
    }
}

impl InProcessNode {
    /// Shuts the node down and waits for it; then its temp dir goes.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.node.shutdown();
        self.node.join().await?;
        Ok(())
    }
}

/// The arguments of a log's first entry.
pub(crate) fn first_entry(log_id: u64) -> NextArgs {
    NextArgs {
        log_id,
        seq_num: 1,
        backlink: None,
        skiplink: None,
    }
}

/// One author's entries: `creates` new documents (one log each), then
/// `updates` rounds updating every document.
pub(crate) fn presign(seed: u64, creates: usize, updates: usize) -> (Vec<Signed>, Vec<Signed>) {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[8] = 0x5a;
    let key = KeyPair::from_private_key(&bytes);
    let schema = SchemaId::SCHEMA_FIELD_DEFINITION_V1;
    let mut logs = Vec::with_capacity(creates);
    let mut create_entries = Vec::with_capacity(creates);
    for d in 0..creates {
        let mut f = Fields::new();
        f.insert(
            "name".into(),
            OperationValue::Str(format!("field_{seed}_{d}")),
        );
        f.insert("type".into(), OperationValue::Str("str".into()));
        let (chain, signed) = Chain::create(&key, d as u64, &Operation::create(schema.clone(), f))
            .expect("valid args");
        create_entries.push(signed);
        logs.push(chain);
    }
    let mut update_entries = Vec::with_capacity(creates * updates);
    for round in 0..updates {
        for log in logs.iter_mut() {
            let mut f = Fields::new();
            f.insert(
                "name".into(),
                OperationValue::Str(format!("renamed_{round}")),
            );
            update_entries.push(log.update(&schema, f).expect("valid args").1);
        }
    }
    (create_entries, update_entries)
}

/// A log of presigned entries: each entry updates the document to the
/// view of the entry before it.
pub(crate) struct Chain {
    key: KeyPair,
    entries: Vec<EncodedEntry>,
}

impl Chain {
    pub(crate) fn create(
        key: &KeyPair,
        log: u64,
        op: &Operation,
    ) -> anyhow::Result<(Self, Signed)> {
        let payload = op.encode();
        let entry = sign_entry(key, &first_entry(log), &payload)?;
        let signed = (entry.to_hex(), hex::encode(&payload));
        let chain = Self {
            key: key.clone(),
            entries: vec![entry],
        };
        Ok((chain, signed))
    }

    pub(crate) fn document(&self) -> Hash {
        self.entries[0].hash()
    }

    /// The next entry, an UPDATE of `fields` after the last one.
    pub(crate) fn update(
        &mut self,
        schema: &SchemaId,
        fields: Fields,
    ) -> anyhow::Result<(Hash, Signed)> {
        let last = self.entries.last().context("a chain has its CREATE")?;
        let op = Operation::update(
            schema.clone(),
            DocumentViewId::from_operation(last.hash()),
            fields,
        )
        .encode();
        let pos = last.position();
        let skip =
            next_skiplink_seq_num(pos.seq_num).map(|s| self.entries[(s - 1) as usize].hash());
        let entry = sign_entry(&self.key, &next_args_after(&pos, skip), &op)?;
        let signed = (entry.to_hex(), hex::encode(&op));
        let hash = entry.hash();
        self.entries.push(entry);
        Ok((hash, signed))
    }
}

/// Signs `docs` `schema_field_definition_v1` documents (a CREATE each, one
/// log each, on both cores): names in random order, four `type` values.
pub(crate) fn presign_documents(docs: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let types = ["str", "int", "bool", "float"];
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = docs.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let key = KeyPair::from_private_key(&[t as u8 + 11; 32]);
                    (t * per..((t + 1) * per).min(docs))
                        .map(|d| {
                            let mut f = Fields::new();
                            let name = hoffnung_core::Hash::of(&(d as u64).to_be_bytes()).to_hex();
                            f.insert(
                                "name".into(),
                                OperationValue::Str(format!("f{}", &name[4..20])),
                            );
                            f.insert("type".into(), OperationValue::Str(types[d % 4].into()));
                            let op =
                                Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f).encode();
                            let entry =
                                sign_entry(&key, &first_entry(d as u64), &op).expect("valid args");
                            (entry.as_bytes().to_vec(), op)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signer"))
            .collect()
    })
}

/// Bulk-ingests `entries` into `node` and waits until they are materialized.
pub(crate) async fn load(node: &Node, entries: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
    for chunk in entries.chunks(20_000) {
        for r in node.pipeline().ingest(chunk).await? {
            r?;
        }
    }
    node.materializer()
        .context("needs the materializer")?
        .caught_up()
        .await?;
    Ok(())
}

/// The latency at percentile `p` (0 to 1) of `sorted`, in ms; 0 if empty.
pub(crate) fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A measured phase: how many requests, how long, and each one's latency.
pub(crate) struct Phase {
    name: &'static str,
    entries: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    pub(crate) fn print(&mut self) {
        self.latencies.sort();
        let pct = |p: f64| percentile_ms(&self.latencies, p);
        println!(
            "{:<8} {:>8} entries {:>7.2} s {:>9.0} entries/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            self.name,
            self.entries,
            self.elapsed.as_secs_f64(),
            self.entries as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
        );
    }

    /// The median latency, in ms.
    pub(crate) fn p50_ms(&self) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        percentile_ms(&sorted, 0.5)
    }

    /// Where the mean publish's time went: on the node's ingest path, and
    /// the rest (HTTP, GraphQL, this client).
    pub(crate) fn print_timings(&self, t: &hoffnung_store::PublishTimings) {
        let n = t.publishes.max(1) as f64;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n;
        let mean = self
            .latencies
            .iter()
            .map(Duration::as_secs_f64)
            .sum::<f64>()
            * 1000.0
            / self.latencies.len().max(1) as f64;
        let waiting = ms(t.waiting);
        let appending = ms(t.appending);
        let answered = ms(t.answered);
        let checks = ms(t.checks);
        println!(
            "         mean {mean:.2} ms: checks {checks:.2}, waiting for the writer {waiting:.2}, appending {appending:.2}, \
             flush and answer {:.2}, HTTP, GraphQL and client {:.2}",
            answered - waiting - appending,
            mean - answered - checks,
        );
    }
}

/// Sends every client's requests in order, the clients concurrently;
/// any GraphQL error stops the run. Bodies are serialized beforehand, so
/// the client spends as little of the shared CPU as possible.
pub(crate) async fn run_requests(
    client: &reqwest::Client,
    url: &str,
    name: &'static str,
    work: Vec<Vec<serde_json::Value>>,
) -> anyhow::Result<Phase> {
    let work: Vec<Vec<String>> = work
        .into_iter()
        .map(|list| list.iter().map(|b| b.to_string()).collect())
        .collect();
    let entries = work.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for list in work {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(list.len());
            for body in list {
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?
                    .bytes()
                    .await?;
                latencies.push(t.elapsed());
                // A successful answer has no `errors` member.
                if response.windows(8).any(|w| w == b"\"errors\"") {
                    bail!("request failed: {}", String::from_utf8_lossy(&response));
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(entries);
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Phase {
        name,
        entries,
        elapsed: start.elapsed(),
        latencies,
    })
}

/// Publishes every author's entries in order, the authors concurrently.
pub(crate) async fn run_publishes(
    client: &reqwest::Client,
    url: &str,
    name: &'static str,
    work: Vec<Vec<Signed>>,
) -> anyhow::Result<Phase> {
    let bodies = work
        .into_iter()
        .map(|list| {
            list.into_iter()
                .map(|(entry, operation)| {
                    json!({ "query": PUBLISH, "variables": { "entry": entry, "operation": operation } })
                })
                .collect()
        })
        .collect();
    run_requests(client, url, name, bodies).await
}
