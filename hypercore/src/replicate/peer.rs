//! The state one feed keeps about one remote peer (hypercore 9 `Peer`).

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use super::remote_bits::RemoteBits;
use crate::protocol::{Have, Message, Request};

/// Requests a peer may queue with us before we answer; JS peers keep at most 272 (hypertrie's
/// 256 + 16) in flight, so more is a flood and fails the peer.
pub(crate) const MAX_QUEUED_UPLOADS: usize = 1024;
/// `Want`s a peer may leave for us to answer; JS and we keep at most 16 unanswered, so more is a
/// flood and fails the peer.
pub(crate) const MAX_QUEUED_WANTS: usize = 64;
/// Messages queued for one peer before it is dropped for not reading them. Consecutive `Have`s
/// merge into one, so announcing appends to a slow reader does not count towards it.
pub(crate) const MAX_OUTBOX: usize = 4096;
/// Blocks one `Have` may announce at most: a merged `Have` stops short of one `Want` region,
/// whose length a receiver takes for the answer to its `Want`.
const MAX_MERGED_HAVE: u64 = (1 << 20) - 1;

/// Byte and block counters, per peer and per feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Block bytes sent.
    pub uploaded_bytes: u64,
    /// Blocks sent.
    pub uploaded_blocks: u64,
    /// Block bytes received, verified and stored.
    pub downloaded_bytes: u64,
    /// Blocks received, verified and stored.
    pub downloaded_blocks: u64,
}

impl Stats {
    pub(crate) fn upload(&mut self, bytes: usize) {
        self.uploaded_blocks += 1;
        self.uploaded_bytes += bytes as u64;
    }

    pub(crate) fn download(&mut self, bytes: usize) {
        self.downloaded_blocks += 1;
        self.downloaded_bytes += bytes as u64;
    }
}

/// A request of ours the peer has not answered yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inflight {
    pub(crate) index: u64,
}

#[derive(Debug)]
pub(crate) struct Peer {
    /// Both sides opened the channel.
    pub(crate) open: bool,
    /// The peer failed; it gets no more requests and its channel is being closed.
    pub(crate) failed: bool,
    pub(crate) remote_bits: RemoteBits,
    /// One past the highest block the peer announced.
    pub(crate) remote_length: u64,
    /// The peer sent a `Want`: it gets a `Have` for every block we append or download.
    pub(crate) remote_want: bool,
    pub(crate) remote_ack: bool,
    pub(crate) remote_uploading: bool,
    pub(crate) remote_downloading: bool,
    /// 1 MiB-block regions we sent a `Want` for.
    pub(crate) wants: HashSet<u64>,
    /// `Want`s the peer has not answered with a region `Have` yet.
    pub(crate) inflight_wants: u32,
    pub(crate) inflight: VecDeque<Inflight>,
    /// When the oldest unanswered request last saw progress (JS re-arms its timer on answers).
    pub(crate) progress_at: Option<Instant>,
    /// Requests to answer, served as the transport drains.
    pub(crate) uploads: VecDeque<Request>,
    /// `Want`s to answer with our bitfield, a region at a time, as the transport drains.
    pub(crate) want_answers: VecDeque<WantAnswer>,
    /// Control messages to send before any upload.
    pub(crate) outbox: VecDeque<Outgoing>,
    /// A message did not fit in the outbox: the peer is failed at the next check.
    pub(crate) overflowed: bool,
    pub(crate) stats: Stats,
    /// We sent our final `Status` (non-live end).
    pub(crate) ended: bool,
}

/// Something a replicator wants done on one peer's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outgoing {
    /// Send this message on the feed's channel.
    Message(Message),
    /// Close the feed's channel (the peer failed, or a non-live replication is done).
    Close,
}

impl Peer {
    pub(crate) fn new() -> Self {
        Peer {
            open: false,
            failed: false,
            remote_bits: RemoteBits::default(),
            remote_length: 0,
            remote_want: false,
            remote_ack: false,
            // JS assumes both until a Status says otherwise.
            remote_uploading: true,
            remote_downloading: true,
            wants: HashSet::new(),
            inflight_wants: 0,
            inflight: VecDeque::new(),
            progress_at: None,
            uploads: VecDeque::new(),
            want_answers: VecDeque::new(),
            outbox: VecDeque::new(),
            overflowed: false,
            stats: Stats::default(),
            ended: false,
        }
    }

    /// Queues a message of the protocol's own. Past [`MAX_OUTBOX`] it is dropped and the peer
    /// marked for failing, so what a peer that does not read makes us hold stays bounded.
    pub(crate) fn send(&mut self, message: Message) {
        if !self.try_send(message) {
            self.overflowed = true;
        }
    }

    /// Queues a message unless the outbox is full (`false`): for what the application sends.
    pub(crate) fn try_send(&mut self, message: Message) -> bool {
        if let Message::Have(have) = &message
            && let Some(Outgoing::Message(Message::Have(last))) = self.outbox.back_mut()
            && merge_haves(last, have)
        {
            return true;
        }
        if self.outbox.len() >= MAX_OUTBOX {
            return false;
        }
        self.outbox.push_back(Outgoing::Message(message));
        true
    }

    /// What the peer makes us hold that it could shrink by reading: the queued messages, `Want`s
    /// and requests.
    #[cfg(feature = "tokio")]
    pub(crate) fn backlog(&self) -> usize {
        self.outbox.len() + self.want_answers.len() + self.uploads.len()
    }
}

/// A `Want` being answered: blocks `[next, end)` are still to be described, where `end` is
/// `start + length`, or the feed's length for `length: 0`, capped by the feed's length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WantAnswer {
    pub(crate) start: u64,
    pub(crate) length: u64,
    pub(crate) next: u64,
}

/// Extends `last` by `have` when both are plain announcements of adjacent blocks.
fn merge_haves(last: &mut Have, have: &Have) -> bool {
    let plain = |h: &Have| h.bitfield.is_none() && h.ack.is_none();
    if !plain(last) || !plain(have) || last.start.checked_add(last.length()) != Some(have.start) {
        return false;
    }
    match last.length().checked_add(have.length()) {
        Some(total) if total <= MAX_MERGED_HAVE => {
            last.length = Some(total);
            true
        }
        _ => false,
    }
}
