//! A filesystem for power-loss tests. Mounted with FUSE, it holds its
//! contents in the test's memory in two layers: what an `fsync` made
//! durable, and what was written since. [`Disk::cut`] drops the second
//! layer, as losing power drops a disk's volatile cache and the kernel's
//! page cache: writes not followed by an `fsync` of their file, and
//! directory entries (creates, renames, unlinks) not followed by an `fsync`
//! of their directory, are gone; the page written last may be torn.
//!
//! A process killed with `kill -9` loses nothing the kernel accepted, so it
//! cannot show a missing `fsync`; this can.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let disk = hoffnung_powercut::Disk::new(7);
//! let mount = disk.mount(std::path::Path::new("/tmp/powercut"))?;
//! // … run the program under test on /tmp/powercut, kill it …
//! let report = disk.cut(mount, true)?;
//! let mount = disk.mount(std::path::Path::new("/tmp/powercut"))?;
//! # let _ = (report, mount); Ok(()) }
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![cfg(target_os = "linux")]

mod fs;
mod state;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use state::CutReport;

/// The contents, which outlive each mount.
pub struct Disk {
    state: Arc<Mutex<state::State>>,
    /// xorshift64 state: which pages a cut tears, reproducible per seed.
    rng: Mutex<u64>,
}

/// A mount of a [`Disk`]; unmounted when dropped.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    at: PathBuf,
}

impl Disk {
    /// An empty disk; `seed` decides which pages cuts tear.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Arc::default(),
            rng: Mutex::new(seed | 1),
        }
    }

    /// Mounts the disk at `at` (an existing directory). Needs FUSE
    /// (`/dev/fuse`) and the right to mount (root, or a user namespace).
    pub fn mount(&self, at: &Path) -> io::Result<Mounted> {
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("powercut".into()),
            fuser::MountOption::DefaultPermissions,
        ];
        let fs = fs::Fs {
            state: self.state.clone(),
        };
        let session = fuser::spawn_mount(fs, at, &config)?;
        Ok(Mounted {
            session: Some(session),
            at: at.to_path_buf(),
        })
    }

    /// Cuts the power: unmounts `mount` (which drops the kernel's cached
    /// pages), then drops every write and directory entry not synced. With
    /// `tear`, each file's last unsynced page may keep part of its new
    /// contents (whole 512-byte sectors). Processes using the mount should
    /// be dead by now: their writes would land after the cut.
    pub fn cut(&self, mount: Mounted, tear: bool) -> io::Result<CutReport> {
        mount.unmount()?;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(state.cut(|_| {
            if !tear {
                return None;
            }
            let r = next(&mut rng);
            // Half of the files keep 1 to 7 sectors of their last page.
            (r & 1 == 1).then_some(1 + (r >> 1) % 7)
        }))
    }

    /// `fsync` calls (files and directories) so far.
    pub fn syncs(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).syncs
    }
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

impl Mounted {
    pub fn path(&self) -> &Path {
        &self.at
    }

    /// Unmounts and waits for the session to end.
    pub fn unmount(mut self) -> io::Result<()> {
        match self.session.take() {
            Some(s) => s.umount_and_join(),
            None => Ok(()),
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}

/// Why FUSE cannot be mounted here, if it cannot: tests skip with this.
pub fn unavailable() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    let dir = std::env::temp_dir().join(format!("powercut-probe-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Some(format!("cannot make {}: {e}", dir.display()));
    }
    let result = Disk::new(1).mount(&dir).and_then(Mounted::unmount);
    let _ = std::fs::remove_dir(&dir);
    result
        .err()
        .map(|e| format!("cannot mount a FUSE filesystem: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File, OpenOptions};
    use std::io::Write;

    fn mountpoint(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("powercut-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_cut_keeps_what_was_synced_and_nothing_else() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        let at = mountpoint("keeps");
        let disk = Disk::new(3);
        let mount = disk.mount(&at).unwrap();
        // Synced, with its directory: survives.
        let mut kept = File::create(at.join("kept")).unwrap();
        kept.write_all(b"durable").unwrap();
        kept.sync_all().unwrap();
        File::open(&at).unwrap().sync_all().unwrap();
        // Written after the sync: lost.
        kept.write_all(b" and more").unwrap();
        drop(kept);
        // Synced itself, but its directory never was: lost.
        let mut orphan = File::create(at.join("orphan")).unwrap();
        orphan.write_all(b"x").unwrap();
        orphan.sync_all().unwrap();
        drop(orphan);
        assert_eq!(fs::read(at.join("kept")).unwrap(), b"durable and more");

        let report = disk.cut(mount, false).unwrap();
        assert_eq!((report.files, report.dirs), (1, 1), "{report:?}");
        let _mount = disk.mount(&at).unwrap();
        assert_eq!(fs::read(at.join("kept")).unwrap(), b"durable");
        assert!(!at.join("orphan").exists());
        let names: Vec<_> = fs::read_dir(&at)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["kept"]);
    }

    #[test]
    fn a_rename_needs_its_directory_synced() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        let at = mountpoint("rename");
        let disk = Disk::new(5);
        let mount = disk.mount(&at).unwrap();
        fs::create_dir(at.join("d")).unwrap();
        File::open(&at).unwrap().sync_all().unwrap();
        for (name, sync_dir) in [("synced", true), ("unsynced", false)] {
            let tmp = at.join("d").join(format!("{name}.tmp"));
            let mut f = OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(&tmp)
                .unwrap();
            f.write_all(name.as_bytes()).unwrap();
            f.sync_all().unwrap();
            File::open(at.join("d")).unwrap().sync_all().unwrap();
            fs::rename(&tmp, at.join("d").join(name)).unwrap();
            if sync_dir {
                File::open(at.join("d")).unwrap().sync_all().unwrap();
            }
        }
        disk.cut(mount, true).unwrap();
        let _mount = disk.mount(&at).unwrap();
        assert_eq!(fs::read(at.join("d/synced")).unwrap(), b"synced");
        assert!(!at.join("d/unsynced").exists());
        assert_eq!(fs::read(at.join("d/unsynced.tmp")).unwrap(), b"unsynced");
    }
}
