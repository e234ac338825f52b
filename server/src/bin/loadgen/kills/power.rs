//! `kills --power-cut`: the node's data dir on a disk that loses every
//! write not made durable by an `fsync` (`hoffnung-powercut`, FUSE), cut
//! after each kill. A kill alone leaves the kernel's page cache intact, so
//! it cannot show a missing `fsync`; a cut can.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hoffnung_powercut::{CutReport, Disk, Mounted};

pub(super) struct PowerCut {
    disk: Disk,
    mount: Option<Mounted>,
    at: PathBuf,
    /// The node's database, checked after each cut.
    database: PathBuf,
    /// The node key file, and what it held after the node first started:
    /// a cut must not change the node's identity.
    key_file: PathBuf,
    key: Option<Vec<u8>>,
    pub(super) cuts: Vec<CutReport>,
}

impl PowerCut {
    /// Mounts a fresh disk at `at` and makes `data_dir` (inside it)
    /// durable, as an operator's `mkdir` on a real disk would be by the
    /// time the node starts.
    pub(super) fn mount(at: &Path, data_dir: &Path, seed: u64) -> anyhow::Result<Self> {
        if let Some(why) = hoffnung_powercut::unavailable() {
            bail!("--power-cut needs FUSE: {why}");
        }
        std::fs::create_dir_all(at)?;
        let disk = Disk::new(seed);
        let mount = disk
            .mount(at)
            .with_context(|| format!("mounting the power-cut disk at {}", at.display()))?;
        std::fs::create_dir_all(data_dir)?;
        std::fs::File::open(data_dir)?.sync_all()?;
        std::fs::File::open(at)?.sync_all()?;
        Ok(Self {
            disk,
            mount: Some(mount),
            at: at.to_path_buf(),
            database: data_dir.join("hoffnung.db"),
            key_file: data_dir.join("node.key"),
            key: None,
            cuts: Vec::new(),
        })
    }

    /// Cuts the power (the node must be dead), mounts the disk again and
    /// checks the database page by page.
    pub(super) async fn cut(&mut self) -> anyhow::Result<CutReport> {
        let mount = self.mount.take().context("the disk is not mounted")?;
        let report = self.disk.cut(mount, true)?;
        self.mount = Some(self.disk.mount(&self.at)?);
        if self.database.exists() {
            let problems = hoffnung_store::sqlite_integrity(&self.database).await?;
            if !problems.is_empty() {
                bail!(
                    "after power cut {}: the database is damaged: {}",
                    self.cuts.len() + 1,
                    problems.join("; ")
                );
            }
        }
        if let Some(key) = &self.key {
            let now = std::fs::read(&self.key_file).unwrap_or_default();
            if &now != key {
                bail!(
                    "after power cut {}: the node key file changed or went missing",
                    self.cuts.len() + 1
                );
            }
        }
        self.cuts.push(report);
        Ok(report)
    }

    /// Notes the node key, once the node has started on this disk.
    pub(super) fn remember_key(&mut self) -> anyhow::Result<()> {
        self.key = Some(std::fs::read(&self.key_file).context("the node key file")?);
        Ok(())
    }

    /// `fsync` calls the node made so far.
    pub(super) fn syncs(&self) -> u64 {
        self.disk.syncs()
    }
}
