//! The error type of every drive operation, with the POSIX errno FUSE will hand back.

/// POSIX error numbers (Linux values) that [`Error::errno`] returns.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// I/O error.
    pub const EIO: i32 = 5;
    /// Bad file descriptor.
    pub const EBADF: i32 = 9;
    /// Cross-device link (a rename or hard link between drives).
    pub const EXDEV: i32 = 18;
    /// Try again (data not available locally yet).
    pub const EAGAIN: i32 = 11;
    /// Permission denied.
    pub const EACCES: i32 = 13;
    /// File exists.
    pub const EEXIST: i32 = 17;
    /// Not a directory.
    pub const ENOTDIR: i32 = 20;
    /// Is a directory.
    pub const EISDIR: i32 = 21;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Too many links.
    pub const EMLINK: i32 = 31;
    /// Directory not empty.
    pub const ENOTEMPTY: i32 = 39;
    /// Too many levels of symbolic links.
    pub const ELOOP: i32 = 40;
    /// Timed out (a block did not arrive from peers in time).
    pub const ETIMEDOUT: i32 = 110;
}

/// What went wrong in a drive operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such file or directory (ENOENT).
    #[error("no such file or directory: '{0}'")]
    NotFound(String),
    /// The path already exists (EEXIST).
    #[error("path {0} already exists")]
    AlreadyExists(String),
    /// A directory that should be empty is not (ENOTEMPTY).
    #[error("directory '{0}' is not empty")]
    NotEmpty(String),
    /// A file operation on a directory (EISDIR).
    #[error("'{0}' is a directory")]
    IsDirectory(String),
    /// A directory operation on a file (ENOTDIR).
    #[error("'{0}' is not a directory")]
    NotDirectory(String),
    /// Writing to a drive (or checkout) we cannot sign (EACCES).
    #[error("the drive is not writable")]
    NotWritable,
    /// A bad argument (EINVAL).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An unknown file descriptor (EBADF).
    #[error("bad file descriptor: {0}")]
    BadFileDescriptor(u64),
    /// A rename or hard link between two drives (through mounts), which cannot be one batch
    /// (EXDEV).
    #[error("cross-drive operation: {0}")]
    CrossDevice(String),
    /// An operation the object's type does not allow, such as a hard link to a directory
    /// (EPERM).
    #[error("operation not permitted: {0}")]
    NotPermitted(String),
    /// A file with as many names as it may have (EMLINK).
    #[error("too many links to '{0}'")]
    TooManyLinks(String),
    /// Symlinks that loop (ELOOP).
    #[error("too many levels of symbolic links at '{0}'")]
    SymlinkLoop(String),
    /// A block this read needs is not stored locally and the read does not wait for peers
    /// (a feed we write, or [`crate::DriveOptions::block_timeout`] is `None`) (EAGAIN).
    #[error("block {index} of feed {feed} is not stored locally")]
    NotStored {
        /// Hex of the feed's public key.
        feed: String,
        /// The block.
        index: u64,
    },
    /// A block this read needs did not arrive from peers within the drive's block timeout
    /// ([`crate::DriveOptions::block_timeout`]) (ETIMEDOUT).
    #[error(
        "block {index} of feed {feed} did not arrive from peers within {timeout:?}{}",
        last_error_suffix(.last_peer_error)
    )]
    Timeout {
        /// Hex of the feed's public key.
        feed: String,
        /// The block.
        index: u64,
        /// How long the read waited.
        timeout: std::time::Duration,
        /// Why the last peer of the feed was dropped, if one was.
        last_peer_error: Option<String>,
    },
    /// A stored value that is not a valid Stat, Mount record or tag (EIO).
    #[error("corrupt {what} at '{path}': {reason}")]
    Corrupt {
        /// Which message.
        what: &'static str,
        /// The path or key.
        path: String,
        /// The decoder's complaint.
        reason: &'static str,
    },
    /// The metadata feed's header is missing or not a drive's (EIO).
    #[error("not a hyperdrive: {0}")]
    BadHeader(String),
    /// The metadata trie failed (EIO).
    #[error(transparent)]
    Trie(hypertrie::Error),
    /// A feed failed (EIO).
    #[error(transparent)]
    Feed(hypercore::Error),
    /// The corestore failed (EIO).
    #[error(transparent)]
    Store(#[from] corestore::Error),
    /// A background task failed to run (EIO).
    #[error("background task failed: {0}")]
    Task(String),
}

impl Error {
    /// The POSIX errno this error means (Linux numbering), for FUSE and the daemon.
    pub fn errno(&self) -> i32 {
        match self {
            Error::NotFound(_) => errno::ENOENT,
            Error::AlreadyExists(_) => errno::EEXIST,
            Error::NotEmpty(_) => errno::ENOTEMPTY,
            Error::IsDirectory(_) => errno::EISDIR,
            Error::NotDirectory(_) => errno::ENOTDIR,
            Error::NotWritable => errno::EACCES,
            Error::InvalidArgument(_) => errno::EINVAL,
            Error::BadFileDescriptor(_) => errno::EBADF,
            Error::SymlinkLoop(_) => errno::ELOOP,
            Error::CrossDevice(_) => errno::EXDEV,
            Error::NotPermitted(_) => errno::EPERM,
            Error::TooManyLinks(_) => errno::EMLINK,
            Error::NotStored { .. } => errno::EAGAIN,
            Error::Timeout { .. } => errno::ETIMEDOUT,
            Error::Corrupt { .. }
            | Error::BadHeader(_)
            | Error::Trie(_)
            | Error::Feed(_)
            | Error::Store(_)
            | Error::Task(_) => errno::EIO,
        }
    }

    /// JS's `code` string (`"ENOENT"`, …).
    pub fn code(&self) -> &'static str {
        match self.errno() {
            errno::ENOENT => "ENOENT",
            errno::EEXIST => "EEXIST",
            errno::ENOTEMPTY => "ENOTEMPTY",
            errno::EISDIR => "EISDIR",
            errno::ENOTDIR => "ENOTDIR",
            errno::EACCES => "EACCES",
            errno::EINVAL => "EINVAL",
            errno::EBADF => "EBADF",
            errno::ELOOP => "ELOOP",
            errno::EXDEV => "EXDEV",
            errno::EPERM => "EPERM",
            errno::EMLINK => "EMLINK",
            errno::EAGAIN => "EAGAIN",
            errno::ETIMEDOUT => "ETIMEDOUT",
            _ => "EIO",
        }
    }
}

impl From<hypertrie::Error> for Error {
    fn from(e: hypertrie::Error) -> Self {
        match e {
            hypertrie::Error::NotWritable => Error::NotWritable,
            hypertrie::Error::Feed(f) => f.into(),
            other => Error::Trie(other),
        }
    }
}

impl From<hypercore::Error> for Error {
    fn from(e: hypercore::Error) -> Self {
        Error::Feed(e)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.errno() {
            errno::ENOENT => std::io::ErrorKind::NotFound,
            errno::EEXIST => std::io::ErrorKind::AlreadyExists,
            errno::EACCES => std::io::ErrorKind::PermissionDenied,
            errno::EINVAL => std::io::ErrorKind::InvalidInput,
            errno::EAGAIN => std::io::ErrorKind::WouldBlock,
            errno::ETIMEDOUT => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

fn last_error_suffix(e: &Option<String>) -> String {
    e.as_ref()
        .map(|e| format!(" (last peer error: {e})"))
        .unwrap_or_default()
}

/// Result of a drive operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
