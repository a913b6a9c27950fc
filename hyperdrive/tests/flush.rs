//! Durability: a drive's flush (and a descriptor's fsync) leaves nothing of its feeds unsynced.

use std::sync::Arc;

use anyhow::{Result, ensure};
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, WriteOptions, parse_flags};

fn pending(drive: &Drive) -> bool {
    let content = drive.content_feed().is_some_and(|f| f.lock().needs_flush());
    content || drive.metadata_feed().lock().needs_flush()
}

#[test]
fn flush_and_fsync_make_the_drive_durable() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Corestore::open(dir.path())?);
    let drive = Drive::create(store.clone(), DriveOptions::default())?;
    drive.write_file("/a", b"hello", &WriteOptions::default())?;
    ensure!(pending(&drive), "a write left nothing to flush");
    drive.flush()?;
    ensure!(!pending(&drive), "flush left the drive's feeds unsynced");

    let fd = drive.open_fd("/b", parse_flags("w")?)?;
    drive.write_fd(fd, b"through a descriptor", None)?;
    drive.fsync(fd)?;
    ensure!(!pending(&drive), "fsync left the drive's feeds unsynced");
    drive.close_fd(fd)?;

    // What was flushed is there when the store opens again.
    drop(drive);
    store.close()?;
    drop(store);
    let store = Arc::new(Corestore::open(dir.path())?);
    let drive = Drive::create(store, DriveOptions::default())?;
    ensure!(drive.read_file("/a")? == b"hello");
    ensure!(drive.read_file("/b")? == b"through a descriptor");
    Ok(())
}

#[test]
fn a_finished_writer_syncs_its_content_before_putting_the_stat() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Corestore::open(dir.path())?);
    let drive = Drive::create(store, DriveOptions::default())?;
    let mut w = drive.open_writer("/streamed", WriteOptions::default())?;
    w.write(&[7u8; 600 * 1024])?;
    w.finish()?;
    let content = drive.content_feed().map(|f| f.lock().needs_flush());
    ensure!(
        content == Some(false),
        "the content of a finished file waits for a later flush: a crash during that flush \
         can leave its Stat (metadata synced first) pointing at lost blocks"
    );
    ensure!(
        drive.metadata_feed().lock().needs_flush(),
        "the Stat itself waits for the drive's flush"
    );
    Ok(())
}
