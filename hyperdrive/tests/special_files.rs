//! mknod: FIFOs, sockets and device nodes are Stats with their type bits (and a device
//! number); stat, listings and hard links treat them as any node.

use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{
    AsyncDrive, Drive, DriveOptions, RDEV_KEY, ReaddirOptions, WriteOptions, errno, mode,
};

fn drive() -> Result<Drive> {
    Ok(Drive::create(
        Arc::new(Corestore::in_memory()?),
        DriveOptions::default(),
    )?)
}

#[tokio::test]
async fn each_type_is_stored_with_its_bits_and_device_number() -> Result<()> {
    let d = AsyncDrive::new(drive()?);
    let owner = WriteOptions::default().owner(1000, 100);
    let cases = [
        ("/fifo", mode::S_IFIFO | 0o640, 0, mode::S_IFIFO),
        ("/sock", mode::S_IFSOCK | 0o600, 0, mode::S_IFSOCK),
        ("/chr", mode::S_IFCHR | 0o666, (1 << 8) | 3, mode::S_IFCHR),
        ("/blk", mode::S_IFBLK | 0o660, (8 << 8) | 1, mode::S_IFBLK),
        ("/reg", 0o600, 0, mode::S_IFREG),
    ];
    for (path, mode, rdev, kind) in cases {
        let made = d.mknod(path, mode, rdev, owner.clone()).await?;
        let stat = d.stat(path).await?;
        assert_eq!(stat, made, "{path}");
        assert_eq!(stat.file_type(), kind, "{path}");
        assert_eq!(stat.mode & 0o7777, mode & 0o7777, "{path}");
        assert_eq!((stat.uid, stat.gid), (1000, 100));
        assert_eq!(stat.rdev(), rdev, "{path}");
        assert_eq!(stat.size, 0);
        assert_eq!(stat.blocks, 0);
        assert_eq!(
            stat.metadata.get(RDEV_KEY).is_some(),
            rdev != 0,
            "only devices carry a number"
        );
    }
    let mut names = d.readdir("/", ReaddirOptions::default()).await?;
    names.sort();
    assert_eq!(names, ["blk", "chr", "fifo", "reg", "sock"]);
    assert_eq!(d.read_file("/reg").await?, b"");

    // Special files link, rename and unlink as any file.
    let linked = d.link("/fifo", "/fifo2").await?;
    assert_eq!(linked.file_type(), mode::S_IFIFO);
    assert_eq!(d.lstat("/fifo").await?.nlink(), 2);
    d.rename("/chr", "/dev-null").await?;
    assert_eq!(d.stat("/dev-null").await?.rdev(), (1 << 8) | 3);
    d.unlink("/sock").await?;
    assert!(!d.exists("/sock").await?);
    Ok(())
}

#[test]
fn refusals() -> Result<()> {
    let d = drive()?;
    d.mknod("/p", mode::S_IFIFO | 0o644, 0, &WriteOptions::default())?;
    let err = |r: hyperdrive::Result<hyperdrive::Stat>| r.expect_err("refused").errno();
    assert_eq!(
        err(d.mknod("/p", mode::S_IFIFO, 0, &WriteOptions::default())),
        errno::EEXIST
    );
    assert_eq!(
        err(d.mknod("/d", mode::S_IFDIR | 0o755, 0, &WriteOptions::default())),
        errno::EINVAL
    );
    assert_eq!(
        err(d.mknod("/l", mode::S_IFLNK | 0o777, 0, &WriteOptions::default())),
        errno::EINVAL
    );
    assert_eq!(
        err(d
            .checkout(1)
            .mknod("/q", mode::S_IFIFO, 0, &WriteOptions::default())),
        errno::EACCES
    );
    assert_eq!(
        d.set_metadata("/p", RDEV_KEY, b"1")
            .expect_err("reserved")
            .errno(),
        errno::EINVAL
    );
    Ok(())
}
