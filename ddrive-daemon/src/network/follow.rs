//! Keeping an open drive that someone else writes up to date.
//!
//! Replication is sparse: a block moves when someone asks for it. While a remote drive is open
//! the daemon asks for its header (block 0, which names the content feed; opening that feed
//! adds it to every replication session), and, whenever a peer announces a longer metadata
//! feed, for the newest block (it carries the signed length, JS's `update`), then tells the
//! drive's watchers. This is what `hyperdrive::AsyncDrive::replicate` does per session; the
//! daemon replicates the whole store per connection instead, so it runs once per open drive.

use hyperdrive::Drive;

/// Follows `drive` until aborted (when the drive closes). Returns at once for a drive this
/// store writes: its own writes notify as they happen.
pub(crate) async fn follow(drive: Drive) {
    let metadata = drive.metadata_feed().clone();
    if metadata.lock().writable() {
        return;
    }
    let mut seen = metadata.lock().len();
    let mut asked_header = false;
    let mut asked = 0;
    let mut content = false;
    loop {
        // Made before looking, so a change in between still wakes us.
        let changed = metadata.changed();
        let (has_header, len) = {
            let f = metadata.lock();
            (f.has(0), f.len())
        };
        if !has_header && !asked_header {
            asked_header = true;
            metadata.download(0, Some(1));
        }
        if has_header && !content {
            // Opening a core creates its files: on the blocking pool.
            let d = drive.clone();
            content = tokio::task::spawn_blocking(move || d.content_feed().is_some())
                .await
                .unwrap_or(false);
        }
        let remote = metadata.remote_length();
        if remote > len && remote != asked {
            asked = remote;
            metadata.download(remote - 1, Some(remote));
        }
        if len > seen {
            seen = len;
            let d = drive.clone();
            // A diff per watcher: off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || d.notify_watchers()).await;
        }
        changed.await;
    }
}
