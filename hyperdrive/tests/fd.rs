//! File descriptors: JS's flags (what O_CREAT, O_EXCL, O_TRUNC and O_APPEND do), EBADF
//! cases, and random-access writes through a descriptor.

use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, WriteMode, WriteOptions, errno, flags, parse_flags};

fn drive(mode: WriteMode) -> Result<Drive> {
    let store = Arc::new(Corestore::in_memory()?);
    Ok(Drive::create(
        store,
        DriveOptions::default().write_mode(mode),
    )?)
}

#[test]
fn flags_parse_like_filesystem_constants() -> Result<()> {
    assert_eq!(parse_flags("r")?, 0);
    assert_eq!(parse_flags("r+")?, 2);
    assert_eq!(parse_flags("w")?, 512 | 64 | 1);
    assert_eq!(parse_flags("wx+")?, 512 | 64 | 2 | 128);
    assert_eq!(parse_flags("a")?, 1024 | 64 | 1);
    assert_eq!(parse_flags("as+")?, 1024 | 64 | 2 | 1_052_672);
    assert_eq!(parse_flags("q").unwrap_err().errno(), errno::EINVAL);
    Ok(())
}

#[test]
fn open_flags_behave_as_in_js() -> Result<()> {
    let d = drive(WriteMode::Compatible)?;
    let w = WriteOptions::default();
    let code = |r: hyperdrive::Result<u64>| r.unwrap_err().errno();
    assert_eq!(
        code(d.open_fd("/missing", parse_flags("r")?)),
        errno::ENOENT
    );
    assert_eq!(
        code(d.open_fd("/missing", parse_flags("r+")?)),
        errno::ENOENT
    );
    d.write_file("/f", b"hello world", &w)?;
    assert_eq!(code(d.open_fd("/f", parse_flags("wx")?)), errno::EEXIST);
    d.mkdir("/dir", &w)?;
    assert_eq!(code(d.open_fd("/dir", parse_flags("w")?)), errno::EISDIR);

    // Descriptors are numbered as JS numbers them.
    let r = d.open_fd("/f", parse_flags("r")?)?;
    assert_eq!(r, 20);
    let mut buf = [0u8; 5];
    assert_eq!(d.read_fd(r, &mut buf, None)?, 5);
    assert_eq!(&buf, b"hello");
    assert_eq!(d.read_fd(r, &mut buf, Some(6))?, 5);
    assert_eq!(&buf, b"world");
    assert_eq!(
        d.read_fd(r, &mut buf, None)?,
        5,
        "pread left the position alone"
    );
    assert_eq!(&buf, b" worl");
    assert_eq!(d.write_fd(r, b"x", None).unwrap_err().errno(), errno::EBADF);
    d.close_fd(r)?;
    assert_eq!(
        d.read_fd(r, &mut buf, None).unwrap_err().errno(),
        errno::EBADF
    );

    // 'w' empties the file at open, before any write.
    let fd = d.open_fd("/f", parse_flags("w")?)?;
    assert_eq!(d.stat("/f")?.size, 0);
    assert_eq!(
        d.read_fd(fd, &mut buf, None).unwrap_err().errno(),
        errno::EBADF
    );
    d.write_fd(fd, b"new", None)?;
    d.close_fd(fd)?;
    assert_eq!(d.read_file("/f")?, b"new");

    // 'w' on a missing path creates the empty file at open.
    let fd = d.open_fd("/created", flags::O_WRONLY | flags::O_CREAT)?;
    assert!(d.exists("/created")?);
    d.close_fd(fd)?;
    assert_eq!(d.read_file("/created")?, b"");

    // 'a' starts at the end and refuses writes before it.
    let fd = d.open_fd("/f", parse_flags("a")?)?;
    assert_eq!(
        d.write_fd(fd, b"!", Some(0)).unwrap_err().errno(),
        errno::EBADF
    );
    d.write_fd(fd, b" and more", None)?;
    d.write_fd(fd, b"!", None)?;
    d.close_fd(fd)?;
    assert_eq!(d.read_file("/f")?, b"new and more!");

    let old = d.checkout(2);
    assert_eq!(
        old.open_fd("/f", parse_flags("r+")?).unwrap_err().errno(),
        errno::EACCES
    );
    Ok(())
}

#[test]
fn random_access_through_a_descriptor() -> Result<()> {
    for mode in [WriteMode::Compatible, WriteMode::Extents] {
        let d = drive(mode)?;
        d.write_file("/db", &[b'.'; 100], &WriteOptions::default())?;
        let fd = d.open_fd("/db", parse_flags("r+")?)?;
        d.write_fd(fd, b"HEAD", Some(0))?;
        d.write_fd(fd, b"MID", Some(50))?;
        d.write_fd(fd, b"END", Some(120))?;
        // Visible through the descriptor before the commit, not through the drive.
        let mut buf = vec![0u8; 200];
        let n = d.read_fd(fd, &mut buf, Some(0))?;
        assert_eq!(n, 123);
        assert_eq!(d.fstat(fd)?.size, 123);
        assert_eq!(d.stat("/db")?.size, 100);
        d.fsync(fd)?;
        assert_eq!(d.read_file("/db")?, buf[..123]);
        assert_eq!(&buf[0..4], b"HEAD");
        assert_eq!(&buf[50..53], b"MID");
        assert_eq!(&buf[100..120], [0u8; 20]);
        d.ftruncate(fd, 60)?;
        assert_eq!(d.read_file("/db")?, buf[..60]);
        d.ftruncate(fd, 0)?;
        let stat = d.stat("/db")?;
        assert_eq!((stat.size, stat.blocks), (0, 0));
        d.close_fd(fd)?;
        assert!(!d.has_extents("/db")?, "{mode:?}");
    }
    Ok(())
}

#[test]
fn a_streamed_write_through_a_descriptor_appends_in_blocks() -> Result<()> {
    let d = drive(WriteMode::Compatible)?;
    let fd = d.open_fd("/big", parse_flags("w")?)?;
    let chunk = vec![3u8; 100_000];
    for _ in 0..12 {
        d.write_fd(fd, &chunk, None)?;
    }
    d.close_fd(fd)?;
    let stat = d.stat("/big")?;
    assert_eq!(stat.size, 1_200_000);
    // Spilled each time a block's worth waited: 524288 + 75712 bytes, twice; one run.
    assert_eq!(stat.blocks, 4);
    assert!(!d.has_extents("/big")?);
    assert_eq!(
        d.content_feed().unwrap().lock().byte_len(),
        1_200_000,
        "nothing rewritten"
    );
    assert_eq!(d.read_file("/big")?, vec![3u8; 1_200_000]);
    Ok(())
}
