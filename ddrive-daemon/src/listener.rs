//! The Unix-socket listener beside TCP, for local clients that can use one (the Rust CLI):
//! the socket lives in a folder only our user can enter (0700), and every connection's peer
//! uid (SO_PEERCRED) must be ours, so another local user cannot even reach the token check.
//! The token is still required, as on TCP.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};
use tokio_stream::{Stream, StreamExt, wrappers::UnixListenerStream};

use crate::error::{Error, Result};

/// The socket of the daemon whose storage folder is `storage`:
/// `<storage>/run/ddrive.sock`.
pub fn socket_path(storage: &Path) -> PathBuf {
    storage.join("run").join("ddrive.sock")
}

/// The user this process runs as (the owner of `/proc/self`).
fn our_uid() -> Result<u32> {
    let proc = Path::new("/proc/self");
    std::fs::metadata(proc)
        .map(|m| m.uid())
        .map_err(|e| Error::io(proc, e))
}

/// Binds the socket: makes its folder (0700, ours), removes a stale socket, listens.
pub(crate) fn bind(storage: &Path) -> Result<(UnixListener, PathBuf, u32)> {
    let path = socket_path(storage);
    let dir = path
        .parent()
        .ok_or_else(|| Error::State(format!("{}: no parent folder", path.display())))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    let uid = our_uid()?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(Error::State(format!(
            "{}: not a folder of ours (uid {}, we are {uid}); refusing to put the socket there",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
    }
    // A socket left by a daemon that died; a live one answered the CLI's probe before start.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&path, e)),
    }
    let listener = UnixListener::bind(&path).map_err(|source| Error::Bind {
        addr: path.display().to_string(),
        source,
    })?;
    Ok((listener, path, uid))
}

/// The accepted connections whose peer runs as `uid`; others are closed at once.
pub(crate) fn incoming(
    listener: UnixListener,
    uid: u32,
) -> impl Stream<Item = std::io::Result<UnixStream>> {
    UnixListenerStream::new(listener).filter_map(move |conn| match conn {
        Ok(stream) => match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => Some(Ok(stream)),
            Ok(cred) => {
                tracing::warn!(
                    peer_uid = cred.uid(),
                    "refused a Unix-socket connection from another user"
                );
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused a Unix-socket connection without credentials");
                None
            }
        },
        Err(e) => Some(Err(e)),
    })
}
