//! `Feed::clear_and_reclaim` gives disk space back: by truncation at the end of the data file, and by
//! punching a hole before it, while the blocks around the hole stay readable.

use std::os::unix::fs::MetadataExt;

use hypercore::{Feed, FileStorage};

/// Bytes the file system holds for a file (st_blocks is in 512-byte units).
fn allocated(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .expect("the data file exists")
        .blocks()
        * 512
}

#[test]
fn clearing_a_middle_range_punches_a_hole() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut feed = Feed::builder(FileStorage::new(dir.path()))
        .create_if_missing(true)
        .open()?;
    let block = vec![7u8; 1 << 20];
    for _ in 0..4 {
        feed.append(&block)?;
    }
    feed.flush()?;
    let data = dir.path().join("data");
    let before = allocated(&data);
    assert!(before >= 4 << 20, "four MiB are stored: {before}");

    feed.clear_and_reclaim(1, 3)?;
    feed.flush()?;
    let after = allocated(&data);
    assert_eq!(
        std::fs::metadata(&data)?.len(),
        4 << 20,
        "the length is kept"
    );
    assert!(
        before - after >= 2 << 20,
        "two MiB given back: {before} -> {after}"
    );
    assert!(!feed.has(1) && !feed.has(2));
    assert_eq!(feed.get(0)?, block);
    assert_eq!(feed.get(3)?, block);

    // A cleared range at the end truncates.
    feed.clear_and_reclaim(3, 4)?;
    assert_eq!(std::fs::metadata(&data)?.len(), 3 << 20);
    Ok(())
}
