//! Watchers across mounts: a watcher on `/` hears of changes inside drives mounted below it,
//! whether mounted before or after the watch started, nested, and stops hearing of a drive
//! once it is unmounted.

use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, MountOptions, Watcher, WriteOptions};

fn drive(store: &Arc<Corestore>, name: &str) -> Result<Drive> {
    Ok(Drive::create(
        Arc::new(store.namespace(name)?),
        DriveOptions::default(),
    )?)
}

/// Empties the one-slot channel.
fn drain(w: &mut Watcher) {
    while w.try_changed().is_some() {}
}

#[test]
fn a_mount_made_after_the_watch_started_is_watched() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let root = drive(&store, "root")?;
    let x = drive(&store, "x")?;
    let w = WriteOptions::default();
    let mut watcher = root.watch("/")?;

    root.mount("/mnt/x", x.key(), &MountOptions::default())?;
    let event = watcher
        .try_changed()
        .expect("the mount is a change of the root");
    assert_eq!(event.key, *root.key());

    // A write through the mount, and one through the mounted drive's own handle.
    root.write_file("/mnt/x/a.txt", b"1", &w)?;
    let event = watcher.try_changed().expect("a change inside the mount");
    assert_eq!(event.key, *x.key());
    assert_eq!(event.version, x.version());
    x.write_file("/b.txt", b"2", &w)?;
    assert_eq!(watcher.try_changed().map(|e| e.key), Some(*x.key()));
    Ok(())
}

#[test]
fn a_watch_under_a_path_follows_mounts_made_below_it_only() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let root = drive(&store, "root")?;
    let inside = drive(&store, "inside")?;
    let outside = drive(&store, "outside")?;
    let w = WriteOptions::default();
    let mut watcher = root.watch("/mnt")?;

    root.mount("/mnt/in", inside.key(), &MountOptions::default())?;
    root.mount("/other/out", outside.key(), &MountOptions::default())?;
    drain(&mut watcher);
    assert_eq!(
        watcher.watched(),
        vec![
            (*root.key(), "/mnt".to_owned()),
            (*inside.key(), "/mnt/in".to_owned())
        ]
    );
    outside.write_file("/f", b"x", &w)?;
    assert_eq!(
        watcher.try_changed(),
        None,
        "a mount outside the watched path"
    );
    inside.write_file("/f", b"x", &w)?;
    assert_eq!(watcher.try_changed().map(|e| e.key), Some(*inside.key()));
    Ok(())
}

#[test]
fn nested_mounts_made_later_are_watched_and_unmounted_ones_dropped() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let root = drive(&store, "root")?;
    let x = drive(&store, "x")?;
    let y = drive(&store, "y")?;
    let w = WriteOptions::default();
    let mut watcher = root.watch("/")?;

    root.mount("/mnt/x", x.key(), &MountOptions::default())?;
    // A mount inside the mounted drive, made after both the watch and the outer mount.
    x.mount("/deep/y", y.key(), &MountOptions::default())?;
    drain(&mut watcher);
    // Each drive with the path where its changes show in the watched drive.
    assert_eq!(
        watcher.watched(),
        vec![
            (*root.key(), "/".to_owned()),
            (*x.key(), "/mnt/x".to_owned()),
            (*y.key(), "/mnt/x/deep/y".to_owned()),
        ]
    );
    root.write_file("/mnt/x/deep/y/file", b"deep", &w)?;
    assert_eq!(watcher.try_changed().map(|e| e.key), Some(*y.key()));

    // A pinned mount never changes, so it is not registered.
    let z = drive(&store, "z")?;
    z.write_file("/z", b"z", &w)?;
    root.mount(
        "/pinned",
        z.key(),
        &MountOptions::default().version(z.version()),
    )?;
    drain(&mut watcher);
    assert_eq!(watcher.watched().len(), 3);

    root.unmount("/mnt/x")?;
    drain(&mut watcher);
    assert_eq!(watcher.watched(), vec![(*root.key(), "/".to_owned())]);
    x.write_file("/after", b"gone", &w)?;
    y.write_file("/after", b"gone", &w)?;
    assert_eq!(
        watcher.try_changed(),
        None,
        "unmounted drives are no longer watched"
    );
    Ok(())
}

#[test]
fn a_drive_mounted_inside_itself_is_watched_without_looping() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let root = drive(&store, "root")?;
    let mut watcher = root.watch("/")?;
    root.mount("/self", root.key(), &MountOptions::default())?;
    root.write_file("/f", b"x", &WriteOptions::default())?;
    assert_eq!(watcher.try_changed().map(|e| e.key), Some(*root.key()));
    // Each level of the loop is one more registration, up to the nesting bound.
    assert!(watcher.watched().len() <= 18);
    Ok(())
}

#[test]
fn merged_watchers_report_changes_of_each() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let a = drive(&store, "a")?;
    let b = drive(&store, "b")?;
    let w = WriteOptions::default();
    a.write_file("/pending", b"x", &w)?;
    let wa = a.watch("/")?;
    a.write_file("/pending2", b"x", &w)?;
    let wb = b.watch("/")?;
    let mut both = Watcher::merge([wa, wb]);
    assert_eq!(
        both.try_changed().map(|e| e.key),
        Some(*a.key()),
        "an event waiting in a merged watcher is kept"
    );
    b.write_file("/f", b"x", &w)?;
    assert_eq!(both.try_changed().map(|e| e.key), Some(*b.key()));
    a.write_file("/f", b"x", &w)?;
    assert_eq!(both.try_changed().map(|e| e.key), Some(*a.key()));
    Ok(())
}
