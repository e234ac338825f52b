//! `schemas`: N application schemas published one after the other through
//! the GraphQL API of an in-process node, as `hoffnung schema create` does
//! (`nextArgs` and `publish` for each field definition, then the
//! definition, then waiting until the API has the schema): the
//! time per schema of the first and the last ten, to see whether the N-th
//! schema costs more than the first.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoffnung_core::entry::NextArgs;
use hoffnung_core::{sign_entry, DocumentViewId, Fields, KeyPair, Operation, OperationValue};
use hoffnung_core::{Hash, SchemaId};
use serde_json::{json, Value};

use crate::common::{http_client, InProcessArgs, PUBLISH};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Schemas to publish.
    #[arg(long, default_value_t = 300)]
    count: usize,
    /// Fields per schema (`str`, `int`, `bool`, `float` in turn).
    #[arg(long, default_value_t = 3)]
    fields: usize,
    /// How to tell that the API has the schema: `document` asks for a
    /// document of it (what `hoffnung schema create` asks), `type` for its
    /// type by introspection (what it asked before; async-graphql answers
    /// `__type` by walking every type of the API).
    #[arg(long, value_enum, default_value_t = Probe::Document)]
    probe: Probe,
    #[command(flatten)]
    node: InProcessArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Probe {
    Document,
    Type,
}

const NEXT_ARGS: &str = "query NextArgs($publicKey: String!, $viewId: String) { nextArgs(publicKey: $publicKey, viewId: $viewId) { logId seqNum backlink skiplink } }";
const TYPE: &str = "query Type($name: String!) { __type(name: $name) { name } }";

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
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

    /// `nextArgs`, then `publish`, as a client does; the operation id.
    async fn publish(&self, key: &KeyPair, operation: &Operation) -> anyhow::Result<Hash> {
        let data = self
            .graphql(
                NEXT_ARGS,
                json!({ "publicKey": key.public_key().to_hex(), "viewId": Value::Null }),
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
        let args = NextArgs {
            log_id: text("logId").context("no logId")?.parse()?,
            seq_num: text("seqNum").context("no seqNum")?.parse()?,
            backlink: hash("backlink")?,
            skiplink: hash("skiplink")?,
        };
        let payload = operation.encode();
        let entry = sign_entry(key, &args, &payload)?;
        self.graphql(
            PUBLISH,
            json!({ "entry": entry.to_hex(), "operation": hex::encode(&payload) }),
        )
        .await?;
        Ok(entry.hash())
    }

    /// Publishes schema `n` with `fields` fields; returns when the node's
    /// API has its type.
    async fn schema(
        &self,
        key: &KeyPair,
        n: usize,
        fields: usize,
        probe: Probe,
    ) -> anyhow::Result<()> {
        let types = ["str", "int", "bool", "float"];
        let mut pinned = Vec::with_capacity(fields);
        for i in 0..fields {
            let mut f = Fields::new();
            f.insert("name".into(), OperationValue::Str(format!("field_{i}")));
            f.insert(
                "type".into(),
                OperationValue::Str(types[i % types.len()].into()),
            );
            let op = Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f);
            pinned.push(DocumentViewId::from_operation(
                self.publish(key, &op).await?,
            ));
        }
        let name = format!("schema_{n}");
        let mut d = Fields::new();
        d.insert("name".into(), OperationValue::Str(name.clone()));
        d.insert("description".into(), OperationValue::Str("loadgen".into()));
        d.insert("fields".into(), OperationValue::PinnedRelationList(pinned));
        let def = self
            .publish(key, &Operation::create(SchemaId::SCHEMA_DEFINITION_V1, d))
            .await?;
        let id = SchemaId::application(&name, DocumentViewId::from_operation(def))?;
        let start = Instant::now();
        // The CLI's back-off.
        let mut delay = Duration::from_millis(10);
        loop {
            let there = match probe {
                Probe::Type => {
                    let got = self
                        .graphql(TYPE, json!({ "name": id.to_string() }))
                        .await?;
                    !got["__type"].is_null()
                }
                // An error (the field is unknown) until the API has it.
                Probe::Document => {
                    let query = format!(
                        "query D($id: String!) {{ {id}(id: $id) {{ meta {{ documentId }} }} }}"
                    );
                    self.graphql(&query, json!({ "id": def.to_string() }))
                        .await
                        .is_ok()
                }
            };
            if there {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(120) {
                bail!("schema {id} never appeared in the API");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }
}

fn report(label: &str, times: &[Duration]) {
    if times.is_empty() {
        return;
    }
    let total: Duration = times.iter().sum();
    let mean = total / times.len() as u32;
    let max = times.iter().max().copied().unwrap_or_default();
    println!(
        "{label}: {} schemas, mean {:.1} ms, max {:.1} ms per schema",
        times.len(),
        mean.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.node.start(true).await?;
    let client = Client {
        http: http_client()?,
        url: n.node.graphql_url(),
    };
    let key = KeyPair::from_private_key(&[7; 32]);
    let mut times = Vec::with_capacity(args.count);
    let all = Instant::now();
    for i in 0..args.count {
        let start = Instant::now();
        client.schema(&key, i, args.fields, args.probe).await?;
        times.push(start.elapsed());
    }
    let total = all.elapsed();
    println!(
        "schemas: {} of {} fields in {:.1} s",
        args.count,
        args.fields,
        total.as_secs_f64()
    );
    let ten = times.len().min(10);
    report("first 10", &times[..ten]);
    report("last 10", &times[times.len() - ten..]);
    n.stop().await
}
