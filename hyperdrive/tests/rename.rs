//! rename: files, directories (explicit and implicit, with symlinks and mounts), errors, and
//! atomicity checked at every version the metadata feed passes through.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{Clock, Drive, DriveOptions, MountOptions, ReaddirOptions, WriteOptions, errno};

type Tree = BTreeMap<String, Vec<u8>>;

/// Every path (recursive readdir, mounts not descended) with its content (files) or a marker.
fn tree(drive: &Drive) -> Result<Tree> {
    let mut out = Tree::new();
    let options = ReaddirOptions::default().recursive(true).no_mounts(true);
    for entry in drive.readdir_with_stats("/", &options)? {
        let path = format!("/{}", entry.name);
        let value = if entry.stat.mount.is_some() {
            b"<mount>".to_vec()
        } else if entry.stat.is_symlink() {
            format!("-> {}", entry.stat.linkname.unwrap_or_default()).into_bytes()
        } else if entry.stat.is_directory() {
            b"<dir>".to_vec()
        } else {
            drive.read_file(&path)?
        };
        out.insert(path, value);
    }
    Ok(out)
}

fn signed(drive: &Drive, version: u64) -> Result<bool> {
    let mut feed = drive.metadata_feed().lock();
    Ok(feed.signature(version - 1)?.0 == version)
}

/// Renames, then checks every version in between: each signed one is the old or the new
/// tree; returns how many unsigned (mid-batch) versions there were.
fn rename_checked(drive: &Drive, from: &str, to: &str) -> Result<(Tree, Tree, u64)> {
    let before = drive.version();
    let old = tree(drive)?;
    drive.rename(from, to)?;
    let after = drive.version();
    let new = tree(drive)?;
    assert_ne!(old, new);
    let mut unsigned = 0;
    for v in before..=after {
        let seen = tree(&drive.checkout(v))?;
        if signed(drive, v)? {
            assert!(
                seen == old || seen == new,
                "version {v} (signed) is neither tree: {seen:?}"
            );
            assert_eq!(seen == new, v == after, "version {v}");
        } else {
            unsigned += 1;
        }
    }
    Ok((old, new, unsigned))
}

fn drive() -> Result<Drive> {
    let store = Arc::new(Corestore::in_memory()?);
    Ok(Drive::create(
        store,
        DriveOptions::default().clock(Clock::fixed(1_600_000_000_000)),
    )?)
}

#[test]
fn renames_a_file_and_replaces_a_file() -> Result<()> {
    let d = drive()?;
    let w = WriteOptions::default();
    d.write_file("/a.txt", b"hello", &w)?;
    d.write_file("/b.txt", b"old b", &w)?;
    d.set_metadata("/a.txt", "k", b"v")?;
    let stat = d.stat("/a.txt")?;
    let (_, new, _) = rename_checked(&d, "/a.txt", "/dir/c.txt")?;
    assert_eq!(new["/dir/c.txt"], b"hello");
    assert!(!d.exists("/a.txt")?);
    assert_eq!(d.stat("/dir/c.txt")?, stat, "the Stat moves unchanged");
    rename_checked(&d, "/dir/c.txt", "/b.txt")?;
    assert_eq!(d.read_file("/b.txt")?, b"hello");
    assert!(!d.exists("/dir")?);
    Ok(())
}

#[test]
fn renames_a_directory_with_links_and_mounts_atomically() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = Drive::create(Arc::new(store.namespace("main")?), DriveOptions::default())?;
    let other = Drive::create(Arc::new(store.namespace("other")?), DriveOptions::default())?;
    other.write_file("/inside", b"mounted", &WriteOptions::default())?;
    let w = WriteOptions::default();
    d.mkdir("/src", &w)?;
    for i in 0..12 {
        d.write_file(&format!("/src/sub{}/f{i}", i % 3), &[i as u8; 10], &w)?;
    }
    d.symlink("sub0/f0", "/src/rel-link")?;
    d.mount("/src/mnt", other.key(), &MountOptions::default())?;
    d.write_file("/srcx", b"a sibling with a common prefix", &w)?;
    let (old, new, unsigned) = rename_checked(&d, "/src", "/dst/moved")?;
    assert!(unsigned > 0, "a directory rename is one multi-block batch");
    assert_eq!(old.len(), new.len());
    for (path, value) in &old {
        let moved = path
            .replacen("/src/", "/dst/moved/", 1)
            .replacen("/src", "/dst/moved", 1);
        let moved = if path == "/srcx" { path.clone() } else { moved };
        assert_eq!(new.get(&moved), Some(value), "{path} -> {moved}");
    }
    assert_eq!(d.read_file("/dst/moved/rel-link")?, [0u8; 10]);
    assert_eq!(d.read_file("/dst/moved/mnt/inside")?, b"mounted");
    let mounts: Vec<String> = d.mounts(false)?.into_iter().map(|m| m.path).collect();
    assert_eq!(mounts, ["/dst/moved/mnt"]);
    assert!(!d.exists("/src")?);
    d.unmount("/dst/moved/mnt")?;
    assert!(d.mounts(false)?.is_empty());
    Ok(())
}

#[test]
fn renames_an_implicit_directory() -> Result<()> {
    let d = drive()?;
    let w = WriteOptions::default();
    d.write_file("/imp/a", b"1", &w)?;
    d.write_file("/imp/deep/b", b"2", &w)?;
    rename_checked(&d, "/imp", "/other")?;
    assert_eq!(d.read_file("/other/deep/b")?, b"2");
    let mut names = d.readdir("/", &ReaddirOptions::default())?;
    names.sort();
    assert_eq!(names, ["other"]);
    Ok(())
}

#[test]
fn rename_errors_carry_posix_numbers() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = Drive::create(Arc::new(store.namespace("main")?), DriveOptions::default())?;
    let other = Drive::create(Arc::new(store.namespace("other")?), DriveOptions::default())?;
    let w = WriteOptions::default();
    d.write_file("/f", b"f", &w)?;
    d.write_file("/dir/x", b"x", &w)?;
    d.mkdir("/empty", &w)?;
    d.mount("/mnt", other.key(), &MountOptions::default())?;
    let code = |r: hyperdrive::Result<()>| r.unwrap_err().errno();
    assert_eq!(code(d.rename("/missing", "/y")), errno::ENOENT);
    assert_eq!(code(d.rename("/dir", "/f")), errno::ENOTDIR);
    assert_eq!(code(d.rename("/f", "/dir")), errno::EISDIR);
    assert_eq!(code(d.rename("/empty", "/dir")), errno::ENOTEMPTY);
    assert_eq!(code(d.rename("/dir", "/dir/sub")), errno::EINVAL);
    assert_eq!(code(d.rename("/f", "/mnt/f")), errno::EXDEV);
    assert_eq!(code(d.checkout(2).rename("/f", "/g")), errno::EACCES);
    // An empty directory is replaced by a directory.
    d.rename("/dir", "/empty")?;
    assert_eq!(d.read_file("/empty/x")?, b"x");
    // Inside one mount the rename happens in the mounted drive.
    d.write_file("/mnt/a", b"in other", &w)?;
    d.rename("/mnt/a", "/mnt/b")?;
    assert_eq!(other.read_file("/b")?, b"in other");
    assert!(!other.exists("/a")?);
    Ok(())
}
