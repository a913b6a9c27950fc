//! A feed and its replicator behind one std mutex, shared by readers and connection tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::error::ReplicateError;
use super::peer::{Outgoing, Stats};
use super::replicator::{PeerId, Replicator, ReplicatorConfig, ReplicatorEvent};
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
}

struct State<S: Storage> {
    feed: Feed<S>,
    replicator: Replicator,
    /// One per connection task that has a peer of this feed.
    wakers: HashMap<PeerId, Arc<Notify>>,
    get_timeout: Duration,
    peer_failures: u64,
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
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// The feed's public key.
    pub fn key(&self) -> &PublicKey {
        &self.inner.key
    }

    /// How long [`get`](Self::get) waits for a block it does not have.
    pub fn set_get_timeout(&self, timeout: Duration) {
        self.lock().get_timeout = timeout;
    }

    /// Runs `f` on the feed (for reads: `len`, `has`, `downloaded`, ...). Do not append through
    /// it: [`append`](Self::append) also tells the peers.
    pub fn with_feed<R>(&self, f: impl FnOnce(&mut Feed<S>) -> R) -> R {
        f(&mut self.lock().feed)
    }

    /// Appends blocks as one batch and announces them to every peer that wants them.
    pub fn append_batch<B: AsRef<[u8]> + Sync>(&self, blocks: &[B]) -> Result<u64, ReplicateError> {
        let mut st = self.lock();
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
        let timeout = self.lock().get_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut wanted = false;
        loop {
            // Made before looking, so a store between the look and the wait still wakes us.
            let changed = self.inner.changed.notified();
            {
                let mut st = self.lock();
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
                let mut st = self.lock();
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
            if done(&mut self.lock().feed) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(&mut self.lock().feed);
            }
        }
    }

    /// Downloads `[start, end)` (`None`: everything, including later appends) in the background.
    pub fn download(&self, start: u64, end: Option<u64>) {
        let mut st = self.lock();
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.download(feed, start, end, now());
        self.settle(&mut st, None);
    }

    /// Cancels a [`download`](Self::download) of the same range.
    pub fn undownload(&self, start: u64, end: Option<u64>) {
        self.lock().replicator.undownload(start, end);
    }

    /// Replication counters.
    pub fn stats(&self) -> FeedStats {
        let st = self.lock();
        FeedStats {
            total: st.replicator.stats(),
            peers: st.replicator.peers().count(),
            peer_failures: st.peer_failures,
        }
    }

    /// Counters of every current peer.
    pub fn peer_stats(&self) -> Vec<(PeerId, Stats)> {
        let st = self.lock();
        st.replicator
            .peers()
            .filter_map(|p| Some((p, st.replicator.peer_stats(p)?)))
            .collect()
    }

    /// Why the last dropped peer was dropped.
    pub fn last_peer_error(&self) -> Option<String> {
        self.lock().replicator.last_peer_error().map(str::to_owned)
    }

    // ----- for the connection tasks -----

    pub(crate) fn add_peer(&self, waker: Arc<Notify>, now: Instant) -> PeerId {
        let mut st = self.lock();
        let State {
            feed, replicator, ..
        } = &mut *st;
        let id = replicator.add_peer(feed, now);
        st.wakers.insert(id, waker);
        self.settle(&mut st, Some(id));
        id
    }

    pub(crate) fn remove_peer(&self, peer: PeerId, now: Instant) {
        let mut st = self.lock();
        st.wakers.remove(&peer);
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.remove_peer(feed, peer, now);
        self.settle(&mut st, None);
    }

    pub(crate) fn on_message(
        &self,
        peer: PeerId,
        message: Message,
        now: Instant,
    ) -> Result<(), ReplicateError> {
        let mut st = self.lock();
        let State {
            feed, replicator, ..
        } = &mut *st;
        let result = replicator.on_message(feed, peer, message, now);
        self.settle(&mut st, Some(peer));
        result
    }

    pub(crate) fn poll_transmit(&self, peer: PeerId) -> Result<Option<Outgoing>, ReplicateError> {
        let mut st = self.lock();
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.poll_transmit(feed, peer)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.lock().replicator.poll_timeout()
    }

    pub(crate) fn handle_timeout(&self, now: Instant) {
        let mut st = self.lock();
        let State {
            feed, replicator, ..
        } = &mut *st;
        replicator.handle_timeout(feed, now);
        self.settle(&mut st, None);
    }

    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // A panic elsewhere cannot leave the feed half-written: its writes are ordered so any
        // prefix is consistent, so the poisoned state is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After any change: count failures, wake waiting readers and every other connection (it
    /// may have messages to send now).
    fn settle(&self, st: &mut State<S>, except: Option<PeerId>) {
        while let Some(event) = st.replicator.poll_event() {
            if let ReplicatorEvent::PeerFailed { .. } = event {
                st.peer_failures += 1;
            }
        }
        for (id, waker) in &st.wakers {
            if Some(*id) != except {
                waker.notify_one();
            }
        }
        self.inner.changed.notify_waiters();
    }
}

/// The clock, from tokio so paused test time drives request timeouts too.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
