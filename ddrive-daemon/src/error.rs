//! Why the daemon could not start or stop.

use std::path::Path;

/// A daemon start or shutdown failure (request errors are gRPC statuses instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder of the storage could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The state database or the client config is unusable.
    #[error("state: {0}")]
    State(String),
    /// The corestore could not be opened or closed.
    #[error("corestore: {0}")]
    Store(#[from] corestore::Error),
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("gRPC server: {0}")]
    Server(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// A daemon result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
