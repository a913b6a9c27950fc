//! A storage that "loses power" at a chosen write, for crash-consistency tests.

use std::io;

use super::{MemoryStorage, Storage, Store};

/// When the simulated crash happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPlan {
    /// Writes that complete before the crash.
    pub writes_before_crash: usize,
    /// Bytes of the crashing write that still reach the disk (a torn write); 0 for none.
    pub torn_bytes: usize,
}

/// Memory storage that applies the first `writes_before_crash` writes, tears the next one after
/// `torn_bytes`, and fails every operation after that. [`CrashStorage::into_disk`] gives what
/// survived, to reopen as after a power cut.
#[derive(Debug)]
pub struct CrashStorage {
    disk: MemoryStorage,
    plan: CrashPlan,
    writes: usize,
    crashed: bool,
}

impl CrashStorage {
    /// Wraps a disk image with a crash plan.
    pub fn new(disk: MemoryStorage, plan: CrashPlan) -> Self {
        CrashStorage {
            disk,
            plan,
            writes: 0,
            crashed: false,
        }
    }

    /// Whether the crash has happened.
    pub fn crashed(&self) -> bool {
        self.crashed
    }

    /// Writes seen so far, including the crashing one.
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// The disk as the crash left it.
    pub fn into_disk(self) -> MemoryStorage {
        self.disk
    }

    fn check(&self) -> io::Result<()> {
        if self.crashed {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "simulated crash"))
        } else {
            Ok(())
        }
    }
}

impl Storage for CrashStorage {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        self.disk.read_at(store, offset, buf)
    }

    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.writes += 1;
        if self.writes > self.plan.writes_before_crash {
            self.crashed = true;
            let torn = self.plan.torn_bytes.min(data.len());
            if torn > 0 {
                self.disk.write_at(store, offset, &data[..torn])?;
            }
            return self.check();
        }
        self.disk.write_at(store, offset, data)
    }

    fn len(&mut self, store: Store) -> io::Result<u64> {
        self.check()?;
        self.disk.len(store)
    }

    fn exists(&mut self, store: Store) -> io::Result<bool> {
        self.check()?;
        self.disk.exists(store)
    }

    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        self.check()?;
        self.writes += 1;
        if self.writes > self.plan.writes_before_crash {
            self.crashed = true;
            return self.check();
        }
        self.disk.truncate(store, len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.check()
    }
}
