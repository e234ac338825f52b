//! `schemas`: N application schemas published one after the other through
//! the GraphQL API of an in-process node, as `hoffnung schema create` does
//! (`nextArgs` and `publish` for each field definition, then the
//! definition, then waiting until the API has the schema): the
//! time per schema of the first and the last ten, to see whether the N-th
//! schema costs more than the first.

use std::time::{Duration, Instant};

use anyhow::bail;
use hoffnung_core::KeyPair;
use serde_json::json;

use crate::common::{http_client, GraphqlClient, InProcessArgs};

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

const TYPE: &str = "query Type($name: String!) { __type(name: $name) { name } }";

/// Publishes schema `n` with `fields` fields; returns when the node's API
/// has its type.
async fn schema(
    client: &GraphqlClient,
    key: &KeyPair,
    n: usize,
    fields: usize,
    probe: Probe,
) -> anyhow::Result<()> {
    let types = ["str", "int", "bool", "float"];
    let names: Vec<(String, &str)> = (0..fields)
        .map(|i| (format!("field_{i}"), types[i % types.len()]))
        .collect();
    let (id, def) = client
        .publish_schema(key, &format!("schema_{n}"), &names)
        .await?;
    let start = Instant::now();
    // The CLI's back-off.
    let mut delay = Duration::from_millis(10);
    loop {
        let there = match probe {
            Probe::Type => {
                let got = client
                    .graphql(TYPE, json!({ "name": id.to_string() }))
                    .await?;
                !got["__type"].is_null()
            }
            Probe::Document => client.has_schema(&id, &def).await,
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
    let client = GraphqlClient {
        http: http_client()?,
        url: n.node.graphql_url(),
    };
    let key = KeyPair::from_private_key(&[7; 32]);
    let mut times = Vec::with_capacity(args.count);
    let all = Instant::now();
    for i in 0..args.count {
        let start = Instant::now();
        schema(&client, &key, i, args.fields, args.probe).await?;
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
