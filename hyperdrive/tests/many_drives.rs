//! A store of many drives opens and serves any of them with 1,024 file descriptors: idle
//! cores close under the store's open-file budget and reopen when read.
//!
//! The test binary lowers its own RLIMIT_NOFILE, so it holds this one test only. It makes
//! 1,000 drives by default (each drive is two cores: a folder of files, two key derivations
//! and a signed append each); `DDRIVE_MANY_DRIVES=10000` runs the full count. The store lives
//! in `/dev/shm` when there is one (about 50 KiB per drive): the test is about descriptors,
//! and on a disk the syncs (a core's name file when it is made, its files when it is closed)
//! take most of the time, so there the default is 200 drives.

use std::sync::Arc;

use anyhow::{Context, Result};
use corestore::{Corestore, DEFAULT_OPEN_FILE_BUDGET};
use hyperdrive::{Drive, DriveOptions, WriteOptions};
use nix::sys::resource::{Resource, getrlimit, setrlimit};

const DESCRIPTORS: u64 = 1024;

fn count(on_tmpfs: bool) -> Result<usize> {
    match std::env::var("DDRIVE_MANY_DRIVES") {
        Ok(n) => n.parse().context("DDRIVE_MANY_DRIVES is a number"),
        Err(_) if on_tmpfs => Ok(1_000),
        Err(_) => Ok(200),
    }
}

fn open_descriptors() -> Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

#[test]
fn a_store_of_many_drives_serves_any_of_them_under_1024_descriptors() -> Result<()> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, DESCRIPTORS.min(hard), hard)?;
    let shm = std::path::Path::new("/dev/shm");
    let count = count(shm.is_dir())?;
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)?
    } else {
        tempfile::tempdir()?
    };
    let store = Arc::new(Corestore::open(dir.path())?);
    let w = WriteOptions::default();
    let mut keys = Vec::with_capacity(count);
    for i in 0..count {
        let view = Arc::new(store.namespace(&format!("drive-{i}"))?);
        let drive = Drive::create(view, DriveOptions::default())?;
        drive.write_file("/hello.txt", format!("drive {i}").as_bytes(), &w)?;
        keys.push(*drive.key());
    }
    let most_cores = DEFAULT_OPEN_FILE_BUDGET / 6;
    assert!(store.stats().loaded <= most_cores);
    assert!(open_descriptors()? < DESCRIPTORS as usize);

    // Any of them, in any order, by key from the same store: reopened from their folders.
    let mut picks: Vec<usize> = vec![0, count / 2, count - 1, 1, count / 3];
    picks.extend((0..count).step_by((count / 50).max(1)));
    for i in picks {
        let drive = Drive::open(Arc::clone(&store), &keys[i], DriveOptions::default())?;
        assert!(drive.writable(), "the store derives every drive's secret");
        assert_eq!(
            drive.read_file("/hello.txt")?,
            format!("drive {i}").as_bytes()
        );
        drive.write_file("/again.txt", b"still writable", &w)?;
    }
    let stats = store.stats();
    assert!(stats.loaded <= most_cores, "{stats:?}");
    assert!(
        stats.evictions as usize >= 2 * count - most_cores,
        "{stats:?}"
    );
    assert!(open_descriptors()? < DESCRIPTORS as usize);
    Ok(())
}
