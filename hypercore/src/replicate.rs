//! Feed replication over the hypercore-protocol 8 session, wire-compatible with Node's
//! `hypercore@9` (`lib/replicate.js` and the download half of `index.js`).
//!
//! Two layers, as in [`protocol`](crate::protocol):
//! - [`Replicator`] is sans-IO: one per feed, any number of peers (one per channel). It turns a
//!   peer's `Status`/`Want`/`Have`/`Unhave`/`Request`/`Data` into what to send back
//!   ([`Replicator::poll_transmit`]) and into verified writes to the [`Feed`](crate::Feed) it
//!   borrows for each call. Time is passed in.
//! - With the `tokio` feature, [`SharedFeed`] keeps a feed and its replicator behind a std mutex
//!   (never held across an `.await`) and [`replicate`] runs one session over any
//!   `AsyncRead + AsyncWrite`, for every feed given, with any number of such connections per
//!   feed; [`replicate_with`] lets the set grow during the session (feeds sent on a channel,
//!   feeds the remote opens looked up by discovery key: corestore's replication).
//!   [`SharedFeed::get`] waits for a block with a timeout and a clear error,
//!   [`SharedFeed::get_blocking`] does the same for synchronous callers, and
//!   [`SharedFeed::lock`] hands out the feed itself ([`FeedGuard`], which announces blocks
//!   appended through it when it drops).
//!
//! # What a replicator does
//! - On open: `Options{ack}` if acks are asked for, `Status` unless uploading and downloading,
//!   then `Want{start: j·2^20, length: 2^20}` for every region a reader or selection touches and
//!   always region 0 (≤ 16 unanswered, as JS). A session also sends those `Want`s right behind
//!   its `Open` when the remote has not opened the feed yet ([`Replicator::opening_wants`]), so
//!   a seeder that opened it at once answers a round trip sooner; and a live session leaves a
//!   channel the remote opened for a feed it does not have yet half open, so the feed opens
//!   without a round trip if it is loaded later in the session.
//! - Uploading: 8192-aligned `Want`s are answered with the eager-length `Have` and an RLE
//!   bitfield `Have` echoing the `Want`'s length; afterwards every appended or downloaded block
//!   is announced. `Request`s (also by byte offset, also hash-only) are answered with the block,
//!   the proof nodes the requester's digest says it lacks, and the signature when the proof
//!   reaches the roots. Requests queue as requests and are answered only as the transport drains.
//! - Downloading: sparse by default ([`Mode::Sparse`]: blocks a reader waits on, through
//!   [`Replicator::want`], and [`Replicator::download`] ranges), or everything ([`Mode::Full`]).
//!   Only blocks a peer announced are requested, each from one peer at a time, many in flight
//!   (default 64 per peer, and 16 more for waited-on blocks; JS uses 16). Every `Data` is
//!   verified by [`Feed::put`](crate::Feed::put) against the signed roots before anything is
//!   stored; unrequested blocks are refused with `Unhave`, as JS does.
//! - Bad peers: a `Data` that does not verify or is malformed, or a peer whose oldest request
//!   goes unanswered for the request timeout (re-armed on every answer, as JS), fails that peer:
//!   [`ReplicatorEvent::PeerFailed`], its channel is closed ([`Outgoing::Close`]) and its
//!   requests go to other peers. Nothing panics on peer input, and what a peer can make us hold
//!   or do is bounded: its announced bitfield (1 MiB of pages), the work of one `Have`, `Unhave`
//!   or `Want` (at most one 2^20-block region of page copies, whatever lengths it names; lengths
//!   are cut at 2^53), its queued requests (1024) and `Want`s (64), whose overflow fails it as a
//!   flood, and the messages queued for it (4096; consecutive `Have`s merge), whose overflow
//!   fails it for not reading. `Want`s are answered from our bitfield's pages as the transport
//!   drains, a region per message. The tokio glue stops reading a connection while it has much
//!   to answer (backpressure: a flood waits in the peer's socket, not in our memory), hands a
//!   feed at most 1024 messages per lock, and ends a connection whose peer reads nothing for the
//!   session timeout ([`ReplicateError::WriteStalled`]).
//! - Live: announced appends are fetched by full clones and by readers waiting past the end.
//!   Non-live: a full clone that has everything sends `Status{downloading: false}`, and a writer
//!   whose non-live peer is done answers `Status{false, false}` and closes (JS `_autoEnd`).
//! - Counters: per peer and per feed, bytes and blocks uploaded and downloaded ([`Stats`]).
//! - Sessions: every `replicate*` function returns a [`Replication`], a future to await or
//!   spawn, whose [`ReplicationHandle`] (usable from any task) waits for the Noise handshake
//!   and gives both static keys ([`SessionPeer`], what hyperswarm's `Swarm::deduplicate`
//!   takes), snapshots the session ([`SessionInfo`]: state, remote key and address, who
//!   dialled, transport bytes, and per feed the blocks and bytes moved with this peer, kept
//!   after a channel closes), and cancels it: nothing more is sent, the transport is shut down
//!   and dropped (the remote sees it end), the peers are removed from their feeds and the
//!   feeds released, and the future returns [`ReplicateError::Cancelled`]. The handle also
//!   registers stream extensions on the running session, at any time
//!   ([`ReplicationHandle::register_extension`]: a daemon's per-topic peer sockets), each with
//!   a bounded queue of the peer's messages ([`STREAM_EXTENSION_QUEUE`]; more are dropped);
//!   dropping a [`StreamExtension`] stops its delivery (the name stays announced: the session
//!   cannot withdraw a name).
//! - Extensions, as hypercore and hypercore-protocol do them: feed extensions
//!   ([`SharedFeed::register_extension`], [`SharedFeed::send_extension`] to one peer,
//!   [`SharedFeed::broadcast_extension`], messages with the sender's [`PeerId`] on the returned
//!   receiver) go in every peer's `Options{ack, extensions}` on open and again when the set
//!   grows; stream extensions ([`stream_extensions`] with [`replicate_with_extensions`]) go on
//!   channel 0 after a lazily sent `Options`. Names are sorted as JS sorts them, ids are
//!   positions in the sender's list, and names only one side registered are ignored. Every
//!   extension queue holds [`EXTENSION_QUEUE`] messages: an application that reads slower than
//!   peers send loses the excess (counted), and one that sends faster than the peer reads is
//!   told so ([`ReplicateError::Backlog`]).
//!
//! Tests: `cargo test -p hypercore --test replicate_core` (two and three sessions back to back,
//! no sockets), `--features tokio --test replicate_io` (over in-memory pipes, paused time for
//! the timeouts), `--features tokio --test replicate_extensions` (extensions over pipes),
//! `--features tokio --test replicate_handle` (handshake keys, counters, cancel; pipes and
//! TCP on 127.0.0.1),
//! `--features tokio --test hostile_peer` (a peer that abuses the protocol: floods, huge lengths,
//! channels by the thousand, a reader that never reads; costs checked by counting),
//! `--features interop --test replicate_interop` (against Node hypercore 9 over
//! TCP on 127.0.0.1, in both roles; needs `node` and `<workspace>/tests/js/node_modules`).
//!
//! # What is left
//! - Uploads use the requester's digest but no per-peer memory of nodes already sent (JS
//!   `remoteTree`): proofs are correct but may repeat nodes a peer was sent earlier.
//! - No `update()` (hash-only requests to learn a new length without a block), no
//!   `allowPush`, no unregistering of extensions (JS `ext.destroy()`), no
//!   `setUploading`/`setDownloading` after open, and `bytes` requests are answered but never
//!   made. Requests are scanned in order, not randomly as JS does.
//! - Corestore and Hyperdrive replication live in those crates (over [`replicate_with`]); the
//!   `hypertrie` get extension is not implemented.
//! - A reader that drops a [`SharedFeed::get`] future before it resolves leaves the block
//!   wanted until it arrives.

mod error;
#[cfg(feature = "tokio")]
mod handle;
#[cfg(feature = "tokio")]
mod io;
#[cfg(feature = "tokio")]
mod lock_profile;
mod peer;
mod remote_bits;
mod replicator;
#[cfg(feature = "tokio")]
mod shared;
#[cfg(feature = "tokio")]
mod stream_extensions;
#[cfg(feature = "tokio")]
mod trace;

pub use self::error::ReplicateError;
#[cfg(feature = "tokio")]
pub use self::handle::{
    MAX_STREAM_EXTENSIONS, Replication, ReplicationHandle, STREAM_EXTENSION_QUEUE, SessionEnd,
    SessionFeed, SessionInfo, SessionPeer, SessionState, StreamExtension, WireStats,
};
#[cfg(feature = "tokio")]
pub use self::io::{replicate, replicate_with, replicate_with_extensions};
#[cfg(feature = "tokio")]
pub use self::lock_profile::{LockProfile, profile_locks};
pub use self::peer::{Outgoing, Stats};
#[doc(hidden)]
pub use self::replicator::PeerFootprint;
pub use self::replicator::{Mode, PeerId, Replicator, ReplicatorConfig, ReplicatorEvent};
#[cfg(feature = "tokio")]
pub use self::shared::{
    DEFAULT_GET_TIMEOUT, FeedExtensionMessage, FeedGuard, FeedStats, SharedFeed, WeakSharedFeed,
};
#[cfg(feature = "tokio")]
pub use self::stream_extensions::{
    EXTENSION_QUEUE, StreamExtensionMessage, StreamExtensionSender, StreamExtensions,
    stream_extensions,
};
