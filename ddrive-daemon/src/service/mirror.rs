//! Mirrored drives (`Drive.mirror` / `Drive.unmirror`, as the Node daemon served them): the
//! daemon holds a session on each, downloads every block of it (metadata,
//! content, mounted drives) from its peers, and downloads again whenever the drive changes.
//! Mirrors are recorded in the state database and resume at every start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperdrive::AsyncDrive;
use tokio::sync::watch;
use tonic::Status;

use super::{App, blocking};
use crate::drives::Drives;
use crate::proto;

/// How long one download round may wait for peers before it is retried.
const ROUND: Duration = Duration::from_secs(60);
/// A complete mirror re-checks its peers' lengths this often even when nothing changed.
const RECHECK: Duration = Duration::from_secs(300);
/// The longest wait between failed rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The running mirrors.
#[derive(Debug, Default)]
pub(crate) struct Mirrors {
    running: Mutex<HashMap<[u8; 32], Running>>,
}

#[derive(Debug)]
struct Running {
    /// The session the mirror holds the drive open with.
    session: u64,
    stop: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Mirrors {
    /// Whether the drive is mirrored.
    pub(crate) fn contains(&self, key: &[u8; 32]) -> bool {
        lock(&self.running).contains_key(key)
    }

    /// Starts mirroring (no-op when it runs).
    async fn start(&self, drives: &Drives, key: [u8; 32]) -> Result<(), Status> {
        if self.contains(&key) {
            return Ok(());
        }
        let (session, s) = drives.open(Some(key), None).await?;
        let (stop, stopped) = watch::channel(false);
        let mut running = lock(&self.running);
        if running.contains_key(&key) {
            drop(running);
            // Another call started it meanwhile.
            return drives.close(session);
        }
        running.insert(key, Running { session, stop });
        tokio::spawn(run(s.drive.clone(), stopped));
        Ok(())
    }

    /// Stops mirroring; `false` when the drive was not mirrored.
    fn stop(&self, drives: &Drives, key: &[u8; 32]) -> Result<bool, Status> {
        let Some(running) = lock(&self.running).remove(key) else {
            return Ok(false);
        };
        let _ = running.stop.send(true);
        drives.close(running.session)?;
        Ok(true)
    }
}

/// Downloads everything, then again after every change, until stopped.
async fn run(drive: AsyncDrive, mut stopped: watch::Receiver<bool>) {
    let key = drive.key().to_hex();
    let mut watcher = match drive.watch("/").await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(drive = %key, error = %e, "mirror: cannot watch the drive; re-checking on a timer");
            None
        }
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let round = tokio::select! {
            r = drive.download_all(ROUND) => r,
            _ = stopped.changed() => return,
        };
        let wait = match round {
            Ok(report) => {
                tracing::debug!(drive = %key, blocks = report.blocks, bytes = report.bytes, "mirror complete");
                backoff = Duration::from_secs(1);
                RECHECK
            }
            Err(e) => {
                tracing::debug!(drive = %key, error = %e, "mirror round incomplete; retrying");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                backoff
            }
        };
        let changed = async {
            match watcher.as_mut() {
                Some(w) => w.changed().await.is_some(),
                None => std::future::pending::<bool>().await,
            }
        };
        let watching = tokio::select! {
            alive = changed => alive,
            () = tokio::time::sleep(wait) => true,
            _ = stopped.changed() => return,
        };
        if !watching {
            // The watch ended (the drive closed under it): re-check on the timer from now on.
            watcher = None;
        }
    }
}

fn record(
    app: &Arc<App>,
    op: &'static str,
    key: [u8; 32],
    on: bool,
) -> impl Future<Output = Result<(), Status>> + use<> {
    let state = app.drives.state.clone();
    blocking(op, move || {
        state.set_mirror(&hex::encode(key), on).map_err(|e| {
            Status::internal(format!(
                "{op} drive {}: cannot record the mirror: {e}",
                hex::encode(key)
            ))
        })
    })
}

/// `Drive.mirror`.
pub(crate) async fn mirror(
    app: Arc<App>,
    req: proto::MirrorRequest,
) -> Result<proto::MirrorResponse, Status> {
    let s = app.drives.session("mirror", req.id)?;
    // Recorded first: a mirror that runs is always one that resumes after a restart.
    record(&app, "mirror", s.key, true).await?;
    app.mirrors.start(&app.drives, s.key).await?;
    Ok(proto::MirrorResponse {})
}

/// `Drive.unmirror`.
pub(crate) async fn unmirror(
    app: Arc<App>,
    req: proto::UnmirrorRequest,
) -> Result<proto::UnmirrorResponse, Status> {
    let s = app.drives.session("unmirror", req.id)?;
    // A drive that is not mirrored answers OK, as the Node daemon's did.
    app.mirrors.stop(&app.drives, &s.key)?;
    record(&app, "unmirror", s.key, false).await?;
    Ok(proto::UnmirrorResponse {})
}

/// Stops a deleted drive's mirror and forgets it; `true` when it was mirrored.
pub(crate) async fn forget(app: &Arc<App>, key: [u8; 32]) -> Result<bool, Status> {
    let was = app.mirrors.stop(&app.drives, &key)?;
    record(app, "deleteDrive", key, false).await?;
    Ok(was)
}

/// Restarts every recorded mirror (at daemon start). A drive that cannot be opened is
/// logged and skipped; its record stays for the next start.
pub(crate) async fn resume(app: &Arc<App>) {
    let state = app.drives.state.clone();
    let keys = match blocking("mirror", move || {
        state.mirrors().map_err(|e| Status::internal(e.to_string()))
    })
    .await
    {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error = %e.message(), "cannot read the mirrored drives");
            return;
        }
    };
    for hex_key in keys {
        let Some(key) = hex::decode(&hex_key)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
        else {
            tracing::warn!(key = %hex_key, "a mirror record names no valid key");
            continue;
        };
        if let Err(e) = app.mirrors.start(&app.drives, key).await {
            tracing::warn!(drive = %hex_key, error = %e.message(), "cannot resume a mirror");
        }
    }
}

/// `Drive.active`: every drive the daemon holds open, as `Drive.get` describes it.
pub(crate) fn active(app: &App) -> proto::ActiveResponse {
    let drives = app
        .drives
        .open_drives()
        .into_iter()
        .map(|d| {
            let dk = d.sync().discovery_key();
            let seed = app.drives.network(&dk).is_some_and(|n| n.announce);
            proto::HyperdriveOptions {
                key: d.key().as_bytes().to_vec(),
                version: d.version(),
                hash: Vec::new(),
                writable: d.writable(),
                seed,
                discovery_key: dk.to_vec(),
            }
        })
        .collect();
    proto::ActiveResponse { drives }
}
