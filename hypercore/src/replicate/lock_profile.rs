//! Optional timing of a shared feed's mutex: how long lockers waited for it and held it, to
//! tell contention (readers and replication serialising on one feed) from plain CPU load.
//!
//! Off unless [`profile_locks`] turns it on (a benchmark does): each lock then reads the clock
//! three times. Off, a lock costs one relaxed atomic load more.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static PROFILING: AtomicBool = AtomicBool::new(false);

/// Turns the timing of every shared feed's mutex on or off, for the whole process
/// ([`SharedFeed::lock_profile`](super::SharedFeed::lock_profile)).
pub fn profile_locks(on: bool) {
    PROFILING.store(on, Ordering::Relaxed);
}

pub(crate) fn profiling() -> bool {
    PROFILING.load(Ordering::Relaxed)
}

/// What a shared feed's mutex saw while [`profile_locks`] was on: totals over every locker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockProfile {
    /// Times it was locked.
    pub locks: u64,
    /// Time lockers spent waiting for it.
    pub wait: Duration,
    /// Time it was held.
    pub held: Duration,
}

impl LockProfile {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &LockProfile) -> LockProfile {
        LockProfile {
            locks: self.locks.saturating_sub(earlier.locks),
            wait: self.wait.saturating_sub(earlier.wait),
            held: self.held.saturating_sub(earlier.held),
        }
    }
}

/// The counters behind a [`LockProfile`].
#[derive(Default)]
pub(crate) struct LockCounters {
    locks: AtomicU64,
    wait_ns: AtomicU64,
    held_ns: AtomicU64,
}

impl LockCounters {
    /// Counts a lock that waited since `asked` and is held from `got`.
    pub(crate) fn locked(&self, asked: Instant, got: Instant) {
        self.locks.fetch_add(1, Ordering::Relaxed);
        self.wait_ns
            .fetch_add(nanos(got - asked), Ordering::Relaxed);
    }

    /// Counts a lock held since `got`, released now.
    pub(crate) fn released(&self, got: Instant) {
        self.held_ns
            .fetch_add(nanos(got.elapsed()), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LockProfile {
        LockProfile {
            locks: self.locks.load(Ordering::Relaxed),
            wait: Duration::from_nanos(self.wait_ns.load(Ordering::Relaxed)),
            held: Duration::from_nanos(self.held_ns.load(Ordering::Relaxed)),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
