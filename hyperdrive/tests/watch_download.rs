//! watch notifications (own writes, mounts, other paths, dropped watchers) and
//! download / stats reports.

use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, MountOptions, WriteOptions};

#[test]
fn watch_reports_changes_under_its_path_only() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = Drive::create(Arc::new(store.namespace("main")?), DriveOptions::default())?;
    let other = Drive::create(Arc::new(store.namespace("other")?), DriveOptions::default())?;
    let w = WriteOptions::default();
    d.mount("/docs/mnt", other.key(), &MountOptions::default())?;
    let mut docs = d.watch("/docs")?;
    let mut root = d.watch("/")?;
    assert_eq!(docs.try_changed(), None);

    d.write_file("/elsewhere", b"x", &w)?;
    assert_eq!(docs.try_changed(), None, "a write outside /docs");
    let event = root.try_changed().expect("the root watcher sees it");
    assert_eq!(event.key, *d.key());
    assert_eq!(event.version, d.version());

    d.write_file("/docs/a", b"1", &w)?;
    d.write_file("/docs/b", b"2", &w)?;
    assert!(docs.try_changed().is_some());
    assert_eq!(
        docs.try_changed(),
        None,
        "changes coalesce into one waiting event"
    );

    d.unlink("/docs/a")?;
    assert!(docs.try_changed().is_some(), "a delete is a change");

    // A write in the mounted drive, through its own handle.
    other.write_file("/inner", b"3", &w)?;
    let event = docs.try_changed().expect("mount changes reach the watcher");
    assert_eq!(event.key, *other.key());

    // Renames, metadata and fd writes notify too.
    d.rename("/docs/b", "/docs/c")?;
    assert!(docs.try_changed().is_some());
    d.set_metadata("/docs/c", "k", b"v")?;
    assert!(docs.try_changed().is_some());

    let mut file = d.watch("/docs/c")?;
    let fd = d.open_fd("/docs/c", hyperdrive::parse_flags("a")?)?;
    d.write_fd(fd, b"more", None)?;
    assert_eq!(file.try_changed(), None, "nothing committed yet");
    d.close_fd(fd)?;
    assert!(file.try_changed().is_some());
    drop(file);

    // A checkout never changes.
    let mut frozen = d.checkout(2).watch("/")?;
    d.write_file("/docs/z", b"z", &w)?;
    assert_eq!(frozen.try_changed(), None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_wakes_an_async_waiter() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = Drive::create(store, DriveOptions::default())?;
    let mut watcher = d.watch("/dir")?;
    let writer = d.clone();
    let task = tokio::task::spawn_blocking(move || {
        writer.write_file("/dir/f", b"hi", &WriteOptions::default())
    });
    let event = watcher.changed().await.expect("an event");
    task.await??;
    assert!(event.version >= 2);
    Ok(())
}

#[test]
fn download_and_stats_report_what_is_stored() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = Drive::create(store, DriveOptions::default())?;
    let w = WriteOptions::default();
    d.write_file("/dir/a", &vec![1u8; 600_000], &w)?;
    d.write_file("/dir/sub/b", b"bb", &w)?;
    d.write_file("/dir/empty", b"", &w)?;
    d.mkdir("/dir/explicit", &w)?;
    d.write_file("/top", b"t", &w)?;

    let dl = d.download("/dir")?;
    let mut paths: Vec<&str> = dl.ranges.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/dir/a", "/dir/empty", "/dir/sub/b"]);
    assert_eq!(dl.blocks(), 4);
    assert_eq!(dl.downloaded_blocks(), 4);
    assert!(dl.is_complete());
    let a = dl.ranges.iter().find(|r| r.path == "/dir/a").unwrap();
    assert_eq!((a.start, a.end), (0, 2));
    assert_eq!(a.feed, *d.content_feed().unwrap().lock().key());

    let one = d.download("/top")?;
    assert_eq!(one.ranges.len(), 1);
    assert_eq!(one.ranges[0].start, 4);

    let stats = d.stats("/dir")?;
    let keys: Vec<&str> = stats.keys().map(String::as_str).collect();
    assert_eq!(keys, ["/dir/a", "/dir/empty", "/dir/sub/b"]);
    assert_eq!(stats["/dir/a"].blocks, 2);
    assert_eq!(stats["/dir/a"].size, 600_000);
    assert_eq!(stats["/dir/a"].downloaded_blocks, 2);
    assert_eq!(d.stats("/top")?["/top"].size, 1);
    assert_eq!(
        d.download("/nope").unwrap_err().errno(),
        hyperdrive::errno::ENOENT
    );
    Ok(())
}
