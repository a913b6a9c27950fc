//! Why a peer was dropped, or why a replication call failed.

use std::time::Duration;

/// A replication error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicateError {
    /// A local feed operation failed (storage, not the peer's fault).
    #[error("feed: {0}")]
    Feed(#[from] crate::Error),
    /// The protocol session failed or refused a call.
    #[error("protocol: {0}")]
    Protocol(#[from] crate::protocol::Error),
    /// The peer sent a block (or proof) that does not verify; nothing of it was stored.
    #[error("peer sent block {index} with an invalid proof: {source}")]
    BadData {
        /// The block.
        index: u64,
        /// What the verification found.
        #[source]
        source: crate::Error,
    },
    /// The peer sent a `Data` whose nodes or signature have the wrong size.
    #[error("peer sent a malformed Data for block {index}: {reason}")]
    Malformed {
        /// The block.
        index: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The peer did not answer a request in time (JS "Request timeout").
    #[error("peer did not answer the request for block {index} within {timeout:?}")]
    RequestTimeout {
        /// The oldest unanswered block.
        index: u64,
        /// The request timeout.
        timeout: Duration,
    },
    /// The peer queued more requests or `Want`s with us than any honest peer keeps unanswered.
    #[error("peer queued more than {limit} {what} with us")]
    Flood {
        /// What it queued: `"requests"` or `"Wants"`.
        what: &'static str,
        /// The most it may queue.
        limit: usize,
    },
    /// More messages were queued for the peer than it read: it does not read what we send.
    #[error("more than {limit} messages queued for the peer: it does not read what we send")]
    Backlog {
        /// The most we queue for one peer.
        limit: usize,
    },
    /// The transport took none of the bytes queued for it for the session timeout: the peer does
    /// not read.
    #[error("the peer read nothing we sent for {timeout:?}")]
    WriteStalled {
        /// The session timeout.
        timeout: Duration,
    },
    /// No peer delivered the block in time.
    #[error("block {index} was not received within {timeout:?}{}", last_error_suffix(.last_peer_error))]
    GetTimeout {
        /// The block.
        index: u64,
        /// The configured wait.
        timeout: Duration,
        /// The last reason a peer of this feed was dropped, if any.
        last_peer_error: Option<String>,
    },
    /// No extension of that name is registered.
    #[error("no extension named {0:?} is registered")]
    UnknownExtension(String),
    /// An extension of that name is already registered (JS throws too).
    #[error("an extension named {0:?} is already registered")]
    DuplicateExtension(String),
    /// A session has as many stream extensions registered as it takes.
    #[error("a session takes at most {0} stream extensions")]
    TooManyExtensions(usize),
    /// The peer is not (or no longer) replicating this feed.
    #[error("peer {0} is not replicating this feed")]
    UnknownPeer(u64),
    /// The replication session this handle belongs to has ended.
    #[error("the replication session has ended")]
    SessionEnded,
    /// The session was cancelled through its
    /// [`ReplicationHandle`](super::ReplicationHandle) (or the store it belongs to closed).
    #[error("the replication session was cancelled")]
    Cancelled,
    /// The transport failed.
    #[error("transport: {0}")]
    Io(String),
}

fn last_error_suffix(e: &Option<String>) -> String {
    e.as_ref()
        .map(|e| format!(" (last peer error: {e})"))
        .unwrap_or_default()
}
