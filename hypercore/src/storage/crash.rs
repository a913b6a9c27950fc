//! A storage that "loses power", keeping only what a disk promises, for crash-consistency tests.
//!
//! What a disk promises (the model of redb's crash-testing backend): a write that a later sync
//! covered survives; of the writes since the last sync, any subset may be lost, in any
//! combination, and each may be torn: cut into the pages (4096 bytes of the file) it touches,
//! every page kept or lost on its own, and a kept page possibly kept only up to some byte. A
//! truncate since the last sync is kept or lost. Nothing else changes: bytes no write touched
//! keep their synced value.

use std::io;

use super::{MemoryStorage, Storage, Store};

/// The unit a disk writes atomically at best, and where it may tear a larger write.
const DISK_PAGE: u64 = 4096;

/// When the simulated power cut happens, and which unsynced writes it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPlan {
    /// Writes, truncates and syncs that complete before the power cut; the next one fails, and
    /// so does every call after it.
    pub ops_before_crash: usize,
    /// Chooses which unsynced writes the disk keeps and where it tears them.
    pub seed: u64,
}

/// An unsynced change.
#[derive(Clone, Debug)]
enum Change {
    Write {
        store: Store,
        offset: u64,
        data: Vec<u8>,
    },
    Truncate {
        store: Store,
        len: u64,
    },
}

/// Memory storage that runs normally (reads see every write) until [`CrashPlan`]'s operation,
/// then fails every call. [`CrashStorage::into_disk`] gives what a disk would hold after that
/// power cut: everything synced, plus a seeded choice of the changes since the last sync.
#[derive(Debug)]
pub struct CrashStorage {
    /// What reads see: every change applied.
    live: MemoryStorage,
    /// What the last sync made durable.
    synced: MemoryStorage,
    unsynced: Vec<Change>,
    plan: CrashPlan,
    ops: usize,
    syncs: usize,
    crashed: bool,
}

impl CrashStorage {
    /// Wraps a disk image (taken as synced) with a crash plan.
    pub fn new(disk: MemoryStorage, plan: CrashPlan) -> Self {
        CrashStorage {
            live: disk.clone(),
            synced: disk,
            unsynced: Vec::new(),
            plan,
            ops: 0,
            syncs: 0,
            crashed: false,
        }
    }

    /// Cuts the power now, if the plan has not already: every later call fails.
    pub fn cut_power(&mut self) {
        self.crashed = true;
    }

    /// Whether the power cut has happened.
    pub fn crashed(&self) -> bool {
        self.crashed
    }

    /// Writes, truncates and syncs seen so far, including the one that crashed.
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// Syncs that completed.
    pub fn syncs(&self) -> usize {
        self.syncs
    }

    /// Changes since the last sync: what a power cut now could lose.
    pub fn unsynced(&self) -> usize {
        self.unsynced.len()
    }

    /// The disk as a power cut now leaves it (whether or not the planned crash happened).
    pub fn into_disk(self) -> MemoryStorage {
        let mut disk = self.synced;
        let mut rng = SplitMix(self.plan.seed);
        for change in self.unsynced {
            match change {
                Change::Truncate { store, len } => {
                    if rng.below(2) == 0 {
                        // Memory truncation cannot fail.
                        let _ = disk.truncate(store, len);
                    }
                }
                Change::Write {
                    store,
                    offset,
                    data,
                } => keep_some(&mut disk, &mut rng, store, offset, &data),
            }
        }
        disk
    }

    /// Counts an operation; fails it (and marks the crash) once the plan says so.
    fn step(&mut self) -> io::Result<()> {
        self.check()?;
        self.ops += 1;
        if self.ops > self.plan.ops_before_crash {
            self.crashed = true;
            return self.check();
        }
        Ok(())
    }

    fn check(&self) -> io::Result<()> {
        if self.crashed {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "simulated power cut",
            ))
        } else {
            Ok(())
        }
    }
}

/// Applies to `disk` the pages of a write that a power cut kept: each page of the file the
/// write touches is lost, kept, or kept up to a random byte.
fn keep_some(disk: &mut MemoryStorage, rng: &mut SplitMix, store: Store, offset: u64, data: &[u8]) {
    let end = offset + data.len() as u64;
    let mut at = offset;
    while at < end {
        let page_end = ((at / DISK_PAGE + 1) * DISK_PAGE).min(end);
        let chunk = &data[(at - offset) as usize..(page_end - offset) as usize];
        let kept = match rng.below(5) {
            0 | 1 => 0,
            2 => rng.below(chunk.len() as u64 + 1) as usize,
            _ => chunk.len(),
        };
        if kept > 0 {
            // Memory writes only fail for offsets past usize, which a live write already hit.
            let _ = disk.write_at(store, at, &chunk[..kept]);
        }
        at = page_end;
    }
}

/// A tiny seeded generator (SplitMix64): the crash choice must not need a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

impl Storage for CrashStorage {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        self.live.read_at(store, offset, buf)
    }

    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        self.step()?;
        self.live.write_at(store, offset, data)?;
        self.unsynced.push(Change::Write {
            store,
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn len(&mut self, store: Store) -> io::Result<u64> {
        self.check()?;
        self.live.len(store)
    }

    fn exists(&mut self, store: Store) -> io::Result<bool> {
        self.check()?;
        self.live.exists(store)
    }

    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        self.step()?;
        self.live.truncate(store, len)?;
        self.unsynced.push(Change::Truncate { store, len });
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.step()?;
        self.syncs += 1;
        self.synced = self.live.clone();
        self.unsynced.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_writes_survive_and_unsynced_ones_only_change_their_own_bytes() {
        for seed in 0..200 {
            let mut s = CrashStorage::new(
                MemoryStorage::new(),
                CrashPlan {
                    ops_before_crash: usize::MAX,
                    seed,
                },
            );
            s.write_at(Store::Data, 0, &[1; 5000]).expect("write");
            s.sync().expect("sync");
            s.write_at(Store::Data, 100, &[2; 9000]).expect("write");
            let disk = s.into_disk();
            let file = disk.file(Store::Data).expect("synced file");
            assert!(file[..100].iter().all(|b| *b == 1));
            assert!(file.len() >= 5000);
            for (i, b) in file.iter().enumerate().skip(100) {
                assert!(*b == 2 || (i < 5000 && *b == 1) || (i >= 5000 && *b == 0));
            }
        }
    }

    #[test]
    fn the_crash_fails_every_later_call() {
        let plan = CrashPlan {
            ops_before_crash: 1,
            seed: 0,
        };
        let mut s = CrashStorage::new(MemoryStorage::new(), plan);
        s.write_at(Store::Data, 0, b"a").expect("first write");
        assert!(s.sync().is_err());
        assert!(s.crashed());
        assert!(s.read_at(Store::Data, 0, &mut [0; 1]).is_err());
    }
}
