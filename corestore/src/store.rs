//! [`Corestore`]: the loaded cores of one store, shared by its namespaces.

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hypercore::replicate::{ReplicationHandle, ReplicatorConfig};
use hypercore::{Feed, KeyPair, PublicKey};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use crate::backend::{Backend, BoxStorage};
use crate::derive::derive_key_pair;
use crate::error::{Error, Result};
use crate::loaded::{FILES_PER_CORE, StoreStats, Table};
use crate::master_key::{self, MasterKey};

/// A loaded core, shared between the store, its replication sessions and everyone who asked
/// for it: hypercore's [`hypercore::replicate::SharedFeed`], a feed and its replicator behind
/// one std mutex.
///
/// [`lock`](hypercore::replicate::SharedFeed::lock) gives the [`Feed`] for synchronous work
/// (every feed method is short: a few positional reads or writes); async code must not hold
/// the guard across an `.await`. Blocks appended through it are announced to peers when the
/// guard drops; [`get`](hypercore::replicate::SharedFeed::get) and
/// [`get_blocking`](hypercore::replicate::SharedFeed::get_blocking) wait for blocks from peers.
pub type SharedFeed = hypercore::replicate::SharedFeed<BoxStorage>;

/// The name of a root store, used by [`Corestore::default_feed`] (JS: `opts.name || 'default'`).
const DEFAULT_NAME: &str = "default";
/// Joins a namespace to its parent's name (JS: `NAMESPACE_SEPERATOR`).
const NAMESPACE_SEPARATOR: &str = ":";

/// How many files the loaded cores of a store on disk may hold open by default
/// ([`Corestore::set_open_file_budget`]): 128 cores of six files, which leaves a quarter of
/// Linux's usual soft limit of 1,024 descriptors for sockets and everything else.
pub const DEFAULT_OPEN_FILE_BUDGET: usize = 768;

/// A store of many hypercores in one folder (or in memory), byte-compatible with Node's
/// `corestore@5`.
///
/// A `Corestore` is a view: the root view from [`Corestore::open`], or a namespace view from
/// [`Corestore::namespace`]. All views of a store share one table of loaded cores, so asking
/// twice for a core, from any view or thread, returns the same [`SharedFeed`]. A view only
/// changes which name [`Corestore::default_feed`] derives and what [`Corestore::list`] shows.
pub struct Corestore {
    pub(crate) shared: Arc<Shared>,
    name: String,
    pub(crate) namespaced: bool,
    /// Discovery keys of the cores asked for through this view (JS `_openedCores`). Only keys:
    /// the handles live in the shared table, so closing the store releases them all.
    opened: Mutex<BTreeSet<[u8; 32]>>,
}

/// What all views of one store share.
pub(crate) struct Shared {
    master_key: MasterKey,
    /// The folder, for a store on disk.
    root: Option<PathBuf>,
    pub(crate) state: Mutex<State>,
    /// Running replication sessions: every core loaded from now on joins them (JS
    /// `_injectIntoReplicationStreams`), and closing the store ends them.
    pub(crate) streams: Mutex<Vec<Stream>>,
    /// Held while a core opens outside `state`, one stripe per discovery key's first byte
    /// (modulo [`OPEN_STRIPES`]): one core never opens twice at once.
    opening: [Mutex<()>; OPEN_STRIPES],
}

/// Stripes of [`Shared::opening`]: opens of cores in different stripes run side by side.
const OPEN_STRIPES: usize = 16;

/// Cores loaded while a replication session runs that may wait for it to take them
/// ([`Corestore::replicate`]). A session takes them whenever its task runs, so only a starved
/// one falls this far behind; the store then ends it ([`Error::SessionBehind`]) rather than
/// queue without a bound.
pub const SESSION_LOAD_QUEUE: usize = 1024;

/// One running replication session of the store.
pub(crate) struct Stream {
    /// Where cores loaded later go; closed once the session ended.
    pub(crate) added: Sender<SharedFeed>,
    pub(crate) handle: ReplicationHandle,
    /// Set when the store ended the session for falling behind.
    pub(crate) behind: Arc<AtomicBool>,
}

impl Stream {
    /// Hands a newly loaded core to the session; `false` once the session is gone (ended, or
    /// ended now for falling [`SESSION_LOAD_QUEUE`] cores behind).
    pub(crate) fn offer(&self, feed: &SharedFeed) -> bool {
        match self.added.try_send(feed.clone()) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => false,
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    queued = SESSION_LOAD_QUEUE,
                    "a replication session fell behind the cores the store loads; ending it"
                );
                self.behind.store(true, Ordering::Relaxed);
                self.handle.cancel();
                false
            }
        }
    }
}

pub(crate) struct State {
    backend: Backend,
    /// Loaded cores by discovery key; `None` once the root view closed the store.
    pub(crate) cores: Option<Table>,
    /// Files the loaded cores may hold open before idle ones are closed; `None` for a store
    /// in memory (its cores exist only while loaded).
    budget: Option<usize>,
    /// The counters, kept when the store closes.
    closed_stats: StoreStats,
}

impl fmt::Debug for Corestore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Corestore")
            .field("name", &self.name)
            .field("root", &self.shared.root)
            .field("master_key", &self.shared.master_key)
            .finish_non_exhaustive()
    }
}

impl Corestore {
    /// Opens the store in folder `dir`, creating the folder and its `master_key` on first use.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let master_key = master_key::load_or_create(&dir)?;
        Ok(Self::with_backend(Backend::Dir(dir), master_key))
    }

    /// Opens the store in `dir` with a master key given by the caller; no `master_key` file is
    /// read or written (JS `opts.masterKey`).
    pub fn open_with_master_key(dir: impl Into<PathBuf>, master_key: MasterKey) -> Self {
        Self::with_backend(Backend::Dir(dir.into()), master_key)
    }

    /// A store in memory with a random master key; everything is gone when it closes.
    pub fn in_memory() -> Result<Self> {
        Ok(Self::in_memory_with_master_key(MasterKey::generate()?))
    }

    /// A store in memory that derives keys from `master_key`.
    pub fn in_memory_with_master_key(master_key: MasterKey) -> Self {
        Self::with_backend(Backend::Memory(HashMap::new()), master_key)
    }

    fn with_backend(backend: Backend, master_key: MasterKey) -> Self {
        Corestore {
            shared: Arc::new(Shared {
                master_key,
                root: backend.root().map(Path::to_path_buf),
                state: Mutex::new(State {
                    budget: backend.root().map(|_| DEFAULT_OPEN_FILE_BUDGET),
                    backend,
                    cores: Some(Table::default()),
                    closed_stats: StoreStats::default(),
                }),
                streams: Mutex::new(Vec::new()),
                opening: std::array::from_fn(|_| Mutex::new(())),
            }),
            name: DEFAULT_NAME.to_owned(),
            namespaced: false,
            opened: Mutex::new(BTreeSet::new()),
        }
    }

    /// The folder, for a store on disk.
    pub fn path(&self) -> Option<&Path> {
        self.shared.root.as_deref()
    }

    /// The name [`Corestore::default_feed`] derives: `"default"` for the root view, the
    /// namespace path (`"a:b"`) for a namespace view.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A view whose default feed is named `namespace`, or `"<this name>:<namespace>"` when
    /// this view is itself a namespace. The view shares this store's cores.
    pub fn namespace(&self, namespace: &str) -> Result<Corestore> {
        if namespace.is_empty() {
            return Err(Error::EmptyName);
        }
        let name = if self.namespaced {
            format!("{}{NAMESPACE_SEPARATOR}{namespace}", self.name)
        } else {
            namespace.to_owned()
        };
        Ok(Corestore {
            shared: Arc::clone(&self.shared),
            name,
            namespaced: true,
            opened: Mutex::new(BTreeSet::new()),
        })
    }

    /// The key pair of the core named `name` (what [`Corestore::get_by_name`] opens).
    pub fn derive_key_pair(&self, name: &[u8]) -> KeyPair {
        derive_key_pair(&self.shared.master_key, name)
    }

    /// The writable core named after this view ([`Corestore::name`]).
    pub fn default_feed(&self) -> Result<SharedFeed> {
        self.get_by_name(self.name.as_bytes())
    }

    /// The writable core named `name`, created if missing.
    ///
    /// Names are not prefixed by the view's namespace (as in JS: only the default feed is).
    pub fn get_by_name(&self, name: impl AsRef<[u8]>) -> Result<SharedFeed> {
        let name = name.as_ref();
        if name.is_empty() {
            return Err(Error::EmptyName);
        }
        let key_pair = self.derive_key_pair(name);
        let dk = key_pair.public.discovery_key();
        self.load(dk, |backend| {
            match backend.stored_name(&dk)? {
                Some(stored) if stored == name => {}
                Some(stored) => {
                    // JS derives from the stored name and checks the folder; a different name
                    // cannot derive this folder's key.
                    if self.derive_key_pair(&stored).public.discovery_key() != dk {
                        return Err(name_mismatch(&dk));
                    }
                }
                // New core, or one first opened by key (a key file without a name): record
                // the name so both implementations find the core writable from now on. JS
                // would open the second case read-only and never write the name.
                None => backend.store_name(&dk, name)?,
            }
            open_feed(
                Feed::builder(backend.storage(&dk))
                    .key_pair(key_pair)
                    .store_secret_key(false),
                &dk,
            )
        })
    }

    /// The core with public key `key`: writable when its folder names the core (so its secret
    /// derives from the master key) or holds its secret key, read-only otherwise. A core not
    /// stored yet is created empty and read-only, to be filled by replication.
    pub fn get_by_key(&self, key: &PublicKey) -> Result<SharedFeed> {
        let dk = key.discovery_key();
        self.load(dk, |backend| self.open_stored(backend, &dk, *key))
    }

    /// The stored core with discovery key `discovery_key`, or `None` when this store holds no
    /// such core (how a replicating peer's request is answered).
    pub fn get_by_discovery_key(&self, discovery_key: &[u8; 32]) -> Result<Option<SharedFeed>> {
        let dk = *discovery_key;
        if let Some(feed) = self.cached(&dk)? {
            return Ok(Some(feed));
        }
        // The key file is read without the table's lock when the store is on disk.
        let detached = lock(&self.shared.state).backend.detached();
        let stored = match detached {
            Some(backend) => backend.stored_key(&dk)?,
            None => lock(&self.shared.state).backend.stored_key(&dk)?,
        };
        let Some(key) = stored else {
            return Ok(None);
        };
        if key.discovery_key() != dk {
            return Err(Error::MisplacedKey {
                discovery_key: hex::encode(dk),
            });
        }
        self.load(dk, |backend| self.open_stored(backend, &dk, key))
            .map(Some)
    }

    /// Opens a core by its folder: derive from a stored name, else the key (and any stored
    /// secret key).
    fn open_stored(
        &self,
        backend: &mut Backend,
        dk: &[u8; 32],
        key: PublicKey,
    ) -> Result<Feed<BoxStorage>> {
        if let Some(name) = backend.stored_name(dk)? {
            let key_pair = self.derive_key_pair(&name);
            if key_pair.public.discovery_key() != *dk {
                return Err(name_mismatch(dk));
            }
            return open_feed(
                Feed::builder(backend.storage(dk))
                    .key_pair(key_pair)
                    .store_secret_key(false),
                dk,
            );
        }
        open_feed(Feed::builder(backend.storage(dk)).key(key), dk)
    }

    /// The loaded core, or the one `open` makes, registered in the shared table and this view.
    ///
    /// A core of a store on disk opens outside the table's lock (its files, its bitfield: what
    /// a peer's `Open` of a core we hold on disk costs), so lookups of loaded cores, and opens
    /// of other cores, go on meanwhile. Opens of one core are serialised by its stripe of
    /// [`Shared::opening`], so two threads asking for one core never open its files twice (the
    /// second open would fail on the `bitfield` lock).
    fn load(
        &self,
        dk: [u8; 32],
        open: impl FnOnce(&mut Backend) -> Result<Feed<BoxStorage>>,
    ) -> Result<SharedFeed> {
        if let Some(feed) = self.cached(&dk)? {
            return Ok(feed);
        }
        let _opening = lock(&self.shared.opening[usize::from(dk[0]) % OPEN_STRIPES]);
        let feed = {
            let mut state = lock(&self.shared.state);
            let State {
                backend,
                cores,
                budget,
                ..
            } = &mut *state;
            let cores = cores.as_mut().ok_or(Error::Closed)?;
            match cores.get(&dk) {
                Some(feed) => feed,
                None => {
                    if let Some(budget) = *budget {
                        // Closed before the new core opens its files, and under the table's
                        // lock, so a core is never open twice.
                        for (dk, feed) in cores.evict_for_one((budget / FILES_PER_CORE).max(1)) {
                            let flushed = {
                                let mut feed = feed.lock();
                                if feed.needs_flush() {
                                    feed.flush()
                                } else {
                                    Ok(())
                                }
                            };
                            if let Err(source) = flushed {
                                // Kept loaded: what failed to reach the files is still in it.
                                tracing::warn!(discovery_key = %hex::encode(dk), %source, "flush of an idle core failed; it stays loaded");
                                cores.restore(dk, feed);
                            }
                        }
                    }
                    let opened = match backend.detached() {
                        Some(mut own) => {
                            drop(state);
                            let opened = open(&mut own)?;
                            state = lock(&self.shared.state);
                            opened
                        }
                        // A store in memory keeps names in the backend itself; nothing slow.
                        None => open(backend)?,
                    };
                    let feed = SharedFeed::new(opened, ReplicatorConfig::default());
                    // Closed meanwhile: the new feed goes (flushing) with the error.
                    let cores = state.cores.as_mut().ok_or(Error::Closed)?;
                    cores.insert(dk, feed.clone());
                    drop(state);
                    lock(&self.shared.streams).retain(|s| s.offer(&feed));
                    feed
                }
            }
        };
        lock(&self.opened).insert(dk);
        Ok(feed)
    }

    fn cached(&self, dk: &[u8; 32]) -> Result<Option<SharedFeed>> {
        let mut state = lock(&self.shared.state);
        let cores = state.cores.as_mut().ok_or(Error::Closed)?;
        let feed = cores.get(dk);
        drop(state);
        if feed.is_some() {
            lock(&self.opened).insert(*dk);
        }
        Ok(feed)
    }

    /// Deletes the core with this discovery key from the store: unloads it (refused with
    /// [`Error::InUse`] while anyone outside the store holds a handle to it: an open drive, a
    /// replication session) and removes its folder, so its disk space comes back. Returns
    /// whether anything was stored. A later `get*` of the key starts an empty core.
    pub fn remove_core(&self, discovery_key: &[u8; 32]) -> Result<bool> {
        let dk = *discovery_key;
        let mut state = lock(&self.shared.state);
        let State { backend, cores, .. } = &mut *state;
        let cores = cores.as_mut().ok_or(Error::Closed)?;
        if let Some(feed) = cores.peek(&dk) {
            let handles = feed.handle_count() - 1;
            if handles > 0 {
                return Err(Error::InUse {
                    discovery_key: hex::encode(dk),
                    handles,
                });
            }
        }
        let unloaded = cores.remove(&dk);
        // Its files close before the folder goes (nothing else holds the feed).
        let was_loaded = unloaded.is_some();
        drop(unloaded);
        let stored = backend.remove(&dk)?;
        drop(state);
        lock(&self.opened).remove(&dk);
        Ok(stored || was_loaded)
    }

    /// Whether any view of the store has the core with this discovery key loaded.
    pub fn is_loaded(&self, discovery_key: &[u8; 32]) -> bool {
        lock(&self.shared.state)
            .cores
            .as_ref()
            .is_some_and(|cores| cores.contains(discovery_key))
    }

    /// Sets how many files the loaded cores may hold open (default
    /// [`DEFAULT_OPEN_FILE_BUDGET`]; `None`: no limit, cores stay loaded until the store
    /// closes). Counted as six files per loaded core. When loading one more core would exceed
    /// it, the cores nobody holds a handle to (no [`SharedFeed`] outside the store, no
    /// replication session) are flushed and closed, least recently asked for first, and
    /// reopened from the folder when asked for again. Cores in use are never closed, so the
    /// budget can be exceeded by them. A store in memory never closes cores (they hold the
    /// data) and ignores this.
    pub fn set_open_file_budget(&self, files: Option<usize>) {
        let mut state = lock(&self.shared.state);
        if state.backend.root().is_some() {
            state.budget = files;
        }
    }

    /// Counters of the store's table of loaded cores.
    pub fn stats(&self) -> StoreStats {
        let state = lock(&self.shared.state);
        state
            .cores
            .as_ref()
            .map_or(state.closed_stats, |cores| cores.stats)
    }

    /// The value of type `T` kept with the loaded core `feed`, made by `init` the first time
    /// it is asked for: per-core state of a layer above (a drive's trie cache and its
    /// watchers), shared by every handle and view, and dropped when the core is closed
    /// (evicted or the store closed). `None` when `feed` is not a core this store has loaded
    /// (it was closed meanwhile, or comes from another store). `init` runs under the store's
    /// lock: keep it cheap, and do not keep a [`SharedFeed`] of the core in `T` (the core
    /// would never look idle).
    pub fn attachment<T: Any + Send + Sync>(
        &self,
        feed: &SharedFeed,
        init: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        let dk = feed.key().discovery_key();
        let mut state = lock(&self.shared.state);
        state.cores.as_mut()?.attachment(&dk, feed, init)
    }

    /// The loaded cores asked for through this view, ordered by discovery key (JS `list()`).
    pub fn list(&self) -> Vec<([u8; 32], SharedFeed)> {
        let opened = lock(&self.opened).clone();
        let state = lock(&self.shared.state);
        let Some(cores) = state.cores.as_ref() else {
            return Vec::new();
        };
        opened
            .into_iter()
            .filter_map(|dk| cores.peek(&dk).map(|feed| (dk, feed.clone())))
            .collect()
    }

    /// Makes every change to the loaded cores durable, for a daemon to call per request: each
    /// core written since its last flush syncs its new blocks, then the bitfield claiming them
    /// ([`Feed::flush`]); a core with nothing new costs no sync, so a flush with nothing dirty
    /// makes no system call at all.
    pub fn flush(&self) -> Result<()> {
        let cores: Vec<([u8; 32], SharedFeed)> = lock(&self.shared.state)
            .cores
            .iter()
            .flat_map(Table::iter)
            .map(|(dk, feed)| (*dk, feed.clone()))
            .collect();
        // One core that cannot flush (a full disk, a page past what the file system holds)
        // does not keep the others from flushing.
        let mut first_error = None;
        for (dk, feed) in cores {
            let mut feed = feed.lock();
            if feed.needs_flush()
                && let Err(source) = feed.flush()
            {
                first_error.get_or_insert(Error::Feed {
                    discovery_key: hex::encode(dk),
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Closes the view. The root view closes the store: it ends every replication session of
    /// every view (JS `stream.destroy()`: the remotes see their transports end, and each
    /// session's future returns [`Error::Closed`]), flushes every loaded core and forgets them,
    /// and every view's later `get*` fails with [`Error::Closed`]. A namespace view only
    /// forgets its own list.
    ///
    /// Handles given out earlier keep working; a core's files close when its last handle is
    /// dropped, so drop them before reopening the folder in another store.
    pub fn close(&self) -> Result<()> {
        lock(&self.opened).clear();
        if self.namespaced {
            return Ok(());
        }
        let cores = {
            let mut state = lock(&self.shared.state);
            let taken = state.cores.take();
            if let Some(table) = &taken {
                state.closed_stats = table.stats;
            }
            taken
        };
        for stream in lock(&self.shared.streams).drain(..) {
            stream.handle.cancel();
        }
        let mut first_error = None;
        for (dk, feed) in cores.into_iter().flat_map(|mut t| t.drain()) {
            if let Err(source) = feed.lock().flush() {
                tracing::warn!(discovery_key = %hex::encode(dk), %source, "flush on close failed");
                first_error.get_or_insert(Error::Feed {
                    discovery_key: hex::encode(dk),
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn open_feed(
    builder: hypercore::FeedBuilder<BoxStorage>,
    dk: &[u8; 32],
) -> Result<Feed<BoxStorage>> {
    builder.open().map_err(|source| Error::Feed {
        discovery_key: hex::encode(dk),
        source,
    })
}

fn name_mismatch(dk: &[u8; 32]) -> Error {
    Error::NameMismatch {
        discovery_key: hex::encode(dk),
    }
}

/// Locks, taking over a lock a panicking thread left behind: the table only ever holds fully
/// opened cores, and a feed's own writes leave its files recoverable like a crash would.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
