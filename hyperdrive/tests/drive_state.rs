//! Per-drive state (the trie's node cache, the watchers) lives with the drive's metadata core
//! in its store: an operation on one drive looks nothing up in a table of all drives, so its
//! work does not grow with how many drives the process has open. Counted with the store's
//! table lookups ([`corestore::StoreStats::lookups`]), the only shared table left.

use std::sync::Arc;

use anyhow::Result;
use corestore::{Corestore, MasterKey};
use hyperdrive::{Drive, DriveOptions, MountOptions, ReaddirOptions, WriteOptions};

/// Store lookups made by a round of reads and writes on one drive (and through a mount in
/// it), with `others` more drives open in the same store and process.
fn lookups_per_round(others: usize) -> Result<(u64, u64)> {
    let store = Arc::new(Corestore::in_memory()?);
    let w = WriteOptions::default();
    let open: Vec<Drive> = (0..others)
        .map(|i| {
            let d = Drive::create(
                Arc::new(store.namespace(&format!("other-{i}"))?),
                DriveOptions::default(),
            )?;
            d.write_file("/f", b"x", &w)?;
            Ok(d)
        })
        .collect::<Result<_>>()?;
    let drive = Drive::create(Arc::new(store.namespace("main")?), DriveOptions::default())?;
    let mounted = Drive::create(
        Arc::new(store.namespace("mounted")?),
        DriveOptions::default(),
    )?;
    drive.mount("/mnt", mounted.key(), &MountOptions::default())?;
    for i in 0..20 {
        drive.write_file(&format!("/dir/{i}"), b"content", &w)?;
    }
    let mut watcher = drive.watch("/dir")?;

    let before = store.stats().lookups;
    for i in 0..20 {
        drive.stat(&format!("/dir/{i}"))?;
        drive.read_file(&format!("/dir/{i}"))?;
        drive.readdir("/dir", &ReaddirOptions::default())?;
        drive.write_file(&format!("/dir/{i}"), b"changed", &w)?;
        assert!(watcher.try_changed().is_some());
    }
    let own = store.stats().lookups - before;

    let before = store.stats().lookups;
    drive.write_file("/mnt/inside", b"through the mount", &w)?;
    drive.stat("/mnt/inside")?;
    drive.read_file("/mnt/inside")?;
    let through_mount = store.stats().lookups - before;
    drop(open);
    Ok((own, through_mount))
}

#[test]
fn work_per_operation_does_not_grow_with_the_drives_open() -> Result<()> {
    let alone = lookups_per_round(0)?;
    let crowded = lookups_per_round(300)?;
    assert_eq!(
        alone, crowded,
        "(own drive, through a mount) with 0 and 300 others"
    );
    assert_eq!(
        alone.0, 0,
        "reads and writes of a drive consult no shared table"
    );
    Ok(())
}

#[test]
fn handles_on_one_drive_share_its_state_and_two_stores_do_not() -> Result<()> {
    let a = Arc::new(Corestore::in_memory()?);
    let drive = Drive::create(Arc::clone(&a), DriveOptions::default())?;
    let again = Drive::open(Arc::clone(&a), drive.key(), DriveOptions::default())?;
    // A watcher made through one handle hears writes through the other: one hub per core.
    let mut watcher = again.watch("/")?;
    drive.write_file("/f", b"x", &WriteOptions::default())?;
    assert!(watcher.try_changed().is_some());

    // The same drive in a second store of the process (same master key, its own feeds) has
    // its own state: a write there is not an event here.
    let master = [7u8; 32];
    let s1 = Arc::new(Corestore::in_memory_with_master_key(MasterKey::from_bytes(
        master,
    )));
    let s2 = Arc::new(Corestore::in_memory_with_master_key(MasterKey::from_bytes(
        master,
    )));
    let d1 = Drive::create(s1, DriveOptions::default())?;
    let d2 = Drive::create(s2, DriveOptions::default())?;
    assert_eq!(d1.key(), d2.key());
    let mut w1 = d1.watch("/")?;
    d2.write_file("/f", b"x", &WriteOptions::default())?;
    assert!(w1.try_changed().is_none());
    d1.write_file("/f", b"x", &WriteOptions::default())?;
    assert!(w1.try_changed().is_some());
    Ok(())
}
