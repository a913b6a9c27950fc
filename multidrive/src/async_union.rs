//! [`AsyncMultiDrive`]: the tokio surface. Every operation runs on the blocking pool, where
//! reads of remote members may wait for blocks.

use hyperdrive::{ReaddirOptions, Stat, WriteOptions};

use crate::conflict::Conflict;
use crate::error::{Error, Result};
use crate::read::{UnionEntry, UnionStat};
use crate::union::MultiDrive;
use crate::watch::MultiWatcher;

/// A [`MultiDrive`] for async code: the same operations, run with `spawn_blocking`.
#[derive(Clone, Debug)]
pub struct AsyncMultiDrive {
    union: MultiDrive,
}

macro_rules! blocking {
    ($self:ident, |$u:ident| $body:expr) => {{
        let $u = $self.union.clone();
        tokio::task::spawn_blocking(move || $body)
            .await
            .map_err(|e| Error::Drive(hyperdrive::Error::Task(e.to_string())))?
    }};
}

impl AsyncMultiDrive {
    /// Wraps `union`.
    pub fn new(union: MultiDrive) -> Self {
        AsyncMultiDrive { union }
    }

    /// The synchronous union (for membership, writer, resolver, version).
    pub fn sync(&self) -> &MultiDrive {
        &self.union
    }

    /// [`MultiDrive::stat`].
    pub async fn stat(&self, path: &str) -> Result<UnionStat> {
        let path = path.to_owned();
        blocking!(self, |u| u.stat(&path))
    }

    /// [`MultiDrive::lstat`].
    pub async fn lstat(&self, path: &str) -> Result<UnionStat> {
        let path = path.to_owned();
        blocking!(self, |u| u.lstat(&path))
    }

    /// [`MultiDrive::exists`].
    pub async fn exists(&self, path: &str) -> Result<bool> {
        let path = path.to_owned();
        blocking!(self, |u| u.exists(&path))
    }

    /// [`MultiDrive::read_file`].
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let path = path.to_owned();
        blocking!(self, |u| u.read_file(&path))
    }

    /// [`MultiDrive::read_range`].
    pub async fn read_range(&self, path: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let path = path.to_owned();
        blocking!(self, |u| u.read_range(&path, start, end))
    }

    /// [`MultiDrive::readlink`].
    pub async fn readlink(&self, path: &str) -> Result<String> {
        let path = path.to_owned();
        blocking!(self, |u| u.readlink(&path))
    }

    /// [`MultiDrive::readdir`].
    pub async fn readdir(&self, path: &str, options: ReaddirOptions) -> Result<Vec<String>> {
        let path = path.to_owned();
        blocking!(self, |u| u.readdir(&path, &options))
    }

    /// [`MultiDrive::readdir_with_stats`].
    pub async fn readdir_with_stats(
        &self,
        path: &str,
        options: ReaddirOptions,
    ) -> Result<Vec<UnionEntry>> {
        let path = path.to_owned();
        blocking!(self, |u| u.readdir_with_stats(&path, &options))
    }

    /// [`MultiDrive::write_file`].
    pub async fn write_file(
        &self,
        path: &str,
        data: Vec<u8>,
        options: WriteOptions,
    ) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |u| u.write_file(&path, &data, &options))
    }

    /// [`MultiDrive::mkdir`].
    pub async fn mkdir(&self, path: &str, options: WriteOptions) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |u| u.mkdir(&path, &options))
    }

    /// [`MultiDrive::symlink`].
    pub async fn symlink(&self, target: &str, link: &str) -> Result<Stat> {
        let (target, link) = (target.to_owned(), link.to_owned());
        blocking!(self, |u| u.symlink(&target, &link))
    }

    /// [`MultiDrive::unlink`].
    pub async fn unlink(&self, path: &str) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |u| u.unlink(&path))
    }

    /// [`MultiDrive::rmdir`].
    pub async fn rmdir(&self, path: &str) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |u| u.rmdir(&path))
    }

    /// [`MultiDrive::rename`].
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        blocking!(self, |u| u.rename(&from, &to))
    }

    /// [`MultiDrive::truncate`].
    pub async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let path = path.to_owned();
        blocking!(self, |u| u.truncate(&path, size))
    }

    /// [`MultiDrive::write_at`].
    pub async fn write_at(&self, path: &str, offset: u64, data: Vec<u8>) -> Result<Stat> {
        let path = path.to_owned();
        blocking!(self, |u| u.write_at(&path, offset, &data))
    }

    /// [`MultiDrive::set_metadata`].
    pub async fn set_metadata(&self, path: &str, key: &str, value: Vec<u8>) -> Result<()> {
        let (path, key) = (path.to_owned(), key.to_owned());
        blocking!(self, |u| u.set_metadata(&path, &key, &value))
    }

    /// [`MultiDrive::conflicts`].
    pub async fn conflicts(&self, prefix: &str) -> Result<Vec<Conflict>> {
        let prefix = prefix.to_owned();
        blocking!(self, |u| u.conflicts(&prefix))
    }

    /// [`MultiDrive::watch`] (setting it up reads no blocks).
    pub fn watch(&self, path: &str) -> Result<MultiWatcher> {
        self.union.watch(path)
    }
}
