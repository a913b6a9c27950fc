//! [`Error`]: what a union operation reports, each with its POSIX number.

use hyperdrive::errno;

/// Read-only file system: a write to a union with no writable member.
pub const EROFS: i32 = 30;

/// What went wrong in a union operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A member drive's error (its errno passes through).
    #[error(transparent)]
    Drive(#[from] hyperdrive::Error),
    /// A write, but no member drive is writable (EROFS).
    #[error("no member drive is writable: add a drive this store can sign to write")]
    NoWriter,
    /// A metadata key under the reserved `ddrive.` prefix (EINVAL).
    #[error("metadata key {0} is reserved for ddrive")]
    ReservedKey(String),
    /// A tombstone record that does not decode (EIO).
    #[error("corrupt tombstone at {path} in drive {drive}: {reason}")]
    CorruptTombstone {
        /// The path the tombstone is for.
        path: String,
        /// The member holding it (hex key).
        drive: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Results of union operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The POSIX errno (ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EROFS, EINVAL, EIO, …).
    pub fn errno(&self) -> i32 {
        match self {
            Error::Drive(e) => e.errno(),
            Error::NoWriter => EROFS,
            Error::ReservedKey(_) => errno::EINVAL,
            Error::CorruptTombstone { .. } => errno::EIO,
        }
    }

    pub(crate) fn not_found(path: &str) -> Self {
        Error::Drive(hyperdrive::Error::NotFound(path.to_owned()))
    }

    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self.errno(), errno::ENOENT | errno::ENOTDIR)
    }
}
