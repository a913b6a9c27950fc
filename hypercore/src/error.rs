//! The error type of every feed operation.

use std::io;

use crate::storage::Store;

/// What went wrong in a feed operation.
///
/// Variants say which file or which input was at fault; none of them is a panic, whatever the
/// storage or a remote peer handed us.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing one of the feed's files failed.
    #[error("{} file: {source}", .store.file_name())]
    Io {
        /// The file.
        store: Store,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another process holds the feed's lock.
    #[error("the feed is locked by another process")]
    Locked,
    /// A file does not hold what the format says it must.
    #[error("corrupt {} file: {reason}", .store.file_name())]
    Corrupt {
        /// The file.
        store: Store,
        /// What is wrong.
        reason: String,
    },
    /// The folder holds a different feed than the key asked for.
    #[error("another hypercore is stored here (stored key {stored}, asked for {expected})")]
    WrongKey {
        /// Hex of the stored key.
        stored: String,
        /// Hex of the key that was asked for.
        expected: String,
    },
    /// Nothing is stored and creating was not allowed.
    #[error("no hypercore is stored here")]
    NotFound,
    /// The secret key does not belong to the public key.
    #[error("the secret key does not match the public key")]
    KeyMismatch,
    /// Appending to, or truncating, a feed we have no secret key for.
    #[error("the feed is not writable")]
    NotWritable,
    /// A block over the 8 MiB limit every peer enforces.
    #[error(
        "block of {size} bytes is over the {} byte limit",
        crate::MAX_BLOCK_SIZE
    )]
    BlockTooLarge {
        /// The block's size.
        size: u64,
    },
    /// An index at or past the feed's length.
    #[error("block {index} is out of range (feed length {length})")]
    OutOfRange {
        /// The index asked for.
        index: u64,
        /// The feed's length.
        length: u64,
    },
    /// The block is within the feed but not stored locally (a sparse feed).
    #[error("block {0} is not stored locally")]
    NotStored(u64),
    /// [`Feed::get_into`](crate::Feed::get_into) was given a buffer of another size than the
    /// block's.
    #[error("block {index} is {size} bytes, the buffer {buf}")]
    BlockSize {
        /// The block asked for.
        index: u64,
        /// Its size.
        size: usize,
        /// The buffer's size.
        buf: usize,
    },
    /// A byte offset at or past the feed's byte length.
    #[error("byte offset {offset} is out of range (byte length {byte_length})")]
    SeekOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The feed's byte length.
        byte_length: u64,
    },
    /// No signature is stored for this or any later length.
    #[error("no signature is stored for length {0} or later")]
    NoSignature(u64),
    /// A signature did not verify against the public key.
    #[error("signature verification failed")]
    BadSignature,
    /// A remote proof does not check out; nothing from it was stored.
    #[error("invalid proof: {0}")]
    BadProof(&'static str),
}

impl Error {
    pub(crate) fn io(store: Store) -> impl FnOnce(io::Error) -> Error {
        move |source| {
            if store == Store::Bitfield && source.kind() == io::ErrorKind::WouldBlock {
                Error::Locked
            } else {
                Error::Io { store, source }
            }
        }
    }

    pub(crate) fn corrupt(store: Store, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            store,
            reason: reason.into(),
        }
    }
}

/// Result of a feed operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
