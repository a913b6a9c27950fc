//! Files held in memory (`random-access-memory`).

use std::collections::BTreeMap;
use std::io;

use super::{Storage, Store};

/// A feed's files as byte vectors; cloning copies them, which tests use as a snapshot.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    files: BTreeMap<Store, Vec<u8>>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes of one file, if it exists.
    pub fn file(&self, store: Store) -> Option<&[u8]> {
        self.files.get(&store).map(Vec::as_slice)
    }

    /// Replaces a file's bytes (tests use it to corrupt or cut files).
    pub fn set_file(&mut self, store: Store, bytes: Vec<u8>) {
        self.files.insert(store, bytes);
    }

    /// Removes a file.
    pub fn remove_file(&mut self, store: Store) {
        self.files.remove(&store);
    }
}

impl Storage for MemoryStorage {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Some(file) = self.files.get(&store) else {
            return Ok(0);
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(file.len());
        let n = buf.len().min(file.len() - start);
        buf[..n].copy_from_slice(&file[start..start + n]);
        Ok(n)
    }

    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        let start = usize::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
        let end = start
            .checked_add(data.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
        let file = self.files.entry(store).or_default();
        if file.len() < end {
            // An offset far out (a bitfield page of a block near 2^52) must fail, not abort.
            file.try_reserve_exact(end - file.len()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("{} would need {end} bytes in memory", store.file_name()),
                )
            })?;
            file.resize(end, 0);
        }
        file[start..end].copy_from_slice(data);
        Ok(())
    }

    fn len(&mut self, store: Store) -> io::Result<u64> {
        Ok(self.files.get(&store).map_or(0, |f| f.len() as u64))
    }

    fn exists(&mut self, store: Store) -> io::Result<bool> {
        Ok(self.files.contains_key(&store))
    }

    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        if let Some(file) = self.files.get_mut(&store) {
            file.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}
