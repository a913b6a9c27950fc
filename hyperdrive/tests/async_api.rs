//! The tokio surface: streaming writer and seeking reader, errors with errno, mounts.

use std::io::SeekFrom;
use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{AsyncDrive, BLOCK_SIZE, Drive, DriveOptions, MountOptions, WriteOptions, errno};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[tokio::test]
async fn stream_write_then_ranged_read() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let drive = AsyncDrive::new(Drive::create(store, DriveOptions::default())?);
    let data: Vec<u8> = (0..(BLOCK_SIZE * 2 + 1000))
        .map(|i| (i % 251) as u8)
        .collect();
    let mut w = drive.writer("/big", WriteOptions::default()).await?;
    for chunk in data.chunks(70_000) {
        w.write_all(chunk).await?;
    }
    w.shutdown().await?;
    let stat = drive.stat("/big").await?;
    assert_eq!(stat.size, data.len() as u64);
    assert_eq!(stat.blocks, 3);

    let mut r = drive.reader("/big").await?;
    r.seek(SeekFrom::Start(BLOCK_SIZE as u64 - 10)).await?;
    let mut buf = vec![0u8; 30];
    r.read_exact(&mut buf).await?;
    assert_eq!(buf, data[BLOCK_SIZE - 10..BLOCK_SIZE + 20]);
    let mut rest = Vec::new();
    r.seek(SeekFrom::End(-5)).await?;
    r.read_to_end(&mut rest).await?;
    assert_eq!(rest, data[data.len() - 5..]);

    let err = drive.read_file("/missing").await.unwrap_err();
    assert_eq!(err.errno(), errno::ENOENT);
    drive.mkdir("/d", WriteOptions::default()).await?;
    assert_eq!(
        drive
            .mkdir("/d", WriteOptions::default())
            .await
            .unwrap_err()
            .errno(),
        errno::EEXIST
    );
    drive
        .write_file("/d/x", b"x".to_vec(), WriteOptions::default())
        .await?;
    assert_eq!(
        drive.rmdir("/d").await.unwrap_err().errno(),
        errno::ENOTEMPTY
    );
    assert_eq!(
        drive.read_file("/d").await.unwrap_err().errno(),
        errno::EISDIR
    );
    let old = drive.checkout(2);
    assert_eq!(
        old.write_file("/y", vec![], WriteOptions::default())
            .await
            .unwrap_err()
            .errno(),
        errno::EACCES
    );
    Ok(())
}

#[tokio::test]
async fn static_mount_and_unmount() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let a = Drive::create(Arc::new(store.namespace("a")?), DriveOptions::default())?;
    let b = Drive::create(Arc::new(store.namespace("b")?), DriveOptions::default())?;
    b.write_file("/f", b"one", &WriteOptions::default())?;
    let pinned = b.version();
    b.write_file("/f", b"two", &WriteOptions::default())?;
    a.mount("/live", b.key(), &MountOptions::default())?;
    a.mount("/pinned", b.key(), &MountOptions::default().version(pinned))?;
    assert_eq!(a.read_file("/live/f")?, b"two");
    assert_eq!(a.read_file("/pinned/f")?, b"one");
    let mounts: Vec<String> = a.mounts(false)?.into_iter().map(|m| m.path).collect();
    assert_eq!(mounts.len(), 2);
    let diff = a.diff(1, "/")?;
    assert!(
        diff.iter().all(|d| d.kind == hyperdrive::DiffKind::Mount),
        "{diff:?}"
    );
    a.unmount("/live")?;
    assert!(!a.exists("/live/f")?);
    assert_eq!(a.read_file("/pinned/f")?, b"one");
    Ok(())
}

#[tokio::test]
async fn descriptors_rename_and_random_writes_async() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let drive = AsyncDrive::new(Drive::create(store, DriveOptions::default())?);
    let fd = drive.open_fd("/f", hyperdrive::parse_flags("w+")?).await?;
    drive.write_fd(fd, b"hello".to_vec(), None).await?;
    drive.write_fd(fd, b"J".to_vec(), Some(0)).await?;
    assert_eq!(drive.read_fd(fd, 10, Some(0)).await?, b"Jello");
    assert_eq!(drive.fstat(fd).await?.size, 5);
    drive.close_fd(fd).await?;
    drive.append("/f", b"!".to_vec()).await?;
    drive.write_at("/f", 1, b"E".to_vec()).await?;
    drive.rename("/f", "/g").await?;
    assert_eq!(drive.read_file("/g").await?, b"JEllo!");
    drive.set_len("/g", 2).await?;
    assert_eq!(drive.read_file("/g").await?, b"JE");
    let mut watcher = drive.watch("/").await?;
    drive.unlink("/g").await?;
    assert!(watcher.changed().await.is_some());
    assert!(drive.download("/").await?.ranges.is_empty());
    assert!(drive.stats("/").await?.is_empty());
    Ok(())
}
