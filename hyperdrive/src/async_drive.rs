//! [`AsyncDrive`]: the tokio surface. Metadata operations run on the blocking pool; file
//! readers and writers do their (short, local) feed calls inline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hypercore::PublicKey;
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use std::collections::BTreeMap;

use crate::diff::DiffEntry;
use crate::download::Download;
use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::fs::{FileStats, MountEntry, MountOptions, WriteOptions};
use crate::readdir::{DirEntry, ReaddirOptions};
use crate::reader::FileReader;
use crate::stat::Stat;
use crate::watch::Watcher;
use crate::writer::FileWriter;

/// An async handle on a [`Drive`] (cheap to clone).
#[derive(Clone, Debug)]
pub struct AsyncDrive {
    drive: Drive,
}

macro_rules! blocking {
    ($self:ident, |$d:ident| $body:expr) => {{
        let $d = $self.drive.clone();
        tokio::task::spawn_blocking(move || $body)
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }};
}

impl AsyncDrive {
    /// Wraps a drive.
    pub fn new(drive: Drive) -> Self {
        AsyncDrive { drive }
    }

    /// The synchronous drive underneath.
    pub fn sync(&self) -> &Drive {
        &self.drive
    }

    /// See [`Drive::key`].
    pub fn key(&self) -> &PublicKey {
        self.drive.key()
    }

    /// See [`Drive::version`].
    pub fn version(&self) -> u64 {
        self.drive.version()
    }

    /// See [`Drive::writable`].
    pub fn writable(&self) -> bool {
        self.drive.writable()
    }

    /// See [`Drive::checkout`].
    pub fn checkout(&self, version: u64) -> AsyncDrive {
        AsyncDrive::new(self.drive.checkout(version))
    }

    /// See [`Drive::write_file`].
    pub async fn write_file(
        &self,
        path: &str,
        data: Vec<u8>,
        options: WriteOptions,
    ) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.write_file(&path, &data, &options))
    }

    /// See [`Drive::read_file`].
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let path = path.to_owned();
        blocking!(self, |d| d.read_file(&path))
    }

    /// See [`Drive::stat`].
    pub async fn stat(&self, path: &str) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.stat(&path))
    }

    /// See [`Drive::lstat`].
    pub async fn lstat(&self, path: &str) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.lstat(&path))
    }

    /// See [`Drive::exists`].
    pub async fn exists(&self, path: &str) -> Result<bool> {
        let path = path.to_owned();
        blocking!(self, |d| d.exists(&path))
    }

    /// See [`Drive::readdir`].
    pub async fn readdir(&self, path: &str, options: ReaddirOptions) -> Result<Vec<String>> {
        let path = path.to_owned();
        blocking!(self, |d| d.readdir(&path, &options))
    }

    /// See [`Drive::readdir_with_stats`].
    pub async fn readdir_with_stats(
        &self,
        path: &str,
        options: ReaddirOptions,
    ) -> Result<Vec<DirEntry>> {
        let path = path.to_owned();
        blocking!(self, |d| d.readdir_with_stats(&path, &options))
    }

    /// See [`Drive::mkdir`].
    pub async fn mkdir(&self, path: &str, options: WriteOptions) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.mkdir(&path, &options))
    }

    /// See [`Drive::rmdir`].
    pub async fn rmdir(&self, path: &str) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |d| d.rmdir(&path))
    }

    /// See [`Drive::unlink`].
    pub async fn unlink(&self, path: &str) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |d| d.unlink(&path))
    }

    /// See [`Drive::symlink`].
    pub async fn symlink(&self, target: &str, link: &str) -> Result<Stat> {
        let (target, link) = (target.to_owned(), link.to_owned());
        blocking!(self, |d| d.symlink(&target, &link))
    }

    /// See [`Drive::readlink`].
    pub async fn readlink(&self, path: &str) -> Result<String> {
        let path = path.to_owned();
        blocking!(self, |d| d.readlink(&path))
    }

    /// See [`Drive::truncate`].
    pub async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |d| d.truncate(&path, size))
    }

    /// See [`Drive::set_attr`].
    pub async fn set_attr(&self, path: &str, attr: crate::SetAttr) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.set_attr(&path, &attr))
    }

    /// See [`Drive::set_metadata`].
    pub async fn set_metadata(&self, path: &str, key: &str, value: Vec<u8>) -> Result<()> {
        let (path, key) = (path.to_owned(), key.to_owned());
        blocking!(self, |d| d.set_metadata(&path, &key, &value))
    }

    /// See [`Drive::remove_metadata`].
    pub async fn remove_metadata(&self, path: &str, key: &str) -> Result<()> {
        let (path, key) = (path.to_owned(), key.to_owned());
        blocking!(self, |d| d.remove_metadata(&path, &key))
    }

    /// See [`Drive::create_tag`].
    pub async fn create_tag(&self, name: &str, version: Option<u64>) -> Result<()> {
        let name = name.to_owned();
        blocking!(self, |d| d.create_tag(&name, version))
    }

    /// See [`Drive::tagged_version`].
    pub async fn tagged_version(&self, name: &str) -> Result<Option<u64>> {
        let name = name.to_owned();
        blocking!(self, |d| d.tagged_version(&name))
    }

    /// See [`Drive::tags`].
    pub async fn tags(&self) -> Result<Vec<(String, u64)>> {
        blocking!(self, |d| d.tags())
    }

    /// See [`Drive::delete_tag`].
    pub async fn delete_tag(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        blocking!(self, |d| d.delete_tag(&name))
    }

    /// See [`Drive::diff`].
    pub async fn diff(&self, other: u64, prefix: &str) -> Result<Vec<DiffEntry>> {
        let prefix = prefix.to_owned();
        blocking!(self, |d| d.diff(other, &prefix))
    }

    /// See [`Drive::mount`].
    pub async fn mount(&self, path: &str, key: PublicKey, options: MountOptions) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |d| d.mount(&path, &key, &options))
    }

    /// See [`Drive::unmount`].
    pub async fn unmount(&self, path: &str) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |d| d.unmount(&path))
    }

    /// See [`Drive::mounts`].
    pub async fn mounts(&self, recursive: bool) -> Result<Vec<MountEntry>> {
        blocking!(self, |d| d.mounts(recursive))
    }

    /// See [`Drive::file_stats`].
    pub async fn file_stats(&self, path: &str) -> Result<FileStats> {
        let path = path.to_owned();
        blocking!(self, |d| d.file_stats(&path))
    }

    /// See [`Drive::rename`].
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        blocking!(self, |d| d.rename(&from, &to))
    }

    /// See [`Drive::link`].
    pub async fn link(&self, existing: &str, new: &str) -> Result<Stat> {
        let (existing, new) = (existing.to_owned(), new.to_owned());
        blocking!(self, |d| d.link(&existing, &new))
    }

    /// See [`Drive::mknod`].
    pub async fn mknod(
        &self,
        path: &str,
        mode: u32,
        rdev: u64,
        options: WriteOptions,
    ) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.mknod(&path, mode, rdev, &options))
    }

    /// See [`Drive::copy_file`].
    pub async fn copy_file(&self, from: &str, to: &str) -> Result<Stat> {
        let (from, to) = (from.to_owned(), to.to_owned());
        blocking!(self, |d| d.copy_file(&from, &to))
    }

    /// See [`Drive::exchange`].
    pub async fn exchange(&self, a: &str, b: &str) -> Result<()> {
        let (a, b) = (a.to_owned(), b.to_owned());
        blocking!(self, |d| d.exchange(&a, &b))
    }

    /// See [`Drive::write_at`].
    pub async fn write_at(&self, path: &str, offset: u64, data: Vec<u8>) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.write_at(&path, offset, &data))
    }

    /// See [`Drive::append`].
    pub async fn append(&self, path: &str, data: Vec<u8>) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.append(&path, &data))
    }

    /// See [`Drive::set_len`].
    pub async fn set_len(&self, path: &str, size: u64) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |d| d.set_len(&path, size))
    }

    /// See [`Drive::open_fd`].
    pub async fn open_fd(&self, path: &str, flags: u32) -> Result<u64> {
        let path = path.to_owned();
        blocking!(self, |d| d.open_fd(&path, flags))
    }

    /// See [`Drive::read_fd`]: up to `len` bytes.
    pub async fn read_fd(&self, fd: u64, len: usize, pos: Option<u64>) -> Result<Vec<u8>> {
        blocking!(self, |d| {
            let mut buf = vec![0u8; len];
            d.read_fd(fd, &mut buf, pos).map(|n| {
                buf.truncate(n);
                buf
            })
        })
    }

    /// See [`Drive::write_fd`].
    pub async fn write_fd(&self, fd: u64, data: Vec<u8>, pos: Option<u64>) -> Result<usize> {
        blocking!(self, |d| d.write_fd(fd, &data, pos))
    }

    /// See [`Drive::ftruncate`].
    pub async fn ftruncate(&self, fd: u64, size: u64) -> Result<()> {
        blocking!(self, |d| d.ftruncate(fd, size))
    }

    /// See [`Drive::fsync`].
    pub async fn fsync(&self, fd: u64) -> Result<()> {
        blocking!(self, |d| d.fsync(fd))
    }

    /// See [`Drive::flush`].
    pub async fn flush(&self) -> Result<()> {
        blocking!(self, |d| d.flush())
    }

    /// See [`Drive::fstat`].
    pub async fn fstat(&self, fd: u64) -> Result<Stat> {
        blocking!(self, |d| d.fstat(fd))
    }

    /// See [`Drive::close_fd`].
    pub async fn close_fd(&self, fd: u64) -> Result<()> {
        blocking!(self, |d| d.close_fd(fd))
    }

    /// See [`Drive::watch`]; wait with [`Watcher::changed`].
    pub async fn watch(&self, path: &str) -> Result<Watcher> {
        let path = path.to_owned();
        blocking!(self, |d| d.watch(&path))
    }

    /// See [`Drive::download`].
    pub async fn download(&self, path: &str) -> Result<Download> {
        let path = path.to_owned();
        blocking!(self, |d| d.download(&path))
    }

    /// See [`Drive::stats`].
    pub async fn stats(&self, path: &str) -> Result<BTreeMap<String, FileStats>> {
        let path = path.to_owned();
        blocking!(self, |d| d.stats(&path))
    }

    /// A streaming reader (AsyncRead + AsyncSeek) over the file at `path`.
    pub async fn reader(&self, path: &str) -> Result<AsyncFileReader> {
        let path = path.to_owned();
        let inner = blocking!(self, |d| d.open_reader(&path))?;
        Ok(AsyncFileReader {
            inner,
            pending: None,
        })
    }

    /// A streaming writer (AsyncWrite) that becomes the file at `path` on shutdown.
    pub async fn writer(&self, path: &str, options: WriteOptions) -> Result<AsyncFileWriter> {
        let path = path.to_owned();
        let inner = blocking!(self, |d| d.open_writer(&path, options))?;
        Ok(AsyncFileWriter { inner: Some(inner) })
    }
}

/// Async reads over a [`FileReader`]. Each poll does one local block read (never an
/// `.await` while a feed is locked); a block of a remote drive that is not stored yet is
/// waited for on the blocking pool (as [`crate::DriveOptions::block_timeout`] says), then the
/// read goes on.
#[derive(Debug)]
pub struct AsyncFileReader {
    inner: FileReader,
    /// The wait for a missing block, while one is under way.
    pending: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl AsyncFileReader {
    /// The file's size.
    pub fn size(&self) -> u64 {
        self.inner.size()
    }
}

impl AsyncRead for AsyncFileReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(pending) = this.pending.as_mut() {
                let waited = std::task::ready!(Pin::new(pending).poll(cx));
                this.pending = None;
                waited.map_err(|e| io::Error::other(e.to_string()))??;
            }
            let pos = this.inner.position();
            match this.inner.read_at_now(pos, buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    io::Seek::seek(&mut this.inner, io::SeekFrom::Start(pos + n as u64))?;
                    return Poll::Ready(Ok(()));
                }
                Err(Error::NotStored { feed, index }) => {
                    let (source, wait) = this.inner.source();
                    if feed != source.key().to_hex() || !wait.applies(source) {
                        return Poll::Ready(Err(Error::NotStored { feed, index }.into()));
                    }
                    let source = source.clone();
                    this.pending = Some(tokio::task::spawn_blocking(move || {
                        wait.block(&source, index)
                    }));
                }
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}

impl AsyncSeek for AsyncFileReader {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        io::Seek::seek(&mut self.get_mut().inner, position).map(|_| ())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.inner.position()))
    }
}

/// Async writes into a [`FileWriter`]: full 512 KiB blocks are appended as they fill,
/// `shutdown` appends the rest and puts the Stat.
#[derive(Debug)]
pub struct AsyncFileWriter {
    inner: Option<FileWriter>,
}

impl AsyncWrite for AsyncFileWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(w) = self.get_mut().inner.as_mut() else {
            return Poll::Ready(Err(io::Error::other("writer already shut down")));
        };
        Poll::Ready(w.write(buf).map(|()| buf.len()).map_err(io::Error::from))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(w) = self.get_mut().inner.take() else {
            return Poll::Ready(Ok(()));
        };
        Poll::Ready(w.finish().map(|_| ()).map_err(io::Error::from))
    }
}
