//! The author processes of a `kills` run (`e2e/author.mjs` for documents,
//! `e2e/blob-author.mjs` for blobs), each with a key of its own and a
//! journal it replaces atomically; killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;

/// How long the authors may take to stop after being asked (an entry in
/// flight gives up after 60 s).
const AUTHORS_STOP: Duration = Duration::from_secs(120);

/// What every journal says about how its author ended.
pub(super) trait Outcome {
    /// The author stopped cleanly after being asked to.
    fn done(&self) -> bool;
    fn error(&self) -> Option<&str>;
}

pub(super) struct Authors {
    /// The folder of the scripts, its npm packages installed.
    e2e: PathBuf,
    children: Vec<(Child, PathBuf)>,
}

impl Authors {
    pub(super) fn new(e2e: &Path) -> Self {
        Self {
            e2e: e2e.to_path_buf(),
            children: Vec::new(),
        }
    }

    /// Starts `node <script> <args…>` with `key` as its `PRIVATE_KEY`;
    /// `journal` is where it writes its journal (one of `args`).
    pub(super) fn spawn(
        &mut self,
        script: &str,
        args: &[&std::ffi::OsStr],
        key: [u8; 32],
        journal: PathBuf,
    ) -> anyhow::Result<()> {
        let child = Command::new("node")
            .arg(script)
            .args(args)
            .env("PRIVATE_KEY", hex::encode(key))
            .current_dir(&self.e2e)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting node {script}"))?;
        self.children.push((child, journal));
        Ok(())
    }

    /// Fails if an author has exited before it was asked to stop.
    pub(super) fn running(&mut self) -> anyhow::Result<()> {
        for (a, (child, _)) in self.children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                bail!("author {a} exited while publishing: {status}");
            }
        }
        Ok(())
    }

    /// Waits until every author has stopped (asked by the stop file) and
    /// reads their journals.
    pub(super) async fn finish<J: DeserializeOwned + Outcome>(&mut self) -> anyhow::Result<Vec<J>> {
        let deadline = Instant::now() + AUTHORS_STOP;
        let mut journals = Vec::with_capacity(self.children.len());
        for (a, (child, journal)) in self.children.iter_mut().enumerate() {
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() > deadline {
                    bail!("author {a} did not stop within {AUTHORS_STOP:?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let text = std::fs::read_to_string(&*journal)
                .with_context(|| format!("author {a}'s journal"))?;
            let j: J = serde_json::from_str(&text)
                .with_context(|| format!("author {a}'s journal: {text}"))?;
            if !status.success() || !j.done() {
                bail!(
                    "author {a} failed ({status}): {}",
                    j.error().unwrap_or_default()
                );
            }
            journals.push(j);
        }
        Ok(journals)
    }
}

impl Drop for Authors {
    fn drop(&mut self) {
        for (child, _) in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
