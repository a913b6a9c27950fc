//! The handle on a drive's replication session: counters that match what the clone stored,
//! per feed (metadata and content), and cancel ending both sides.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use corestore::Corestore;
use hypercore::protocol::SessionConfig;
use hypercore::replicate::SessionEnd;
use hyperdrive::{AsyncDrive, Drive, DriveOptions, WriteOptions};

/// Only a broken implementation waits this long; never a timing assertion.
const WAIT: Duration = Duration::from_secs(30);

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_session_counts_what_the_clone_stored_and_cancels() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let source = Drive::create(store, DriveOptions::default())?;
    let w = WriteOptions::default();
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    source.write_file("/big.bin", &big, &w)?;
    source.write_file("/small.txt", b"small", &w)?;
    let source = AsyncDrive::new(source);

    let clone = AsyncDrive::new(Drive::open(
        Arc::new(Corestore::in_memory()?),
        source.key(),
        DriveOptions::default().block_timeout(Some(WAIT)),
    )?);
    let (x, y) = tokio::io::duplex(256 * 1024);
    let s_source = source.replicate(x, session(true));
    let s_clone = clone.replicate(y, session(false));
    let (h_source, h_clone) = (s_source.handle(), s_clone.handle());
    let (t_source, t_clone) = (tokio::spawn(s_source), tokio::spawn(s_clone));

    assert_eq!(clone.read_file("/big.bin").await?, big);
    assert_eq!(clone.read_file("/small.txt").await?, b"small");

    // Ended on both sides, nothing moves any more.
    h_clone.cancel();
    let r = tokio::time::timeout(WAIT, t_clone).await??;
    assert!(
        matches!(
            r,
            Err(hyperdrive::Error::Store(corestore::Error::Replicate(
                hypercore::replicate::ReplicateError::Cancelled
            )))
        ),
        "{r:?}"
    );
    assert_eq!(h_clone.ended().await, SessionEnd::Cancelled);
    tokio::time::timeout(WAIT, t_source).await??.ok();
    assert!(h_source.is_ended());

    // Each feed's count on the session is exactly what the clone's store holds of it: this
    // session was its only source. The source uploaded the same blocks. The counts stay after
    // the session ended.
    let got = h_clone.info();
    let sent = h_source.info();
    assert_eq!(got.feeds.len(), 2, "metadata and content");
    for f in &got.feeds {
        let feed = clone.sync().corestore().get_by_key(&f.key)?;
        let (blocks, bytes) = {
            let mut g = feed.lock();
            let len = g.len();
            let mut bytes = 0u64;
            for i in 0..len {
                if g.has(i) {
                    bytes += g.get(i)?.len() as u64;
                }
            }
            (g.downloaded(0, len), bytes)
        };
        assert_eq!(
            (f.stats.downloaded_blocks, f.stats.downloaded_bytes),
            (blocks, bytes)
        );
        let up = sent
            .feeds
            .iter()
            .find(|s| s.key == f.key)
            .context("the source replicated the same feed")?;
        assert_eq!(
            (up.stats.uploaded_blocks, up.stats.uploaded_bytes),
            (blocks, bytes)
        );
    }
    let content = got
        .feeds
        .iter()
        .find(|f| f.key != *clone.key())
        .context("the content feed")?;
    assert!(content.stats.downloaded_bytes >= big.len() as u64 + 5);

    Ok(())
}
