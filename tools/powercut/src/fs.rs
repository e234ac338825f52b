//! The FUSE requests, answered from the shared [`State`].

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::state::{Fail, Kind, State, PAGE};

/// How long the kernel may cache names and attributes. Nothing but the
/// kernel changes them while mounted, and a cut happens unmounted.
const TTL: Duration = Duration::from_secs(1);

pub(crate) struct Fs {
    pub(crate) state: Arc<Mutex<State>>,
}

impl From<Fail> for Errno {
    fn from(f: Fail) -> Self {
        match f {
            Fail::NotFound => Errno::ENOENT,
            Fail::Exists => Errno::EEXIST,
            Fail::NotDir => Errno::ENOTDIR,
            Fail::IsDir => Errno::EISDIR,
            Fail::NotEmpty => Errno::ENOTEMPTY,
        }
    }
}

impl Fs {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent state: every
        // change is a single map or buffer update.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn attr(state: &State, ino: u64) -> Result<FileAttr, Fail> {
    let node = state.nodes.get(&ino).ok_or(Fail::NotFound)?;
    let (kind, size, nlink) = match &node.kind {
        Kind::File(f) => (FileType::RegularFile, f.len(), 1),
        Kind::Dir(d) => (FileType::Directory, PAGE, 2 + d.live.len() as u32),
    };
    Ok(FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: node.mtime,
        mtime: node.mtime,
        ctime: node.mtime,
        crtime: node.mtime,
        kind,
        perm: node.perm,
        nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: PAGE as u32,
        flags: 0,
    })
}

/// Answers with the node `ino` names, or with why there is none.
fn entry(state: &State, ino: Result<u64, Fail>, reply: ReplyEntry) {
    match ino.and_then(|ino| attr(state, ino)) {
        Ok(a) => reply.entry(&TTL, &a, Generation(0)),
        Err(e) => reply.error(e.into()),
    }
}

fn attributes(state: &State, ino: u64, reply: ReplyAttr) {
    match attr(state, ino) {
        Ok(a) => reply.attr(&TTL, &a),
        Err(e) => reply.error(e.into()),
    }
}

fn done(result: Result<(), Fail>, reply: ReplyEmpty) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e.into()),
    }
}

fn perm(mode: u32, umask: u32) -> u16 {
    (mode & !umask & 0o7777) as u16
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let state = self.state();
        entry(&state, state.lookup(parent.0, name), reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        attributes(&self.state(), ino.0, reply);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.state();
        if let Some(size) = size {
            match state.file_mut(ino.0) {
                Ok(f) => f.truncate(size),
                Err(e) => return reply.error(e.into()),
            }
        }
        if let Some(node) = state.nodes.get_mut(&ino.0) {
            if let Some(mode) = mode {
                node.perm = perm(mode, 0);
            }
            match mtime {
                Some(TimeOrNow::SpecificTime(t)) => node.mtime = t,
                Some(TimeOrNow::Now) => node.mtime = SystemTime::now(),
                None if size.is_some() => node.mtime = SystemTime::now(),
                None => {}
            }
        }
        attributes(&state, ino.0, reply);
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let mut state = self.state();
        let ino = state.make(parent.0, name, false, perm(mode, umask));
        entry(&state, ino, reply);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut state = self.state();
        let ino = state.make(parent.0, name, true, perm(mode, umask));
        entry(&state, ino, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        done(self.state().remove(parent.0, name, false), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        done(self.state().remove(parent.0, name, true), reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        done(
            self.state()
                .rename(parent.0, name, newparent.0, newname, no_replace),
            reply,
        );
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.state().file_mut(ino.0) {
            Ok(f) => reply.data(&f.read(offset, size)),
            Err(e) => reply.error(e.into()),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.state();
        match state.file_mut(ino.0) {
            Ok(f) => {
                f.write(offset, data);
                if let Some(node) = state.nodes.get_mut(&ino.0) {
                    node.mtime = SystemTime::now();
                }
                reply.written(data.len() as u32);
            }
            Err(e) => reply.error(e.into()),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // `close` makes nothing durable.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        done(self.state().sync(ino.0), reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = self.state();
        let dir = match state.dir(ino.0) {
            Ok(d) => d,
            Err(e) => return reply.error(e.into()),
        };
        let mut entries = vec![
            (ino.0, FileType::Directory, OsStr::new(".")),
            (dir.parent, FileType::Directory, OsStr::new("..")),
        ];
        for (name, child) in &dir.live {
            let kind = match state.nodes.get(child).map(|n| &n.kind) {
                Some(Kind::Dir(_)) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            entries.push((*child, kind, name.as_os_str()));
        }
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        done(self.state().sync(ino.0), reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Plenty of room: the contents live in the test's memory.
        let blocks = 1 << 28;
        reply.statfs(
            blocks,
            blocks,
            blocks,
            1 << 20,
            1 << 20,
            PAGE as u32,
            255,
            PAGE as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut state = self.state();
        let ino = match state.make(parent.0, name, false, perm(mode, umask)) {
            Ok(ino) => ino,
            Err(Fail::Exists) if flags & libc::O_EXCL == 0 => match state.lookup(parent.0, name) {
                Ok(ino) => ino,
                Err(e) => return reply.error(e.into()),
            },
            Err(e) => return reply.error(e.into()),
        };
        if flags & libc::O_TRUNC != 0 {
            if let Ok(f) = state.file_mut(ino) {
                f.truncate(0);
            }
        }
        match attr(&state, ino) {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e.into()),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(Errno::from_i32(libc::EOPNOTSUPP));
        }
        let mut state = self.state();
        match state.file_mut(ino.0) {
            Ok(f) => {
                if offset + length > f.len() {
                    f.truncate(offset + length);
                }
                reply.ok();
            }
            Err(e) => reply.error(e.into()),
        }
    }
}
