//! Blobs in a `kills` run: `e2e/blob-author.mjs` publishes files as blobs
//! with shirokuma while the node is killed (and its power cut). Before each
//! kill, the acknowledged blobs the node serves complete are noted; after
//! the restart each of them must be served again (from its file, or its
//! file rebuilt from the pieces in the database): byte for byte for the
//! blobs first served since the previous kill and for a sample of the
//! older ones, by status and length (`HEAD`) for the rest, so that a run
//! of 100 kills does not read every blob 100 times. At the end every
//! acknowledged blob is read byte for byte.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Deserialize;

use super::authors::Outcome;
use crate::common::GraphqlClient;

/// How long a blob may take to be served again after a restart.
const SERVED_AGAIN: Duration = Duration::from_secs(60);
/// Older blobs read byte for byte after each restart.
const SAMPLE: usize = 16;

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
    length: u64,
}

/// How a blob is checked.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    /// Every byte.
    Bytes,
    /// Status and `Content-Length` of a `HEAD` request.
    Length,
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
    /// Blobs served complete before some kill, by document id.
    served: BTreeMap<String, Acknowledged>,
    /// Those first served since the last restart.
    fresh: Vec<String>,
    /// Picks the sample of older blobs.
    sample: u64,
    /// Checks after restarts and at the end: reads byte for byte, and
    /// `HEAD` requests.
    pub(super) read: u64,
    pub(super) measured: u64,
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
            fresh: Vec::new(),
            sample: 0x9e37_79b9_7f4a_7c15,
            read: 0,
            measured: 0,
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
                if let Ok(true) = self.complete(client, &blob, Check::Bytes).await {
                    self.fresh.push(blob.id.clone());
                    self.served.insert(blob.id.clone(), blob);
                }
            }
        }
        Ok(())
    }

    /// After a restart: every blob served before kill `k` is served again
    /// within [`SERVED_AGAIN`] (see the module's comment for how).
    pub(super) async fn still_served(
        &mut self,
        client: &GraphqlClient,
        k: usize,
    ) -> anyhow::Result<()> {
        let fresh: std::collections::BTreeSet<String> = self.fresh.drain(..).collect();
        let older: Vec<&String> = self
            .served
            .keys()
            .filter(|id| !fresh.contains(*id))
            .collect();
        let mut sampled = std::collections::BTreeSet::new();
        for _ in 0..SAMPLE.min(older.len()) {
            // SplitMix64 steps: a different sample after each kill.
            self.sample = self.sample.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.sample;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            sampled.insert(older[((z ^ (z >> 31)) % older.len() as u64) as usize].clone());
        }
        let blobs: Vec<(Acknowledged, Check)> = self
            .served
            .values()
            .map(|b| {
                let bytes = fresh.contains(&b.id) || sampled.contains(&b.id);
                (b.clone(), if bytes { Check::Bytes } else { Check::Length })
            })
            .collect();
        self.served_within(client, &blobs, &format!("served before kill {k}"))
            .await
    }

    /// At the end: every acknowledged blob is served complete.
    pub(super) async fn all_served(
        &mut self,
        client: &GraphqlClient,
        journals: &[BlobJournal],
    ) -> anyhow::Result<()> {
        let blobs: Vec<(Acknowledged, Check)> = journals
            .iter()
            .flat_map(|j| j.blobs.iter().map(|b| (b.clone(), Check::Bytes)))
            .collect();
        self.served_within(client, &blobs, "acknowledged").await
    }

    async fn served_within(
        &mut self,
        client: &GraphqlClient,
        blobs: &[(Acknowledged, Check)],
        what: &str,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + SERVED_AGAIN;
        for (blob, check) in blobs {
            match check {
                Check::Bytes => self.read += 1,
                Check::Length => self.measured += 1,
            }
            let mut first = true;
            loop {
                let last = match self.complete(client, blob, *check).await {
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

    /// The node serves the blob with exactly the bytes of its file (or,
    /// for [`Check::Length`], with its length).
    async fn complete(
        &self,
        client: &GraphqlClient,
        blob: &Acknowledged,
        check: Check,
    ) -> anyhow::Result<bool> {
        let url = format!("{}/blobs/{}", self.base, blob.id);
        let request = match check {
            Check::Bytes => client.http.get(url),
            Check::Length => client.http.head(url),
        };
        let response = request.send().await?;
        if !response.status().is_success() {
            bail!("HTTP {}", response.status());
        }
        if check == Check::Length {
            let length = response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            return Ok(length == Some(blob.length));
        }
        let body = response.bytes().await?;
        Ok(body.as_ref() == std::fs::read(&blob.file)?.as_slice())
    }
}
