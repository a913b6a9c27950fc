//! Reclaiming disk: `DDrive.gc` (clear the content blocks no kept version refers to) and
//! `DDrive.deleteDrive` (remove a drive's cores and records).
//!
//! The versions kept are the latest and every tagged one. A content block is kept when a
//! file of a kept version spans it; the others are cleared from the content feed (its
//! bitfield, then the bytes: truncated at the end of the data file, a hole punched before
//! it), so older untagged versions list their files but reading those fails (UNAVAILABLE)
//! unless a peer still has the blocks. Blocks after the last kept file are left alone: a
//! write under way is appending there and puts its Stat only at its end.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use hyperdrive::{Drive, DriveOptions, ReaddirOptions};
use tonic::Status;

use super::{App, blocking, parse_key};
use crate::proto;

/// Bytes the file system holds for the files under `dir` (st_blocks, 512-byte units).
pub(crate) fn disk_usage(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

fn core_dir(drive: &Drive, discovery_key: &[u8; 32]) -> Option<PathBuf> {
    drive
        .corestore()
        .path()
        .map(|root| root.join(corestore::core_path(discovery_key)))
}

/// The block ranges `[start, end)` of the drive's own files at `version`.
fn ranges_at(drive: &Drive, version: u64, out: &mut Vec<(u64, u64)>) -> hyperdrive::Result<()> {
    let view = drive.checkout(version);
    let options = ReaddirOptions::default().recursive(true).no_mounts(true);
    let entries = match view.readdir_with_stats("/", &options) {
        Ok(entries) => entries,
        Err(e) if e.errno() == hyperdrive::errno::ENOENT => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries {
        // Mounts (drives, or hypercores shown as files) keep their blocks in other cores.
        if e.mount.is_none() && e.stat.mount.is_none() && e.stat.blocks > 0 {
            out.push((e.stat.offset, e.stat.offset.saturating_add(e.stat.blocks)));
        }
    }
    Ok(())
}

/// `DDrive.gc`.
pub(crate) async fn gc(app: Arc<App>, req: proto::GcRequest) -> Result<proto::GcResponse, Status> {
    let s = app.drives.session("gc", req.id)?;
    let name = format!("drive {}", s.key_hex());
    if let Some(v) = s.checkout {
        return Err(Status::failed_precondition(format!(
            "gc {name}: session {} is a checkout at version {v}; gc needs a session on the live drive",
            req.id
        )));
    }
    if app.mirrors.contains(&s.key) {
        return Err(Status::failed_precondition(format!(
            "gc {name}: the drive is mirrored, which keeps every block; unmirror it first"
        )));
    }
    let (_, fds) = app.drives.holders(&s.key);
    if fds > 0 {
        return Err(Status::failed_precondition(format!(
            "gc {name}: {fds} file descriptors are open on it (their writes may still need old blocks); close them first"
        )));
    }
    s.durable("gc", "/").await?;
    let drive = s.drive.sync().clone();
    let fail = move |e: hyperdrive::Error| super::drive_error("gc", &name, "/", &e);
    blocking("gc", move || {
        let Some(content) = drive.content_feed().cloned() else {
            return Ok(proto::GcResponse::default());
        };
        let latest = drive.version();
        let mut kept_versions = vec![latest];
        for (_, v) in drive.tags().map_err(&fail)? {
            if v <= latest && !kept_versions.contains(&v) {
                kept_versions.push(v);
            }
        }
        let mut ranges = Vec::new();
        for &v in &kept_versions {
            ranges_at(&drive, v, &mut ranges).map_err(&fail)?;
        }
        ranges.sort_unstable();
        let (dk, length) = {
            let feed = content.lock();
            (feed.discovery_key(), feed.len())
        };
        let end = ranges.iter().map(|r| r.1).max().unwrap_or(0).min(length);
        let data = core_dir(&drive, &dk).map(|d| d.join("data"));
        let before = data.as_deref().map_or(0, disk_usage_file);
        let mut cleared = 0;
        let mut kept = 0;
        let mut at = 0;
        let mut feed = content.lock();
        let mut clear = |from: u64, to: u64, feed: &mut hypercore::Feed<corestore::BoxStorage>| {
            if from < to {
                cleared += feed.downloaded(from, to);
                feed.clear_and_reclaim(from, to)
            } else {
                Ok(())
            }
        };
        for &(start, stop) in &ranges {
            let (start, stop) = (start.min(end), stop.min(end));
            if start > at {
                clear(at, start, &mut feed).map_err(|e| feed_error(&drive, e))?;
            }
            if stop > at {
                kept += feed.downloaded(at.max(start), stop);
                at = stop;
            }
        }
        clear(at, end, &mut feed).map_err(|e| feed_error(&drive, e))?;
        feed.flush().map_err(|e| feed_error(&drive, e))?;
        drop(feed);
        let after = data.as_deref().map_or(0, disk_usage_file);
        kept_versions.sort_unstable();
        Ok(proto::GcResponse {
            cleared_blocks: cleared,
            kept_blocks: kept,
            freed_bytes: before.saturating_sub(after),
            kept_versions,
        })
    })
    .await
}

fn disk_usage_file(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.blocks() * 512)
}

fn feed_error(drive: &Drive, e: hypercore::Error) -> Status {
    Status::internal(format!(
        "gc / on drive {}: the content feed failed: {e}",
        drive.key().to_hex()
    ))
}

/// `DDrive.deleteDrive`.
pub(crate) async fn delete_drive(
    app: Arc<App>,
    req: proto::DeleteDriveRequest,
) -> Result<proto::DeleteDriveResponse, Status> {
    let key = parse_key("deleteDrive", &req.key)?;
    let hex_key = hex::encode(key);
    let dk = hypercore::PublicKey(key).discovery_key();
    let store = app.drives.store().clone();
    let probe = store.clone();
    let stored = blocking("deleteDrive", move || {
        Ok(probe.is_loaded(&dk) || probe.get_by_discovery_key(&dk).ok().flatten().is_some())
    })
    .await?;
    if !stored {
        return Err(Status::not_found(format!(
            "deleteDrive: drive {hex_key} is not stored by this daemon"
        )));
    }
    // The mirror's own session goes first; a client's session refuses the delete.
    super::mirror::forget(&app, key).await?;
    let (sessions, _) = app.drives.holders(&key);
    if sessions > 0 || !app.drives.release(&key) {
        return Err(Status::failed_precondition(format!(
            "deleteDrive: drive {hex_key} is held open by {sessions} session(s); close them first"
        )));
    }
    let (cores, freed) = blocking("deleteDrive", move || {
        let drive = Drive::open(
            store.clone(),
            &hypercore::PublicKey(key),
            DriveOptions::default().block_timeout(None),
        )
        .map_err(|e| super::drive_error("deleteDrive", &format!("drive {hex_key}"), "/", &e))?;
        let mut dks = Vec::new();
        if let Some(content) = drive.content_feed() {
            dks.push(content.lock().discovery_key());
        }
        dks.push(dk);
        let dirs: Vec<_> = dks.iter().filter_map(|d| core_dir(&drive, d)).collect();
        drop(drive);
        let before: u64 = dirs.iter().map(|d| disk_usage(d)).sum();
        let mut cores = 0;
        // Metadata last: while it is there, the drive can still be opened and deleted again.
        for d in &dks {
            match store.remove_core(d) {
                Ok(removed) => cores += u32::from(removed),
                Err(corestore::Error::InUse { handles, .. }) => {
                    return Err(Status::failed_precondition(format!(
                        "deleteDrive: drive {hex_key}: core {} is in use ({handles} handles: a replication session, a union read, or a drive mounting it); try again when they end",
                        hex::encode(d)
                    )));
                }
                Err(e) => {
                    return Err(Status::internal(format!(
                        "deleteDrive: drive {hex_key}: cannot remove core {}: {e}",
                        hex::encode(d)
                    )));
                }
            }
        }
        let after: u64 = dirs.iter().map(|d| disk_usage(d)).sum();
        Ok((cores, before.saturating_sub(after)))
    })
    .await?;
    app.drives.forget_network(&dk);
    let state = app.drives.state.clone();
    let hex_key = hex::encode(key);
    blocking("deleteDrive", move || {
        state
            .forget_drive(&hex_key, &hex::encode(dk))
            .and_then(|()| super::union::forget_member(&state, &hex_key))
            .map_err(|e| {
                Status::internal(format!(
                    "deleteDrive: drive {hex_key} was removed but its records were not: {e}"
                ))
            })
    })
    .await?;
    Ok(proto::DeleteDriveResponse {
        cores,
        freed_bytes: freed,
    })
}
