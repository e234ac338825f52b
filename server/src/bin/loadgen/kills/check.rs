//! What `kills` checks once the authors stopped and the materializer caught
//! up: each author's journal against the node's logs (`nextArgs` after the
//! last acknowledged view) and views (`<schema>(id: …)`).

use std::collections::BTreeMap;

use hoffnung_core::SchemaId;
use serde::Deserialize;
use serde_json::json;

use crate::common::GraphqlClient;

/// An author's journal, as `e2e/author.mjs` writes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Journal {
    pub(super) public_key: String,
    done: bool,
    error: Option<String>,
    pub(super) acknowledged: u64,
    pub(super) acknowledged_by_publish: u64,
    pub(super) acknowledged_by_next_args: u64,
    pub(super) resent: u64,
    pub(super) errors: u64,
    pub(super) error_kinds: BTreeMap<String, u64>,
    pub(super) unusual_errors: Vec<String>,
    documents: Vec<Document>,
}

impl super::authors::Outcome for Journal {
    fn done(&self) -> bool {
        self.done
    }
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// A document as its author last had it acknowledged.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    id: String,
    log_id: String,
    view_id: String,
    entries: u64,
    fields: Fields,
}

#[derive(Deserialize, PartialEq, Debug)]
struct Fields {
    title: String,
    count: i64,
}

/// Checks every journal against the node: a summary, or every problem.
/// `gained`: the entries the node stored while the authors ran (negative
/// if it lost some it had before).
pub(super) async fn check(
    client: &GraphqlClient,
    schema: &SchemaId,
    journals: &[Journal],
    gained: i64,
) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    let acknowledged: u64 = journals.iter().map(|j| j.acknowledged).sum();
    if gained != acknowledged as i64 {
        problems.push(format!(
            "the node stored {gained} entries while the authors ran; they acknowledged {acknowledged}"
        ));
    }
    let mut documents = 0;
    for (a, j) in journals.iter().enumerate() {
        let counted: u64 = j.documents.iter().map(|d| d.entries).sum();
        if counted != j.acknowledged {
            problems.push(format!(
                "author {a}: its documents hold {counted} entries, its total says {}",
                j.acknowledged
            ));
        }
        for d in &j.documents {
            documents += 1;
            if let Err(p) = check_log(client, &j.public_key, d).await {
                problems.push(format!("author {a}, document {}: {p}", d.id));
            }
            if let Err(p) = check_view(client, schema, d).await {
                problems.push(format!("author {a}, document {}: {p}", d.id));
            }
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "{documents} logs hold their {acknowledged} acknowledged entries and nothing else \
             (the node stored {gained}); {documents} documents materialized at their last \
             acknowledged view with its fields"
        ))
    } else {
        Err(problems)
    }
}

/// The document's log holds exactly its acknowledged entries, the last
/// acknowledged one last.
async fn check_log(client: &GraphqlClient, public_key: &str, d: &Document) -> Result<(), String> {
    let args = client
        .next_args(public_key, Some(&d.view_id))
        .await
        .map_err(|e| {
            format!(
                "LOST? nextArgs after the last acknowledged view {} failed: {e:#}",
                d.view_id
            )
        })?;
    if args.log_id.to_string() != d.log_id {
        return Err(format!(
            "nextArgs names log {}, the journal log {}",
            args.log_id, d.log_id
        ));
    }
    let held = args.seq_num.saturating_sub(1);
    if held < d.entries {
        return Err(format!(
            "LOST: log {} holds {held} entries, {} were acknowledged",
            d.log_id, d.entries
        ));
    }
    if held > d.entries {
        return Err(format!(
            "log {} holds {held} entries, only {} were acknowledged",
            d.log_id, d.entries
        ));
    }
    let latest = args.backlink.map(|h| h.to_string());
    if latest.as_deref() != Some(d.view_id.as_str()) {
        return Err(format!(
            "log {}'s latest entry is {latest:?}, not the last acknowledged {}",
            d.log_id, d.view_id
        ));
    }
    Ok(())
}

/// The document is materialized at its last acknowledged view, with the
/// fields as the author last set them.
async fn check_view(client: &GraphqlClient, schema: &SchemaId, d: &Document) -> Result<(), String> {
    let query = format!(
        "query D($id: String!) {{ d: {schema}(id: $id) {{ meta {{ viewId }} fields {{ title count }} }} }}"
    );
    let data = client
        .graphql(&query, json!({ "id": d.id }))
        .await
        .map_err(|e| format!("query failed: {e:#}"))?;
    let got = &data["d"];
    if got.is_null() {
        return Err("not materialized".into());
    }
    let view = got["meta"]["viewId"].as_str().unwrap_or_default();
    let fields: Result<Fields, _> = serde_json::from_value(got["fields"].clone());
    match fields {
        Ok(f) if view == d.view_id && f == d.fields => Ok(()),
        _ => Err(format!(
            "materialized {got}, acknowledged view {} with {:?}",
            d.view_id, d.fields
        )),
    }
}
