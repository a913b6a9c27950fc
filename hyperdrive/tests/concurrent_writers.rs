//! Two files written into one drive at once (a streamed file and a whole one, or two streamed
//! ones): each Stat covers its own bytes only.

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

#[test]
fn a_writer_finished_after_a_whole_file_was_written_keeps_its_own_size() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = Drive::create(Arc::new(store.namespace("main")?), DriveOptions::default())?;
    // One whole 512 KiB block: all of it appended before `finish`.
    let first = vec![1u8; 512 * 1024];
    let mut a = d.open_writer("/a", WriteOptions::default())?;
    a.write(&first)?;
    // Another file lands in the content feed after /a's block, before /a is finished.
    d.write_file("/b", b"second file", &WriteOptions::default())?;
    let stat = a.finish()?;
    assert_eq!(stat.size, first.len() as u64);
    assert_eq!(d.read_file("/a")?, first);
    assert_eq!(d.read_file("/b")?, b"second file");
    Ok(())
}
