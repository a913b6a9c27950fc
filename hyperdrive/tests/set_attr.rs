//! `Drive::set_attr`: chmod, chown and utimens, on plain files and on files open for writing.

use std::sync::Arc;

use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, SetAttr, WriteOptions, flags, mode};

fn drive() -> Drive {
    let store = Arc::new(Corestore::in_memory().expect("an in-memory store"));
    Drive::create(store, DriveOptions::default()).expect("a new drive")
}

#[test]
fn mode_owner_and_mtime_are_stored() -> hyperdrive::Result<()> {
    let d = drive();
    d.write_file("/a", b"hello", &WriteOptions::default())?;
    let stat = d.set_attr(
        "/a",
        &SetAttr::default()
            .mode(0o600)
            .owner(Some(7), Some(8))
            .mtime(1_000),
    )?;
    assert_eq!(stat.mode, mode::S_IFREG | 0o600);
    let read = d.lstat("/a")?;
    assert_eq!(
        (read.mode, read.uid, read.gid, read.mtime),
        (mode::S_IFREG | 0o600, 7, 8, 1_000)
    );
    assert_eq!(d.read_file("/a")?, b"hello", "the content is kept");
    Ok(())
}

#[test]
fn an_implicit_directory_gets_a_stat() -> hyperdrive::Result<()> {
    let d = drive();
    d.write_file("/dir/a", b"x", &WriteOptions::default())?;
    d.set_attr("/dir", &SetAttr::default().mode(0o700))?;
    assert_eq!(d.lstat("/dir")?.mode, mode::S_IFDIR | 0o700);
    assert!(
        d.set_attr("/missing", &SetAttr::default().mode(0o700))
            .is_err()
    );
    assert!(d.set_attr("/", &SetAttr::default().mode(0o700)).is_err());
    assert_eq!(d.read_file("/dir/a")?, b"x", "the tree is intact");
    Ok(())
}

#[test]
fn an_open_descriptor_keeps_the_change() -> hyperdrive::Result<()> {
    let d = drive();
    let fd = d.open_fd("/f", flags::O_CREAT | flags::O_RDWR)?;
    d.write_fd(fd, b"data", Some(0))?;
    d.set_attr("/f", &SetAttr::default().mode(0o640).mtime(5_000))?;
    assert_eq!(
        d.read_file("/f")?,
        b"data",
        "the pending writes were committed first"
    );
    d.close_fd(fd)?;
    let stat = d.lstat("/f")?;
    assert_eq!(
        stat.mode,
        mode::S_IFREG | 0o640,
        "the close did not undo the chmod"
    );
    assert_eq!(stat.mtime, 5_000, "nor the utimens");
    Ok(())
}

#[test]
fn a_forgotten_descriptor_commits_nothing() -> hyperdrive::Result<()> {
    let d = drive();
    let fd = d.open_fd("/f", flags::O_CREAT | flags::O_RDWR)?;
    d.write_fd(fd, b"data", Some(0))?;
    d.unlink("/f")?;
    d.forget_fd(fd)?;
    assert!(!d.exists("/f")?);
    Ok(())
}

#[test]
fn metadata_set_while_open_survives_the_close() -> hyperdrive::Result<()> {
    let d = drive();
    let fd = d.open_fd("/f", flags::O_CREAT | flags::O_RDWR)?;
    d.write_fd(fd, b"data", Some(0))?;
    d.set_metadata("/f", "color", b"blue")?;
    d.close_fd(fd)?;
    let stat = d.lstat("/f")?;
    assert_eq!(stat.metadata.get("color"), Some(Some(&b"blue"[..])));
    assert_eq!(d.read_file("/f")?, b"data");
    Ok(())
}
