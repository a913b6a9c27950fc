//! The error type of every trie operation.

/// An error a caller's condition returns to abort a put or delete with its own cause.
pub type ConditionError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a trie operation.
///
/// Disk or peer input never panics: a block that does not decode, a header of another kind, or
/// a pointer to a block that is not there all come back as one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The feed underneath failed.
    #[error(transparent)]
    Feed(#[from] hypercore::Error),
    /// Block `seq` is not a valid trie node.
    #[error("block {seq} is not a valid trie node: {reason}")]
    CorruptNode {
        /// The block.
        seq: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// Block 0 is not a hypertrie header.
    #[error("block 0 is not a hypertrie header: {0}")]
    BadHeader(String),
    /// A node points at a block that is not older than itself, which no writer produces.
    #[error("node {from} points at block {to}, which is not older than it")]
    BadPointer {
        /// The node holding the pointer.
        from: u64,
        /// Where it points.
        to: u64,
    },
    /// A block the walk needs is past the end of the feed (or of the version being read).
    #[error("block {seq} is past the end (length {length})")]
    MissingNode {
        /// The block asked for.
        seq: u64,
        /// The length it was read at.
        length: u64,
    },
    /// A block the walk needs is within the feed but not stored locally (a sparse feed).
    #[error("block {0} is not stored locally")]
    NotStored(u64),
    /// Writing to a trie whose feed we cannot sign.
    #[error("the trie is not writable")]
    NotWritable,
    /// A node's pointer field would not fit in the 64 KiB JS encodes it into.
    #[error("the trie field of key {key:?} is over 64 KiB")]
    TrieFieldTooLarge {
        /// The key being written.
        key: String,
    },
    /// An operation was polled again after it returned its result.
    #[error("the operation has already finished")]
    Finished,
    /// A caller's condition aborted the operation with an error.
    #[error("condition failed: {0}")]
    Condition(#[source] ConditionError),
}

/// Result of a trie operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
