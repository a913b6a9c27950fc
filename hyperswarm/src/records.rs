//! The announce record store: record-cache 1.2 semantics as @hyperswarm/dht
//! uses it (two generations, max age 12 min, 65 536 fresh records).
//!
//! Records go into the *fresh* generation. A GC (every ⌈2/3 × max age⌉ = 8
//! min, skipped once if an overflow GC just ran, or at once when fresh
//! exceeds the limit) turns fresh into stale and drops the old stale, so a
//! record lives 8–16 min after its last announce. Memory is bounded by two
//! generations of at most `max_size` records each.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;

use crate::addr::NodeId;

/// Default record age (12 min) of @hyperswarm/dht.
pub const MAX_AGE: Duration = Duration::from_secs(12 * 60);
/// Default size limit of the fresh generation.
pub const MAX_SIZE: usize = 65_536;

/// Under which name records are kept: a topic's public records, or its LAN
/// records for one two-octet local prefix (`<topic>@local.<prefix>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordName {
    /// The topic (the `peers` target).
    pub topic: NodeId,
    /// The first two octets of the announcer's LAN address, for LAN records.
    pub local_prefix: Option<[u8; 2]>,
}

/// A stored record: a 6-byte peer or a 4-byte local suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    bytes: [u8; 6],
    len: u8,
}

impl Record {
    /// Wraps up to 6 bytes; longer input is cut (callers pass 4 or 6).
    pub fn new(b: &[u8]) -> Self {
        let len = b.len().min(6);
        let mut bytes = [0u8; 6];
        bytes[..len].copy_from_slice(&b[..len]);
        Record {
            bytes,
            len: len as u8,
        }
    }

    /// The record bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

#[derive(Debug, Default)]
struct RecordSet {
    list: Vec<Record>,
    index: HashMap<Record, usize>,
}

impl RecordSet {
    fn add(&mut self, r: Record) -> bool {
        if self.index.contains_key(&r) {
            return false;
        }
        self.index.insert(r, self.list.len());
        self.list.push(r);
        true
    }

    fn remove(&mut self, r: &Record) -> bool {
        let Some(i) = self.index.remove(r) else {
            return false;
        };
        self.list.swap_remove(i);
        if let Some(moved) = self.list.get(i) {
            self.index.insert(*moved, i);
        }
        true
    }
}

#[derive(Debug, Default)]
struct Generation {
    sets: HashMap<RecordName, RecordSet>,
    size: usize,
}

impl Generation {
    fn add(&mut self, name: RecordName, r: Record) -> bool {
        let added = self.sets.entry(name).or_default().add(r);
        if added {
            self.size += 1;
        }
        added
    }

    fn remove(&mut self, name: &RecordName, r: &Record) -> bool {
        let Some(set) = self.sets.get_mut(name) else {
            return false;
        };
        let removed = set.remove(r);
        if removed {
            self.size -= 1;
            if set.list.is_empty() {
                self.sets.remove(name);
            }
        }
        removed
    }

    fn list(&self, name: &RecordName) -> &[Record] {
        self.sets.get(name).map_or(&[], |s| s.list.as_slice())
    }
}

/// Two-generation record cache.
#[derive(Debug)]
pub struct RecordStore {
    fresh: Generation,
    stale: Generation,
    max_size: usize,
    gced: bool,
}

impl RecordStore {
    /// A store whose fresh generation holds at most `max_size` records.
    pub fn new(max_size: usize) -> Self {
        RecordStore {
            fresh: Generation::default(),
            stale: Generation::default(),
            max_size,
            gced: false,
        }
    }

    /// How often `gc_tick` should run for a given max age (⌈2/3 × max age⌉).
    pub fn gc_interval(max_age: Duration) -> Duration {
        let ms = max_age.as_millis() * 2;
        Duration::from_millis(u64::try_from(ms.div_ceil(3)).unwrap_or(u64::MAX))
    }

    /// Adds (or refreshes into the fresh generation) a record.
    pub fn add(&mut self, name: RecordName, r: Record) {
        self.stale.remove(&name, &r);
        if self.fresh.add(name, r) && self.fresh.size > self.max_size {
            self.gc();
        }
    }

    /// Removes a record from both generations.
    pub fn remove(&mut self, name: &RecordName, r: &Record) {
        self.fresh.remove(name, r);
        self.stale.remove(name, r);
    }

    /// Up to `n` records under `name`, chosen at random from both generations.
    pub fn get(&self, name: &RecordName, n: usize, rng: &mut impl Rng) -> Vec<Record> {
        let mut pool: Vec<Record> = self
            .fresh
            .list(name)
            .iter()
            .chain(self.stale.list(name))
            .copied()
            .collect();
        let n = n.min(pool.len());
        for i in 0..n {
            let j = rng.gen_range(i..pool.len());
            pool.swap(i, j);
        }
        pool.truncate(n);
        pool
    }

    /// The periodic GC (record-cache `_gcAuto`).
    pub fn gc_tick(&mut self) {
        if !self.gced {
            self.gc();
        }
        self.gced = false;
    }

    fn gc(&mut self) {
        self.stale = std::mem::take(&mut self.fresh);
        self.gced = true;
    }

    /// Records held in both generations.
    pub fn len(&self) -> usize {
        self.fresh.size + self.stale.size
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
