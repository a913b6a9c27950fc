//! [`DriveFs`]: the kernel's requests on the root drive (and the `Network/` folder), answered
//! on fuser's worker threads with the synchronous drive API.
//!
//! Every call that could wait for peers waits at most the drive's block timeout (the
//! daemon's FUSE read timeout), then answers EIO; the root drive is local, so its calls never
//! wait on the network at all.
//!
//! Writes: the first writable open of a file opens one drive descriptor for it, shared by
//! every writable handle of that inode (so two writers of one file see each other's bytes and
//! cannot undo each other's commits); reads of the inode go through it while it is open. Its
//! writes are staged by the drive and committed as one Stat put on `flush` (every `close`),
//! `fsync` (also made durable) and the last `release`. A file removed or renamed over while
//! open keeps its handles, and its descriptor is dropped without a commit at the last release.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use hyperdrive::{Drive, ReaddirOptions, SetAttr, Stat, WriteOptions, flags as fd_flags, mode};

use super::Context;
use super::attr::{self, errno, file_attr, millis};
#[cfg(test)]
use super::inodes::ROOT_INO;
use super::inodes::{Inodes, Node, join};
use super::network;

/// How long the kernel may cache the attributes and names of the live root drive: short,
/// since the daemon's API can change the drive too.
const TTL: Duration = Duration::from_secs(1);

/// Largest write the kernel sends in one request.
const MAX_WRITE: u32 = 1 << 20;

/// The xattr namespace of the read-only attributes that describe a drive.
const INFO_XATTR: &str = "user.ddrive.";
/// The xattr names user metadata is shown under (`user.<metadata key>`).
const USER_XATTR: &str = "user.";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not wedge the mount: the tables stay consistent at every
    // unlock, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> u64 {
    millis(SystemTime::now())
}

/// A writable drive descriptor shared by the writable handles of one inode.
#[derive(Debug)]
struct Writer {
    fd: u64,
    refs: usize,
    /// The file was removed (or renamed over) while open: never commit it again.
    orphan: bool,
}

#[derive(Debug)]
enum Handle {
    /// A read-only handle with its own drive descriptor (a snapshot of the file at open).
    Read { ino: u64, fd: u64, drive: Drive },
    /// A writable handle of `ino` (see [`Writer`]).
    Write { ino: u64, append: bool },
    /// A directory listing taken at `opendir`.
    Dir(Arc<Vec<DirItem>>),
    /// A generated read-only file (Network stats).
    Bytes(Arc<Vec<u8>>),
}

/// One entry of a directory listing.
#[derive(Clone, Debug)]
pub(crate) struct DirItem {
    pub(crate) name: String,
    pub(crate) node: Node,
    pub(crate) kind: FileType,
}

#[derive(Debug, Default)]
struct Handles {
    next: u64,
    open: HashMap<u64, Handle>,
    writers: HashMap<u64, Writer>,
}

impl Handles {
    fn insert(&mut self, handle: Handle) -> u64 {
        self.next += 1;
        self.open.insert(self.next, handle);
        self.next
    }
}

/// The filesystem fuser runs.
#[derive(Debug)]
pub(crate) struct DriveFs {
    root: Drive,
    ctx: Arc<Context>,
    inodes: Mutex<Inodes>,
    handles: Mutex<Handles>,
}

type Res<T> = Result<T, Errno>;

impl DriveFs {
    pub(crate) fn new(root: Drive, ctx: Arc<Context>) -> Self {
        DriveFs {
            root,
            ctx,
            inodes: Mutex::new(Inodes::default()),
            handles: Mutex::new(Handles::default()),
        }
    }

    fn fail(&self, op: &str, path: &str, e: &hyperdrive::Error) -> Errno {
        errno(op, self.root.key(), path, e)
    }

    fn node(&self, ino: INodeNo) -> Res<Node> {
        lock(&self.inodes).node(ino.0).ok_or(Errno::ENOENT)
    }

    /// The root-drive path of `ino`; EROFS for anything under `Network/` (when `write`),
    /// ENOENT for a removed node.
    fn root_path(&self, ino: INodeNo, write: bool) -> Res<String> {
        match self.node(ino)? {
            Node::Root(p) => Ok(p),
            Node::Gone(_) => Err(Errno::ENOENT),
            _ if write => Err(Errno::EROFS),
            _ => Err(Errno::EPERM),
        }
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Res<Node> {
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        if name.contains('/') {
            return Err(Errno::EINVAL);
        }
        // Linux's NAME_MAX: tools expect ENAMETOOLONG for a longer component, not a file.
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let parent = self.node(parent)?;
        match parent {
            Node::Root(p) if p == "/" && name == network::NETWORK => Ok(Node::Network),
            Node::Root(p) => Ok(Node::Root(join(&p, name))),
            Node::Gone(_) => Err(Errno::ENOENT),
            other => network::child(&self.ctx, &other, name),
        }
    }

    fn writer_fd(&self, ino: u64) -> Option<u64> {
        lock(&self.handles).writers.get(&ino).map(|w| w.fd)
    }

    /// The Stat of a root-drive node (an open file's as its writers see it).
    fn root_stat(&self, ino: u64, path: &str) -> Res<Stat> {
        if let Some(fd) = self.writer_fd(ino)
            && let Ok(stat) = self.root.fstat(fd)
        {
            return Ok(stat);
        }
        self.root
            .lstat(path)
            .map_err(|e| self.fail("getattr", path, &e))
    }

    /// The attributes of `node`; `ino` 0 looks the inode up (a node the kernel may already
    /// know, with an open writer whose size must win over the committed one).
    fn attr_of(&self, ino: u64, node: &Node) -> Res<(FileAttr, Duration)> {
        let ino = if ino == 0 {
            lock(&self.inodes).peek(node).unwrap_or(0)
        } else {
            ino
        };
        match node {
            Node::Root(path) => {
                let stat = self.root_stat(ino, path)?;
                Ok((file_attr(ino, &stat), TTL))
            }
            Node::Gone(_) => match self.writer_fd(ino) {
                Some(fd) => {
                    let stat = self
                        .root
                        .fstat(fd)
                        .map_err(|e| self.fail("getattr", "", &e))?;
                    Ok((file_attr(ino, &stat), TTL))
                }
                None => Err(Errno::ENOENT),
            },
            other => network::attr(&self.ctx, ino, other),
        }
    }

    /// Counts a lookup of `node` and answers its entry.
    fn entry(&self, node: Node) -> Res<(FileAttr, Duration)> {
        // Stat first, so a missing path never takes an inode.
        let probe = self.attr_of(0, &node)?;
        let ino = lock(&self.inodes).lookup(node);
        let mut attr = probe.0;
        attr.ino = INodeNo(ino);
        Ok((attr, probe.1))
    }

    fn reply_entry(&self, node: Res<Node>, reply: ReplyEntry) {
        match node.and_then(|n| self.entry(n)) {
            Ok((attr, ttl)) => reply.entry(&ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn list(&self, ino: INodeNo) -> Res<Vec<DirItem>> {
        let node = self.node(ino)?;
        let mut items = Vec::new();
        match &node {
            Node::Root(path) => {
                let entries = self
                    .root
                    .readdir_with_stats(path, &ReaddirOptions::default())
                    .map_err(|e| self.fail("readdir", path, &e))?;
                if path == "/" {
                    items.push(DirItem {
                        name: network::NETWORK.to_owned(),
                        node: Node::Network,
                        kind: FileType::Directory,
                    });
                }
                for e in entries {
                    if path == "/" && e.name == network::NETWORK {
                        continue;
                    }
                    items.push(DirItem {
                        node: Node::Root(join(path, &e.name)),
                        kind: attr::kind(&e.stat),
                        name: e.name,
                    });
                }
            }
            Node::Gone(_) => return Err(Errno::ENOENT),
            other => items = network::list(&self.ctx, other)?,
        }
        Ok(items)
    }

    fn ensure_writable(&self) -> Res<()> {
        if self.root.writable() {
            Ok(())
        } else {
            Err(Errno::EROFS)
        }
    }

    /// Opens (or shares) the writer of `ino` at `path`.
    fn open_writer(&self, ino: u64, path: &str, truncate: bool) -> Res<()> {
        let mut handles = lock(&self.handles);
        if let Some(w) = handles.writers.get_mut(&ino) {
            w.refs += 1;
            let fd = w.fd;
            drop(handles);
            if truncate {
                self.root
                    .ftruncate(fd, 0)
                    .map_err(|e| self.fail("open", path, &e))?;
            }
            return Ok(());
        }
        let mut flags = fd_flags::O_RDWR;
        if truncate {
            flags |= fd_flags::O_TRUNC;
        }
        let fd = self
            .root
            .open_fd(path, flags)
            .map_err(|e| self.fail("open", path, &e))?;
        handles.writers.insert(
            ino,
            Writer {
                fd,
                refs: 1,
                orphan: false,
            },
        );
        Ok(())
    }

    fn release_writer(&self, ino: u64) -> Res<()> {
        let mut handles = lock(&self.handles);
        let Some(w) = handles.writers.get_mut(&ino) else {
            return Ok(());
        };
        w.refs = w.refs.saturating_sub(1);
        if w.refs > 0 {
            return Ok(());
        }
        let Some(w) = handles.writers.remove(&ino) else {
            return Ok(());
        };
        drop(handles);
        let result = if w.orphan {
            self.root.forget_fd(w.fd)
        } else {
            self.root.close_fd(w.fd)
        };
        result.map_err(|e| self.fail("release", "", &e))
    }

    /// Commits the writers of `ino` (when `durable`, through fsync).
    fn commit(&self, ino: u64, durable: bool) -> Res<()> {
        let writer = lock(&self.handles)
            .writers
            .get(&ino)
            .map(|w| (w.fd, w.orphan));
        let result = match writer {
            Some((_, true)) => Ok(()),
            Some((fd, false)) if durable => self.root.fsync(fd),
            Some((fd, false)) => self.root.commit_fd(fd),
            None if durable => self.root.flush(),
            None => Ok(()),
        };
        result.map_err(|e| self.fail("fsync", "", &e))
    }

    /// Marks the writer of the file at `path` (if open) as removed.
    fn orphan(&self, path: &str) {
        let ino = lock(&self.inodes).remove(&Node::Root(path.to_owned()));
        if let Some(ino) = ino
            && let Some(w) = lock(&self.handles).writers.get_mut(&ino)
        {
            w.orphan = true;
        }
    }

    fn do_rename(&self, from: &str, to: &str, flags: RenameFlags) -> Res<()> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            return self.do_exchange(from, to);
        }
        let target = self.root.lstat(to);
        if flags.contains(RenameFlags::RENAME_NOREPLACE) && target.is_ok() {
            return Err(Errno::EEXIST);
        }
        // The moved files' pending writes go first, so they move with the file.
        let moving = lock(&self.inodes).under(from);
        for ino in &moving {
            self.commit(*ino, false)?;
        }
        self.root
            .rename(from, to)
            .map_err(|e| self.fail("rename", from, &e))?;
        if target.is_ok() {
            let replaced: Vec<Node> = {
                let inodes = lock(&self.inodes);
                let under = inodes.under(to);
                under
                    .into_iter()
                    .filter_map(|ino| inodes.node(ino))
                    .collect()
            };
            for node in replaced {
                if let Node::Root(p) = node {
                    self.orphan(&p);
                }
            }
        }
        lock(&self.inodes).rename(from, to);
        self.follow(moving)
    }

    /// Swaps two files (`RENAME_EXCHANGE`), in one batch.
    fn do_exchange(&self, a: &str, b: &str) -> Res<()> {
        let inos: Vec<u64> = {
            let inodes = lock(&self.inodes);
            [a, b]
                .iter()
                .filter_map(|p| inodes.peek(&Node::Root((*p).to_owned())))
                .collect()
        };
        for ino in &inos {
            self.commit(*ino, false)?;
        }
        self.root
            .exchange(a, b)
            .map_err(|e| self.fail("rename", a, &e))?;
        lock(&self.inodes).exchange(a, b);
        self.follow(inos)
    }

    /// Open writers of `inos` follow their file to its new name: a new descriptor there
    /// (nothing is pending in the old one, it was committed before the move).
    fn follow(&self, inos: Vec<u64>) -> Res<()> {
        for ino in inos {
            let Some(Node::Root(path)) = lock(&self.inodes).node(ino) else {
                continue;
            };
            let mut handles = lock(&self.handles);
            let Some(w) = handles.writers.get_mut(&ino) else {
                continue;
            };
            if w.orphan {
                continue;
            }
            let fd = self
                .root
                .open_fd(&path, fd_flags::O_RDWR)
                .map_err(|e| self.fail("rename", &path, &e))?;
            let old = std::mem::replace(&mut w.fd, fd);
            let _ = self.root.forget_fd(old);
        }
        Ok(())
    }

    fn set_size(&self, ino: u64, path: &str, size: u64) -> Res<()> {
        match self.writer_fd(ino) {
            Some(fd) => self.root.ftruncate(fd, size),
            None => self.root.set_len(path, size).map(|_| ()),
        }
        .map_err(|e| self.fail("truncate", path, &e))
    }

    fn xattr_names(&self, node: &Node) -> Res<Vec<String>> {
        let mut names: Vec<String> = ["key", "version", "writable"]
            .iter()
            .map(|n| format!("{INFO_XATTR}{n}"))
            .collect();
        if let Node::Root(path) = node {
            let stat = self
                .root
                .lstat(path)
                .map_err(|e| self.fail("listxattr", path, &e))?;
            for (key, value) in stat.metadata.iter() {
                if value.is_some() && key != hyperdrive::EXTENTS_KEY {
                    names.push(format!("{USER_XATTR}{key}"));
                }
            }
        }
        Ok(names)
    }

    fn xattr(&self, node: &Node, name: &str) -> Res<Vec<u8>> {
        if let Some(info) = name.strip_prefix(INFO_XATTR) {
            let (key, version, writable) = match node {
                Node::Root(path) => {
                    let (k, v, w) = self.mount_info(path)?;
                    (k, v, w)
                }
                other => network::drive_info(&self.ctx, other).ok_or(Errno::ENODATA)?,
            };
            return match info {
                "key" => Ok(key.into_bytes()),
                "version" => Ok(version.to_string().into_bytes()),
                "writable" => Ok(if writable {
                    b"1".to_vec()
                } else {
                    b"0".to_vec()
                }),
                _ => Err(Errno::ENODATA),
            };
        }
        let Node::Root(path) = node else {
            return Err(Errno::ENODATA);
        };
        let key = name.strip_prefix(USER_XATTR).ok_or(Errno::ENODATA)?;
        let stat = self
            .root
            .lstat(path)
            .map_err(|e| self.fail("getxattr", path, &e))?;
        match stat.metadata.get(key) {
            Some(Some(v)) if key != hyperdrive::EXTENTS_KEY => Ok(v.to_vec()),
            _ => Err(Errno::ENODATA),
        }
    }

    /// The key, version and writability of the drive that holds `path` (the innermost mount).
    fn mount_info(&self, path: &str) -> Res<(String, u64, bool)> {
        let mounts = self
            .root
            .mounts(true)
            .map_err(|e| self.fail("getxattr", path, &e))?;
        let inner = mounts
            .iter()
            .filter(|m| {
                m.path == "/"
                    || m.path == path
                    || path.starts_with(&format!("{}/", m.path.trim_end_matches('/')))
            })
            .max_by_key(|m| m.path.len());
        match inner {
            Some(m) => {
                let key = hypercore::PublicKey(m.record.key);
                let sub = hyperdrive::Drive::open(
                    self.root.corestore().clone(),
                    &key,
                    hyperdrive::DriveOptions::default().block_timeout(Some(self.ctx.read_timeout)),
                )
                .map_err(|e| self.fail("getxattr", path, &e))?;
                let sub = match m.record.version {
                    Some(v) => sub.checkout(v),
                    None => sub,
                };
                Ok((key.to_hex(), sub.version(), sub.writable()))
            }
            None => Ok((
                self.root.key().to_hex(),
                self.root.version(),
                self.root.writable(),
            )),
        }
    }

    fn read_handle(&self, fh: FileHandle, offset: u64, size: u32) -> Res<Vec<u8>> {
        enum Source {
            Fd(Drive, u64),
            Bytes(Arc<Vec<u8>>),
        }
        let source = {
            let handles = lock(&self.handles);
            match handles.open.get(&fh.0) {
                Some(Handle::Read { ino, fd, drive }) => match handles.writers.get(ino) {
                    Some(w) => Source::Fd(self.root.clone(), w.fd),
                    None => Source::Fd(drive.clone(), *fd),
                },
                Some(Handle::Write { ino, .. }) => match handles.writers.get(ino) {
                    Some(w) => Source::Fd(self.root.clone(), w.fd),
                    None => return Err(Errno::EBADF),
                },
                Some(Handle::Bytes(b)) => Source::Bytes(b.clone()),
                _ => return Err(Errno::EBADF),
            }
        };
        match source {
            Source::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                let end = start.saturating_add(size as usize).min(b.len());
                Ok(b[start..end].to_vec())
            }
            Source::Fd(drive, fd) => {
                let mut buf = vec![0u8; size as usize];
                let n = drive
                    .read_fd(fd, &mut buf, Some(offset))
                    .map_err(|e| errno("read", drive.key(), "", &e))?;
                buf.truncate(n);
                Ok(buf)
            }
        }
    }
}

fn fs_path(target: &std::path::Path) -> Res<&str> {
    target.to_str().ok_or(Errno::EINVAL)
}

impl Filesystem for DriveFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        for cap in [
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_ATOMIC_O_TRUNC,
        ] {
            // A kernel without one of these still works, only slower.
            let _ = config.add_capabilities(cap);
        }
        let _ = config.set_max_write(MAX_WRITE);
        let _ = config.set_max_background(64);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.reply_entry(self.child(parent, name), reply);
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        lock(&self.inodes).forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.node(ino).and_then(|n| self.attr_of(ino.0, &n)) {
            Ok((attr, ttl)) => reply.attr(&ttl, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
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
        let result = (|| -> Res<(FileAttr, Duration)> {
            let node = self.node(ino)?;
            if let Node::Gone(_) = node {
                // An open, removed file: only its size can still change.
                if let (Some(size), Some(fd)) = (size, self.writer_fd(ino.0)) {
                    self.root
                        .ftruncate(fd, size)
                        .map_err(|e| self.fail("truncate", "", &e))?;
                }
                return self.attr_of(ino.0, &node);
            }
            let path = self.root_path(ino, true)?;
            self.ensure_writable()?;
            if let Some(size) = size {
                self.set_size(ino.0, &path, size)?;
            }
            let mut change = SetAttr::default();
            if let Some(m) = mode {
                change = change.mode(m);
            }
            if uid.is_some() || gid.is_some() {
                change = change.owner(uid, gid);
            }
            match mtime {
                Some(TimeOrNow::Now) => change = change.mtime(now_ms()),
                Some(TimeOrNow::SpecificTime(t)) => change = change.mtime(millis(t)),
                None => {}
            }
            // The mount's root has no Stat to keep them in (chmod of the mountpoint is a
            // no-op rather than an error, as tools chmod it routinely).
            if change != SetAttr::default() && path != "/" {
                self.root
                    .set_attr(&path, &change)
                    .map_err(|e| self.fail("setattr", &path, &e))?;
            }
            self.attr_of(ino.0, &node)
        })();
        match result {
            Ok((attr, ttl)) => reply.attr(&ttl, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let result = match self.node(ino) {
            Ok(Node::Root(path)) => self
                .root
                .readlink(&path)
                .map_err(|e| self.fail("readlink", &path, &e))
                .map(|target| match target.strip_prefix('/') {
                    // The drive's own root is the mountpoint.
                    Some(rest) => self.ctx.mountpoint.join(rest).display().to_string(),
                    None => target,
                }),
            Ok(other) => network::readlink(&self.ctx, &other),
            Err(e) => Err(e),
        };
        match result {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let file_type = mode & mode::S_IFMT;
        let result = (|| {
            self.ensure_writable()?;
            let node = self.child(parent, name)?;
            let Node::Root(path) = &node else {
                return Err(Errno::EROFS);
            };
            let bits = mode & !umask & 0o7777;
            let options = WriteOptions::default()
                .mode(bits)
                .owner(req.uid(), req.gid());
            let made = if file_type == mode::S_IFREG || file_type == 0 {
                if self.root.lstat(path).is_ok() {
                    return Err(Errno::EEXIST);
                }
                self.root.create_file(path, &options).map(|_| ())
            } else {
                // FIFOs, sockets and device nodes: Stats with their type bits (and the device
                // number); the kernel gives them their behaviour.
                self.root
                    .mknod(path, file_type | bits, u64::from(rdev), &options)
                    .map(|_| ())
            };
            made.map_err(|e| self.fail("mknod", path, &e))?;
            Ok(node)
        })();
        self.reply_entry(result, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            let node = self.child(parent, name)?;
            let Node::Root(path) = &node else {
                return Err(Errno::EROFS);
            };
            self.ensure_writable()?;
            let options = WriteOptions::default()
                .mode(mode & !umask & 0o7777)
                .owner(req.uid(), req.gid());
            self.root
                .mkdir(path, &options)
                .map_err(|e| self.fail("mkdir", path, &e))?;
            Ok(node)
        })();
        self.reply_entry(result, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = (|| {
            let Node::Root(path) = self.child(parent, name)? else {
                return Err(Errno::EROFS);
            };
            self.ensure_writable()?;
            let stat = self
                .root
                .lstat(&path)
                .map_err(|e| self.fail("unlink", &path, &e))?;
            if attr::kind(&stat) == FileType::Directory {
                return Err(Errno::EISDIR);
            }
            self.root
                .unlink(&path)
                .map_err(|e| self.fail("unlink", &path, &e))?;
            self.orphan(&path);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = (|| {
            let Node::Root(path) = self.child(parent, name)? else {
                return Err(Errno::EROFS);
            };
            self.ensure_writable()?;
            self.root
                .rmdir(&path)
                .map_err(|e| self.fail("rmdir", &path, &e))?;
            lock(&self.inodes).remove(&Node::Root(path));
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            let node = self.child(parent, link_name)?;
            let Node::Root(path) = &node else {
                return Err(Errno::EROFS);
            };
            self.ensure_writable()?;
            let mut target = fs_path(target)?.to_owned();
            // A target inside the mount is stored relative to the drive's root, so it
            // resolves in the drive too (Node, the daemon's API).
            if let Ok(rest) = std::path::Path::new(&target).strip_prefix(&self.ctx.mountpoint) {
                target = format!("/{}", rest.display());
            }
            self.root
                .symlink(&target, path)
                .map_err(|e| self.fail("symlink", path, &e))?;
            let owner = SetAttr::default().owner(Some(req.uid()), Some(req.gid()));
            let _ = self.root.set_attr(path, &owner);
            Ok(node)
        })();
        self.reply_entry(result, reply);
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
        let result = (|| {
            let from = self.child(parent, name)?;
            let to = self.child(newparent, newname)?;
            match (from, to) {
                (Node::Root(from), Node::Root(to)) => {
                    self.ensure_writable()?;
                    self.do_rename(&from, &to, flags)
                }
                (Node::Root(_), _) | (_, Node::Root(_)) => Err(Errno::EXDEV),
                _ => Err(Errno::EROFS),
            }
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            self.ensure_writable()?;
            let existing = self.root_path(ino, false)?;
            let node = self.child(newparent, newname)?;
            let Node::Root(path) = &node else {
                return Err(Errno::EROFS);
            };
            // Staged writes first, so the new name shares what the file holds now.
            if let Some(fd) = self.writer_fd(ino.0) {
                self.root
                    .commit_fd(fd)
                    .map_err(|e| self.fail("link", &existing, &e))?;
            }
            self.root
                .link(&existing, path)
                .map_err(|e| self.fail("link", path, &e))?;
            Ok(node)
        })();
        self.reply_entry(result, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let result = (|| -> Res<(u64, FopenFlags)> {
            let node = self.node(ino)?;
            let writable = flags.0 & libc_flags::O_ACCMODE != libc_flags::O_RDONLY;
            match node {
                Node::Root(path) => {
                    if writable {
                        self.ensure_writable()?;
                        let truncate = flags.0 & libc_flags::O_TRUNC != 0;
                        self.open_writer(ino.0, &path, truncate)?;
                        let append = flags.0 & libc_flags::O_APPEND != 0;
                        let fh = lock(&self.handles).insert(Handle::Write { ino: ino.0, append });
                        return Ok((fh, FopenFlags::empty()));
                    }
                    let fd = self
                        .root
                        .open_fd(&path, fd_flags::O_RDONLY)
                        .map_err(|e| self.fail("open", &path, &e))?;
                    let fh = lock(&self.handles).insert(Handle::Read {
                        ino: ino.0,
                        fd,
                        drive: self.root.clone(),
                    });
                    Ok((fh, FopenFlags::empty()))
                }
                Node::Gone(_) => Err(Errno::ENOENT),
                other => {
                    if writable {
                        return Err(Errno::EROFS);
                    }
                    match network::open(&self.ctx, &other)? {
                        network::Opened::Bytes(b) => {
                            let fh = lock(&self.handles).insert(Handle::Bytes(Arc::new(b)));
                            // Generated on open: never serve an older copy from the cache.
                            Ok((fh, FopenFlags::FOPEN_DIRECT_IO))
                        }
                        network::Opened::Drive {
                            drive,
                            fd,
                            keep_cache,
                        } => {
                            let fh = lock(&self.handles).insert(Handle::Read {
                                ino: ino.0,
                                fd,
                                drive,
                            });
                            let flags = if keep_cache {
                                FopenFlags::FOPEN_KEEP_CACHE
                            } else {
                                FopenFlags::empty()
                            };
                            Ok((fh, flags))
                        }
                    }
                }
            }
        })();
        match result {
            Ok((fh, flags)) => reply.opened(FileHandle(fh), flags),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.read_handle(fh, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = (|| {
            let (fd, append) = {
                let handles = lock(&self.handles);
                let Some(Handle::Write { ino, append }) = handles.open.get(&fh.0) else {
                    return Err(Errno::EBADF);
                };
                let w = handles.writers.get(ino).ok_or(Errno::EBADF)?;
                (w.fd, *append)
            };
            // O_APPEND writes go to the end as the writer sees it, whatever offset the
            // kernel computed from a possibly older size.
            let at = if append {
                self.root
                    .fstat(fd)
                    .map_err(|e| self.fail("write", "", &e))?
                    .size
            } else {
                offset
            };
            self.root
                .write_fd(fd, data, Some(at))
                .map_err(|e| self.fail("write", "", &e))
        })();
        match result {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.commit(ino.0, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let handle = lock(&self.handles).open.remove(&fh.0);
        let result = match handle {
            Some(Handle::Write { ino, .. }) => self.release_writer(ino),
            Some(Handle::Read { fd, drive, .. }) => drive
                .close_fd(fd)
                .map_err(|e| errno("release", drive.key(), "", &e)),
            _ => Ok(()),
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.commit(ino.0, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.list(ino) {
            Ok(items) => {
                let fh = lock(&self.handles).insert(Handle::Dir(Arc::new(items)));
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(Handle::Dir(items)) = lock(&self.handles).open.get(&fh.0).map(|h| match h {
            Handle::Dir(items) => Handle::Dir(items.clone()),
            _ => Handle::Bytes(Arc::default()),
        }) else {
            reply.error(Errno::EBADF);
            return;
        };
        let dots = [
            (".", ino.0, FileType::Directory),
            ("..", ino.0, FileType::Directory),
        ];
        let inodes = lock(&self.inodes);
        let all = dots
            .iter()
            .map(|(n, i, k)| (n.to_string(), *i, *k))
            .chain(items.iter().map(|item| {
                // The kernel only shows d_ino; inodes it never looked up get a stand-in.
                let ino = inodes
                    .peek(&item.node)
                    .unwrap_or_else(|| stand_in_ino(&item.name));
                (item.name.clone(), ino, item.kind)
            }));
        for (i, (name, ino, kind)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), i as u64 + 1, kind, &name) {
                break;
            }
        }
        drop(inodes);
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let items = match lock(&self.handles).open.get(&fh.0) {
            Some(Handle::Dir(items)) => items.clone(),
            _ => {
                reply.error(Errno::EBADF);
                return;
            }
        };
        let Ok((dir_attr, ttl)) = self.node(ino).and_then(|n| self.attr_of(ino.0, &n)) else {
            reply.error(Errno::ENOENT);
            return;
        };
        let mut index = offset as usize;
        while index < items.len() + 2 {
            let next = index as u64 + 1;
            let full = if index < 2 {
                let name = if index == 0 { "." } else { ".." };
                reply.add(ino, next, name, &ttl, &dir_attr, Generation(0))
            } else {
                let item = &items[index - 2];
                // A name that vanished since opendir is skipped.
                let Ok((attr, ttl)) = self.attr_of(0, &item.node) else {
                    index += 1;
                    continue;
                };
                let child = lock(&self.inodes).lookup(item.node.clone());
                let attr = FileAttr {
                    ino: INodeNo(child),
                    ..attr
                };
                let full = reply.add(INodeNo(child), next, &item.name, &ttl, &attr, Generation(0));
                if full {
                    // Not sent: the kernel will not count this lookup.
                    lock(&self.inodes).forget(child, 1);
                }
                full
            };
            if full {
                break;
            }
            index += 1;
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.handles).open.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.root.flush() {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail("fsyncdir", "", &e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match nix::sys::statvfs::statvfs(&self.ctx.storage) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                u32::try_from(s.block_size()).unwrap_or(4096),
                255,
                u32::try_from(s.fragment_size()).unwrap_or(4096),
            ),
            Err(e) => reply.error(Errno::from_i32(e as i32)),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let result = (|| {
            let name = name.to_str().ok_or(Errno::EINVAL)?;
            if name.starts_with(INFO_XATTR) {
                return Err(Errno::EPERM);
            }
            let key = name.strip_prefix(USER_XATTR).ok_or(Errno::EOPNOTSUPP)?;
            let path = self.root_path(ino, true)?;
            if path == "/" {
                return Err(Errno::EPERM);
            }
            self.ensure_writable()?;
            let node = Node::Root(path.clone());
            let exists = self.xattr(&node, name).is_ok();
            if flags & XATTR_CREATE != 0 && exists {
                return Err(Errno::EEXIST);
            }
            if flags & XATTR_REPLACE != 0 && !exists {
                return Err(Errno::ENODATA);
            }
            self.root
                .set_metadata(&path, key, value)
                .map_err(|e| self.fail("setxattr", &path, &e))
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let result = (|| {
            let name = name.to_str().ok_or(Errno::ENODATA)?;
            self.xattr(&self.node(ino)?, name)
        })();
        reply_xattr(result, size, reply);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let result = self
            .node(ino)
            .and_then(|n| self.xattr_names(&n))
            .map(|names| {
                let mut out = Vec::new();
                for n in names {
                    out.extend_from_slice(n.as_bytes());
                    out.push(0);
                }
                out
            });
        reply_xattr(result, size, reply);
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = (|| {
            let name = name.to_str().ok_or(Errno::ENODATA)?;
            if name.starts_with(INFO_XATTR) {
                return Err(Errno::EPERM);
            }
            let key = name.strip_prefix(USER_XATTR).ok_or(Errno::ENODATA)?;
            let path = self.root_path(ino, true)?;
            self.ensure_writable()?;
            self.xattr(&Node::Root(path.clone()), name)?;
            self.root
                .remove_metadata(&path, key)
                .map_err(|e| self.fail("removexattr", &path, &e))
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let result = (|| {
            let node = self.node(ino)?;
            self.attr_of(ino.0, &node)?;
            if mask.contains(AccessFlags::W_OK) {
                match node {
                    Node::Root(_) => self.ensure_writable()?,
                    _ => return Err(Errno::EROFS),
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = (|| -> Res<(FileAttr, u64)> {
            let node = self.child(parent, name)?;
            let Node::Root(path) = &node else {
                return Err(Errno::EROFS);
            };
            self.ensure_writable()?;
            let existed = self.root.lstat(path).is_ok();
            if existed && flags & libc_flags::O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            if !existed {
                let options = WriteOptions::default()
                    .mode(mode & !umask & 0o7777)
                    .owner(req.uid(), req.gid());
                self.root
                    .create_file(path, &options)
                    .map_err(|e| self.fail("create", path, &e))?;
            }
            let (attr, _) = self.entry(node.clone())?;
            let ino = attr.ino.0;
            let truncate = existed && flags & libc_flags::O_TRUNC != 0;
            if let Err(e) = self.open_writer(ino, path, truncate) {
                lock(&self.inodes).forget(ino, 1);
                return Err(e);
            }
            let append = flags & libc_flags::O_APPEND != 0;
            let fh = lock(&self.handles).insert(Handle::Write { ino, append });
            let (attr, _) = self.attr_of(ino, &node)?;
            Ok((attr, fh))
        })();
        match result {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
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
        let result = (|| {
            if mode != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            let path = self.root_path(ino, true)?;
            self.ensure_writable()?;
            let size = self.root_stat(ino.0, &path)?.size;
            let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
            if end > size {
                self.set_size(ino.0, &path, end)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        // TODO(fuseconf): whole-file copies through AsyncDrive::copy_file(from, to), sharing
        // the content blocks. ENOSYS makes the kernel copy through read and write instead.
        reply.error(Errno::ENOSYS);
    }
}

/// The longest name one path component may have (Linux `NAME_MAX`).
const NAME_MAX: usize = 255;

/// `setxattr` flags (Linux `<sys/xattr.h>`).
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

/// Open flags as the kernel sends them (Linux x86-64 and aarch64 values).
mod libc_flags {
    pub(super) const O_ACCMODE: i32 = 3;
    pub(super) const O_RDONLY: i32 = 0;
    pub(super) const O_EXCL: i32 = 0o200;
    pub(super) const O_TRUNC: i32 = 0o1000;
    pub(super) const O_APPEND: i32 = 0o2000;
}

fn reply_xattr(result: Res<Vec<u8>>, size: u32, reply: ReplyXattr) {
    match result {
        Ok(value) if size == 0 => reply.size(u32::try_from(value.len()).unwrap_or(u32::MAX)),
        Ok(value) if value.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(value) => reply.data(&value),
        Err(e) => reply.error(e),
    }
}

/// A stable stand-in inode number for a name the kernel has not looked up (only shown as
/// `d_ino` by plain `readdir`; never 0, which `readdir(3)` would skip, never a real one).
fn stand_in_ino(name: &str) -> u64 {
    // FNV-1a, top bit set to stay clear of the table's counter.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | (1 << 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_never_collide_with_the_counter() {
        assert!(stand_in_ino("a") >= 1 << 63);
        assert_ne!(stand_in_ino("a"), stand_in_ino("b"));
        assert_ne!(ROOT_INO, stand_in_ino(""));
    }
}
