//! Blobs in a `kills` run: `e2e/blob-author.mjs` publishes files as blobs
//! with shirokuma while the node is killed (and its power cut). Before each
//! kill, the acknowledged blobs the node serves complete are noted; after
//! the restart each of them must be served complete again, byte for byte
//! (from its file, or its file rebuilt from the pieces in the database).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Deserialize;

use super::authors::Outcome;
use crate::common::GraphqlClient;

/// How long a blob may take to be served again after a restart.
const SERVED_AGAIN: Duration = Duration::from_secs(60);

/// A blob author's journal, as `e2e/blob-author.mjs` writes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BlobJournal {
    pub(super) public_key: String,
    done: bool,
    error: Option<String>,
    pub(super) attempts: u64,
    pub(super) errors: u64,
    pub(super) error_kinds: BTreeMap<String, u64>,
    pub(super) unusual_errors: Vec<String>,
    pub(super) blobs: Vec<Acknowledged>,
}

/// A blob whose `createBlob` returned, and the file of its bytes.
#[derive(Deserialize, Clone)]
pub(super) struct Acknowledged {
    id: String,
    file: PathBuf,
}

impl Outcome for BlobJournal {
    fn done(&self) -> bool {
        self.done
    }
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// The blobs seen served, and how their checks went.
pub(super) struct BlobWatch {
    base: String,
    journals: Vec<PathBuf>,
    /// Blobs served complete before some cut, by document id.
    served: BTreeMap<String, PathBuf>,
    /// Blobs checked after a restart, counted once per restart.
    pub(super) checks: u64,
    /// Of those, the ones not served at once (rebuilt, or waiting for the
    /// node's start-up check).
    pub(super) waited: u64,
}

impl BlobWatch {
    pub(super) fn new(graphql_url: &str, journals: Vec<PathBuf>) -> Self {
        Self {
            base: graphql_url.trim_end_matches("/graphql").to_string(),
            journals,
            served: BTreeMap::new(),
            checks: 0,
            waited: 0,
        }
    }

    pub(super) fn served(&self) -> usize {
        self.served.len()
    }

    /// Before a kill: every acknowledged blob the node serves complete now
    /// joins the blobs that must survive.
    pub(super) async fn note_served(&mut self, client: &GraphqlClient) -> anyhow::Result<()> {
        for path in &self.journals {
            // Replaced in one rename: absent until the first blob, else whole.
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            let journal: BlobJournal = serde_json::from_str(&text)?;
            for blob in journal.blobs {
                if self.served.contains_key(&blob.id) {
                    continue;
                }
                if let Ok(true) = self.complete(client, &blob).await {
                    self.served.insert(blob.id, blob.file);
                }
            }
        }
        Ok(())
    }

    /// After a restart: every blob served before `cut` is served complete
    /// again within [`SERVED_AGAIN`].
    pub(super) async fn still_served(
        &mut self,
        client: &GraphqlClient,
        cut: usize,
    ) -> anyhow::Result<()> {
        let blobs: Vec<Acknowledged> = self
            .served
            .iter()
            .map(|(id, file)| Acknowledged {
                id: id.clone(),
                file: file.clone(),
            })
            .collect();
        self.served_within(client, &blobs, &format!("served before kill {cut}"))
            .await
    }

    /// At the end: every acknowledged blob is served complete.
    pub(super) async fn all_served(
        &mut self,
        client: &GraphqlClient,
        journals: &[BlobJournal],
    ) -> anyhow::Result<()> {
        let blobs: Vec<Acknowledged> = journals.iter().flat_map(|j| j.blobs.clone()).collect();
        self.served_within(client, &blobs, "acknowledged").await
    }

    async fn served_within(
        &mut self,
        client: &GraphqlClient,
        blobs: &[Acknowledged],
        what: &str,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + SERVED_AGAIN;
        for blob in blobs {
            self.checks += 1;
            let mut first = true;
            loop {
                let last = match self.complete(client, blob).await {
                    Ok(true) => break,
                    Ok(false) => "other bytes".to_string(),
                    Err(e) => format!("{e:#}"),
                };
                if first {
                    self.waited += 1;
                    first = false;
                }
                if Instant::now() > deadline {
                    bail!(
                        "LOST: blob {} ({what}) is not served complete within {SERVED_AGAIN:?}: {last}",
                        blob.id
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The node serves the blob with exactly the bytes of its file.
    async fn complete(&self, client: &GraphqlClient, blob: &Acknowledged) -> anyhow::Result<bool> {
        let response = client
            .http
            .get(format!("{}/blobs/{}", self.base, blob.id))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("HTTP {}", response.status());
        }
        let body = response.bytes().await?;
        Ok(body.as_ref() == std::fs::read(&blob.file)?.as_slice())
    }
}
