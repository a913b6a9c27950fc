//! Where a feed's six files live: a [`Storage`] trait with file, memory and crash-simulating
//! backends.
//!
//! The trait is the shape of JS `random-access-storage`: positional reads and writes on named
//! files, plus a length, a truncate and a sync. It is synchronous on purpose (redb's
//! `StorageBackend` does the same); async callers reach a feed through a task that owns it.

mod crash;
mod file;
pub(crate) mod header;
mod memory;

use std::io;

pub use crash::{CrashPlan, CrashStorage};
pub use file::FileStorage;
pub use memory::MemoryStorage;

/// The six files of a hypercore 9 feed (docs/formats.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    /// `key`: the 32-byte public key.
    Key,
    /// `secret_key`: the 64-byte secret key; absent on read-only feeds.
    SecretKey,
    /// `tree`: 32-byte header then 40-byte node records.
    Tree,
    /// `data`: the blocks back to back.
    Data,
    /// `bitfield`: 32-byte header then 3584-byte pages.
    Bitfield,
    /// `signatures`: 32-byte header then 64-byte slots.
    Signatures,
}

impl Store {
    /// Every store, in a fixed order.
    pub const ALL: [Store; 6] = [
        Store::Key,
        Store::SecretKey,
        Store::Tree,
        Store::Data,
        Store::Bitfield,
        Store::Signatures,
    ];

    /// The file name JS uses.
    pub fn file_name(self) -> &'static str {
        match self {
            Store::Key => "key",
            Store::SecretKey => "secret_key",
            Store::Tree => "tree",
            Store::Data => "data",
            Store::Bitfield => "bitfield",
            Store::Signatures => "signatures",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Random-access files for one feed.
///
/// A file that was never written behaves as empty: reads past its end return fewer bytes and
/// its length is 0. Writes create files (and their folder) as needed.
pub trait Storage: Send {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were there.
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes all of `data` at `offset`, extending the file (with zeros) as needed.
    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Current length of the file in bytes (0 when it does not exist).
    fn len(&mut self, store: Store) -> io::Result<u64>;
    /// Whether the file exists at all.
    fn exists(&mut self, store: Store) -> io::Result<bool>;
    /// Cuts the file to `len` bytes (used where JS deletes a range that reaches the end).
    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()>;
    /// Makes everything written so far durable.
    fn sync(&mut self) -> io::Result<()>;

    /// Gives the disk space of `len` bytes at `offset` back to the file system, keeping the
    /// file's length (later reads of the range return zeros). Used by [`Feed::clear`] for
    /// ranges before the end of the file, which truncation cannot free. A backend that cannot
    /// free space keeps the bytes: this default does nothing.
    ///
    /// [`Feed::clear`]: crate::Feed::clear
    fn punch_hole(&mut self, store: Store, offset: u64, len: u64) -> io::Result<()> {
        let _ = (store, offset, len);
        Ok(())
    }

    /// Writes `bufs` back to back at `offset`, as one write (a batch's blocks without first
    /// copying them into one buffer, where the backend can; this default copies).
    fn write_all_vectored_at(
        &mut self,
        store: Store,
        offset: u64,
        bufs: &[&[u8]],
    ) -> io::Result<()> {
        let mut data = Vec::with_capacity(bufs.iter().map(|b| b.len()).sum());
        for b in bufs {
            data.extend_from_slice(b);
        }
        self.write_at(store, offset, &data)
    }

    /// Reads exactly `len` bytes at `offset`, or `None` when the file is shorter.
    fn read_exact_at(
        &mut self,
        store: Store,
        offset: u64,
        len: usize,
    ) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; len];
        let n = self.read_at(store, offset, &mut buf)?;
        Ok((n == len).then_some(buf))
    }
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(store, offset, buf)
    }
    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        (**self).write_at(store, offset, data)
    }
    fn write_all_vectored_at(
        &mut self,
        store: Store,
        offset: u64,
        bufs: &[&[u8]],
    ) -> io::Result<()> {
        (**self).write_all_vectored_at(store, offset, bufs)
    }
    fn len(&mut self, store: Store) -> io::Result<u64> {
        (**self).len(store)
    }
    fn exists(&mut self, store: Store) -> io::Result<bool> {
        (**self).exists(store)
    }
    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        (**self).truncate(store, len)
    }
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
    fn punch_hole(&mut self, store: Store, offset: u64, len: u64) -> io::Result<()> {
        (**self).punch_hole(store, offset, len)
    }
}
