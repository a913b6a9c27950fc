//! [`Drive::watch`]: change notifications for a path, over a small channel.
//!
//! Every handle on one metadata feed in this process shares one [`WatchHub`]. A drive write
//! (or [`Drive::notify_watchers`], which replication calls after storing metadata blocks from
//! a peer) asks the hub to check its watchers: a watcher whose prefix shows a trie diff since
//! the version it last saw gets an event. Events coalesce: the channel holds one, so a slow
//! reader sees "something changed" once and re-reads the drive.

use std::sync::{Arc, Mutex, Weak};

use corestore::SharedFeed;
use hypercore::PublicKey;
use hypertrie::DiffOptions;
use tokio::sync::mpsc;

use crate::drive::Drive;
use crate::error::Result;
use crate::feeds::{lock, with_trie};
use crate::mount_record::MOUNT_PREFIX;
use crate::path::{fix_name, join, trie_key};
use crate::resolve::path_to_mount;

/// Mount nesting followed when a watch is set up.
const MAX_DEPTH: usize = 16;

/// One change notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The drive whose trie changed (the watched drive, or a drive mounted under the path).
    pub key: PublicKey,
    /// That drive's version when the change was seen.
    pub version: u64,
}

struct Registration {
    id: u64,
    feed: SharedFeed,
    key: PublicKey,
    prefix: String,
    seen: u64,
    tx: mpsc::Sender<WatchEvent>,
}

/// The watchers of one metadata feed.
#[derive(Default)]
pub(crate) struct WatchHub {
    watchers: Mutex<Vec<Registration>>,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub").finish_non_exhaustive()
    }
}

type HubEntry = (
    hypercore::replicate::WeakSharedFeed<corestore::BoxStorage>,
    Weak<WatchHub>,
);

/// Hubs by feed, so that handles opened separately (a mount's drive is opened per lookup)
/// share one.
static HUBS: Mutex<Vec<HubEntry>> = Mutex::new(Vec::new());

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl WatchHub {
    pub(crate) fn for_feed(feed: &SharedFeed) -> Arc<WatchHub> {
        let mut hubs = lock(&HUBS);
        hubs.retain(|(f, h)| !f.is_dropped() && h.strong_count() > 0);
        for (f, h) in hubs.iter() {
            if let (Some(f), Some(h)) = (f.upgrade(), h.upgrade())
                && SharedFeed::ptr_eq(&f, feed)
            {
                return h;
            }
        }
        let hub = Arc::new(WatchHub::default());
        hubs.push((feed.downgrade(), Arc::downgrade(&hub)));
        hub
    }

    /// Checks every watcher against the feed's current version.
    pub(crate) fn notify(&self) {
        let mut watchers = lock(&self.watchers);
        watchers.retain(|w| !w.tx.is_closed());
        for w in watchers.iter_mut() {
            let version = w.feed.lock().len();
            if version <= w.seen {
                continue;
            }
            let (from, prefix) = (w.seen, w.prefix.clone());
            // A failed diff (a block not stored yet) is reported as a change: the reader
            // re-reads and gets the real error.
            let changed = with_trie(&w.feed, |t| {
                let mut checkout = t.checkout(version);
                let mut diff = checkout.diff(from, &prefix, DiffOptions::default());
                Ok(diff.next().is_some())
            })
            .unwrap_or(true);
            w.seen = version;
            if changed {
                // Full means an event is already waiting: the changes coalesce.
                let _ = w.tx.try_send(WatchEvent {
                    key: w.key,
                    version,
                });
            }
        }
    }

    fn remove(&self, id: u64) {
        lock(&self.watchers).retain(|w| w.id != id);
    }
}

/// Notifications of changes under a path ([`Drive::watch`]); dropping it stops them.
#[derive(Debug)]
pub struct Watcher {
    rx: mpsc::Receiver<WatchEvent>,
    registrations: Vec<(Arc<WatchHub>, u64)>,
}

impl Watcher {
    /// Waits for the next change; `None` once no drive can report any more.
    pub async fn changed(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }

    /// The change waiting, if any (never blocks).
    pub fn try_changed(&mut self) -> Option<WatchEvent> {
        self.rx.try_recv().ok()
    }

    /// Blocks the thread until the next change (not for use inside an async task).
    pub fn blocking_changed(&mut self) -> Option<WatchEvent> {
        self.rx.blocking_recv()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for (hub, id) in &self.registrations {
            hub.remove(*id);
        }
    }
}

impl Drive {
    /// Watches `path` (a file or a directory, recursively): the watcher gets an event after
    /// each change under it, including changes in drives mounted below it (mounts present
    /// when the watch starts, as in JS). A checkout never changes, so its watcher stays
    /// quiet.
    pub fn watch(&self, path: &str) -> Result<Watcher> {
        let (tx, rx) = mpsc::channel(1);
        let mut watcher = Watcher {
            rx,
            registrations: Vec::new(),
        };
        if self.checkout.is_none() {
            let (owner, key) = self.owner(&fix_name(path))?;
            owner.register_watch(&key, &tx, &mut watcher, 0)?;
        }
        Ok(watcher)
    }

    fn register_watch(
        &self,
        prefix: &str,
        tx: &mpsc::Sender<WatchEvent>,
        watcher: &mut Watcher,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH || self.checkout.is_some() {
            return Ok(());
        }
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seen = self.metadata.lock().len();
        lock(&self.hub.watchers).push(Registration {
            id,
            feed: self.metadata.clone(),
            key: self.key,
            prefix: prefix.to_owned(),
            seen,
            tx: tx.clone(),
        });
        watcher.registrations.push((Arc::clone(&self.hub), id));
        let records = self.trie_list(
            &trie_key(&join(&[MOUNT_PREFIX, prefix])),
            hypertrie::IterOptions::default().hidden(true),
        )?;
        for node in records {
            let Ok(record) = crate::MountRecord::decode(node.value().unwrap_or(&[])) else {
                continue;
            };
            if record.version.is_some() {
                continue; // a pinned mount never changes
            }
            let sub = self.sibling(&PublicKey(record.key), None)?;
            let inner = path_to_mount(&record.local_path, &record);
            sub.register_watch(&inner, tx, watcher, depth + 1)?;
        }
        Ok(())
    }

    /// Checks this drive's watchers now: for changes that did not come through a drive
    /// handle (replication storing metadata blocks from a peer).
    pub fn notify_watchers(&self) {
        self.hub.notify();
    }
}
