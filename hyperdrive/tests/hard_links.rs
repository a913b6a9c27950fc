//! Hard links: names that share one Stat, kept equal by every change made through the drive,
//! counted on the Stat, and still ordinary files to a reader that knows nothing of links.

use std::sync::Arc;

use anyhow::{Context, Result};
use corestore::Corestore;
use hyperdrive::{
    Clock, Drive, DriveOptions, LINK_KEY, MountOptions, ReaddirOptions, SetAttr, Stat, WriteMode,
    WriteOptions, errno, flags,
};

fn drive_with(store: &Arc<Corestore>, mode: WriteMode) -> Result<Drive> {
    Ok(Drive::create(
        Arc::clone(store),
        DriveOptions::default()
            .write_mode(mode)
            .clock(Clock::fixed(1_700_000_000_000)),
    )?)
}

fn drive() -> Result<Drive> {
    drive_with(&Arc::new(Corestore::in_memory()?), WriteMode::Compatible)
}

/// What a reader that ignores the tag reads for a Stat: the whole blocks of its run.
fn plain_read(d: &Drive, stat: &Stat) -> Result<Vec<u8>> {
    let mut feed = d.content_feed().context("no content feed")?.lock();
    let mut out = Vec::new();
    for i in stat.offset..stat.offset + stat.blocks {
        out.extend(feed.get(i)?);
    }
    Ok(out)
}

/// Every name holds the same Stat, reads `content` (through the drive and as a plain run),
/// and counts `names.len()` links.
fn assert_linked(d: &Drive, names: &[&str], content: &[u8]) -> Result<()> {
    let first = d.lstat(names[0])?;
    for name in names {
        let stat = d.lstat(name)?;
        assert_eq!(stat, first, "{name} disagrees with {}", names[0]);
        assert_eq!(stat.nlink(), names.len() as u64, "{name}");
        assert_eq!(d.read_file(name)?, content, "{name}");
        assert_eq!(plain_read(d, &stat)?, content, "{name} as a plain file");
    }
    Ok(())
}

#[test]
fn every_change_through_one_name_shows_under_every_name() -> Result<()> {
    let d = drive()?;
    d.write_file("/a", b"hello", &WriteOptions::default().mode(0o600))?;
    assert_eq!(d.lstat("/a")?.nlink(), 1);
    assert_eq!(d.lstat("/a")?.link_id(), None);
    let stat = d.link("/a", "/dir/b")?;
    assert_eq!(stat.nlink(), 2);
    assert!(stat.link_id().is_some());
    assert_linked(&d, &["/a", "/dir/b"], b"hello")?;
    d.link("/dir/b", "/c")?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"hello")?;

    d.append("/dir/b", b" world")?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"hello world")?;
    d.write_at("/c", 0, b"J")?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"Jello world")?;
    d.set_len("/a", 5)?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"Jello")?;
    d.truncate("/a", 7)?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"Jello\0\0")?;
    d.write_file("/c", b"replaced", &WriteOptions::default())?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"replaced")?;

    let fd = d.open_fd("/a", flags::O_RDWR)?;
    d.write_fd(fd, b"RE", Some(0))?;
    d.close_fd(fd)?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"REplaced")?;

    let stat = d.set_attr("/dir/b", &SetAttr::default().mode(0o751).mtime(42))?;
    assert_eq!(stat.mode & 0o7777, 0o751);
    assert_eq!(d.lstat("/a")?.mode & 0o7777, 0o751);
    assert_eq!(d.lstat("/c")?.mtime, 42);
    d.set_metadata("/a", "user.k", b"v")?;
    assert_eq!(d.lstat("/c")?.metadata.get("user.k"), Some(Some(&b"v"[..])));
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"REplaced")?;

    let mut stream = d.open_writer("/dir/b", WriteOptions::default())?;
    stream.write(b"streamed")?;
    stream.finish()?;
    assert_linked(&d, &["/a", "/dir/b", "/c"], b"streamed")?;
    Ok(())
}

#[test]
fn unlink_counts_down_and_the_last_name_is_an_ordinary_file_again() -> Result<()> {
    let d = drive()?;
    d.write_file("/a", b"x", &WriteOptions::default())?;
    d.link("/a", "/b")?;
    d.link("/a", "/c")?;
    let records = |d: &Drive| d.hidden_list("ddrive-links").map(|l| l.len());
    assert_eq!(records(&d)?, 1);
    d.unlink("/a")?;
    assert!(!d.exists("/a")?);
    assert_linked(&d, &["/b", "/c"], b"x")?;
    d.unlink("/c")?;
    let last = d.lstat("/b")?;
    assert_eq!(last.nlink(), 1);
    assert_eq!(last.metadata.get(LINK_KEY), None, "the tag is gone");
    assert_eq!(records(&d)?, 0, "the record is gone");
    assert_eq!(d.read_file("/b")?, b"x");
    // A new link starts a new record.
    d.link("/b", "/d")?;
    assert_linked(&d, &["/b", "/d"], b"x")?;
    assert_eq!(records(&d)?, 1);
    Ok(())
}

#[test]
fn renames_keep_the_names_together() -> Result<()> {
    let d = drive()?;
    d.write_file("/dir/a", b"one", &WriteOptions::default())?;
    d.link("/dir/a", "/b")?;
    d.rename("/b", "/moved")?;
    d.rename("/dir", "/dir2")?;
    d.append("/moved", b"+")?;
    assert_linked(&d, &["/dir2/a", "/moved"], b"one+")?;
    assert!(!d.exists("/b")?);

    // Two names of one file: rename does nothing.
    let before = d.version();
    d.rename("/moved", "/dir2/a")?;
    assert_eq!(d.version(), before);
    assert_linked(&d, &["/dir2/a", "/moved"], b"one+")?;

    // Renaming another file over a linked name takes that name out of the link.
    d.write_file("/other", b"two", &WriteOptions::default())?;
    d.rename("/other", "/moved")?;
    assert_eq!(d.read_file("/moved")?, b"two");
    assert_eq!(d.lstat("/moved")?.nlink(), 1);
    let left = d.lstat("/dir2/a")?;
    assert_eq!(left.nlink(), 1);
    assert_eq!(left.metadata.get(LINK_KEY), None);
    d.append("/dir2/a", b"!")?;
    assert_eq!(d.read_file("/moved")?, b"two", "no longer linked");
    Ok(())
}

#[test]
fn every_signed_version_shows_the_names_agreeing() -> Result<()> {
    let d = drive()?;
    d.write_file("/a", b"v1", &WriteOptions::default())?;
    d.link("/a", "/b")?;
    d.link("/a", "/c")?;
    let from = d.version();
    d.write_file("/b", b"v2", &WriteOptions::default())?;
    d.set_attr("/c", &SetAttr::default().mode(0o600))?;
    d.unlink("/a")?;
    for v in from..=d.version() {
        let signed = d.metadata_feed().lock().signature(v - 1)?.0 == v;
        if !signed {
            continue;
        }
        let at = d.checkout(v);
        let stats: Vec<Stat> = ["/a", "/b", "/c"]
            .iter()
            .filter_map(|p| at.lstat(p).ok())
            .collect();
        assert!(stats.len() >= 2, "version {v}");
        assert!(
            stats.iter().all(|s| *s == stats[0]),
            "version {v}: {stats:?}"
        );
        assert_eq!(stats[0].nlink(), stats.len() as u64, "version {v}");
    }
    Ok(())
}

#[test]
fn refusals() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = drive_with(&store, WriteMode::Compatible)?;
    d.write_file("/a", b"x", &WriteOptions::default())?;
    d.write_file("/b", b"y", &WriteOptions::default())?;
    d.mkdir("/dir", &WriteOptions::default())?;
    let errno_of = |r: hyperdrive::Result<Stat>| r.map(|_| ()).expect_err("refused").errno();
    assert_eq!(errno_of(d.link("/nope", "/x")), errno::ENOENT);
    assert_eq!(errno_of(d.link("/a", "/b")), errno::EEXIST);
    assert_eq!(errno_of(d.link("/a", "/dir")), errno::EEXIST);
    assert_eq!(errno_of(d.link("/dir", "/x")), errno::EPERM);
    assert_eq!(errno_of(d.checkout(2).link("/a", "/x")), errno::EACCES);
    assert_eq!(
        d.set_metadata("/a", LINK_KEY, b"forged")
            .expect_err("reserved")
            .errno(),
        errno::EINVAL
    );

    let other = Drive::create(Arc::new(store.namespace("other")?), DriveOptions::default())?;
    other.write_file("/inner", b"z", &WriteOptions::default())?;
    d.mount("/m", other.key(), &MountOptions::default())?;
    assert_eq!(errno_of(d.link("/a", "/m/x")), errno::EXDEV);
    assert_eq!(errno_of(d.link("/m/inner", "/x")), errno::EXDEV);
    assert_eq!(errno_of(d.link("/m", "/x")), errno::EPERM);
    // Inside the mounted drive both names are in one drive: allowed, and seen from both.
    d.link("/m/inner", "/m/twin")?;
    assert_linked(&other, &["/inner", "/twin"], b"z")?;
    d.append("/m/twin", b"z")?;
    assert_linked(&other, &["/inner", "/twin"], b"zz")?;
    assert_eq!(d.read_file("/m/inner")?, b"zz");
    assert_eq!(
        d.readdir("/m", &ReaddirOptions::default())?.len(),
        2,
        "both names listed"
    );
    Ok(())
}

#[test]
fn extents_mode_links_share_the_extent_record() -> Result<()> {
    let d = drive_with(&Arc::new(Corestore::in_memory()?), WriteMode::Extents)?;
    d.write_file("/a", &vec![7u8; 3000], &WriteOptions::default())?;
    d.link("/a", "/b")?;
    d.write_at("/b", 100, b"middle")?;
    assert!(d.has_extents("/a")?);
    let mut want = vec![7u8; 3000];
    want[100..106].copy_from_slice(b"middle");
    assert_eq!(d.read_file("/a")?, want);
    assert_eq!(d.read_file("/b")?, want);
    assert_eq!(d.lstat("/a")?, d.lstat("/b")?);
    Ok(())
}
