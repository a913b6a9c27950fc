//! The error type of every store operation.

use std::io;
use std::path::PathBuf;

/// What went wrong in a store operation.
///
/// None of them is a panic, whatever the folder holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file of the store itself (`master_key`, a `name` file) failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `master_key` exists but is shorter than 32 bytes.
    #[error(
        "{} holds {len} bytes, not a 32-byte master key; refusing to replace it",
        .path.display()
    )]
    MasterKeyCorrupt {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A secret file (`master_key`) that group or others can write: whoever can replace it
    /// controls the keys of every core derived from it.
    #[error(
        "{} is writable by group or others (mode {mode:o}); refusing to use it (chmod go-w it)",
        .path.display()
    )]
    SecretWritableByOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system's random generator failed.
    #[error("no random source: {0}")]
    Random(String),
    /// A core's `name` file names a core whose key is not the one stored in that folder
    /// (JS: "Stored an incorrect name.").
    #[error("the name stored for core {discovery_key} derives another key")]
    NameMismatch {
        /// Hex of the discovery key of the folder.
        discovery_key: String,
    },
    /// A core's `name` file is larger than any name this store writes.
    #[error("the name file of core {discovery_key} is {len} bytes, too large for a name")]
    NameFileTooLarge {
        /// Hex of the discovery key of the folder.
        discovery_key: String,
        /// Its length.
        len: u64,
    },
    /// A core's `key` file holds a key whose discovery key is not its folder's.
    #[error("the key stored for core {discovery_key} belongs to another folder")]
    MisplacedKey {
        /// Hex of the discovery key of the folder.
        discovery_key: String,
    },
    /// A name or namespace was empty (JS would silently pick a random one).
    #[error("empty core name or namespace")]
    EmptyName,
    /// The store was closed.
    #[error("the corestore is closed")]
    Closed,
    /// A replication session fell [`SESSION_LOAD_QUEUE`](crate::SESSION_LOAD_QUEUE) cores
    /// behind the cores the store loaded (its task did not run meanwhile), so the store ended
    /// it rather than queue more for it.
    #[error("the replication session fell too far behind the cores the store loaded")]
    SessionBehind,
    /// [`Corestore::remove_core`](crate::Corestore::remove_core) of a core someone still
    /// holds (an open drive, a replication session).
    #[error("core {discovery_key} is in use ({handles} handles outside the store)")]
    InUse {
        /// Hex of the core's discovery key.
        discovery_key: String,
        /// Handles held outside the store.
        handles: usize,
    },
    /// Opening or creating one core failed.
    #[error("core {discovery_key}: {source}")]
    Feed {
        /// Hex of the core's discovery key.
        discovery_key: String,
        /// The cause.
        #[source]
        source: hypercore::Error,
    },
    /// A replication session failed (transport, protocol, or a local write of a verified
    /// block).
    #[error("replication: {0}")]
    Replicate(#[from] hypercore::replicate::ReplicateError),
}

/// Result of a store operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
