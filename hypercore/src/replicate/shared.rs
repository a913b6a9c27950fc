//! A feed and its replicator behind one std mutex, shared by readers and connection tasks.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender, channel};

use super::error::ReplicateError;
use super::lock_profile::{LockCounters, LockProfile, profiling};
use super::peer::Stats;
use super::replicator::{
    PeerId, Replicator, ReplicatorConfig, ReplicatorEvent, Transmit, leaf_hashes_of,
};
use super::stream_extensions::EXTENSION_QUEUE;
use crate::crypto::PublicKey;
use crate::feed::Feed;
use crate::protocol::Message;
use crate::storage::Storage;

/// How long [`SharedFeed::get`] waits for a missing block by default.
pub const DEFAULT_GET_TIMEOUT: Duration = Duration::from_secs(30);

/// A feed being replicated: clone it into every connection task ([`super::replicate`]) and read
/// through [`get`](Self::get), which waits for blocks to arrive.
///
/// The mutex is a std one and is never held across an `.await`.
pub struct SharedFeed<S: Storage> {
    inner: Arc<Inner<S>>,
}

impl<S: Storage> Clone for SharedFeed<S> {
    fn clone(&self) -> Self {
        SharedFeed {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: Storage> std::fmt::Debug for SharedFeed<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFeed")
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

struct Inner<S: Storage> {
    key: PublicKey,
    state: Mutex<State<S>>,
    /// Woken whenever a block is stored or the length changes.
    changed: Notify,
    /// The same, for threads blocked in [`SharedFeed::get_blocking`].
    arrived: Condvar,
    /// Time spent waiting for and holding `state`, when profiling is on.
    lock_counters: LockCounters,
}

struct State<S: Storage> {
    feed: Feed<S>,
    replicator: Replicator,
    /// One per connection task that has a peer of this feed.
    wakers: HashMap<PeerId, Arc<Notify>>,
    get_timeout: Duration,
    peer_failures: u64,
    /// Where each registered feed extension's incoming messages go.
    extension_rx: HashMap<String, Sender<FeedExtensionMessage>>,
    extension_dropped: u64,
}

/// A message of a feed extension, from one peer ([`SharedFeed::register_extension`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedExtensionMessage {
    /// The sender: pass it to [`SharedFeed::send_extension`] to answer.
    pub peer: PeerId,
    /// The payload, as the extension encodes it (JS `encoding`; decode it here).
    pub payload: Vec<u8>,
}

/// A snapshot of a shared feed's replication.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedStats {
    /// Bytes and blocks moved, over every peer.
    pub total: Stats,
    /// Peers currently replicating.
    pub peers: usize,
    /// Peers dropped for bad data or stalling.
    pub peer_failures: u64,
    /// Feed extension messages dropped because their receiver was full
    /// ([`SharedFeed::register_extension`]).
    pub extension_messages_dropped: u64,
}

impl<S: Storage> SharedFeed<S> {
    /// Shares `feed`, replicating as `config` says.
    pub fn new(feed: Feed<S>, config: ReplicatorConfig) -> Self {
        SharedFeed {
            inner: Arc::new(Inner {
                key: *feed.key(),
                state: Mutex::new(State {
                    feed,
                    replicator: Replicator::new(config),
                    wakers: HashMap::new(),
                    get_timeout: DEFAULT_GET_TIMEOUT,
                    peer_failures: 0,
                    extension_rx: HashMap::new(),
                    extension_dropped: 0,
                }),
                changed: Notify::new(),
                arrived: Condvar::new(),
                lock_counters: LockCounters::default(),
            }),
        }
    }

    /// The feed's public key.
    pub fn key(&self) -> &PublicKey {
        &self.inner.key
    }

    /// How long [`get`](Self::get) waits for a block it does not have.
    pub fn set_get_timeout(&self, timeout: Duration) {
        self.state().get_timeout = timeout;
    }

    /// Runs `f` on the feed (for reads: `len`, `has`, `downloaded`, ...). Do not append through
    /// it: [`append`](Self::append) also tells the peers.
    pub fn with_feed<R>(&self, f: impl FnOnce(&mut Feed<S>) -> R) -> R {
        f(&mut self.state().feed)
    }

    /// Appends blocks as one batch and announces them to every peer that wants them.
    pub fn append_batch<B: AsRef<[u8]> + Sync>(&self, blocks: &[B]) -> Result<u64, ReplicateError> {
        let mut st = self.state();
        let start = st.feed.append_batch(blocks)?;
        st.replicator.announce(start, blocks.len() as u64);
        self.settle(&mut st, None);
        Ok(start)
    }

    /// Appends one block and announces it.
    pub fn append(&self, block: &[u8]) -> Result<u64, ReplicateError> {
        self.append_batch(&[block])
    }

    /// Block `index`, fetched from a peer if it is not here, waiting at most the get timeout
    /// (for a live feed, also for blocks past the current length).
    pub async fn get(&self, index: u64) -> Result<Vec<u8>, ReplicateError> {
        let timeout = self.state().get_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut wanted = false;
        loop {
            // Made before looking, so a store between the look and the wait still wakes us.
            let changed = self.inner.changed.notified();
            {
                let mut st = self.state();
                if st.feed.has(index) {
                    return Ok(st.feed.get(index)?);
                }
                if !wanted {
                    wanted = true;
                    let State {
                        feed, replicator, ..
                    } = &mut *st;
                    replicator.want(feed, index, now());
                    self.settle(&mut st, None);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let mut st = self.state();
                if st.feed.has(index) {
                    return Ok(st.feed.get(index)?);
                }
                st.replicator.unwant(index);
                return Err(ReplicateError::GetTimeout {
                    index,
                    timeout,
                    last_peer_error: st.replicator.last_peer_error().map(str::to_owned),
                });
            }
        }
    }

    /// Waits until `done(feed)` holds (checked whenever a block arrives or the length changes),
    /// at most `timeout`; returns whether it held.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&mut Feed<S>) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.inner.changed.notified();
            if done(&mut self.state().feed) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(&mut self.state().feed);
            }
        }
    }

    /// Resolves at the next change: a block stored, the length changed, or a message from a
    /// peer handled (which may have announced a new length, see
    /// [`remote_length`](Self::remote_length)). Create it before looking at the feed, so a
    /// change in between still wakes it.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.changed.notified()
    }

    /// Downloads `[start, end)` (`None`: everything, including later appends) in the background.
    pub fn download(&self, start: u64, end: Option<u64>) {
        let mut st = self.state();
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.download(feed, start, end, now());
        self.settle(&mut st, None);
    }

    /// Cancels a [`download`](Self::download) of the same range.
    pub fn undownload(&self, start: u64, end: Option<u64>) {
        self.state().replicator.undownload(start, end);
    }

    /// Registers a feed extension (JS `feed.registerExtension(name, {onmessage})`): it is
    /// announced to every peer, now and later, in the sorted `Options.extensions` list, and
    /// the messages peers send under that name arrive on the returned receiver. Messages of
    /// names we did not register are ignored, as in JS.
    ///
    /// The receiver holds at most [`EXTENSION_QUEUE`] messages. While it is full (the
    /// application reads slower than peers send), further messages are dropped and counted in
    /// [`FeedStats::extension_messages_dropped`]: replication never waits for the application,
    /// and peers cannot grow our memory through it. Extension messages are best-effort, as in
    /// JS, so a protocol built on them must cope with loss.
    ///
    /// [`EXTENSION_QUEUE`]: super::EXTENSION_QUEUE
    pub fn register_extension(
        &self,
        name: &str,
    ) -> Result<Receiver<FeedExtensionMessage>, ReplicateError> {
        let mut st = self.state();
        if !st.replicator.register_extension(name) {
            return Err(ReplicateError::DuplicateExtension(name.into()));
        }
        let (tx, rx) = channel(EXTENSION_QUEUE);
        st.extension_rx.insert(name.to_owned(), tx);
        self.settle(&mut st, None);
        Ok(rx)
    }

    /// Sends a feed extension message to one peer (JS `ext.send(message, peer)`);
    /// [`ReplicateError::Backlog`] when the peer has too much queued already.
    pub fn send_extension(
        &self,
        name: &str,
        peer: PeerId,
        payload: &[u8],
    ) -> Result<(), ReplicateError> {
        let mut st = self.state();
        st.replicator.send_extension(peer, name, payload)?;
        self.settle(&mut st, None);
        Ok(())
    }

    /// Sends a feed extension message to every peer (JS `ext.broadcast(message)`); whether
    /// there was any peer.
    pub fn broadcast_extension(&self, name: &str, payload: &[u8]) -> Result<bool, ReplicateError> {
        let mut st = self.state();
        let sent = st.replicator.broadcast_extension(name, payload)?;
        self.settle(&mut st, None);
        Ok(sent)
    }

    /// The registered feed extension names, sorted as announced.
    pub fn extension_names(&self) -> Vec<String> {
        self.state().replicator.extensions().names().to_vec()
    }

    /// Replication counters.
    pub fn stats(&self) -> FeedStats {
        let st = self.state();
        FeedStats {
            total: st.replicator.stats(),
            peers: st.replicator.peers().count(),
            peer_failures: st.peer_failures,
            extension_messages_dropped: st.extension_dropped,
        }
    }

    /// Counters of every current peer.
    pub fn peer_stats(&self) -> Vec<(PeerId, Stats)> {
        let st = self.state();
        st.replicator
            .peers()
            .filter_map(|p| Some((p, st.replicator.peer_stats(p)?)))
            .collect()
    }

    /// One past the highest block any current peer announced (0 without peers): how long
    /// the feed is known to be elsewhere, before a block proves it.
    pub fn remote_length(&self) -> u64 {
        let st = self.state();
        st.replicator
            .peers()
            .filter_map(|p| st.replicator.remote_length(p))
            .max()
            .unwrap_or(0)
    }

    /// Why the last dropped peer was dropped.
    pub fn last_peer_error(&self) -> Option<String> {
        self.state().replicator.last_peer_error().map(str::to_owned)
    }

    /// Locks the feed for synchronous work (reads, appends, anything [`Feed`] offers). Blocks
    /// appended through the guard are announced to every peer when it drops, as
    /// [`append_batch`](Self::append_batch) does.
    ///
    /// The mutex is a std one: do not hold the guard across an `.await`.
    pub fn lock(&self) -> FeedGuard<'_, S> {
        let st = self.state();
        let len = st.feed.len();
        FeedGuard {
            owner: self,
            st,
            len,
        }
    }

    /// Whether both handles share one feed.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// How many handles (clones of this one, including it) share the feed; weak handles do
    /// not count. A store uses it to tell a core nobody holds, which it may close.
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    /// A handle that does not keep the feed alive.
    pub fn downgrade(&self) -> WeakSharedFeed<S> {
        WeakSharedFeed {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// [`get`](Self::get) for synchronous callers: blocks the thread until block `index` is
    /// stored (asking peers for it), at most `timeout`. Needs no runtime; the connection tasks
    /// run elsewhere.
    pub fn get_blocking(&self, index: u64, timeout: Duration) -> Result<Vec<u8>, ReplicateError> {
        let deadline = Instant::now() + timeout;
        // Not profiled: the condition variable needs the plain guard.
        let mut st = self.raw_state();
        let mut wanted = false;
        loop {
            if st.feed.has(index) {
                return Ok(st.feed.get(index)?);
            }
            if !wanted {
                wanted = true;
                let State {
                    feed, replicator, ..
                } = &mut *st;
                replicator.want(feed, index, now());
                self.settle(&mut st, None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                st.replicator.unwant(index);
                return Err(ReplicateError::GetTimeout {
                    index,
                    timeout,
                    last_peer_error: st.replicator.last_peer_error().map(str::to_owned),
                });
            }
            st = match self.inner.arrived.wait_timeout(st, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    // ----- for the connection tasks -----

    pub(crate) fn add_peer(&self, waker: Arc<Notify>, now: Instant) -> PeerId {
        let mut st = self.state();
        let State {
            feed, replicator, ..
        } = &mut *st;
        let id = replicator.add_peer(feed, now);
        st.wakers.insert(id, waker);
        self.settle(&mut st, Some(id));
        id
    }

    /// See [`Replicator::opening_wants`].
    pub(crate) fn opening_wants(&self) -> Vec<crate::protocol::Want> {
        let st = self.state();
        st.replicator.opening_wants(&st.feed)
    }

    pub(crate) fn remove_peer(&self, peer: PeerId, now: Instant) {
        let mut st = self.state();
        st.wakers.remove(&peer);
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.remove_peer(feed, peer, now);
        self.settle(&mut st, None);
    }

    /// Several messages of one peer, in order (consecutive blocks are stored as one batch).
    /// `observe` gets the peer's counters afterwards, before any reader is woken: a reader that
    /// sees a block sees it counted.
    pub(crate) fn on_messages(
        &self,
        peer: PeerId,
        messages: Vec<Message>,
        now: Instant,
        observe: impl FnOnce(Stats),
    ) -> Result<(), ReplicateError> {
        // BLAKE2b of the blocks before the lock: readers of the feed wait only for the checks
        // against the tree and the writes.
        let leaves = leaf_hashes_of(&messages);
        let mut st = self.state();
        let State {
            feed, replicator, ..
        } = &mut *st;
        let messages = messages.into_iter().zip(leaves);
        let result = replicator.on_messages_hashed(feed, peer, messages, now);
        if let Some(stats) = replicator.peer_stats(peer) {
            observe(stats);
        }
        self.settle(&mut st, Some(peer));
        result
    }

    /// The extension names, if they changed since `seen` (a count of changes), with the new
    /// count: a connection registers them on its session so incoming ids map to them.
    pub(crate) fn extensions_since(&self, seen: u64) -> Option<(u64, Vec<String>)> {
        let st = self.state();
        let ext = st.replicator.extensions();
        (ext.changes() != seen).then(|| (ext.changes(), ext.names().to_vec()))
    }

    pub(crate) fn on_extension(&self, peer: PeerId, name: &str, payload: Vec<u8>) {
        let mut st = self.state();
        st.replicator.on_extension(peer, name, payload);
        self.settle(&mut st, Some(peer));
    }

    /// What to send `peer` next, a served block left in storage: read it with
    /// [`get_into`](Self::get_into) straight into its frame (the feed is unlocked in between, so
    /// the session encrypts without holding it).
    pub(crate) fn poll_transmit_deferred(
        &self,
        peer: PeerId,
    ) -> Result<Option<Transmit>, ReplicateError> {
        let mut st = self.state();
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.poll_transmit_deferred(feed, peer)
    }

    /// See [`Replicator::backlog`].
    pub(crate) fn backlog(&self, peer: PeerId) -> usize {
        self.state().replicator.backlog(peer)
    }

    /// Reads block `index` into `buf` (exactly its size).
    pub(crate) fn get_into(&self, index: u64, buf: &mut [u8]) -> Result<(), crate::Error> {
        self.state().feed.get_into(index, buf)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.state().replicator.poll_timeout()
    }

    pub(crate) fn handle_timeout(&self, now: Instant) {
        let mut st = self.state();
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.handle_timeout(feed, now);
        self.settle(&mut st, None);
    }

    fn raw_state(&self) -> MutexGuard<'_, State<S>> {
        // A panic elsewhere cannot leave the feed half-written: its writes are ordered so any
        // prefix is consistent, so the poisoned state is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn state(&self) -> StateGuard<'_, S> {
        if !profiling() {
            return StateGuard {
                guard: self.raw_state(),
                profile: None,
            };
        }
        let asked = Instant::now();
        let guard = self.raw_state();
        let got = Instant::now();
        self.inner.lock_counters.locked(asked, got);
        StateGuard {
            guard,
            profile: Some((&self.inner.lock_counters, got)),
        }
    }

    /// How long lockers waited for this feed's mutex and held it, while
    /// [`profile_locks`](super::profile_locks) was on.
    pub fn lock_profile(&self) -> LockProfile {
        self.inner.lock_counters.snapshot()
    }

    /// After any change: count failures, wake waiting readers and every other connection (it
    /// may have messages to send now).
    fn settle(&self, st: &mut State<S>, except: Option<PeerId>) {
        while let Some(event) = st.replicator.poll_event() {
            match event {
                ReplicatorEvent::PeerFailed { .. } => st.peer_failures += 1,
                ReplicatorEvent::Extension {
                    peer,
                    name,
                    payload,
                } => {
                    if let Some(tx) = st.extension_rx.get(&name)
                        // A dropped receiver only means nobody listens any more.
                        && let Err(TrySendError::Full(_)) =
                            tx.try_send(FeedExtensionMessage { peer, payload })
                    {
                        st.extension_dropped += 1;
                    }
                }
                _ => {}
            }
        }
        for (id, waker) in &st.wakers {
            if Some(*id) != except {
                waker.notify_one();
            }
        }
        self.inner.changed.notify_waiters();
        self.inner.arrived.notify_all();
    }
}

/// The clock, from tokio so paused test time drives request timeouts too.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A [`SharedFeed`] that does not keep the feed alive ([`SharedFeed::downgrade`]).
pub struct WeakSharedFeed<S: Storage> {
    inner: Weak<Inner<S>>,
}

impl<S: Storage> Clone for WeakSharedFeed<S> {
    fn clone(&self) -> Self {
        WeakSharedFeed {
            inner: Weak::clone(&self.inner),
        }
    }
}

impl<S: Storage> std::fmt::Debug for WeakSharedFeed<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakSharedFeed").finish_non_exhaustive()
    }
}

impl<S: Storage> WeakSharedFeed<S> {
    /// The feed, if someone still holds it.
    pub fn upgrade(&self) -> Option<SharedFeed<S>> {
        self.inner.upgrade().map(|inner| SharedFeed { inner })
    }

    /// Whether the feed is gone.
    pub fn is_dropped(&self) -> bool {
        self.inner.strong_count() == 0
    }
}

/// The locked state of a shared feed; counts the time it is held when profiling.
struct StateGuard<'a, S: Storage> {
    guard: MutexGuard<'a, State<S>>,
    profile: Option<(&'a LockCounters, Instant)>,
}

impl<S: Storage> Deref for StateGuard<'_, S> {
    type Target = State<S>;

    fn deref(&self) -> &State<S> {
        &self.guard
    }
}

impl<S: Storage> DerefMut for StateGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut State<S> {
        &mut self.guard
    }
}

impl<S: Storage> Drop for StateGuard<'_, S> {
    fn drop(&mut self) {
        if let Some((counters, got)) = self.profile {
            counters.released(got);
        }
    }
}

/// The feed of a [`SharedFeed`], locked ([`SharedFeed::lock`]).
pub struct FeedGuard<'a, S: Storage> {
    owner: &'a SharedFeed<S>,
    st: StateGuard<'a, S>,
    /// The length when locked: blocks past it were appended through this guard.
    len: u64,
}

impl<S: Storage> Deref for FeedGuard<'_, S> {
    type Target = Feed<S>;

    fn deref(&self) -> &Feed<S> {
        &self.st.feed
    }
}

impl<S: Storage> DerefMut for FeedGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut Feed<S> {
        &mut self.st.feed
    }
}

impl<S: Storage> std::fmt::Debug for FeedGuard<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedGuard")
            .field("key", self.owner.key())
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Drop for FeedGuard<'_, S> {
    fn drop(&mut self) {
        let len = self.st.feed.len();
        if len > self.len {
            self.st.replicator.announce(self.len, len - self.len);
            self.owner.settle(&mut self.st, None);
        }
    }
}
