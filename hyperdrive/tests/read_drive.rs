//! [`ReadDrive`]: a drive and a checkout read through one trait object or one generic
//! function, and agree with the drive's own methods.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use anyhow::Result;
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, ReadDrive, ReaddirOptions, WriteOptions, errno};

/// Everything a filesystem layer asks of a tree, as one summary.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    version: u64,
    names: Vec<String>,
    sizes: Vec<(String, u64)>,
    link: String,
    link_is_symlink: bool,
    link_target_size: u64,
    middle: Vec<u8>,
    streamed: Vec<u8>,
}

fn summarize(tree: &dyn ReadDrive) -> Result<Summary> {
    let entries = tree.readdir_with_stats("/", &ReaddirOptions::default().recursive(true))?;
    let mut file = tree.open_read("/dir/file")?;
    file.seek(SeekFrom::Start(2))?;
    let mut streamed = Vec::new();
    file.read_to_end(&mut streamed)?;
    Ok(Summary {
        version: tree.version(),
        names: tree.readdir("/", &ReaddirOptions::default())?,
        sizes: entries
            .iter()
            .map(|e| (e.name.clone(), e.stat.size))
            .collect(),
        link: tree.readlink("/link")?,
        link_is_symlink: tree.lstat("/link")?.is_symlink(),
        link_target_size: tree.stat("/link")?.size,
        middle: tree.read_range("/dir/file", 1, 4)?,
        streamed,
    })
}

/// The same through generics (static dispatch).
fn file_of<T: ReadDrive + ?Sized>(tree: &T) -> Result<Vec<u8>> {
    Ok(tree.read_file("/dir/file")?)
}

#[test]
fn a_drive_and_its_checkout_read_alike_through_the_trait() -> Result<()> {
    let drive = Drive::create(Arc::new(Corestore::in_memory()?), DriveOptions::default())?;
    let w = WriteOptions::default();
    drive.write_file("/dir/file", b"hello world", &w)?;
    drive.symlink("/dir/file", "/link")?;
    let v1 = drive.version();
    drive.write_file("/dir/file", b"HELLO", &w)?;
    drive.write_file("/new", b"n", &w)?;
    drive.mkdir("/made", &w)?;

    let checkout = drive.checkout(v1);
    let trees: Vec<Arc<dyn ReadDrive>> = vec![Arc::new(drive.clone()), Arc::new(checkout.clone())];
    let now = summarize(trees[0].as_ref())?;
    let then = summarize(trees[1].as_ref())?;

    assert_eq!(now.version, drive.version());
    assert_eq!(then.version, v1);
    assert_eq!(now.names, drive.readdir("/", &ReaddirOptions::default())?);
    assert_eq!(
        then.names,
        checkout.readdir("/", &ReaddirOptions::default())?
    );
    assert!(now.names.contains(&"new".to_owned()));
    assert!(!then.names.contains(&"new".to_owned()));
    assert_eq!(now.link, "/dir/file");
    assert!(now.link_is_symlink && then.link_is_symlink);
    assert_eq!((now.link_target_size, then.link_target_size), (5, 11));
    assert_eq!(now.middle, b"ELL");
    assert_eq!(then.middle, b"ell");
    assert_eq!(now.streamed, b"LLO");
    assert_eq!(then.streamed, b"llo world");
    assert!(then.sizes.contains(&("dir/file".to_owned(), 11)));

    assert_eq!(file_of(&drive)?, b"HELLO");
    assert_eq!(file_of(&checkout)?, b"hello world");
    assert_eq!(file_of(trees[1].as_ref())?, b"hello world");

    // Ranges clamp to the file; errors keep their errno through the trait.
    assert_eq!(trees[0].read_range("/dir/file", 3, 100)?, b"LO");
    assert!(trees[0].read_range("/dir/file", 9, 100)?.is_empty());
    assert_eq!(
        trees[1].stat("/new").map_err(|e| e.errno()),
        Err(errno::ENOENT)
    );
    assert_eq!(
        trees[0].open_read("/made").err().map(|e| e.errno()),
        Some(errno::EISDIR)
    );
    assert_eq!(
        trees[0].readlink("/new").map_err(|e| e.errno()),
        Err(errno::EINVAL)
    );
    Ok(())
}

#[test]
fn watch_through_the_trait_hears_the_drive_and_not_the_checkout() -> Result<()> {
    let drive = Drive::create(Arc::new(Corestore::in_memory()?), DriveOptions::default())?;
    let live: &dyn ReadDrive = &drive;
    let frozen_drive = drive.checkout(drive.version());
    let frozen: &dyn ReadDrive = &frozen_drive;
    let mut on_live = live.watch("/")?;
    let mut on_frozen = frozen.watch("/")?;
    drive.write_file("/f", b"x", &WriteOptions::default())?;
    assert_eq!(
        on_live.try_changed().map(|e| e.version),
        Some(drive.version())
    );
    assert_eq!(on_frozen.try_changed(), None);
    Ok(())
}
