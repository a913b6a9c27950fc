//! Two files streamed into one drive at once: each Stat covers its own bytes only.

use std::sync::Arc;

use anyhow::{Result, ensure};
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, WriteOptions};

#[test]
fn a_writer_finished_after_another_keeps_its_own_size() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Corestore::open(dir.path())?);
    let drive = Drive::create(store, DriveOptions::default())?;
    // `a` fills one whole 512 KiB block (appended at once, nothing left buffered), then `b`
    // appends after it and finishes before `a` does.
    let mut a = drive.open_writer("/a", WriteOptions::default())?;
    a.write(&vec![1u8; 512 * 1024])?;
    let mut b = drive.open_writer("/b", WriteOptions::default())?;
    b.write(b"bbb")?;
    b.finish()?;
    let stat = a.finish()?;
    ensure!(
        stat.size == 512 * 1024,
        "a's Stat counts b's bytes: size {}",
        stat.size
    );
    ensure!(drive.read_file("/a")? == vec![1u8; 512 * 1024]);
    ensure!(drive.read_file("/b")? == b"bbb");
    Ok(())
}
