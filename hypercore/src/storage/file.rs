//! Files in a folder, named as JS names them (`random-access-file`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Storage, Store};

/// Most buffers one `pwritev` takes (Linux `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// A feed stored as six files in one folder, the layout of `hypercore(dir)`.
///
/// Files open lazily: reading never creates one (so `data` appears with the first block, as in
/// JS). The `bitfield` file is locked exclusively while open, like `hypercore-default-storage`,
/// so two processes never write one feed.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    files: [Option<File>; 6],
}

impl FileStorage {
    /// Storage in `dir`; the folder is created on the first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStorage {
            dir: dir.into(),
            files: Default::default(),
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
                Ok(f) => self.install(store, f)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(self.files[slot].as_ref())
    }

    fn created(&mut self, store: Store) -> io::Result<&File> {
        let slot = store.slot();
        if self.files[slot].is_none() {
            let path = self.path(store);
            let open = || {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
            };
            // The folder usually exists (the key or another file made it): try the file first,
            // as a fresh replica creates its files on the path to its first read, where the
            // two extra system calls of a `create_dir_all` per file showed up.
            let f = match open() {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir_all(&self.dir)?;
                    open()?
                }
                other => other?,
            };
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
            Some(f) => f.set_len(len),
            None => Ok(()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        // One fdatasync per file that is open, not one per write: durability is grouped here.
        for f in self.files.iter().flatten() {
            f.sync_data()?;
        }
        Ok(())
    }
}
