//! The feed's storage, remembering whether anything was written since its last sync.
//!
//! [`Feed::flush`](super::Feed::flush) asks it whether a sync is needed at all, so a flush with
//! nothing new costs no system call; and it can be given back (`take`) while the feed still
//! has a `Drop` that commits what is pending.

use std::io;

use crate::storage::{Storage, Store};

/// A feed's [`Storage`] plus a "written since the last sync" flag.
#[derive(Debug)]
pub(super) struct Tracked<S> {
    /// `None` only once the feed gave its storage back.
    inner: Option<S>,
    written: bool,
}

impl<S: Storage> Tracked<S> {
    /// `written`: whether the storage already holds unsynced writes.
    pub(super) fn new(inner: S, written: bool) -> Self {
        Tracked {
            inner: Some(inner),
            written,
        }
    }

    /// Whether a write or truncate happened since the last sync.
    pub(super) fn written(&self) -> bool {
        self.written
    }

    pub(super) fn get(&self) -> Option<&S> {
        self.inner.as_ref()
    }

    /// Gives the storage back; every later call fails.
    pub(super) fn take(&mut self) -> Option<S> {
        self.inner.take()
    }

    fn inner(&mut self) -> io::Result<&mut S> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("the feed gave its storage back"))
    }
}

impl<S: Storage> Storage for Tracked<S> {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner()?.read_at(store, offset, buf)
    }

    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        self.written = true;
        self.inner()?.write_at(store, offset, data)
    }

    fn write_all_vectored_at(
        &mut self,
        store: Store,
        offset: u64,
        bufs: &[&[u8]],
    ) -> io::Result<()> {
        self.written = true;
        self.inner()?.write_all_vectored_at(store, offset, bufs)
    }

    fn len(&mut self, store: Store) -> io::Result<u64> {
        self.inner()?.len(store)
    }

    fn exists(&mut self, store: Store) -> io::Result<bool> {
        self.inner()?.exists(store)
    }

    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        self.written = true;
        self.inner()?.truncate(store, len)
    }

    fn punch_hole(&mut self, store: Store, offset: u64, len: u64) -> io::Result<()> {
        self.written = true;
        self.inner()?.punch_hole(store, offset, len)
    }

    /// Syncs only when something was written since the last sync.
    fn sync(&mut self) -> io::Result<()> {
        if !self.written {
            return Ok(());
        }
        self.inner()?.sync()?;
        self.written = false;
        Ok(())
    }
}
