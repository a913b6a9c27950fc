//! Two files written at once into one drive: each Stat covers its own bytes only.

use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, WriteOptions};

/// hyperdrive's content block size (512 KiB): a writer given exactly this much has appended
/// it all before `finish`.
const BLOCK: usize = 512 * 1024;

#[test]
fn a_writer_finished_after_another_appended_keeps_its_own_size() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = Drive::create(Arc::new(store.namespace("main")?), DriveOptions::default())?;
    let first = vec![1u8; BLOCK];
    let mut a = d.open_writer("/a", WriteOptions::default())?;
    a.write(&first)?;
    // Another file lands in the content feed after /a's block, before /a is finished.
    d.write_file("/b", b"second file", &WriteOptions::default())?;
    let stat = a.finish()?;
    assert_eq!(stat.size, BLOCK as u64);
    assert_eq!(d.read_file("/a")?, first);
    assert_eq!(d.read_file("/b")?, b"second file");
    Ok(())
}
