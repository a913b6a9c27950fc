//! The sans-IO replication of one feed with any number of peers (hypercore 9 `replicate.js` and
//! the download half of `index.js`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::error::ReplicateError;
use super::peer::{
    Inflight, MAX_OUTBOX, MAX_QUEUED_UPLOADS, MAX_QUEUED_WANTS, Outgoing, Peer, Stats, WantAnswer,
};
use crate::crypto::Signature;
use crate::feed::{Feed, PutBlock};
use crate::node::Node;
use crate::proof::{Proof, ProofRequest};
use crate::protocol::{
    Data, DataNode, Extension, Extensions, Have, Message, Options, Request, Status, Unhave, Want,
    bitfield_rle,
};
use crate::storage::Storage;

/// Blocks per `Want` region: hypercore 9 asks for 1 MiB-block regions.
const WANT_REGION: u64 = 1 << 20;
/// `Want`s one peer may leave unanswered (JS: 16).
const MAX_INFLIGHT_WANTS: u32 = 16;
/// Largest bitfield a `Have` may expand to: one `Want` region.
const MAX_HAVE_BITFIELD: usize = (WANT_REGION / 8) as usize;
/// Blocks a `Want` answer after the first describes: half a region, so that no receiver takes
/// it for the answer to a region `Want` of its own (those are exactly one region long).
const ANSWER_CHUNK: u64 = WANT_REGION / 2;
/// The most blocks a peer may claim: past 2^53 a Node peer cannot count (JS numbers), and no
/// feed gets near it. Longer claims are cut here, so no length a peer names is used unchecked.
const MAX_REMOTE_LENGTH: u64 = 1 << 53;
/// Extra in-flight requests for blocks a reader waits on, over the selection limit (as JS).
const URGENT_EXTRA: usize = 16;
/// Region `Want`s sent for one selection at a time.
const MAX_SELECTION_REGIONS: u64 = 64;

/// What to download without being asked block by block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Fetch only blocks that are read ([`Replicator::want`]) or selected
    /// ([`Replicator::download`]) (JS `sparse: true`).
    #[default]
    Sparse,
    /// Fetch every block any peer has, including later appends (JS default).
    Full,
}

/// How a feed replicates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplicatorConfig {
    /// Sparse or full.
    pub mode: Mode,
    /// Replication `live`: when false, a non-sparse clone that has everything tells its peers it
    /// is done, and an uploader whose peer is done closes the channel.
    pub live: bool,
    /// Requests in flight per peer for selections (readers' blocks get 16 more). JS uses 16.
    pub max_requests: usize,
    /// A peer that leaves its oldest request unanswered this long (re-armed on every answer) is
    /// dropped and its requests go to other peers.
    pub request_timeout: Duration,
    /// Answer peers' requests.
    pub upload: bool,
    /// Request blocks from peers; `None` = unless the feed is writable (JS default).
    pub download: Option<bool>,
    /// Ask peers to acknowledge every block we upload (`Options.ack`).
    pub ack: bool,
}

impl Default for ReplicatorConfig {
    fn default() -> Self {
        ReplicatorConfig {
            mode: Mode::Sparse,
            live: true,
            max_requests: 64,
            request_timeout: crate::protocol::DEFAULT_TIMEOUT,
            upload: true,
            download: None,
            ack: false,
        }
    }
}

/// What a peer's channel sends next, a served block still in storage.
#[derive(Debug)]
pub(crate) enum Transmit {
    /// A message (or the channel's close) to send as it is.
    Outgoing(Outgoing),
    /// This `Data` (without its value) with the value read from the feed's block `data.index`,
    /// of `size` bytes.
    Block {
        /// The answer but its value.
        data: Data,
        /// The block's size, for the frame header written before the block is read into it.
        // Read only by the tokio glue, which a build without the `tokio` feature leaves out.
        #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
        size: usize,
    },
}

/// A peer of one replicator (one channel of one session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// Something the application may want to know.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplicatorEvent {
    /// A block arrived, verified, and was stored.
    Downloaded {
        /// From whom.
        peer: PeerId,
        /// The block.
        index: u64,
        /// Its size.
        bytes: usize,
    },
    /// A peer misbehaved or stalled; its channel is being closed and its requests go elsewhere.
    PeerFailed {
        /// The peer.
        peer: PeerId,
        /// Why.
        error: ReplicateError,
    },
    /// The peer acknowledged a block we sent (`Options.ack`).
    Ack {
        /// The peer.
        peer: PeerId,
        /// The block.
        index: u64,
    },
    /// A message of a feed extension we registered ([`Replicator::register_extension`]), from
    /// `peer`; the session maps the sender's id to the name.
    Extension {
        /// From whom.
        peer: PeerId,
        /// The extension name.
        name: String,
        /// Its payload, still encoded as the extension encodes it.
        payload: Vec<u8>,
    },
    /// A bounded [`Replicator::download`] range is complete.
    RangeDone {
        /// First block.
        start: u64,
        /// One past the last.
        end: u64,
    },
}

/// What one peer makes a replicator hold ([`Replicator::peer_footprint`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerFootprint {
    /// Pages (8192 blocks, 1 KiB each) of the peer's announced bitfield we keep.
    pub remote_pages: usize,
    /// Pages visited by range operations on that bitfield: the work its `Have`s and `Unhave`s
    /// caused.
    pub page_ops: u64,
    /// Messages queued for it.
    pub outbox: usize,
    /// Its `Want`s not answered yet.
    pub want_answers: usize,
    /// Its requests not answered yet.
    pub uploads: usize,
    /// It failed and its channel is being closed.
    pub failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Selection {
    start: u64,
    end: Option<u64>,
}

/// Replication of one feed with its peers, sans-IO.
///
/// The caller owns the feed and the sessions: it passes the feed to every call, hands each
/// peer's feed messages to [`on_message`](Self::on_message), sends what
/// [`poll_transmit`](Self::poll_transmit) returns on that peer's channel (pulling only as fast as
/// the transport drains: uploads are produced there), and calls
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Replicator {
    config: ReplicatorConfig,
    peers: BTreeMap<PeerId, Peer>,
    next_peer: u64,
    selections: Vec<Selection>,
    /// Blocks readers wait on, with how many readers.
    waiting: BTreeMap<u64, usize>,
    /// Blocks requested and unanswered, and from whom: each is asked of one peer at a time.
    reserved: HashMap<u64, PeerId>,
    stats: Stats,
    events: VecDeque<ReplicatorEvent>,
    last_peer_error: Option<String>,
    /// Feed extensions (hypercore `feed.extensions`), announced in every peer's `Options`.
    extensions: Extensions,
}

impl Replicator {
    /// A replicator with no peers yet.
    pub fn new(config: ReplicatorConfig) -> Self {
        let selections = match config.mode {
            Mode::Full => vec![Selection {
                start: 0,
                end: None,
            }],
            Mode::Sparse => Vec::new(),
        };
        Replicator {
            config,
            peers: BTreeMap::new(),
            next_peer: 0,
            selections,
            waiting: BTreeMap::new(),
            reserved: HashMap::new(),
            stats: Stats::default(),
            events: VecDeque::new(),
            last_peer_error: None,
            extensions: Extensions::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReplicatorConfig {
        &self.config
    }

    /// Counters over every peer, past and present.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// One peer's counters.
    pub fn peer_stats(&self, peer: PeerId) -> Option<Stats> {
        self.peers.get(&peer).map(|p| p.stats)
    }

    /// Requests in flight to `peer`.
    pub fn inflight(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.inflight.len())
    }

    /// One past the highest block `peer` announced.
    pub fn remote_length(&self, peer: PeerId) -> Option<u64> {
        self.peers.get(&peer).map(|p| p.remote_length)
    }

    /// The peers (open or failing).
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.keys().copied()
    }

    /// What `peer` makes us hold, and the work its messages caused so far: for tests that
    /// check a peer's cost by counting, and for diagnostics.
    #[doc(hidden)]
    pub fn peer_footprint(&self, peer: PeerId) -> Option<PeerFootprint> {
        self.peers.get(&peer).map(|p| PeerFootprint {
            remote_pages: p.remote_bits.pages(),
            page_ops: p.remote_bits.page_ops(),
            outbox: p.outbox.len(),
            want_answers: p.want_answers.len(),
            uploads: p.uploads.len(),
            failed: p.failed,
        })
    }

    /// Messages, `Want`s and requests queued for `peer` (0 for an unknown peer): a connection
    /// stops reading while this is high, so a peer cannot make us queue faster than it reads.
    #[cfg(feature = "tokio")]
    pub(crate) fn backlog(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, Peer::backlog)
    }

    /// Why the last failed peer was dropped.
    pub fn last_peer_error(&self) -> Option<&str> {
        self.last_peer_error.as_deref()
    }

    /// A channel for this feed opened on both sides: adds the peer and queues what hypercore
    /// sends on open (`Options` if acking, `Status` unless up+down, `Want`s, requests).
    pub fn add_peer<S: Storage>(&mut self, feed: &mut Feed<S>, now: Instant) -> PeerId {
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let mut peer = Peer::new();
        peer.open = true;
        if let Some(options) = self.options() {
            peer.send(options);
        }
        let downloading = self.downloading(feed);
        if !self.config.upload || !downloading {
            peer.send(Message::Status(Status::new(
                self.config.upload,
                downloading,
            )));
        }
        self.peers.insert(id, peer);
        self.update(feed, now);
        id
    }

    /// The `Want`s [`add_peer`](Self::add_peer) would send a new peer, for a session to send
    /// with its `Open` before the remote has opened the channel: a remote that opened the feed
    /// already (a seeder opens what it has at once) answers them with its own `Open`, a round
    /// trip sooner. A remote that had not opened it drops them (hypercore-protocol delivers
    /// feed messages only to channels it opened), so `add_peer` still sends its own, and a
    /// remote that got both answers twice. Empty when not downloading.
    pub fn opening_wants<S: Storage>(&self, feed: &Feed<S>) -> Vec<Want> {
        if !self.downloading(feed) {
            return Vec::new();
        }
        let mut scratch = Peer::new();
        send_wants(&mut scratch, &self.waiting, &self.selections);
        scratch
            .outbox
            .into_iter()
            .filter_map(|out| match out {
                Outgoing::Message(Message::Want(w)) => Some(w),
                _ => None,
            })
            .collect()
    }

    /// Registers a feed extension (JS `feed.registerExtension`); `false` if the name was
    /// already registered. Every open peer is sent the new sorted list in `Options` (with
    /// `ack`), as hypercore's `onextensionupdate` does. The session must know the name too
    /// (`Session::register_channel_extension`) to map incoming ids to it.
    pub fn register_extension(&mut self, name: &str) -> bool {
        if !self.extensions.register(name) {
            return false;
        }
        if let Some(options) = self.options() {
            for p in self.peers.values_mut().filter(|p| p.open && !p.failed) {
                p.send(options.clone());
            }
        }
        true
    }

    /// The feed extensions registered here, sorted as announced.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Queues a feed extension message to `peer` (JS `ext.send(message, peer)`); the payload is
    /// already encoded.
    pub fn send_extension(
        &mut self,
        peer: PeerId,
        name: &str,
        payload: &[u8],
    ) -> Result<(), ReplicateError> {
        let id = self
            .extensions
            .id_of(name)
            .ok_or_else(|| ReplicateError::UnknownExtension(name.into()))?;
        let p = self
            .peers
            .get_mut(&peer)
            .filter(|p| !p.failed)
            .ok_or(ReplicateError::UnknownPeer(peer.0))?;
        let message = Message::Extension(Extension {
            id,
            payload: payload.to_vec(),
        });
        if !p.try_send(message) {
            return Err(ReplicateError::Backlog { limit: MAX_OUTBOX });
        }
        Ok(())
    }

    /// Queues a feed extension message to every peer (JS `ext.broadcast`); whether there was
    /// any peer to send it to.
    pub fn broadcast_extension(
        &mut self,
        name: &str,
        payload: &[u8],
    ) -> Result<bool, ReplicateError> {
        let id = self
            .extensions
            .id_of(name)
            .ok_or_else(|| ReplicateError::UnknownExtension(name.into()))?;
        // A peer whose outbox is full misses the broadcast rather than growing it.
        let mut sent = false;
        for p in self.peers.values_mut().filter(|p| !p.failed) {
            sent |= p.try_send(Message::Extension(Extension {
                id,
                payload: payload.to_vec(),
            }));
        }
        Ok(sent)
    }

    /// A feed extension message the session resolved to `name` arrived from `peer`: reported as
    /// [`ReplicatorEvent::Extension`] if `name` is registered here.
    pub fn on_extension(&mut self, peer: PeerId, name: &str, payload: Vec<u8>) {
        let known = self.peers.get(&peer).is_some_and(|p| !p.failed);
        if known && self.extensions.id_of(name).is_some() {
            self.events.push_back(ReplicatorEvent::Extension {
                peer,
                name: name.to_owned(),
                payload,
            });
        }
    }

    /// What hypercore sends on open and on every extension change (`Peer._updateOptions`):
    /// `Options{ack, extensions}` only if acking or if there are extensions.
    fn options(&self) -> Option<Message> {
        let names = self.extensions.names();
        (self.config.ack || !names.is_empty()).then(|| {
            Message::Options(Options {
                extensions: names.to_vec(),
                ack: Some(self.config.ack),
            })
        })
    }

    /// The peer's channel closed or its session ended: its requests go to other peers.
    pub fn remove_peer<S: Storage>(&mut self, feed: &mut Feed<S>, peer: PeerId, now: Instant) {
        if let Some(p) = self.peers.remove(&peer) {
            for r in p.inflight {
                self.release(r.index, peer);
            }
            self.update(feed, now);
        }
    }

    /// A reader waits for block `index`: fetch it from a peer that has it, before selections.
    pub fn want<S: Storage>(&mut self, feed: &mut Feed<S>, index: u64, now: Instant) {
        if feed.has(index) {
            return;
        }
        *self.waiting.entry(index).or_insert(0) += 1;
        self.update(feed, now);
    }

    /// A reader stopped waiting for block `index` (it gave up).
    pub fn unwant(&mut self, index: u64) {
        if let Some(n) = self.waiting.get_mut(&index) {
            *n -= 1;
            if *n == 0 {
                self.waiting.remove(&index);
            }
        }
    }

    /// Whether some reader waits for `index`.
    pub fn is_wanted(&self, index: u64) -> bool {
        self.waiting.contains_key(&index)
    }

    /// Downloads blocks `[start, end)` (`end: None` = everything, including future appends).
    pub fn download<S: Storage>(
        &mut self,
        feed: &mut Feed<S>,
        start: u64,
        end: Option<u64>,
        now: Instant,
    ) {
        let sel = Selection { start, end };
        if !self.selections.contains(&sel) {
            self.selections.push(sel);
        }
        self.update(feed, now);
    }

    /// Cancels a [`download`](Self::download) of the same range (requests in flight still land).
    pub fn undownload(&mut self, start: u64, end: Option<u64>) {
        self.selections.retain(|s| *s != Selection { start, end });
    }

    /// We appended blocks `[start, start + length)`: announce them to every peer that wants them.
    pub fn announce(&mut self, start: u64, length: u64) {
        for p in self.peers.values_mut() {
            if p.open && !p.failed && p.remote_want {
                p.send(Message::Have(Have {
                    start,
                    length: (length != 1).then_some(length),
                    bitfield: None,
                    ack: None,
                }));
            }
        }
        self.fail_overflowed();
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ReplicatorEvent> {
        self.events.pop_front()
    }

    /// What to do next on `peer`'s channel: control messages first, then one answered request.
    /// Pull only as fast as the transport drains, so answers to a flood of requests wait here as
    /// small requests rather than as queued blocks. An error is a local storage failure.
    pub fn poll_transmit<S: Storage>(
        &mut self,
        feed: &mut Feed<S>,
        peer: PeerId,
    ) -> Result<Option<Outgoing>, ReplicateError> {
        Ok(match self.poll_transmit_deferred(feed, peer)? {
            None => None,
            Some(Transmit::Outgoing(out)) => Some(out),
            Some(Transmit::Block { mut data, .. }) => {
                data.value = Some(feed.get(data.index)?);
                Some(Outgoing::Message(Message::Data(data)))
            }
        })
    }

    /// [`poll_transmit`](Self::poll_transmit) that leaves a served block in storage, for the
    /// caller to read straight into the outgoing frame.
    pub(crate) fn poll_transmit_deferred<S: Storage>(
        &mut self,
        feed: &mut Feed<S>,
        peer: PeerId,
    ) -> Result<Option<Transmit>, ReplicateError> {
        loop {
            let Some(p) = self.peers.get_mut(&peer) else {
                return Ok(None);
            };
            if let Some(out) = p.outbox.pop_front() {
                return Ok(Some(Transmit::Outgoing(out)));
            }
            if p.failed || !self.config.upload {
                return Ok(None);
            }
            if let Some(answer) = p.want_answers.front_mut() {
                let (have, done) = answer_want(feed, answer);
                if done {
                    p.want_answers.pop_front();
                }
                return Ok(Some(Transmit::Outgoing(Outgoing::Message(Message::Have(
                    have,
                )))));
            }
            let Some(request) = p.uploads.pop_front() else {
                return Ok(None);
            };
            if let Some((data, block_size)) = serve(feed, &request)? {
                let Some(size) = block_size else {
                    return Ok(Some(Transmit::Outgoing(Outgoing::Message(Message::Data(
                        data,
                    )))));
                };
                p.stats.upload(size);
                self.stats.upload(size);
                return Ok(Some(Transmit::Block { data, size }));
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter(|p| !p.failed && !p.inflight.is_empty())
            .filter_map(|p| p.progress_at)
            .min()
            .map(|t| t + self.config.request_timeout)
    }

    /// Drops peers whose oldest request went unanswered for the request timeout.
    pub fn handle_timeout<S: Storage>(&mut self, feed: &mut Feed<S>, now: Instant) {
        let timeout = self.config.request_timeout;
        let stalled: Vec<(PeerId, u64)> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.failed)
            .filter_map(|(id, p)| {
                let at = p.progress_at?;
                let first = p.inflight.front()?;
                (now.saturating_duration_since(at) >= timeout).then_some((*id, first.index))
            })
            .collect();
        for (id, index) in stalled {
            self.fail_peer(id, ReplicateError::RequestTimeout { index, timeout });
        }
        self.update(feed, now);
    }

    /// Handles a feed message from `peer`. Misbehaviour fails only that peer (see
    /// [`ReplicatorEvent::PeerFailed`]); an error is a local storage failure.
    pub fn on_message<S: Storage>(
        &mut self,
        feed: &mut Feed<S>,
        peer: PeerId,
        message: Message,
        now: Instant,
    ) -> Result<(), ReplicateError> {
        let upload = self.config.upload;
        let Some(p) = self.peers.get_mut(&peer) else {
            return Ok(());
        };
        if p.failed {
            return Ok(());
        }
        match message {
            Message::Options(o) => p.remote_ack = o.ack(),
            Message::Status(s) => self.on_status(feed, peer, s, now),
            Message::Have(h) => self.on_have(feed, peer, h, now),
            Message::Unhave(u) => {
                let len = u.length();
                if u.start == 0 && len >= p.remote_length {
                    p.remote_bits.clear();
                    p.remote_length = 0;
                } else {
                    // Whole pages at a time: the range may be as long as the peer likes.
                    let end = u.start.saturating_add(len).min(p.remote_length);
                    p.remote_bits.clear_range(u.start, end);
                }
            }
            Message::Want(w) if upload && !on_want(feed, p, &w) => {
                let error = ReplicateError::Flood {
                    what: "Wants",
                    limit: MAX_QUEUED_WANTS,
                };
                self.fail_peer(peer, error);
            }
            Message::Request(r) if upload => {
                if p.uploads.len() < MAX_QUEUED_UPLOADS {
                    p.uploads.push_back(r);
                } else {
                    let error = ReplicateError::Flood {
                        what: "requests",
                        limit: MAX_QUEUED_UPLOADS,
                    };
                    self.fail_peer(peer, error);
                }
            }
            Message::Data(d) => return self.on_data(feed, peer, vec![(d, None)], now),
            // Unwant and Cancel are never sent by hypercore 9; extensions are not ours.
            _ => {}
        }
        self.fail_overflowed();
        Ok(())
    }

    fn on_status<S: Storage>(&mut self, feed: &mut Feed<S>, peer: PeerId, s: Status, now: Instant) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.remote_uploading = s.uploading();
        p.remote_downloading = s.downloading();
        if !s.uploading() {
            let inflight: Vec<Inflight> = p.inflight.drain(..).collect();
            p.progress_at = None;
            p.inflight_wants = 0;
            p.wants.clear();
            for r in inflight {
                self.release(r.index, peer);
            }
        }
        self.update(feed, now);
        let downloading = self.downloading(feed);
        if s.downloading() || self.config.live || (!self.selections.is_empty() && downloading) {
            return;
        }
        // JS `_autoEnd` + `end`: an uploader whose non-live peer is done says so and closes.
        if downloading {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.send(Message::Status(Status::new(false, false)));
        p.outbox.push_back(Outgoing::Close);
        p.failed = true; // nothing more goes out but the close
    }

    fn on_have<S: Storage>(&mut self, feed: &mut Feed<S>, peer: PeerId, h: Have, now: Instant) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if h.ack() && h.bitfield.is_none() && feed.has(h.start) {
            self.events.push_back(ReplicatorEvent::Ack {
                peer,
                index: h.start,
            });
            return;
        }
        if h.length() == WANT_REGION && p.inflight_wants > 0 {
            p.inflight_wants -= 1;
        }
        if h.start >= MAX_REMOTE_LENGTH {
            return;
        }
        // Blocks we hold are not worth remembering (JS stores remote AND NOT local); our
        // bitfield is read a page at a time, as the peer's bits are stored.
        let local = &mut |first: u64, page: &mut [u8]| feed.bitfield_bytes(first, page);
        match &h.bitfield {
            Some(rle) => {
                if !h.start.is_multiple_of(8) {
                    tracing::debug!(start = h.start, "ignoring a Have bitfield not byte aligned");
                    return;
                }
                let bits = match bitfield_rle::decode(rle, MAX_HAVE_BITFIELD) {
                    Ok(b) => b,
                    Err(err) => {
                        tracing::debug!(%err, "ignoring a Have with a bad bitfield");
                        return;
                    }
                };
                if let Some(at) = bits.iter().rposition(|&b| b != 0) {
                    // The highest block named (bit 0x80 is the byte's first block).
                    let last = h.start + at as u64 * 8 + (7 - u64::from(bits[at].trailing_zeros()));
                    p.remote_length = p.remote_length.max((last + 1).min(MAX_REMOTE_LENGTH));
                    let end = h.start + bits.len() as u64 * 8;
                    p.remote_bits.set_range(
                        h.start,
                        end.min(MAX_REMOTE_LENGTH),
                        Some(&bits),
                        local,
                    );
                }
            }
            None => {
                let end = h.start.saturating_add(h.length()).min(MAX_REMOTE_LENGTH);
                p.remote_bits.set_range(h.start, end, None, local);
                p.remote_length = p.remote_length.max(end);
            }
        }
        self.update(feed, now);
    }

    /// Handles feed messages from `peer` in order, as [`on_message`](Self::on_message) does
    /// one by one, except that consecutive `Data` are verified and stored as one batch
    /// ([`Feed::put_batch`]): one read of the socket often carries dozens of small blocks.
    pub fn on_messages<S: Storage>(
        &mut self,
        feed: &mut Feed<S>,
        peer: PeerId,
        messages: impl IntoIterator<Item = Message>,
        now: Instant,
    ) -> Result<(), ReplicateError> {
        self.on_messages_hashed(feed, peer, messages.into_iter().map(|m| (m, None)), now)
    }

    /// [`on_messages`](Self::on_messages) with the leaf hash of each `Data` block made
    /// beforehand from its very bytes ([`leaf_hashes_of`]), so the caller hashes before it locks
    /// the feed; a `Data` without one is hashed here.
    pub(crate) fn on_messages_hashed<S: Storage>(
        &mut self,
        feed: &mut Feed<S>,
        peer: PeerId,
        messages: impl IntoIterator<Item = (Message, Option<[u8; 32]>)>,
        now: Instant,
    ) -> Result<(), ReplicateError> {
        let mut data = Vec::new();
        for (message, leaf) in messages {
            match message {
                Message::Data(d) => data.push((d, leaf)),
                other => {
                    if !data.is_empty() {
                        self.on_data(feed, peer, std::mem::take(&mut data), now)?;
                    }
                    self.on_message(feed, peer, other, now)?;
                }
            }
        }
        if !data.is_empty() {
            self.on_data(feed, peer, data, now)?;
        }
        Ok(())
    }

    fn on_data<S: Storage>(
        &mut self,
        feed: &mut Feed<S>,
        peer: PeerId,
        batch: Vec<(Data, Option<[u8; 32]>)>,
        now: Instant,
    ) -> Result<(), ReplicateError> {
        let mut accepted: Vec<(Data, Proof)> = Vec::with_capacity(batch.len());
        let mut leaves: Vec<Option<[u8; 32]>> = Vec::with_capacity(batch.len());
        let mut malformed = None;
        for (d, leaf) in batch {
            let Some(p) = self.peers.get_mut(&peer).filter(|p| !p.failed) else {
                return Ok(());
            };
            let index = d.index;
            let Some(pos) = p.inflight.iter().position(|r| r.index == index) else {
                // Unrequested: tell the peer we did not take it (JS "rejected push").
                if d.value.is_some() && !feed.has(index) && p.remote_want {
                    p.send(Message::Unhave(Unhave {
                        start: index,
                        length: None,
                    }));
                }
                continue;
            };
            p.inflight.remove(pos);
            p.progress_at = (!p.inflight.is_empty()).then_some(now);
            self.release(index, peer);
            // We never ask for hash-only answers.
            if d.value.is_none() || feed.has(index) {
                continue;
            }
            match to_proof(&d) {
                Ok(proof) => {
                    accepted.push((d, proof));
                    leaves.push(leaf);
                }
                Err(reason) => {
                    malformed = Some(ReplicateError::Malformed { index, reason });
                    break;
                }
            }
        }
        let blocks: Vec<PutBlock<'_>> = accepted
            .iter()
            .map(|(d, proof)| PutBlock {
                index: d.index,
                data: d.value.as_deref(),
                proof,
            })
            .collect();
        if leaves.iter().any(Option::is_none) {
            // Hashed here, several per SIMD pass, for a caller that did not.
            for (leaf, made) in leaves.iter_mut().zip(crate::feed::leaf_hashes(&blocks)) {
                leaf.get_or_insert_with(|| made.unwrap_or_default());
            }
        }
        let outcome = feed.put_batch_hashed(&blocks, &leaves);
        let stored: Vec<(u64, usize)> = accepted[..outcome.stored]
            .iter()
            .map(|(d, _)| (d.index, d.value.as_ref().map_or(0, Vec::len)))
            .collect();
        drop(blocks);
        let failed_at = accepted.get(outcome.stored).map(|(d, _)| d.index);
        drop(accepted);
        for &(index, bytes) in &stored {
            self.downloaded(peer, index, bytes);
        }
        self.settle_selections(feed, &stored);
        match outcome.error {
            Some(e) if is_local(&e) => return Err(e.into()),
            Some(source) => self.fail_peer(
                peer,
                ReplicateError::BadData {
                    index: failed_at.unwrap_or_default(),
                    source,
                },
            ),
            None => {
                if let Some(error) = malformed {
                    self.fail_peer(peer, error);
                }
            }
        }
        self.update(feed, now);
        Ok(())
    }

    fn downloaded(&mut self, from: PeerId, index: u64, bytes: usize) {
        self.stats.download(bytes);
        self.waiting.remove(&index);
        for (id, p) in self.peers.iter_mut() {
            p.remote_bits.set(index, false);
            if *id == from {
                p.stats.download(bytes);
                if p.remote_ack {
                    p.send(Message::Have(Have {
                        start: index,
                        length: Some(1),
                        bitfield: None,
                        ack: Some(true),
                    }));
                }
            } else if p.open && !p.failed && p.remote_want {
                p.send(Message::Have(Have {
                    start: index,
                    length: None,
                    bitfield: None,
                    ack: None,
                }));
            }
        }
        self.events.push_back(ReplicatorEvent::Downloaded {
            peer: from,
            index,
            bytes,
        });
    }

    /// After blocks were stored: reports the bounded selections they completed, once per
    /// batch (counting a selection's blocks costs a pass over its range).
    fn settle_selections<S: Storage>(&mut self, feed: &mut Feed<S>, stored: &[(u64, usize)]) {
        if stored.is_empty() {
            return;
        }
        let mut done = Vec::new();
        self.selections.retain(|s| match s.end {
            Some(end) if stored.iter().any(|&(i, _)| s.start <= i && i < end) => {
                let complete = feed.downloaded(s.start, end) >= end - s.start;
                if complete {
                    done.push((s.start, end));
                }
                !complete
            }
            _ => true,
        });
        for (start, end) in done {
            self.events
                .push_back(ReplicatorEvent::RangeDone { start, end });
        }
        self.maybe_end(feed);
    }

    /// A non-live full clone that holds everything its peers announced says it is done
    /// (`Status{uploading, downloading: false}`), so uploaders can close (JS `end`).
    fn maybe_end<S: Storage>(&mut self, feed: &mut Feed<S>) {
        if self.config.live || self.config.mode != Mode::Full {
            return;
        }
        let len = feed.len();
        let known = self
            .peers
            .values()
            .map(|p| p.remote_length)
            .max()
            .unwrap_or(0);
        if known == 0 || len < known || feed.downloaded(0, len) < len {
            return;
        }
        let upload = self.config.upload;
        for p in self.peers.values_mut() {
            if p.open && !p.failed && !p.ended {
                p.ended = true;
                p.send(Message::Status(Status::new(upload, false)));
            }
        }
    }

    fn fail_peer(&mut self, peer: PeerId, error: ReplicateError) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        tracing::debug!(%error, "dropping a replication peer");
        p.failed = true;
        p.uploads.clear();
        p.want_answers.clear();
        p.outbox.clear();
        p.outbox.push_back(Outgoing::Close);
        p.progress_at = None;
        let inflight: Vec<Inflight> = p.inflight.drain(..).collect();
        for r in inflight {
            self.release(r.index, peer);
        }
        self.last_peer_error = Some(error.to_string());
        self.events
            .push_back(ReplicatorEvent::PeerFailed { peer, error });
    }

    fn release(&mut self, index: u64, peer: PeerId) {
        if self.reserved.get(&index) == Some(&peer) {
            self.reserved.remove(&index);
        }
    }

    fn downloading<S: Storage>(&self, feed: &Feed<S>) -> bool {
        self.config.download.unwrap_or(!feed.writable())
    }

    /// Sends `Want`s, fills every peer's request pipeline, and fails the peers whose outbox
    /// overflowed meanwhile.
    fn update<S: Storage>(&mut self, feed: &mut Feed<S>, now: Instant) {
        self.fill_requests(feed, now);
        self.fail_overflowed();
    }

    fn fill_requests<S: Storage>(&mut self, feed: &mut Feed<S>, now: Instant) {
        if !self.downloading(feed) {
            return;
        }
        let Replicator {
            config,
            peers,
            selections,
            waiting,
            reserved,
            ..
        } = self;
        for (&id, p) in peers.iter_mut() {
            if !p.open || p.failed || !p.remote_uploading {
                continue;
            }
            send_wants(p, waiting, selections);
            let request = |p: &mut Peer, reserved: &mut HashMap<u64, PeerId>, index: u64| {
                reserved.insert(index, id);
                p.inflight.push_back(Inflight { index });
                p.progress_at.get_or_insert(now);
                p.send(Message::Request(Request::new(
                    index,
                    false,
                    feed.digest(index),
                )));
            };
            for &index in waiting.keys() {
                if p.inflight.len() >= config.max_requests + URGENT_EXTRA {
                    break;
                }
                if !feed.has(index) && !reserved.contains_key(&index) && p.remote_bits.get(index) {
                    request(p, reserved, index);
                }
            }
            for sel in selections.iter() {
                let end = sel.end.unwrap_or(u64::MAX).min(p.remote_length);
                let mut from = sel.start;
                while p.inflight.len() < config.max_requests {
                    let Some(i) = p.remote_bits.next_set(from, end) else {
                        break;
                    };
                    from = i + 1;
                    if feed.has(i) {
                        p.remote_bits.set(i, false);
                    } else if !reserved.contains_key(&i) {
                        request(p, reserved, i);
                    }
                }
            }
        }
    }

    /// Fails every peer a message did not fit for ([`MAX_OUTBOX`]).
    fn fail_overflowed(&mut self) {
        let full: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.overflowed && !p.failed)
            .map(|(id, _)| *id)
            .collect();
        for peer in full {
            self.fail_peer(peer, ReplicateError::Backlog { limit: MAX_OUTBOX });
        }
    }
}

/// JS `_sendWants`: one `Want` per 1 MiB-block region a reader or a selection touches, and
/// always region 0; at most 16 unanswered.
fn send_wants(p: &mut Peer, waiting: &BTreeMap<u64, usize>, selections: &[Selection]) {
    let mut regions: Vec<u64> = waiting.keys().map(|i| i / WANT_REGION).collect();
    for s in selections {
        let first = s.start / WANT_REGION;
        for r in first..first + MAX_SELECTION_REGIONS {
            let start = r * WANT_REGION;
            if r > first && (start >= p.remote_length || s.end.is_some_and(|e| start >= e)) {
                break;
            }
            regions.push(r);
        }
    }
    regions.push(0);
    for r in regions {
        if p.inflight_wants >= MAX_INFLIGHT_WANTS {
            return;
        }
        if p.wants.insert(r) {
            p.inflight_wants += 1;
            p.send(Message::Want(Want {
                start: r * WANT_REGION,
                length: Some(WANT_REGION),
            }));
        }
    }
}

/// JS `onwant`: 8192-aligned `Want`s are answered with our bitfield for the range (queued here,
/// answered as the transport drains, [`answer_want`]), and from then on every new block is
/// announced to this peer. `false` when the peer has too many `Want`s queued already.
fn on_want<S: Storage>(feed: &mut Feed<S>, p: &mut Peer, w: &Want) -> bool {
    let length = w.length();
    if !w.start.is_multiple_of(8192) || !length.is_multiple_of(8192) {
        return true;
    }
    let len = feed.len();
    if !p.remote_want && len > 0 && feed.has(len - 1) {
        // Eagerly tell the peer our length.
        p.send(Message::Have(Have {
            start: len - 1,
            length: None,
            bitfield: None,
            ack: None,
        }));
    }
    p.remote_want = true;
    if p.want_answers.len() >= MAX_QUEUED_WANTS {
        return false;
    }
    p.want_answers.push_back(WantAnswer {
        start: w.start,
        length,
        next: w.start,
    });
    true
}

/// The next `Have` answering a `Want`, and whether it is the last. JS answers in one message
/// with the bitfield of the whole range (or of the whole feed for `length: 0`); we send at most
/// one region's bitfield per message, read from our bitfield's pages: the first `Have` echoes
/// the `Want` (`start`, `length`) as JS does, and any further one covers the next
/// [`ANSWER_CHUNK`] blocks. So one answer costs at most one region of page copies, whatever the
/// `Want` names, and a long one is spread over as many writes as it needs.
fn answer_want<S: Storage>(feed: &Feed<S>, a: &mut WantAnswer) -> (Have, bool) {
    let len = feed.len();
    let end = if a.length == 0 {
        len
    } else {
        a.start.saturating_add(a.length).min(len)
    };
    let first = a.next == a.start;
    let span = if first { WANT_REGION } else { ANSWER_CHUNK };
    let from = a.next;
    let to = end.min(from.saturating_add(span)).max(from);
    let mut bits = vec![0u8; (to - from).div_ceil(8) as usize];
    feed.bitfield_bytes(from / 8, &mut bits);
    let tail = (to - from) % 8;
    if tail != 0
        && let Some(last) = bits.last_mut()
    {
        // Only blocks before `to`: the byte may go on past the feed's length.
        *last &= !(0xffu8 >> tail);
    }
    a.next = to;
    let have = Have {
        start: from,
        length: Some(if first { a.length } else { to - from }),
        bitfield: Some(bitfield_rle::encode(&bits)),
        ack: None,
    };
    (have, to >= end)
}

/// JS `onrequest`: the answer with the nodes the requester lacks, but without the block, and
/// the block's size unless hash-only. `None` when we cannot answer (JS stays silent too, and the
/// requester times out).
fn serve<S: Storage>(
    feed: &mut Feed<S>,
    r: &Request,
) -> Result<Option<(Data, Option<usize>)>, ReplicateError> {
    let (mut index, mut digest) = (r.index, r.nodes());
    if r.bytes() > 0
        && let Ok((i, _)) = feed.seek(r.bytes())
        && i < feed.len()
    {
        index = i;
        digest = 0;
    }
    if !r.hash() && !feed.has(index) {
        return Ok(None);
    }
    let proof = match feed.proof(
        index,
        ProofRequest {
            digest,
            hash: r.hash(),
        },
    ) {
        Ok(p) => p,
        Err(e) if is_local(&e) => return Err(e.into()),
        Err(err) => {
            tracing::debug!(index, %err, "cannot prove a requested block");
            return Ok(None);
        }
    };
    let block_size = if r.hash() {
        None
    } else {
        Some(feed.block_size(index)?)
    };
    let data = Data {
        index,
        value: None,
        nodes: proof
            .nodes
            .iter()
            .map(|n| DataNode {
                index: n.index,
                hash: n.hash.to_vec(),
                size: n.size,
            })
            .collect(),
        signature: proof.signature.map(|s| s.0.to_vec()),
    };
    Ok(Some((data, block_size)))
}

/// The leaf hash `Feed::put_batch_hashed` expects for each `Data` message's block, in order
/// (`None` for other messages and for blocks over the size limit), several per SIMD pass.
#[cfg(feature = "tokio")]
pub(crate) fn leaf_hashes_of(messages: &[Message]) -> Vec<Option<[u8; 32]>> {
    fn block(m: &Message) -> Option<&[u8]> {
        match m {
            Message::Data(Data { value: Some(v), .. })
                if v.len() as u64 <= crate::MAX_BLOCK_SIZE =>
            {
                Some(v.as_slice())
            }
            _ => None,
        }
    }
    let blocks: Vec<&[u8]> = messages.iter().filter_map(block).collect();
    let mut hashes = crate::tree::merkle::leaf_hashes(&blocks).into_iter();
    messages
        .iter()
        .map(|m| block(m).and_then(|_| hashes.next()))
        .collect()
}

fn to_proof(d: &Data) -> Result<Proof, &'static str> {
    let nodes = d
        .nodes
        .iter()
        .map(|n| {
            let hash: [u8; 32] = n
                .hash
                .as_slice()
                .try_into()
                .map_err(|_| "node hash is not 32 bytes")?;
            Ok(Node::new(n.index, hash, n.size))
        })
        .collect::<Result<Vec<_>, &'static str>>()?;
    let signature = match &d.signature {
        Some(s) => Some(Signature(
            s.as_slice()
                .try_into()
                .map_err(|_| "signature is not 64 bytes")?,
        )),
        None => None,
    };
    Ok(Proof {
        index: d.index,
        nodes,
        signature,
    })
}

/// Errors of our own storage, as opposed to a peer's bad input.
fn is_local(e: &crate::Error) -> bool {
    matches!(
        e,
        crate::Error::Io { .. } | crate::Error::Corrupt { .. } | crate::Error::Locked
    )
}
