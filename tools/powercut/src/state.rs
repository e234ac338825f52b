//! The disk's contents as two layers: what a sync made durable, and what was
//! written since. A power cut keeps the first and drops the second.
//!
//! Files: the durable bytes, plus pages written since the last `fsync` of
//! that file. Directories: the entries as of the last `fsync` of that
//! directory, plus the live entries. So a file created or renamed survives a
//! cut only once its directory was synced, as POSIX promises and no more.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

/// Pages are the unit of unsynced writes.
pub(crate) const PAGE: u64 = 4096;
/// A torn page keeps a whole number of sectors of its new contents.
const SECTOR: u64 = 512;

pub(crate) const ROOT: u64 = 1;

#[derive(Default)]
pub(crate) struct File {
    durable: Vec<u8>,
    /// Page index → the page as written since the last sync.
    dirty: BTreeMap<u64, Box<[u8]>>,
    len: u64,
    /// Durable bytes at or past this offset were truncated away since the
    /// last sync, so they read as zeros unless a dirty page covers them.
    zero_from: u64,
    /// The dirty page written last: the one a cut may tear.
    last: Option<u64>,
}

impl File {
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Page `p` as it reads now, `PAGE` bytes (zeros past the end).
    fn page(&self, p: u64) -> Box<[u8]> {
        if let Some(page) = self.dirty.get(&p) {
            return page.clone();
        }
        let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
        let start = p * PAGE;
        let end = (start + PAGE)
            .min(self.durable.len() as u64)
            .min(self.zero_from);
        if end > start {
            page[..(end - start) as usize]
                .copy_from_slice(&self.durable[start as usize..end as usize]);
        }
        page
    }

    pub(crate) fn read(&self, offset: u64, size: u32) -> Vec<u8> {
        let end = (offset + u64::from(size)).min(self.len);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let p = at / PAGE;
            let within = (at % PAGE) as usize;
            let take = ((PAGE - at % PAGE).min(end - at)) as usize;
            if let Some(page) = self.dirty.get(&p) {
                out.extend_from_slice(&page[within..within + take]);
            } else {
                out.extend_from_slice(&self.page(p)[within..within + take]);
            }
            at += take as u64;
        }
        out
    }

    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let p = at / PAGE;
            let within = (at % PAGE) as usize;
            let take = ((PAGE as usize) - within).min(rest.len());
            if !self.dirty.contains_key(&p) {
                let page = self.page(p);
                self.dirty.insert(p, page);
            }
            if let Some(page) = self.dirty.get_mut(&p) {
                page[within..within + take].copy_from_slice(&rest[..take]);
            }
            self.last = Some(p);
            rest = &rest[take..];
            at += take as u64;
        }
        self.len = self.len.max(offset + data.len() as u64);
    }

    pub(crate) fn truncate(&mut self, len: u64) {
        if len < self.len {
            let boundary = len / PAGE;
            self.dirty.retain(|p, _| *p * PAGE < len);
            if let Some(page) = self.dirty.get_mut(&boundary) {
                page[(len % PAGE) as usize..].fill(0);
            }
            self.zero_from = self.zero_from.min(len);
        }
        self.len = len;
    }

    /// `fsync`: everything written so far becomes durable.
    pub(crate) fn sync(&mut self) {
        let keep = (self.zero_from as usize).min(self.durable.len());
        self.durable.truncate(keep);
        self.durable.resize(self.len as usize, 0);
        for (p, page) in std::mem::take(&mut self.dirty) {
            let start = (p * PAGE) as usize;
            let end = (start + PAGE as usize).min(self.len as usize);
            if end > start {
                self.durable[start..end].copy_from_slice(&page[..end - start]);
            }
        }
        self.zero_from = self.len;
        self.last = None;
    }

    /// The power goes: unsynced writes are lost. With `tear`, the page
    /// written last keeps the first `sectors` sectors of its new contents
    /// (1 to 7), as a write cut off half way would. Returns the bytes lost.
    pub(crate) fn cut(&mut self, tear: Option<u64>) -> u64 {
        let lost = self.dirty.len() as u64 * PAGE;
        if let (Some(sectors), Some(p)) = (tear, self.last) {
            if let Some(page) = self.dirty.get(&p) {
                let start = (p * PAGE) as usize;
                let keep = (sectors.clamp(1, PAGE / SECTOR - 1) * SECTOR) as usize;
                // Never past the size the file had when it was written.
                let end = (start + keep).min(self.len as usize);
                if end > start {
                    if self.durable.len() < end {
                        self.durable.resize(end, 0);
                    }
                    self.durable[start..end].copy_from_slice(&page[..end - start]);
                }
            }
        }
        self.dirty.clear();
        self.len = self.durable.len() as u64;
        self.zero_from = self.len;
        self.last = None;
        lost
    }

    pub(crate) fn unsynced(&self) -> bool {
        !self.dirty.is_empty() || self.len != self.durable.len() as u64
    }
}

pub(crate) struct Dir {
    pub(crate) parent: u64,
    durable: BTreeMap<OsString, u64>,
    pub(crate) live: BTreeMap<OsString, u64>,
}

impl Dir {
    fn new(parent: u64) -> Self {
        Self {
            parent,
            durable: BTreeMap::new(),
            live: BTreeMap::new(),
        }
    }
}

pub(crate) enum Kind {
    File(File),
    Dir(Dir),
}

pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) perm: u16,
    pub(crate) mtime: SystemTime,
}

/// What a cut dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CutReport {
    /// Files that had unsynced writes.
    pub files: u64,
    /// Bytes of unsynced pages dropped (whole pages).
    pub bytes: u64,
    /// Directories whose unsynced entries were dropped.
    pub dirs: u64,
}

pub(crate) struct State {
    pub(crate) nodes: HashMap<u64, Node>,
    next: u64,
    pub(crate) syncs: u64,
}

impl Default for State {
    fn default() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                kind: Kind::Dir(Dir::new(ROOT)),
                perm: 0o755,
                mtime: SystemTime::now(),
            },
        );
        Self {
            nodes,
            next: ROOT + 1,
            syncs: 0,
        }
    }
}

/// Why an operation failed, as the errno it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    NotFound,
    Exists,
    NotDir,
    IsDir,
    NotEmpty,
}

impl State {
    pub(crate) fn dir(&self, ino: u64) -> Result<&Dir, Fail> {
        match self.nodes.get(&ino).map(|n| &n.kind) {
            Some(Kind::Dir(d)) => Ok(d),
            Some(Kind::File(_)) => Err(Fail::NotDir),
            None => Err(Fail::NotFound),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut Dir, Fail> {
        match self.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            Some(Kind::Dir(d)) => Ok(d),
            Some(Kind::File(_)) => Err(Fail::NotDir),
            None => Err(Fail::NotFound),
        }
    }

    pub(crate) fn file_mut(&mut self, ino: u64) -> Result<&mut File, Fail> {
        match self.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            Some(Kind::File(f)) => Ok(f),
            Some(Kind::Dir(_)) => Err(Fail::IsDir),
            None => Err(Fail::NotFound),
        }
    }

    pub(crate) fn lookup(&self, parent: u64, name: &OsStr) -> Result<u64, Fail> {
        self.dir(parent)?
            .live
            .get(name)
            .copied()
            .ok_or(Fail::NotFound)
    }

    /// A new file or directory `name` in `parent`.
    pub(crate) fn make(
        &mut self,
        parent: u64,
        name: &OsStr,
        dir: bool,
        perm: u16,
    ) -> Result<u64, Fail> {
        if self.dir(parent)?.live.contains_key(name) {
            return Err(Fail::Exists);
        }
        let ino = self.next;
        self.next += 1;
        let kind = if dir {
            Kind::Dir(Dir::new(parent))
        } else {
            Kind::File(File::default())
        };
        self.nodes.insert(
            ino,
            Node {
                kind,
                perm,
                mtime: SystemTime::now(),
            },
        );
        self.dir_mut(parent)?.live.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// Removes `name` from `parent` (a directory only if `dir` and empty).
    /// The node itself stays: an open handle may still use it.
    pub(crate) fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), Fail> {
        let ino = self.lookup(parent, name)?;
        match (&self.nodes[&ino].kind, dir) {
            (Kind::Dir(d), true) if !d.live.is_empty() => return Err(Fail::NotEmpty),
            (Kind::Dir(_), true) | (Kind::File(_), false) => {}
            (Kind::Dir(_), false) => return Err(Fail::IsDir),
            (Kind::File(_), true) => return Err(Fail::NotDir),
        }
        self.dir_mut(parent)?.live.remove(name);
        Ok(())
    }

    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        to_parent: u64,
        to_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), Fail> {
        let ino = self.lookup(parent, name)?;
        let moving_dir = matches!(self.nodes[&ino].kind, Kind::Dir(_));
        if let Ok(existing) = self.lookup(to_parent, to_name) {
            if no_replace {
                return Err(Fail::Exists);
            }
            if existing == ino {
                return Ok(());
            }
            match (&self.nodes[&existing].kind, moving_dir) {
                (Kind::Dir(d), true) if !d.live.is_empty() => return Err(Fail::NotEmpty),
                (Kind::Dir(_), false) => return Err(Fail::IsDir),
                (Kind::File(_), true) => return Err(Fail::NotDir),
                _ => {}
            }
        }
        self.dir(to_parent)?;
        self.dir_mut(parent)?.live.remove(name);
        self.dir_mut(to_parent)?
            .live
            .insert(to_name.to_owned(), ino);
        if let Some(Node {
            kind: Kind::Dir(d), ..
        }) = self.nodes.get_mut(&ino)
        {
            d.parent = to_parent;
        }
        Ok(())
    }

    /// `fsync` of a file or a directory.
    pub(crate) fn sync(&mut self, ino: u64) -> Result<(), Fail> {
        match self.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            Some(Kind::File(f)) => f.sync(),
            Some(Kind::Dir(d)) => d.durable = d.live.clone(),
            None => return Err(Fail::NotFound),
        }
        self.syncs += 1;
        Ok(())
    }

    /// Drops everything not synced; `tear(ino)` says how many sectors of
    /// the file's last page survive, if any.
    pub(crate) fn cut(&mut self, mut tear: impl FnMut(u64) -> Option<u64>) -> CutReport {
        let mut report = CutReport::default();
        for (ino, node) in self.nodes.iter_mut() {
            match &mut node.kind {
                Kind::File(f) => {
                    if f.unsynced() {
                        report.files += 1;
                        report.bytes += f.cut(tear(*ino));
                    }
                }
                Kind::Dir(d) => {
                    if d.live != d.durable {
                        report.dirs += 1;
                        d.live = d.durable.clone();
                    }
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn unsynced_writes_are_lost_and_synced_ones_stay() {
        let mut f = File::default();
        f.write(0, &[1; 5000]);
        f.sync();
        f.write(4000, &[2; 200]);
        f.write(9000, b"tail");
        assert_eq!(f.read(3999, 3), vec![1, 2, 2]);
        assert_eq!(f.len(), 9004);
        assert_eq!(f.read(8998, 10), vec![0, 0, b't', b'a', b'i', b'l']);
        assert_eq!(f.cut(None), 3 * PAGE);
        assert_eq!(f.len(), 5000);
        assert_eq!(f.read(3999, 3), vec![1, 1, 1]);
    }

    #[test]
    fn a_truncation_is_lost_without_a_sync_and_reads_zeros_after_it() {
        let mut f = File::default();
        f.write(0, &[7; 6000]);
        f.sync();
        f.truncate(100);
        f.truncate(6000);
        assert_eq!(f.read(98, 4), vec![7, 7, 0, 0]);
        assert_eq!(f.read(5000, 2), vec![0, 0]);
        f.cut(None);
        assert_eq!(f.read(98, 4), vec![7, 7, 7, 7]);
        f.truncate(100);
        f.sync();
        f.truncate(6000);
        f.sync();
        assert_eq!(f.read(5000, 2), vec![0, 0]);
        assert_eq!(f.len(), 6000);
    }

    #[test]
    fn a_torn_page_keeps_whole_sectors_of_the_last_write() {
        let mut f = File::default();
        f.write(0, &[1; 4096]);
        f.sync();
        f.write(0, &[2; 4096]);
        f.write(4096, &[3; 4096]);
        f.cut(Some(3));
        assert_eq!(f.len(), 4096 + 3 * 512);
        assert_eq!(f.read(0, 1), vec![1]);
        assert_eq!(f.read(4096 + 3 * 512 - 1, 2), vec![3]);
    }

    #[test]
    fn entries_survive_a_cut_only_once_their_directory_was_synced() {
        let mut s = State::default();
        let a = s.make(ROOT, name("a"), false, 0o644).unwrap();
        s.file_mut(a).unwrap().write(0, b"data");
        s.sync(a).unwrap();
        let report = s.cut(|_| None);
        assert_eq!(report.dirs, 1);
        assert_eq!(s.lookup(ROOT, name("a")), Err(Fail::NotFound));

        let a = s.make(ROOT, name("a"), false, 0o644).unwrap();
        s.file_mut(a).unwrap().write(0, b"data");
        s.sync(a).unwrap();
        s.sync(ROOT).unwrap();
        s.rename(ROOT, name("a"), ROOT, name("b"), false).unwrap();
        s.cut(|_| None);
        assert_eq!(s.lookup(ROOT, name("a")), Ok(a));
        assert_eq!(s.lookup(ROOT, name("b")), Err(Fail::NotFound));
        assert_eq!(s.file_mut(a).unwrap().read(0, 10), b"data".to_vec());
    }

    #[test]
    fn names_follow_posix_rules() {
        let mut s = State::default();
        let d = s.make(ROOT, name("d"), true, 0o755).unwrap();
        s.make(d, name("f"), false, 0o644).unwrap();
        assert_eq!(s.make(ROOT, name("d"), false, 0o644), Err(Fail::Exists));
        assert_eq!(s.remove(ROOT, name("d"), true), Err(Fail::NotEmpty));
        assert_eq!(s.remove(ROOT, name("d"), false), Err(Fail::IsDir));
        assert_eq!(s.remove(d, name("f"), true), Err(Fail::NotDir));
        s.make(ROOT, name("g"), false, 0o644).unwrap();
        assert_eq!(
            s.rename(d, name("f"), ROOT, name("g"), true),
            Err(Fail::Exists)
        );
        s.rename(d, name("f"), ROOT, name("g"), false).unwrap();
        s.remove(ROOT, name("d"), true).unwrap();
        assert_eq!(s.lookup(ROOT, name("d")), Err(Fail::NotFound));
    }
}
