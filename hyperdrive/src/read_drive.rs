//! [`ReadDrive`]: the read side of a drive as a trait, so a live drive, a checkout and a
//! layer built of several drives (a union) are read alike.
//!
//! The trait is object safe: a FUSE layer or a union holds `Arc<dyn ReadDrive>` and never
//! learns which kind it reads. [`Drive`] implements it by delegating to its own methods (a
//! [`Drive::checkout`] is a `Drive`, so checkouts implement it too). A file opens as a
//! `Box<dyn ReadFile>`: positional reads, plus `Read + Seek` for streaming.

use std::io::{Read, Seek};

use crate::drive::Drive;
use crate::error::Result;
use crate::readdir::{DirEntry, ReaddirOptions};
use crate::reader::FileReader;
use crate::stat::Stat;
use crate::watch::Watcher;

/// A file opened for reading ([`ReadDrive::open_read`]).
pub trait ReadFile: Read + Seek + Send {
    /// The file's size in bytes.
    fn size(&self) -> u64;

    /// Reads up to `buf.len()` bytes at `pos` without moving the stream position; 0 at the
    /// end of the file.
    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> Result<usize>;
}

impl ReadFile for FileReader {
    fn size(&self) -> u64 {
        FileReader::size(self)
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> Result<usize> {
        FileReader::read_at(self, pos, buf)
    }
}

/// What can be read from a drive-like tree of files: a [`Drive`], a checkout of one, or a
/// composition of several. Paths are absolute within the tree (`/a/b`; a missing leading `/`
/// is added), and errors are [`crate::Error`]s, whose [`errno`](crate::Error::errno) a
/// filesystem layer returns.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use corestore::Corestore;
/// use hyperdrive::{Drive, DriveOptions, ReadDrive, ReaddirOptions, WriteOptions};
///
/// fn total_size(tree: &dyn ReadDrive, dir: &str) -> hyperdrive::Result<u64> {
///     let entries = tree.readdir_with_stats(dir, &ReaddirOptions::default().recursive(true))?;
///     Ok(entries.iter().map(|e| e.stat.size).sum())
/// }
///
/// let drive = Drive::create(Arc::new(Corestore::in_memory()?), DriveOptions::default())?;
/// drive.write_file("/a.txt", b"hello", &WriteOptions::default())?;
/// let before = drive.checkout(drive.version());
/// drive.write_file("/b.txt", b"world!", &WriteOptions::default())?;
/// assert_eq!(total_size(&drive, "/")?, 11);
/// assert_eq!(total_size(&before, "/")?, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ReadDrive: Send + Sync {
    /// The version the tree shows (a drive's metadata length, a checkout's version).
    fn version(&self) -> u64;

    /// The Stat of `path`, following symlinks.
    fn stat(&self, path: &str) -> Result<Stat>;

    /// The Stat of `path` itself (a symlink's own Stat).
    fn lstat(&self, path: &str) -> Result<Stat>;

    /// The entries of directory `path`, with their Stats.
    fn readdir_with_stats(&self, path: &str, options: &ReaddirOptions) -> Result<Vec<DirEntry>>;

    /// The target of the symlink at `path` (EINVAL for anything else).
    fn readlink(&self, path: &str) -> Result<String>;

    /// The file at `path` (following symlinks), opened for reading. EISDIR for a directory.
    fn open_read(&self, path: &str) -> Result<Box<dyn ReadFile>>;

    /// Notifications of changes under `path` (a tree that never changes gives a watcher that
    /// stays quiet).
    fn watch(&self, path: &str) -> Result<Watcher>;

    /// The names in directory `path`.
    fn readdir(&self, path: &str, options: &ReaddirOptions) -> Result<Vec<String>> {
        Ok(self
            .readdir_with_stats(path, options)?
            .into_iter()
            .map(|e| e.name)
            .collect())
    }

    /// Bytes `start..end` of the file at `path`, clamped to its size.
    fn read_range(&self, path: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let mut file = self.open_read(path)?;
        let end = end.min(file.size());
        let mut out = vec![0u8; usize::try_from(end.saturating_sub(start)).unwrap_or(0)];
        let mut filled = 0;
        while filled < out.len() {
            let n = file.read_at(start + filled as u64, &mut out[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        out.truncate(filled);
        Ok(out)
    }

    /// The whole file at `path`.
    fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        self.read_range(path, 0, u64::MAX)
    }
}

impl ReadDrive for Drive {
    fn version(&self) -> u64 {
        Drive::version(self)
    }

    fn stat(&self, path: &str) -> Result<Stat> {
        Drive::stat(self, path)
    }

    fn lstat(&self, path: &str) -> Result<Stat> {
        Drive::lstat(self, path)
    }

    fn readdir_with_stats(&self, path: &str, options: &ReaddirOptions) -> Result<Vec<DirEntry>> {
        Drive::readdir_with_stats(self, path, options)
    }

    fn readlink(&self, path: &str) -> Result<String> {
        Drive::readlink(self, path)
    }

    fn open_read(&self, path: &str) -> Result<Box<dyn ReadFile>> {
        Ok(Box::new(Drive::open_reader(self, path)?))
    }

    fn watch(&self, path: &str) -> Result<Watcher> {
        Drive::watch(self, path)
    }

    fn readdir(&self, path: &str, options: &ReaddirOptions) -> Result<Vec<String>> {
        Drive::readdir(self, path, options)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        Drive::read_file(self, path)
    }
}
