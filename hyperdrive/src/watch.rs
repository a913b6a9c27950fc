//! [`Drive::watch`]: change notifications for a path, across mounts, over a small channel.
//!
//! Every handle on one metadata feed in this process shares one [`WatchHub`] (kept with the
//! core in the corestore, see `feeds.rs`). A drive write (or [`Drive::notify_watchers`], which
//! replication calls after storing metadata blocks from a peer) asks the hub to check its
//! registrations: one whose prefix shows a trie diff since the version it last saw sends an
//! event. Events coalesce: the channel holds one, so a slow reader sees "something changed"
//! once and re-reads the drive.
//!
//! A watcher is a tree of registrations: one on the watched drive, and one on every drive
//! mounted (unpinned) under the watched path, recursively. When a registration sees its
//! drive's mount records under its prefix change (a mount added, replaced or removed), the
//! watcher's registrations below it are brought in line with the new mounts, so a mount made
//! after the watch started is watched too, and an unmounted drive stops reporting.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hypercore::PublicKey;
use hypertrie::{DiffOptions, IterOptions};
use tokio::sync::mpsc;

use crate::drive::Drive;
use crate::error::Result;
use crate::feeds::{lock, with_trie};
use crate::mount_record::{MOUNT_PREFIX, MountRecord};
use crate::path::{fix_name, join, relative, trie_key};
use crate::resolve::path_to_mount;

/// Mount nesting followed by a watch.
const MAX_DEPTH: usize = 16;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One change notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The drive whose trie changed (the watched drive, or a drive mounted under the path).
    pub key: PublicKey,
    /// That drive's version when the change was seen.
    pub version: u64,
}

/// A watcher's registration on one hub.
struct Registration {
    id: u64,
    /// The watched drive (a live handle).
    drive: Drive,
    prefix: String,
    seen: u64,
    depth: usize,
    set: Arc<WatchSet>,
}

/// The registrations of one metadata feed.
#[derive(Default)]
pub(crate) struct WatchHub {
    watchers: Mutex<Vec<Registration>>,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub").finish_non_exhaustive()
    }
}

/// A registration as its watcher knows it.
struct Entry {
    hub: Arc<WatchHub>,
    id: u64,
    /// The registration whose mounts brought this one in (`None`: the watched drive).
    parent: Option<u64>,
    /// The mounted drive and the prefix watched in it.
    key: PublicKey,
    prefix: String,
    /// Where that prefix appears in the watched tree (`/mnt/x` for a drive mounted there).
    outer: String,
}

/// What one [`Watcher`] and its registrations share.
struct WatchSet {
    /// Where events go (replaced when watchers merge).
    tx: Mutex<mpsc::Sender<WatchEvent>>,
    entries: Mutex<Vec<Entry>>,
    /// Held while the registrations below one are brought in line with its mounts, so two
    /// threads never add the same mount twice.
    syncing: Mutex<()>,
    /// Set when the watcher drops: nothing registers any more.
    closed: AtomicBool,
}

/// A registration that saw its mount records change.
struct Rescan {
    set: Arc<WatchSet>,
    drive: Drive,
    id: u64,
    prefix: String,
    depth: usize,
}

impl WatchHub {
    /// Checks every registration against the feed's current version.
    pub(crate) fn notify(&self) {
        let mut rescans = Vec::new();
        {
            let mut watchers = lock(&self.watchers);
            watchers.retain(|w| !lock(&w.set.tx).is_closed());
            for w in watchers.iter_mut() {
                let version = w.drive.metadata.lock().len();
                if version <= w.seen {
                    continue;
                }
                let from = w.seen;
                let mounts = trie_key(&join(&[MOUNT_PREFIX, &w.prefix]));
                // A failed diff (a block not stored yet) is reported as a change: the reader
                // re-reads and gets the real error.
                let (changed, mounts_changed) = with_trie(&w.drive.metadata, |t| {
                    let mut checkout = t.checkout(version);
                    let changed = checkout
                        .diff(from, &w.prefix, DiffOptions::default())
                        .next()
                        .is_some();
                    let mounts_changed = checkout
                        .diff(from, &mounts, DiffOptions::default().hidden(true))
                        .next()
                        .is_some();
                    Ok((changed, mounts_changed))
                })
                .unwrap_or((true, true));
                w.seen = version;
                if changed {
                    // Full means an event is already waiting: the changes coalesce.
                    let _ = lock(&w.set.tx).try_send(WatchEvent {
                        key: *w.drive.key(),
                        version,
                    });
                }
                if mounts_changed {
                    rescans.push(Rescan {
                        set: Arc::clone(&w.set),
                        drive: w.drive.clone(),
                        id: w.id,
                        prefix: w.prefix.clone(),
                        depth: w.depth,
                    });
                }
            }
        }
        // Outside the hub's lock: a mount may be this very drive.
        for r in rescans {
            let _syncing = lock(&r.set.syncing);
            if let Err(e) = r.set.sync_mounts(&r.drive, r.id, &r.prefix, r.depth) {
                tracing::debug!(error = %e, "cannot follow the mounts of a watched drive");
            }
        }
    }

    fn remove(&self, ids: &HashSet<u64>) {
        lock(&self.watchers).retain(|w| !ids.contains(&w.id));
    }
}

impl WatchSet {
    /// Registers on `drive` for changes under `prefix`, then on its mounts.
    fn register(
        self: &Arc<Self>,
        drive: &Drive,
        prefix: &str,
        outer: &str,
        parent: Option<u64>,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH || drive.checkout.is_some() || self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let seen = drive.metadata.lock().len();
        lock(&drive.hub.watchers).push(Registration {
            id,
            drive: drive.clone(),
            prefix: prefix.to_owned(),
            seen,
            depth,
            set: Arc::clone(self),
        });
        lock(&self.entries).push(Entry {
            hub: Arc::clone(&drive.hub),
            id,
            parent,
            key: *drive.key(),
            prefix: prefix.to_owned(),
            outer: outer.to_owned(),
        });
        self.sync_mounts(drive, id, prefix, depth)
    }

    /// Brings the registrations below `id` in line with the unpinned mounts under `prefix` in
    /// `drive` (the caller holds `syncing`).
    fn sync_mounts(
        self: &Arc<Self>,
        drive: &Drive,
        id: u64,
        prefix: &str,
        depth: usize,
    ) -> Result<()> {
        let records = drive.trie_list(
            &trie_key(&join(&[MOUNT_PREFIX, prefix])),
            IterOptions::default().hidden(true),
        )?;
        // (drive, prefix in it, mount path relative to `prefix`)
        let mut wanted: Vec<(PublicKey, String, String)> = Vec::new();
        for node in records {
            let Ok(record) = MountRecord::decode(node.value().unwrap_or(&[])) else {
                continue;
            };
            if record.version.is_some() {
                continue; // a pinned mount never changes
            }
            let inner = path_to_mount(&record.local_path, &record);
            let below = relative(&format!("/{prefix}"), &format!("/{}", record.local_path));
            wanted.push((PublicKey(record.key), inner, below));
        }
        let (gone, new, outer): (Vec<u64>, Vec<(PublicKey, String, String)>, String) = {
            let entries = lock(&self.entries);
            let outer = entries
                .iter()
                .find(|e| e.id == id)
                .map_or_else(|| "/".to_owned(), |e| e.outer.clone());
            let children: Vec<&Entry> = entries.iter().filter(|e| e.parent == Some(id)).collect();
            let has = |e: &Entry| wanted.iter().any(|(k, p, _)| e.key == *k && e.prefix == *p);
            let gone = children.iter().filter(|e| !has(e)).map(|e| e.id).collect();
            let new = wanted
                .iter()
                .filter(|(k, p, _)| !children.iter().any(|e| e.key == *k && e.prefix == *p))
                .cloned()
                .collect();
            (gone, new, outer)
        };
        for child in gone {
            self.unregister_tree(child);
        }
        for (key, inner, below) in new {
            let sub = drive.sibling(&key, None)?;
            let at = fix_name(&join(&[&outer, &below]));
            self.register(&sub, &inner, &at, Some(id), depth + 1)?;
        }
        Ok(())
    }

    /// Removes registration `id` and every one below it.
    fn unregister_tree(&self, id: u64) {
        let mut doomed = HashSet::from([id]);
        let removed: Vec<Entry> = {
            let mut entries = lock(&self.entries);
            // Parents come before their children in the list, so one pass finds the subtree.
            for e in entries.iter() {
                if e.parent.is_some_and(|p| doomed.contains(&p)) {
                    doomed.insert(e.id);
                }
            }
            let (removed, kept) = std::mem::take(&mut *entries)
                .into_iter()
                .partition(|e| doomed.contains(&e.id));
            *entries = kept;
            removed
        };
        for e in removed {
            e.hub.remove(&doomed);
        }
    }
}

/// Notifications of changes under a path ([`Drive::watch`]); dropping it stops them.
pub struct Watcher {
    rx: mpsc::Receiver<WatchEvent>,
    sets: Vec<Arc<WatchSet>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("drives", &self.watched().len())
            .finish_non_exhaustive()
    }
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

    /// The drives this watcher listens to now (the watched drive and the drives mounted
    /// under the path, unpinned, recursively), each with the path in the watched drive where
    /// its changes show (`/mnt/x` for a drive mounted there): what a filesystem layer
    /// invalidates when an event names that drive.
    pub fn watched(&self) -> Vec<(PublicKey, String)> {
        self.sets
            .iter()
            .flat_map(|set| {
                lock(&set.entries)
                    .iter()
                    .map(|e| (e.key, e.outer.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// One watcher for the changes of all of `watchers` (a tree made of several drives
    /// watches each and merges them). A change any of them had waiting is waiting here.
    pub fn merge(watchers: impl IntoIterator<Item = Watcher>) -> Watcher {
        let (tx, rx) = mpsc::channel(1);
        let mut sets = Vec::new();
        for mut w in watchers {
            if let Ok(event) = w.rx.try_recv() {
                let _ = tx.try_send(event);
            }
            for set in std::mem::take(&mut w.sets) {
                *lock(&set.tx) = tx.clone();
                sets.push(set);
            }
        }
        Watcher { rx, sets }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for set in &self.sets {
            set.closed.store(true, Ordering::SeqCst);
            let entries = std::mem::take(&mut *lock(&set.entries));
            let ids: HashSet<u64> = entries.iter().map(|e| e.id).collect();
            for e in entries {
                e.hub.remove(&ids);
            }
        }
    }
}

impl Drive {
    /// Watches `path` (a file or a directory, recursively): the watcher gets an event after
    /// each change under it, including changes in drives mounted below it, whether mounted
    /// before or after the watch started (JS only follows mounts present at the start). A
    /// checkout never changes, so its watcher stays quiet.
    pub fn watch(&self, path: &str) -> Result<Watcher> {
        let (tx, rx) = mpsc::channel(1);
        let set = Arc::new(WatchSet {
            tx: Mutex::new(tx),
            entries: Mutex::new(Vec::new()),
            syncing: Mutex::new(()),
            closed: AtomicBool::new(false),
        });
        let watcher = Watcher {
            rx,
            sets: vec![Arc::clone(&set)],
        };
        if self.checkout.is_none() {
            let outer = fix_name(path);
            let (owner, key) = self.owner(&outer)?;
            let _syncing = lock(&set.syncing);
            set.register(&owner, &key, &outer, None, 0)?;
        }
        Ok(watcher)
    }

    /// Checks this drive's watchers now: for changes that did not come through a drive
    /// handle (replication storing metadata blocks from a peer).
    pub fn notify_watchers(&self) {
        self.hub.notify();
    }
}
