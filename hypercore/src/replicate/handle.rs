//! A handle on one running replication session: who is at the other end, what moved, and a way
//! to end it. A daemon keeps one per connection (its peers list, its stats, hyperswarm's dedup
//! after the handshake, dropping a duplicate connection).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::{Notify, mpsc, watch};

use super::error::ReplicateError;
use super::peer::Stats;
use crate::crypto::PublicKey;

/// A replication session not yet finished: await it (or spawn it) to run it, and keep
/// [`handle`](Self::handle) to watch or end it. What the `replicate*` functions of this crate,
/// corestore and hyperdrive return; its output is theirs.
///
/// Nothing runs until it is polled. Dropping it ends the session (the handle then reports
/// [`SessionEnd::Abandoned`]).
#[must_use = "a replication session runs only when awaited or spawned"]
pub struct Replication<F> {
    handle: ReplicationHandle,
    future: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for Replication<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Replication<F> {
    /// Pairs a handle with the future that runs its session (for crates that wrap a session
    /// in more work, as corestore and hyperdrive do).
    pub fn from_parts(handle: ReplicationHandle, future: F) -> Self {
        Replication {
            handle,
            future: Box::pin(future),
        }
    }

    /// The handle and the future, apart.
    pub fn into_parts(self) -> (ReplicationHandle, Pin<Box<F>>) {
        (self.handle, self.future)
    }

    /// A handle on the session, cheap to clone and usable from any task.
    pub fn handle(&self) -> ReplicationHandle {
        self.handle.clone()
    }

    /// Records where the transport goes (the session only sees a byte stream), for
    /// [`SessionInfo::remote_addr`] and [`SessionPeer::remote_addr`].
    pub fn remote_addr(self, addr: SocketAddr) -> Self {
        self.handle.inner.state().remote_addr = Some(addr);
        self
    }
}

impl<F: Future> Future for Replication<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.get_mut().future.as_mut().poll(cx)
    }
}

/// Most stream extensions one session registers at once (a daemon's topics): each name is
/// announced to the peer in every `Options`, so the set stays within what a peer decodes
/// ([`MAX_EXTENSIONS`](crate::protocol::MAX_EXTENSIONS)). Dropping a [`StreamExtension`] frees
/// its slot.
pub const MAX_STREAM_EXTENSIONS: usize = crate::protocol::MAX_EXTENSIONS;
/// Messages of one stream extension held for its reader; past it, the peer's next messages are
/// dropped (the peer cannot make us hold more, whatever it sends).
pub const STREAM_EXTENSION_QUEUE: usize = 256;
/// Outgoing stream extension messages queued for a session; past it, senders wait.
const SEND_QUEUE: usize = 64;

/// A handle on one replication session ([`Replication::handle`]); clones share it.
#[derive(Clone)]
pub struct ReplicationHandle {
    inner: Arc<Tracker>,
}

impl std::fmt::Debug for ReplicationHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.state();
        f.debug_struct("ReplicationHandle")
            .field("initiator", &st.initiator)
            .field("remote_addr", &st.remote_addr)
            .field("state", &*self.inner.phase.borrow())
            .finish_non_exhaustive()
    }
}

/// The other end of a session, known once the Noise handshake is done
/// ([`ReplicationHandle::handshake`]). The two static keys are what hyperswarm's
/// `Swarm::deduplicate(conn, local, remote)` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionPeer {
    /// Our Noise static public key (the session config's key pair: give every session of a
    /// node the node's key pair, or the dedup rule never sees two connections as one pair).
    pub local_public_key: [u8; 32],
    /// The remote's Noise static public key, as the handshake proved it.
    pub remote_public_key: [u8; 32],
    /// We started the handshake (in hyperswarm: we dialled).
    pub initiator: bool,
    /// The transport's remote address, if [`Replication::remote_addr`] gave it.
    pub remote_addr: Option<SocketAddr>,
}

/// Where a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// The Noise handshake is not done yet (or the session has not been polled yet).
    Handshaking,
    /// The handshake is done; feeds replicate.
    Open,
    /// The session is over.
    Ended(SessionEnd),
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The transport ended, or a non-live session finished.
    Done,
    /// [`ReplicationHandle::cancel`] ended it.
    Cancelled,
    /// It failed; the error, as the replicate future returned it.
    Failed(String),
    /// Its future was dropped before it finished.
    Abandoned,
}

/// Bytes on the transport, framing and encryption included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WireStats {
    /// Bytes written to the transport.
    pub sent_bytes: u64,
    /// Bytes read from the transport.
    pub received_bytes: u64,
}

/// One feed this session replicated (or replicates) with its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionFeed {
    /// The feed's public key.
    pub key: PublicKey,
    /// Whether its channel is open on both sides now.
    pub open: bool,
    /// Blocks and block bytes moved with this session's peer, over every time the channel was
    /// open: uploads as they were written into the session, downloads once verified and
    /// stored.
    pub stats: Stats,
}

/// A snapshot of one session ([`ReplicationHandle::info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// Where the session is.
    pub state: SessionState,
    /// We started the handshake.
    pub initiator: bool,
    /// Our Noise static public key.
    pub local_public_key: [u8; 32],
    /// The remote's, once the handshake is done.
    pub remote_public_key: Option<[u8; 32]>,
    /// The transport's remote address, if [`Replication::remote_addr`] gave it.
    pub remote_addr: Option<SocketAddr>,
    /// Transport bytes.
    pub wire: WireStats,
    /// The sum of [`feeds`](Self::feeds).
    pub total: Stats,
    /// Every feed whose channel opened on this session, by discovery key.
    pub feeds: Vec<SessionFeed>,
}

/// What a session's loop receives from its handle: registrations and stream extension
/// messages to send.
pub(crate) struct ExtensionCommands {
    pub(crate) changes: mpsc::UnboundedReceiver<ExtensionChange>,
    pub(crate) outgoing: mpsc::Receiver<(String, Vec<u8>)>,
}

/// A stream extension registered or dropped on a running session.
pub(crate) enum ExtensionChange {
    Register {
        name: String,
        incoming: mpsc::Sender<Vec<u8>>,
    },
    Unregister(String),
}

/// A stream extension on one running session ([`ReplicationHandle::register_extension`]): JS
/// `stream.registerExtension(name)`. Dropping it unregisters the name (JS `ext.destroy()`).
pub struct StreamExtension {
    name: String,
    outgoing: mpsc::Sender<(String, Vec<u8>)>,
    incoming: mpsc::Receiver<Vec<u8>>,
    owner: ReplicationHandle,
}

impl std::fmt::Debug for StreamExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamExtension")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl StreamExtension {
    /// The extension name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `payload` to the session's peer (JS `ext.send(message)`); our names are announced
    /// first with an `Options` whenever they changed. Waits while the session's send queue is
    /// full; fails with [`ReplicateError::SessionEnded`] once the session is over.
    pub async fn send(&self, payload: &[u8]) -> Result<(), ReplicateError> {
        self.outgoing
            .send((self.name.clone(), payload.to_vec()))
            .await
            .map_err(|_| ReplicateError::SessionEnded)
    }

    /// The next message the peer sent under this name; `None` once the session is over. At
    /// most [`STREAM_EXTENSION_QUEUE`] wait here: a peer's messages past that are dropped.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        self.incoming.recv().await
    }

    /// The next message already received, if any.
    pub fn try_recv(&mut self) -> Option<Vec<u8>> {
        self.incoming.try_recv().ok()
    }
}

impl Drop for StreamExtension {
    fn drop(&mut self) {
        let mut st = self.owner.inner.state();
        st.extension_names.remove(&self.name);
        // A session that ended has nothing left to unregister.
        let _ = self
            .owner
            .inner
            .changes
            .send(ExtensionChange::Unregister(std::mem::take(&mut self.name)));
    }
}

impl ReplicationHandle {
    /// A handle for a session with stream extensions `names` registered up front, and what its
    /// loop receives.
    pub(crate) fn new(
        initiator: bool,
        local_public_key: [u8; 32],
        names: &[String],
    ) -> (Self, ExtensionCommands) {
        let (changes, changes_rx) = mpsc::unbounded_channel();
        let (outgoing, outgoing_rx) = mpsc::channel(SEND_QUEUE);
        let handle = ReplicationHandle {
            inner: Arc::new(Tracker {
                state: Mutex::new(TrackState {
                    initiator,
                    local_public_key,
                    remote_public_key: None,
                    remote_addr: None,
                    feeds: BTreeMap::new(),
                    extension_names: names.iter().cloned().collect(),
                }),
                changes,
                outgoing,
                phase: watch::Sender::new(SessionState::Handshaking),
                cancelled: AtomicBool::new(false),
                cancel: Notify::new(),
                sent: AtomicU64::new(0),
                received: AtomicU64::new(0),
            }),
        };
        let commands = ExtensionCommands {
            changes: changes_rx,
            outgoing: outgoing_rx,
        };
        (handle, commands)
    }

    /// Registers a stream-level extension on the running session (JS
    /// `stream.registerExtension(name)`), at any time: the peer learns the name with our next
    /// message under it, and its messages under that name arrive on the returned value, if it
    /// registered the name too (names only one side registered are ignored, as in JS). Fails on
    /// a name already registered on this session, past [`MAX_STREAM_EXTENSIONS`], and once the
    /// session is over.
    pub fn register_extension(&self, name: &str) -> Result<StreamExtension, ReplicateError> {
        if self.is_ended() {
            return Err(ReplicateError::SessionEnded);
        }
        let mut st = self.inner.state();
        if st.extension_names.contains(name) {
            return Err(ReplicateError::DuplicateExtension(name.into()));
        }
        if st.extension_names.len() >= MAX_STREAM_EXTENSIONS {
            return Err(ReplicateError::TooManyExtensions(MAX_STREAM_EXTENSIONS));
        }
        let (incoming, incoming_rx) = mpsc::channel(STREAM_EXTENSION_QUEUE);
        self.inner
            .changes
            .send(ExtensionChange::Register {
                name: name.to_owned(),
                incoming,
            })
            .map_err(|_| ReplicateError::SessionEnded)?;
        st.extension_names.insert(name.to_owned());
        Ok(StreamExtension {
            name: name.to_owned(),
            outgoing: self.inner.outgoing.clone(),
            incoming: incoming_rx,
            owner: self.clone(),
        })
    }

    /// Waits for the Noise handshake and returns both static keys: what hyperswarm's
    /// `Swarm::deduplicate` needs before it can tell which of two connections to drop. Fails
    /// with [`ReplicateError::SessionEnded`] if the session ends first. The handshake itself is
    /// bounded by the session's idle timeout.
    pub async fn handshake(&self) -> Result<SessionPeer, ReplicateError> {
        let mut rx = self.inner.phase.subscribe();
        // The sender lives as long as this handle, so the wait ends only on a state change.
        let _ = rx
            .wait_for(|s| !matches!(s, SessionState::Handshaking))
            .await;
        // A session that ended after its handshake still names its peer.
        self.peer().ok_or(ReplicateError::SessionEnded)
    }

    /// The remote end, if the handshake is done.
    pub fn peer(&self) -> Option<SessionPeer> {
        let st = self.inner.state();
        st.remote_public_key.map(|remote_public_key| SessionPeer {
            local_public_key: st.local_public_key,
            remote_public_key,
            initiator: st.initiator,
            remote_addr: st.remote_addr,
        })
    }

    /// A snapshot: state, keys, address and counters.
    pub fn info(&self) -> SessionInfo {
        let state = self.inner.phase.borrow().clone();
        let st = self.inner.state();
        let feeds: Vec<SessionFeed> = st
            .feeds
            .values()
            .map(|f| SessionFeed {
                key: f.key,
                open: f.open,
                stats: f.stats,
            })
            .collect();
        let total = feeds.iter().fold(Stats::default(), |mut t, f| {
            t.uploaded_bytes += f.stats.uploaded_bytes;
            t.uploaded_blocks += f.stats.uploaded_blocks;
            t.downloaded_bytes += f.stats.downloaded_bytes;
            t.downloaded_blocks += f.stats.downloaded_blocks;
            t
        });
        SessionInfo {
            state,
            initiator: st.initiator,
            local_public_key: st.local_public_key,
            remote_public_key: st.remote_public_key,
            remote_addr: st.remote_addr,
            wire: WireStats {
                sent_bytes: self.inner.sent.load(Ordering::Relaxed),
                received_bytes: self.inner.received.load(Ordering::Relaxed),
            },
            total,
            feeds,
        }
    }

    /// Ends the session (JS `stream.destroy()`): nothing more is sent, the transport is shut
    /// down and dropped, every feed's peer is removed and the feeds are released. The replicate
    /// future returns [`ReplicateError::Cancelled`] at its next poll; the remote sees its
    /// transport end. Works before the handshake and on a session stalled on a full transport.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Release);
        // A permit is kept if the session is not waiting right now.
        self.inner.cancel.notify_one();
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        matches!(*self.inner.phase.borrow(), SessionState::Ended(_))
    }

    /// Waits until the session is over; how it ended.
    pub async fn ended(&self) -> SessionEnd {
        let mut rx = self.inner.phase.subscribe();
        match rx.wait_for(|s| matches!(s, SessionState::Ended(_))).await {
            Ok(s) => match &*s {
                SessionState::Ended(end) => end.clone(),
                _ => SessionEnd::Abandoned,
            },
            // The sender lives as long as this handle: not reached.
            Err(_) => SessionEnd::Abandoned,
        }
    }

    // ----- for the session loop -----

    pub(crate) fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// Resolves once [`cancel`](Self::cancel) was called.
    pub(crate) async fn cancelled(&self) {
        loop {
            if self.is_cancelled() {
                return;
            }
            self.inner.cancel.notified().await;
        }
    }

    pub(crate) fn on_handshake(&self, remote_public_key: [u8; 32]) {
        self.inner.state().remote_public_key = Some(remote_public_key);
        self.inner.phase.send_if_modified(|s| {
            let was = matches!(s, SessionState::Handshaking);
            if was {
                *s = SessionState::Open;
            }
            was
        });
    }

    pub(crate) fn on_end(&self, end: SessionEnd) {
        self.inner.phase.send_if_modified(|s| {
            let was = !matches!(s, SessionState::Ended(_));
            if was {
                *s = SessionState::Ended(end);
            }
            was
        });
    }

    pub(crate) fn on_sent(&self, n: usize) {
        self.inner.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn on_received(&self, n: usize) {
        self.inner.received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A feed's channel opened with a peer.
    pub(crate) fn on_feed_open(&self, dk: &[u8; 32], key: PublicKey) {
        let mut st = self.inner.state();
        let f = st.feeds.entry(*dk).or_insert_with(|| FeedTrack {
            key,
            open: false,
            stats: Stats::default(),
            download_base: Stats::default(),
        });
        f.open = true;
    }

    /// A feed's channel closed: later downloads count from a new peer's zero.
    pub(crate) fn on_feed_closed(&self, dk: &[u8; 32]) {
        if let Some(f) = self.inner.state().feeds.get_mut(dk) {
            f.open = false;
            f.download_base = f.stats;
        }
    }

    /// A block of `bytes` written into the session for `dk`.
    pub(crate) fn on_upload(&self, dk: &[u8; 32], bytes: usize) {
        if let Some(f) = self.inner.state().feeds.get_mut(dk) {
            f.stats.upload(bytes);
        }
    }

    /// The current peer's counters as its feed keeps them (downloads are counted there, as
    /// they are verified and stored). Called with the feed locked: this lock is never held
    /// while taking a feed's.
    pub(crate) fn on_peer_stats(&self, dk: &[u8; 32], peer: Stats) {
        if let Some(f) = self.inner.state().feeds.get_mut(dk) {
            f.stats.downloaded_bytes = f.download_base.downloaded_bytes + peer.downloaded_bytes;
            f.stats.downloaded_blocks = f.download_base.downloaded_blocks + peer.downloaded_blocks;
        }
    }
}

/// Marks the session [`SessionEnd::Abandoned`] if its future is dropped before it ended.
pub(crate) struct EndGuard(pub(crate) ReplicationHandle);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.on_end(SessionEnd::Abandoned);
    }
}

struct Tracker {
    state: Mutex<TrackState>,
    /// To the session loop; bounded by [`MAX_STREAM_EXTENSIONS`] registrations at a time.
    changes: mpsc::UnboundedSender<ExtensionChange>,
    outgoing: mpsc::Sender<(String, Vec<u8>)>,
    phase: watch::Sender<SessionState>,
    cancelled: AtomicBool,
    cancel: Notify,
    sent: AtomicU64,
    received: AtomicU64,
}

impl Tracker {
    fn state(&self) -> MutexGuard<'_, TrackState> {
        // Only counters live here: a panic elsewhere cannot leave them inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct TrackState {
    initiator: bool,
    local_public_key: [u8; 32],
    remote_public_key: Option<[u8; 32]>,
    remote_addr: Option<SocketAddr>,
    /// By discovery key; as many as the session opened channels (bounded by the session).
    feeds: BTreeMap<[u8; 32], FeedTrack>,
    /// Stream extension names registered on the session.
    extension_names: HashSet<String>,
}

struct FeedTrack {
    key: PublicKey,
    open: bool,
    stats: Stats,
    /// Downloads of the peers of earlier openings of the channel.
    download_base: Stats,
}
