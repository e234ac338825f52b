//! `app`: what an app sees of the `hoffnung` binary (beside this one, or
//! `--binary`, so that two builds can be compared): how soon a publish
//! shows in a query (a lone client, then while others publish at a steady
//! rate), a document with a relation, and pages of 100 with and without
//! their relation, against `post` and `comment` schemas (a comment relates
//! to a post).

use std::time::{Duration, Instant};

use anyhow::bail;
use hoffnung_core::{Fields, Hash, KeyPair, Operation, OperationValue, SchemaId};
use serde_json::json;

use crate::common::{
    http_client, percentile_ms, run_publishes, run_requests, Chain, GraphqlClient, Signed, PUBLISH,
};
use crate::startup::{reset_peak_rss, spawn_node, status_kib, wait_healthy};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Posts, and as many comments (comment i relates to post i).
    #[arg(long, default_value_t = 1000)]
    documents: usize,
    /// Publishes of the lone client (each: publish, then query until its
    /// view shows).
    #[arg(long, default_value_t = 500)]
    updates: usize,
    /// Publishes/s of 8 other authors while the lone client measures again
    /// (0: not measured).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Requests of each query measurement.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// The node binary (default: `hoffnung` beside this one).
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
    /// An argument for `hoffnung node` (repeatable), e.g. `--node-arg=--profile=small`.
    #[arg(long, allow_hyphen_values = true)]
    node_arg: Vec<String>,
}

fn text(name: &str, value: String) -> Fields {
    let mut f = Fields::new();
    f.insert(name.into(), OperationValue::Str(value));
    f
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let binary = crate::startup::node_binary(args.binary.as_deref())?;
    let dir = tempfile::tempdir()?;
    let extra: Vec<&str> = args.node_arg.iter().map(String::as_str).collect();
    let (mut child, url) = spawn_node(&binary, dir.path(), 0, &extra)?;
    let outcome = measure(&args, &url, child.id()).await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// The node's resident memory now and at its peak, in MiB (Linux).
fn memory(pid: u32) -> String {
    let mib = |key: &str| status_kib(pid, key).unwrap_or(0) / 1024;
    format!(
        "node RSS {} MiB (heap {}, files {}; peak {} MiB)",
        mib("VmRSS"),
        mib("RssAnon"),
        mib("RssFile"),
        mib("VmHWM")
    )
}

async fn measure(args: &Args, url: &str, pid: u32) -> anyhow::Result<()> {
    wait_healthy(url.trim_end_matches("/graphql")).await?;
    let http = http_client()?;
    let gc = GraphqlClient {
        http: http.clone(),
        url: url.to_string(),
    };
    let owner = KeyPair::from_private_key(&[7; 32]);
    let (post, post_def) = gc
        .publish_schema(&owner, "post", &[("title".into(), "str")])
        .await?;
    wait_for_schema(&gc, &post, &post_def).await?;
    let relation = format!("relation({post})");
    let (comment, comment_def) = gc
        .publish_schema(
            &owner,
            "comment",
            &[("body".into(), "str"), ("post".into(), relation.as_str())],
        )
        .await?;
    wait_for_schema(&gc, &comment, &comment_def).await?;

    // Posts and comments, each its own log, published by 4 clients.
    let n = args.documents.max(1);
    let (poster, commenter) = (
        KeyPair::from_private_key(&[8; 32]),
        KeyPair::from_private_key(&[9; 32]),
    );
    let mut posts = Vec::with_capacity(n);
    let mut comments = Vec::with_capacity(n);
    let (mut post_entries, mut comment_entries) = (Vec::new(), Vec::new());
    for i in 0..n {
        let op = Operation::create(post.clone(), text("title", format!("post {i}")));
        let (chain, signed) = Chain::create(&poster, i as u64, &op)?;
        post_entries.push(signed);
        let mut f = text("body", format!("comment {i}"));
        f.insert("post".into(), OperationValue::Relation(chain.document()));
        posts.push(chain);
        let op = Operation::create(comment.clone(), f);
        let (chain, signed) = Chain::create(&commenter, i as u64, &op)?;
        comment_entries.push(signed);
        comments.push(chain);
    }
    let split = |list: Vec<Signed>| -> Vec<Vec<Signed>> {
        let mut out = vec![Vec::new(); 4];
        for (i, e) in list.into_iter().enumerate() {
            out[i % 4].push(e);
        }
        out
    };
    run_publishes(&http, url, "posts", split(post_entries))
        .await?
        .print();
    run_publishes(&http, url, "comments", split(comment_entries))
        .await?
        .print();
    let count = format!("{{ all_{comment} {{ totalCount }} }}");
    let started = Instant::now();
    loop {
        let got = gc.graphql(&count, json!({})).await?;
        if got[format!("all_{comment}")]["totalCount"].as_u64() == Some(n as u64) {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the comments were not materialized in 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    println!("{n} posts and {n} comments materialized: {}", memory(pid));
    println!("publish, then query the document until the new view shows (a lone client):");
    lone_client(&http, url, &comment, &mut comments, args.updates, 0).await?;
    if args.rate > 0.0 {
        let seconds = (args.updates as f64 / 100.0).max(3.0);
        let total = (args.rate * seconds) as usize;
        let mut background: Vec<Vec<Signed>> = vec![Vec::new(); 8];
        for k in 0..total {
            let chain = &mut posts[k % n];
            let (_, signed) = chain.update(&post, text("title", format!("edit {k}")))?;
            background[k % 8].push(signed);
        }
        println!(
            "the same while 8 other authors publish {:.0} updates/s:",
            args.rate
        );
        // The peak below is this phase's.
        reset_peak_rss(pid)?;
        let load = tokio::spawn(paced(http.clone(), url.to_string(), background, args.rate));
        lone_client(&http, url, &comment, &mut comments, args.updates, 1).await?;
        let sent = load.await??;
        println!("         ({sent} background publishes; {})", memory(pid));
    }

    let one = comments[n / 2].document().to_string();
    let q = |fields: &str| {
        json!({ "query": format!("query C($id: String!) {{ {comment}(id: $id) {{ fields {{ {fields} }} }} }}"),
                "variables": { "id": one } })
    };
    let page = |fields: &str| json!({ "query": format!("{{ all_{comment}(first: 100) {{ documents {{ fields {{ {fields} }} }} }} }}") });
    let with = "body post { fields { title } }";
    let mut results = Vec::new();
    for (name, body) in [
        ("doc", q("body")),
        ("doc+rel", q(with)),
        ("page100", page("body")),
        ("page+rel", page(with)),
    ] {
        // Warm up, then one client in sequence.
        run_requests(&http, url, name, vec![vec![body.clone(); 50]]).await?;
        let mut phase = run_requests(&http, url, name, vec![vec![body; args.requests]]).await?;
        phase.print();
        results.push(phase.p50_ms());
    }
    println!(
        "a page of 100 with its relation: {:.2}x the page without; {}",
        results[3] / results[2].max(f64::MIN_POSITIVE),
        memory(pid)
    );
    Ok(())
}

async fn wait_for_schema(gc: &GraphqlClient, id: &SchemaId, def: &Hash) -> anyhow::Result<()> {
    for _ in 0..1000 {
        if gc.has_schema(id, def).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("schema {id} was not served in 10 s")
}

/// `count` updates of the comments, one at a time: publish (presigned),
/// then query the comment until its view is the new one.
async fn lone_client(
    http: &reqwest::Client,
    url: &str,
    schema: &SchemaId,
    comments: &mut [Chain],
    count: usize,
    round: usize,
) -> anyhow::Result<()> {
    let query = format!("query C($id: String!) {{ {schema}(id: $id) {{ meta {{ viewId }} }} }}");
    let (mut answered, mut visible) = (Vec::new(), Vec::new());
    for k in 0..count {
        let chain = &mut comments[k % comments.len()];
        let document = chain.document().to_string();
        let (hash, (entry, operation)) =
            chain.update(schema, text("body", format!("edit {round}.{k}")))?;
        let view = hash.to_string();
        let body =
            json!({ "query": PUBLISH, "variables": { "entry": entry, "operation": operation } });
        let t = Instant::now();
        let got = http.post(url).json(&body).send().await?.bytes().await?;
        if got.windows(8).any(|w| w == b"\"errors\"") {
            bail!("publish failed: {}", String::from_utf8_lossy(&got));
        }
        let published = t.elapsed();
        let ask = json!({ "query": query, "variables": { "id": document } });
        loop {
            let got: serde_json::Value = http.post(url).json(&ask).send().await?.json().await?;
            if got["data"][schema.to_string()]["meta"]["viewId"].as_str() == Some(view.as_str()) {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                bail!("view {view} did not show in 10 s: {got}");
            }
        }
        answered.push(published);
        visible.push(t.elapsed());
    }
    answered.sort();
    visible.sort();
    println!(
        "visible  {count:>8} updates   publish answered p50 {:>6.2} ms p99 {:>6.2} ms   \
         visible p50 {:>6.2} ms p99 {:>6.2} ms max {:>6.2} ms",
        percentile_ms(&answered, 0.5),
        percentile_ms(&answered, 0.99),
        percentile_ms(&visible, 0.5),
        percentile_ms(&visible, 0.99),
        percentile_ms(&visible, 1.0),
    );
    Ok(())
}

/// Sends each list at its share of `rate`; the number sent.
async fn paced(
    http: reqwest::Client,
    url: String,
    lists: Vec<Vec<Signed>>,
    rate: f64,
) -> anyhow::Result<usize> {
    let clients = lists.len().max(1);
    let interval = Duration::from_secs_f64(clients as f64 / rate);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, list) in lists.into_iter().enumerate() {
        let (http, url) = (http.clone(), url.clone());
        let offset = interval.mul_f64(i as f64 / clients as f64);
        tasks.push(tokio::spawn(async move {
            for (k, (entry, operation)) in list.iter().enumerate() {
                tokio::time::sleep_until((start + offset + interval * k as u32).into()).await;
                let body = json!({ "query": PUBLISH, "variables": { "entry": entry, "operation": operation } });
                let got = http.post(&url).json(&body).send().await?.bytes().await?;
                if got.windows(8).any(|w| w == b"\"errors\"") {
                    bail!("publish failed: {}", String::from_utf8_lossy(&got));
                }
            }
            Ok::<_, anyhow::Error>(list.len())
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await??;
    }
    Ok(sent)
}
