//! The table of loaded cores: lookup by discovery key, least-recently-used order, and closing
//! idle cores when the open-file budget is spent.
//!
//! A core is *idle* when the table holds its only [`SharedFeed`] handle
//! ([`SharedFeed::handle_count`] is 1): nobody reads it, no replication session carries it. Only
//! idle cores are closed; a core someone holds stays loaded whatever the budget says, since
//! closing it would leave two feeds (and two sets of files) for one core. A closed core is
//! reopened from its folder the next time it is asked for, so eviction trades a reopen (six
//! `open` calls and the bitfield read) for the descriptors.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::store::SharedFeed;

/// Files a loaded core may hold open: hypercore's six (`key`, `secret_key`, `tree`, `data`,
/// `bitfield`, `signatures`), each opened on first use.
pub(crate) const FILES_PER_CORE: usize = 6;

/// What the store keeps per loaded core.
struct Loaded {
    feed: SharedFeed,
    /// When it was last asked for: its key in [`Table::lru`].
    used: u64,
    /// What layers above keep with the core ([`crate::Corestore::attachment`]), one value per
    /// type; gone with the core.
    attachments: Vec<Arc<dyn Any + Send + Sync>>,
}

/// Counters of one store, for monitoring ([`crate::Corestore::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Cores loaded now.
    pub loaded: usize,
    /// Cores opened from storage since the store opened (a reopen after eviction counts).
    pub opens: u64,
    /// Idle cores closed to stay within the open-file budget.
    pub evictions: u64,
    /// Lookups in the table of loaded cores (every `get*`, and every
    /// [`crate::Corestore::attachment`]).
    pub lookups: u64,
}

/// Loaded cores by discovery key.
#[derive(Default)]
pub(crate) struct Table {
    cores: HashMap<[u8; 32], Loaded>,
    /// Discovery keys by last use, oldest first.
    lru: BTreeMap<u64, [u8; 32]>,
    clock: u64,
    pub(crate) stats: StoreStats,
}

impl Table {
    /// The loaded core, marked as just used.
    pub(crate) fn get(&mut self, dk: &[u8; 32]) -> Option<SharedFeed> {
        self.stats.lookups += 1;
        let tick = self.tick();
        let loaded = self.cores.get_mut(dk)?;
        self.lru.remove(&loaded.used);
        loaded.used = tick;
        self.lru.insert(tick, *dk);
        Some(loaded.feed.clone())
    }

    pub(crate) fn contains(&self, dk: &[u8; 32]) -> bool {
        self.cores.contains_key(dk)
    }

    /// The loaded core, without marking it used.
    pub(crate) fn peek(&self, dk: &[u8; 32]) -> Option<&SharedFeed> {
        self.cores.get(dk).map(|l| &l.feed)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8; 32], &SharedFeed)> {
        self.cores.iter().map(|(dk, l)| (dk, &l.feed))
    }

    pub(crate) fn feeds(&self) -> impl Iterator<Item = &SharedFeed> {
        self.cores.values().map(|l| &l.feed)
    }

    /// Adds a core just opened.
    pub(crate) fn insert(&mut self, dk: [u8; 32], feed: SharedFeed) {
        self.stats.opens += 1;
        let used = self.tick();
        self.lru.insert(used, dk);
        let old = self.cores.insert(
            dk,
            Loaded {
                feed,
                used,
                attachments: Vec::new(),
            },
        );
        if let Some(old) = old {
            self.lru.remove(&old.used);
        }
        self.stats.loaded = self.cores.len();
    }

    /// Takes a core out of the table (it is being deleted).
    pub(crate) fn remove(&mut self, dk: &[u8; 32]) -> Option<SharedFeed> {
        let loaded = self.cores.remove(dk)?;
        self.lru.remove(&loaded.used);
        self.stats.loaded = self.cores.len();
        Some(loaded.feed)
    }

    /// Puts back a core [`Table::evict_for_one`] took out (its flush failed), as just used.
    pub(crate) fn restore(&mut self, dk: [u8; 32], feed: SharedFeed) {
        self.insert(dk, feed);
        self.stats.opens -= 1;
        self.stats.evictions -= 1;
    }

    /// The value of type `T` kept with the loaded core `dk` (made by `init` the first time),
    /// if `feed` is that core.
    pub(crate) fn attachment<T: Any + Send + Sync>(
        &mut self,
        dk: &[u8; 32],
        feed: &SharedFeed,
        init: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        self.stats.lookups += 1;
        let loaded = self.cores.get_mut(dk)?;
        if !SharedFeed::ptr_eq(&loaded.feed, feed) {
            return None;
        }
        for value in &loaded.attachments {
            if let Ok(found) = Arc::clone(value).downcast::<T>() {
                return Some(found);
            }
        }
        let value = Arc::new(init());
        loaded
            .attachments
            .push(Arc::clone(&value) as Arc<dyn Any + Send + Sync>);
        Some(value)
    }

    /// Removes idle cores, least recently used first, until one more core fits in `max_cores`
    /// or no idle core is left; returns them for the caller to flush and drop. A core in use
    /// that the scan passes is marked used, so the next scan starts past it.
    pub(crate) fn evict_for_one(&mut self, max_cores: usize) -> Vec<([u8; 32], SharedFeed)> {
        let mut out = Vec::new();
        let mut scanned = 0;
        let total = self.lru.len();
        while self.cores.len() >= max_cores && scanned < total {
            scanned += 1;
            let Some((_, dk)) = self.lru.pop_first() else {
                break;
            };
            let idle = self
                .cores
                .get(&dk)
                .is_some_and(|l| l.feed.handle_count() == 1);
            if idle {
                if let Some(loaded) = self.cores.remove(&dk) {
                    self.stats.evictions += 1;
                    out.push((dk, loaded.feed));
                }
            } else {
                let tick = self.tick();
                if let Some(loaded) = self.cores.get_mut(&dk) {
                    loaded.used = tick;
                    self.lru.insert(tick, dk);
                }
            }
        }
        self.stats.loaded = self.cores.len();
        out
    }

    /// Empties the table (closing the store), handing back every core.
    pub(crate) fn drain(&mut self) -> Vec<([u8; 32], SharedFeed)> {
        self.lru.clear();
        let out = self.cores.drain().map(|(dk, l)| (dk, l.feed)).collect();
        self.stats.loaded = 0;
        out
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}
