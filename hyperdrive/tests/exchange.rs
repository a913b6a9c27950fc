//! `Drive::exchange`: two nodes swapped in one batch (Linux `RENAME_EXCHANGE`).

use std::sync::Arc;

use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, WriteOptions, errno};

fn drive() -> Drive {
    let store = Arc::new(Corestore::in_memory().expect("an in-memory store"));
    Drive::create(store, DriveOptions::default()).expect("a new drive")
}

#[test]
fn two_files_swap_in_one_version() -> hyperdrive::Result<()> {
    let d = drive();
    d.write_file("/a", b"first", &WriteOptions::default())?;
    d.mkdir("/dir", &WriteOptions::default())?;
    d.symlink("a", "/dir/link")?;
    let before = d.version();
    d.exchange("/a", "/dir/link")?;
    assert_eq!(d.version(), before + 2, "one batch of two puts");
    assert_eq!(d.readlink("/a")?, "a");
    assert_eq!(d.read_file("/dir/link")?, b"first");
    Ok(())
}

#[test]
fn what_cannot_be_swapped_is_refused() -> hyperdrive::Result<()> {
    let d = drive();
    d.write_file("/a", b"x", &WriteOptions::default())?;
    d.write_file("/full/b", b"y", &WriteOptions::default())?;
    let code = |r: hyperdrive::Result<()>| r.err().map(|e| e.errno());
    assert_eq!(code(d.exchange("/a", "/missing")), Some(errno::ENOENT));
    assert_eq!(
        code(d.exchange("/a", "/full")),
        Some(errno::EINVAL),
        "implicit dir"
    );
    d.mkdir("/full2", &WriteOptions::default())?;
    d.write_file("/full2/c", b"z", &WriteOptions::default())?;
    assert_eq!(
        code(d.exchange("/a", "/full2")),
        Some(errno::EINVAL),
        "dir with entries"
    );
    assert_eq!(d.read_file("/a")?, b"x", "nothing moved");
    Ok(())
}
