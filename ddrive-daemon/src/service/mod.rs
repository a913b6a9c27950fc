//! The gRPC services and what they share: error statuses, path checks, panic isolation.

mod convert;
mod ddrive;
mod drive;
mod fd;
mod files;
mod fuse_service;
mod gc;
mod hypercore;
mod main_service;
mod mirror;
mod peers;
mod peersockets;
mod union;
mod watch;

use std::future::Future;
use std::sync::Arc;

use tonic::{Code, Response, Status};

use crate::drives::Drives;
use crate::status::DaemonInfo;

pub(crate) use self::{
    ddrive::DDriveService,
    drive::DriveService,
    fuse_service::FuseService,
    hypercore::HypercoreService,
    main_service::HyperdriveService,
    mirror::{Mirrors, resume as resume_mirrors},
    peers::PeersService,
    peersockets::PeersocketsService,
};

/// What every service holds.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) drives: Arc<Drives>,
    pub(crate) info: DaemonInfo,
    pub(crate) fuse: crate::fuse::Fuse,
    /// The mirrored drives' download tasks.
    pub(crate) mirrors: Mirrors,
    pub(crate) network: Arc<crate::network::Network>,
}

/// Longest path accepted (Linux's PATH_MAX).
const MAX_PATH: usize = 4096;

/// The status of a failed drive operation: the gRPC code follows the POSIX errno (never
/// UNKNOWN), and the message names the operation, the drive, the path and the cause.
pub(crate) fn drive_error(op: &str, drive: &str, path: &str, e: &hyperdrive::Error) -> Status {
    Status::new(
        errno_code(e.errno()),
        format!("{op} {path} on {drive}: {e}"),
    )
}

/// The status of a failed read from a file reader: the drive's own error when it carries one
/// (a block not stored here is UNAVAILABLE, as every other read says), else INTERNAL.
pub(crate) fn read_error(op: &str, what: &str, path: &str, e: &std::io::Error) -> Status {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<hyperdrive::Error>())
    {
        Some(inner) => drive_error(op, what, path, inner),
        None => {
            // A block that no peer sent in time is a timeout, not a bug.
            let code = match e.kind() {
                std::io::ErrorKind::TimedOut => Code::DeadlineExceeded,
                std::io::ErrorKind::WouldBlock => Code::Unavailable,
                std::io::ErrorKind::NotFound => Code::NotFound,
                _ => Code::Internal,
            };
            Status::new(code, format!("{op} {path} on {what}: {e}"))
        }
    }
}

/// The gRPC code for a POSIX errno (never UNKNOWN).
pub(crate) fn errno_code(errno: i32) -> Code {
    use hyperdrive::errno::*;
    match errno {
        ENOENT => Code::NotFound,
        EEXIST => Code::AlreadyExists,
        ENOTEMPTY | ENOTDIR | EISDIR | ELOOP | EXDEV => Code::FailedPrecondition,
        EINVAL | EBADF => Code::InvalidArgument,
        EACCES | EPERM => Code::PermissionDenied,
        ETIMEDOUT => Code::DeadlineExceeded,
        EAGAIN => Code::Unavailable,
        _ => Code::Internal,
    }
}

/// Checks a path from a request: present, no NUL byte, at most [`MAX_PATH`] bytes.
pub(crate) fn check_path<'a>(op: &str, path: &'a str) -> Result<&'a str, Status> {
    if path.is_empty() {
        return Err(Status::invalid_argument(format!(
            "{op}: the request must name a path"
        )));
    }
    if path.contains('\0') {
        return Err(Status::invalid_argument(format!(
            "{op} {:?}: a path cannot contain a NUL byte",
            path.escape_debug().to_string()
        )));
    }
    if path.len() > MAX_PATH {
        return Err(Status::invalid_argument(format!(
            "{op}: the path is {} bytes long (at most {MAX_PATH})",
            path.len()
        )));
    }
    Ok(path)
}

/// Runs a handler on its own task, so a panic in it answers INTERNAL instead of unwinding
/// through the server.
pub(crate) async fn guarded<T, F>(op: &'static str, handler: F) -> Result<Response<T>, Status>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Status>> + Send + 'static,
{
    match tokio::spawn(handler).await {
        Ok(result) => result.map(Response::new),
        Err(e) if e.is_panic() => {
            tracing::error!(op, "a request handler panicked");
            Err(Status::internal(format!(
                "{op}: the daemon failed on this request (a bug); it goes on serving"
            )))
        }
        Err(e) => Err(Status::internal(format!("{op}: {e}"))),
    }
}

/// Runs synchronous drive work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    op: &'static str,
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("{op}: the storage task failed: {e}")))?
}

/// A drive key from a request: 32 bytes.
pub(crate) fn parse_key(op: &str, key: &[u8]) -> Result<[u8; 32], Status> {
    <[u8; 32]>::try_from(key).map_err(|_| {
        Status::invalid_argument(format!(
            "{op}: a drive key is 32 bytes, this one is {}",
            key.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert!(check_path("stat", "/a").is_ok());
        assert_eq!(
            check_path("stat", "")
                .map(|_| ())
                .expect_err("refused")
                .code(),
            Code::InvalidArgument
        );
        let nul = check_path("stat", "/a\0b")
            .map(|_| ())
            .expect_err("refused");
        assert_eq!(nul.code(), Code::InvalidArgument);
        assert!(nul.message().contains("NUL"));
        assert!(check_path("stat", &"a".repeat(MAX_PATH + 1)).is_err());
    }

    #[test]
    fn errors_map_to_codes() {
        let e = hyperdrive::Error::NotFound("/x".into());
        let s = drive_error("stat", "drive ab", "/x", &e);
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.message().contains("stat /x on drive ab"));
        let e = hyperdrive::Error::AlreadyExists("/d".into());
        assert_eq!(
            drive_error("mkdir", "d", "/d", &e).code(),
            Code::AlreadyExists
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal() {
        let answer = guarded::<(), _>("boom", async { panic!("handler bug") }).await;
        assert_eq!(
            answer.map(|_| ()).expect_err("refused").code(),
            Code::Internal
        );
    }
}
