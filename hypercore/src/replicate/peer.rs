//! The state one feed keeps about one remote peer (hypercore 9 `Peer`).

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use super::remote_bits::RemoteBits;
use crate::protocol::{Message, Request};

/// Requests a peer may queue with us before we answer; JS peers keep at most 272 (hypertrie's
/// 256 + 16) in flight, so more is a flood and is dropped (the sender times out).
pub(crate) const MAX_QUEUED_UPLOADS: usize = 1024;

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
    /// Control messages to send before any upload.
    pub(crate) outbox: VecDeque<Outgoing>,
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
            outbox: VecDeque::new(),
            stats: Stats::default(),
            ended: false,
        }
    }

    pub(crate) fn send(&mut self, message: Message) {
        self.outbox.push_back(Outgoing::Message(message));
    }
}
