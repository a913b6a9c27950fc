//! `Drive.download`: the block ranges a path needs, fetched from peers in the background (JS
//! `drive.download(path)`, which the Node daemon answers at once with an id), and
//! `Drive.undownload`, which cancels them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use corestore::SharedFeed;

use super::lock;

/// Most downloads remembered; past it, finished ones are forgotten first, then the request
/// is refused.
pub(crate) const MAX_DOWNLOADS: usize = 1024;

/// One range of one feed.
#[derive(Debug)]
pub(crate) struct Range {
    pub(crate) feed: SharedFeed,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl Range {
    fn complete(&self) -> bool {
        let f = self.feed.lock();
        f.downloaded(self.start, self.end.min(f.len())) == self.end - self.start
    }
}

/// The downloads under way.
#[derive(Debug)]
pub(crate) struct Downloads {
    next: AtomicU64,
    active: Mutex<HashMap<u64, Vec<Range>>>,
}

impl Default for Downloads {
    fn default() -> Self {
        Downloads {
            next: AtomicU64::new(1),
            active: Mutex::new(HashMap::new()),
        }
    }
}

impl Downloads {
    /// Starts fetching `ranges`; the download's id, or `None` when [`MAX_DOWNLOADS`] are under
    /// way.
    pub(crate) fn start(&self, ranges: Vec<Range>) -> Option<u64> {
        let mut active = lock(&self.active);
        if active.len() >= MAX_DOWNLOADS {
            active.retain(|_, r| !r.iter().all(Range::complete));
            if active.len() >= MAX_DOWNLOADS {
                return None;
            }
        }
        for r in &ranges {
            r.feed.download(r.start, Some(r.end));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        active.insert(id, ranges);
        Some(id)
    }

    /// Cancels download `id`; whether it existed.
    pub(crate) fn cancel(&self, id: u64) -> bool {
        let Some(ranges) = lock(&self.active).remove(&id) else {
            return false;
        };
        for r in ranges {
            r.feed.undownload(r.start, Some(r.end));
        }
        true
    }
}
