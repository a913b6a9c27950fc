//! File descriptors (`Drive.open`, `Drive.read`, `Drive.write`, `DDrive.closeFd`): the RPCs
//! the Node daemon declared and never served, over hyperdrive's descriptors.
//!
//! A descriptor belongs to the session that opened it: another session's number is a bad
//! descriptor, and ending the session closes its descriptors (committing their writes).
//! `read` and `write` are positional (`pread`/`pwrite` at the request's `offset`). A write is
//! visible through its descriptor at once and reaches the drive, durably, when `closeFd` or
//! `DDrive.flush` answers.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxStream;
use tonic::{Status, Streaming};

use super::{App, check_path, drive::failed};
use crate::drives::Session;
use crate::proto;

/// Descriptors one session may hold open at once.
pub(crate) const MAX_FDS_PER_SESSION: usize = 1024;
/// Answers queued per read or write stream before the daemon waits for the client.
const QUEUE: usize = 4;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks that `fd` was opened through session `s`.
pub(crate) fn owned(op: &str, s: &Session, id: u64, fd: u32) -> Result<u64, Status> {
    let fd = u64::from(fd);
    if lock(&s.fds).contains(&fd) {
        Ok(fd)
    } else {
        Err(Status::invalid_argument(format!(
            "{op} fd {fd} on drive {}: bad file descriptor (not open in session {id})",
            s.key_hex()
        )))
    }
}

/// `Drive.open`: flags are Linux's open flags (O_RDONLY 0, O_WRONLY 1, O_RDWR 2, O_CREAT 64,
/// O_EXCL 128, O_TRUNC 512, O_APPEND 1024).
pub(crate) async fn open(
    app: Arc<App>,
    req: proto::OpenRequest,
) -> Result<proto::OpenResponse, Status> {
    let s = app.drives.session("open", req.id)?;
    let path = check_path("open", &req.path)?.to_owned();
    let writes = req.flags & hyperdrive::flags::O_ACCMODE != hyperdrive::flags::O_RDONLY
        || req.flags & (hyperdrive::flags::O_CREAT | hyperdrive::flags::O_TRUNC) != 0;
    if writes {
        s.writable("open", &path)?;
    }
    if lock(&s.fds).len() >= MAX_FDS_PER_SESSION {
        return Err(Status::resource_exhausted(format!(
            "open {path} on drive {}: session {} has {MAX_FDS_PER_SESSION} descriptors open; close some first",
            s.key_hex(),
            req.id
        )));
    }
    let fd = s
        .drive
        .open_fd(&path, req.flags)
        .await
        .map_err(failed("open", &s, &path))?;
    if writes {
        // O_CREAT and O_TRUNC change the drive at open.
        s.durable("open", &path).await?;
    }
    lock(&s.fds).insert(fd);
    let fd = u32::try_from(fd).map_err(|_| {
        Status::internal(format!(
            "open {path} on drive {}: descriptor {fd} does not fit the API's 32 bits",
            s.key_hex()
        ))
    })?;
    Ok(proto::OpenResponse { fd })
}

/// `DDrive.closeFd`: commits the descriptor's writes and makes them durable.
pub(crate) async fn close(
    app: Arc<App>,
    req: proto::CloseRequest,
) -> Result<proto::CloseResponse, Status> {
    let s = app.drives.session("closeFd", req.id)?;
    let fd = owned("closeFd", &s, req.id, req.fd)?;
    lock(&s.fds).remove(&fd);
    let what = format!("fd {fd}");
    s.drive
        .close_fd(fd)
        .await
        .map_err(failed("closeFd", &s, &what))?;
    s.durable("closeFd", &what).await?;
    Ok(proto::CloseResponse { fd: req.fd })
}

/// Commits every descriptor of the session (as `fsync`), then makes the drive durable.
pub(crate) async fn flush(s: &Session) -> Result<(), Status> {
    let fds: Vec<u64> = lock(&s.fds).iter().copied().collect();
    for fd in fds {
        let what = format!("fd {fd}");
        s.drive.fsync(fd).await.map_err(failed("flush", s, &what))?;
    }
    s.durable("flush", "/").await
}

/// `Drive.read`: one answer per request, up to `length` bytes (at most a chunk) from `offset`.
pub(crate) async fn read(
    app: Arc<App>,
    mut inbound: Streaming<proto::ReadRequest>,
) -> Result<BoxStream<proto::ReadResponse>, Status> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        loop {
            let req = match inbound.message().await {
                Ok(Some(req)) => req,
                Ok(None) | Err(_) => break,
            };
            let answer = read_one(&app, req).await;
            let failed = answer.is_err();
            if tx.send(answer).await.is_err() || failed {
                break;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

async fn read_one(app: &App, req: proto::ReadRequest) -> Result<proto::ReadResponse, Status> {
    let s = app.drives.session("read", req.id)?;
    let fd = owned("read", &s, req.id, req.fd)?;
    let len = usize::try_from(req.length)
        .unwrap_or(usize::MAX)
        .min(crate::CHUNK_SIZE);
    let what = format!("fd {fd}");
    let content = s
        .drive
        .read_fd(fd, len, Some(req.offset))
        .await
        .map_err(failed("read", &s, &what))?;
    Ok(proto::ReadResponse { content })
}

/// `Drive.write`: one answer per request, once its bytes are written through the descriptor.
pub(crate) async fn write(
    app: Arc<App>,
    mut inbound: Streaming<proto::WriteRequest>,
) -> Result<BoxStream<proto::WriteResponse>, Status> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        loop {
            let req = match inbound.message().await {
                Ok(Some(req)) => req,
                Ok(None) | Err(_) => break,
            };
            let answer = write_one(&app, req).await;
            let failed = answer.is_err();
            if tx.send(answer).await.is_err() || failed {
                break;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

async fn write_one(app: &App, req: proto::WriteRequest) -> Result<proto::WriteResponse, Status> {
    let s = app.drives.session("write", req.id)?;
    let fd = owned("write", &s, req.id, req.fd)?;
    let what = format!("fd {fd}");
    s.writable("write", &what)?;
    s.drive
        .write_fd(fd, req.contents, Some(req.offset))
        .await
        .map_err(failed("write", &s, &what))?;
    Ok(proto::WriteResponse {})
}
