//! Files in a folder, named as JS names them (`random-access-file`).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Storage, Store};

/// Most buffers one `pwritev` takes (Linux `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// A feed stored as six files in one folder, the layout of `hypercore(dir)`.
///
/// Files open lazily: reading never creates one (so `data` appears with the first block, as in
/// JS). The `bitfield` file is locked exclusively while open, like `hypercore-default-storage`,
/// so two processes never write one feed.
///
/// [`sync`](Storage::sync) syncs the data of each file written since the last sync, and each
/// folder that gained an entry (a new file, or a new folder on the way), so a synced file is
/// still found after a power cut. `secret_key` is created readable by its owner only, in folders
/// created private (0700); one that group or others can write is refused.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    files: [Option<File>; 6],
    written: [bool; 6],
    /// Folders whose entries changed since the last sync.
    new_entries: Vec<PathBuf>,
}

impl FileStorage {
    /// Storage in `dir`; the folder is created on the first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStorage {
            dir: dir.into(),
            files: Default::default(),
            written: [false; 6],
            new_entries: Vec::new(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, store: Store) -> PathBuf {
        self.dir.join(store.file_name())
    }

    /// The open file, opening an existing one for reading and writing if not yet open.
    fn existing(&mut self, store: Store) -> io::Result<Option<&File>> {
        let slot = store.slot();
        if self.files[slot].is_none() {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.path(store))
            {
                Ok(f) => {
                    if store == Store::SecretKey {
                        refuse_writable_by_others(&f, &self.path(store))?;
                    }
                    self.install(store, f)?
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(self.files[slot].as_ref())
    }

    fn created(&mut self, store: Store) -> io::Result<&File> {
        let slot = store.slot();
        self.written[slot] = true;
        if self.files[slot].is_none() && self.existing(store)?.is_none() {
            let path = self.path(store);
            // Node creates files with the default mode; a secret is kept from other users.
            let mode = if store == Store::SecretKey {
                0o600
            } else {
                0o666
            };
            let open = || {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(mode)
                    .open(&path)
            };
            // The folder usually exists (the key or another file made it): try the file first,
            // as a fresh replica creates its files on the path to its first read.
            let f = match open() {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let made = create_private_dirs(&self.dir)?;
                    self.new_entries.extend(made);
                    open()?
                }
                other => other?,
            };
            if !self.new_entries.contains(&self.dir) {
                self.new_entries.push(self.dir.clone());
            }
            self.install(store, f)?;
        }
        self.files[slot]
            .as_ref()
            .ok_or_else(|| io::Error::other("file slot empty right after opening"))
    }

    fn install(&mut self, store: Store, f: File) -> io::Result<()> {
        if store == Store::Bitfield {
            lock(&f).map_err(|e| match e {
                fs::TryLockError::WouldBlock => io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is locked by another process",
                        self.path(store).display()
                    ),
                ),
                fs::TryLockError::Error(e) => e,
            })?;
        }
        self.files[store.slot()] = Some(f);
        Ok(())
    }
}

/// Creates `dir` and its missing ancestors, private to the owner (0700); returns the folders
/// whose entries changed (the parent of each one created), outermost first.
fn create_private_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    let mut changed = Vec::new();
    for d in missing.into_iter().rev() {
        match DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => {
                if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
                    changed.push(parent.to_path_buf());
                }
            }
            // Another thread or process made it meanwhile: then it syncs that entry.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}

/// Refuses a secret file that a user other than its owner could replace or change.
fn refuse_writable_by_others(f: &File, path: &Path) -> io::Result<()> {
    let mode = f.metadata()?.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is writable by group or others (mode {:o}); refusing a secret anyone could \
                 replace (chmod go-w it)",
                path.display(),
                mode & 0o777
            ),
        ));
    }
    Ok(())
}

/// Takes the exclusive lock on `f`, trying again for a few milliseconds while it is held.
///
/// The lock belongs to the open file description, and a child process that another thread of
/// ours is spawning holds a copy of every descriptor from its fork until its exec: a feed that
/// this process closed and reopens in that window finds its own old lock still held. That window
/// is microseconds long; a lock held by a real other owner is still refused, ~50 ms later.
fn lock(f: &File) -> Result<(), fs::TryLockError> {
    let mut pause = std::time::Duration::from_micros(100);
    for _ in 0..9 {
        match f.try_lock() {
            Err(fs::TryLockError::WouldBlock) => std::thread::sleep(pause),
            other => return other,
        }
        pause *= 2;
    }
    f.try_lock()
}

impl Storage for FileStorage {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Some(f) = self.existing(store)? else {
            return Ok(0);
        };
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        self.created(store)?.write_all_at(data, offset)
    }

    fn write_all_vectored_at(
        &mut self,
        store: Store,
        mut offset: u64,
        bufs: &[&[u8]],
    ) -> io::Result<()> {
        let f = self.created(store)?;
        let mut slices: Vec<IoSlice<'_>> = bufs
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| IoSlice::new(b))
            .collect();
        let mut rest: &mut [IoSlice<'_>] = &mut slices;
        while !rest.is_empty() {
            let at = i64::try_from(offset)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
            // One pwritev takes at most IOV_MAX buffers; a short write resumes where it stopped.
            let count = rest.len().min(IOV_MAX);
            match nix::sys::uio::pwritev(f, &rest[..count], at) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    offset += n as u64;
                    IoSlice::advance_slices(&mut rest, n);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn len(&mut self, store: Store) -> io::Result<u64> {
        match self.existing(store)? {
            Some(f) => Ok(f.metadata()?.len()),
            None => Ok(0),
        }
    }

    fn exists(&mut self, store: Store) -> io::Result<bool> {
        Ok(self.existing(store)?.is_some())
    }

    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        match self.existing(store)? {
            Some(f) => {
                f.set_len(len)?;
                self.written[store.slot()] = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn punch_hole(&mut self, store: Store, offset: u64, len: u64) -> io::Result<()> {
        use nix::fcntl::{FallocateFlags, fallocate};
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        let Some(f) = self.existing(store)? else {
            return Ok(());
        };
        let flags = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        match fallocate(f, flags, offset, len) {
            Ok(()) => {
                self.written[store.slot()] = true;
                Ok(())
            }
            // A file system without holes keeps the bytes: clearing still succeeded.
            Err(nix::errno::Errno::EOPNOTSUPP | nix::errno::Errno::ENOSYS) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        // One fdatasync per file written since the last sync, not one per write: durability is
        // grouped here. A file stays marked until its sync succeeded.
        for (slot, f) in self.files.iter().enumerate() {
            if let Some(f) = f
                && self.written[slot]
            {
                f.sync_data()?;
                self.written[slot] = false;
            }
        }
        // New entries last: a folder entry then never names a file whose size was not synced.
        while let Some(dir) = self.new_entries.last() {
            File::open(dir)?.sync_all()?;
            self.new_entries.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn secret_key_and_new_folders_are_private() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a/b/feed");
        let mut s = FileStorage::new(&dir);
        s.write_at(Store::SecretKey, 0, &[1; 64]).expect("write");
        s.write_at(Store::Key, 0, &[2; 32]).expect("write");
        assert_eq!(mode(&dir.join("secret_key")), 0o600);
        for d in [&dir, &root.path().join("a/b"), &root.path().join("a")] {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        // The three folders that gained a folder and the one that gained files are synced
        // once, then nothing is left to do.
        assert_eq!(s.new_entries.len(), 4);
        s.sync().expect("sync");
        assert!(s.new_entries.is_empty() && s.written.iter().all(|w| !w));
    }

    #[test]
    fn a_secret_key_others_can_write_is_refused_by_name() {
        let root = tempfile::tempdir().expect("tempdir");
        let mut s = FileStorage::new(root.path());
        s.write_at(Store::SecretKey, 0, &[1; 64]).expect("write");
        drop(s);
        let path = root.path().join("secret_key");
        for bad in [0o620, 0o602, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(bad)).expect("chmod");
            let mut s = FileStorage::new(root.path());
            let err = s
                .read_exact_at(Store::SecretKey, 0, 64)
                .expect_err("refused");
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
        // Readable by others is Node's default and not a way in: it still opens.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut s = FileStorage::new(root.path());
        assert!(
            s.read_exact_at(Store::SecretKey, 0, 64)
                .expect("read")
                .is_some()
        );
    }
}
