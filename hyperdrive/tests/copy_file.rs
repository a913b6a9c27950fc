//! copy_file: a whole-file copy that shares the source's blocks (no content appended), stays
//! independent of the source afterwards, and stays inside one drive.

use std::sync::Arc;

use anyhow::{Context, Result};
use corestore::Corestore;
use hyperdrive::{
    AsyncDrive, Drive, DriveOptions, MountOptions, SetAttr, WriteMode, WriteOptions, errno,
};

fn drive(store: &Arc<Corestore>, mode: WriteMode) -> Result<Drive> {
    Ok(Drive::create(
        Arc::clone(store),
        DriveOptions::default().write_mode(mode),
    )?)
}

fn content_len(d: &Drive) -> Result<u64> {
    Ok(d.content_feed().context("content feed")?.lock().byte_len())
}

#[tokio::test]
async fn a_copy_shares_blocks_then_goes_its_own_way() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = AsyncDrive::new(drive(&store, WriteMode::Compatible)?);
    let data: Vec<u8> = (0..1_200_000u32).map(|i| (i % 251) as u8).collect();
    let src = d
        .write_file("/src", data.clone(), WriteOptions::default().mode(0o640))
        .await?;
    let bytes = content_len(d.sync())?;
    let copy = d.copy_file("/src", "/dir/copy").await?;
    assert_eq!(content_len(d.sync())?, bytes, "no content written");
    assert_eq!(
        (copy.offset, copy.blocks, copy.byte_offset, copy.size),
        (src.offset, src.blocks, src.byte_offset, src.size)
    );
    assert_eq!(copy.mode, src.mode);
    assert_eq!(d.read_file("/dir/copy").await?, data);
    assert_eq!(copy.nlink(), 1, "a copy is not a link");

    // Writing to the copy leaves the source's bytes alone, and the other way round.
    d.write_at("/dir/copy", 10, b"copy".to_vec()).await?;
    d.append("/src", b"tail".to_vec()).await?;
    let mut want_copy = data.clone();
    want_copy[10..14].copy_from_slice(b"copy");
    let mut want_src = data;
    want_src.extend_from_slice(b"tail");
    assert_eq!(d.read_file("/dir/copy").await?, want_copy);
    assert_eq!(d.read_file("/src").await?, want_src);

    // Onto an existing file: its own attributes stay, the content is the source's.
    d.write_file("/dst", b"old".to_vec(), WriteOptions::default())
        .await?;
    d.set_attr("/dst", SetAttr::default().mode(0o600)).await?;
    d.set_metadata("/dst", "user.tag", b"kept".to_vec()).await?;
    let onto = d.copy_file("/src", "/dst").await?;
    assert_eq!(onto.mode & 0o777, 0o600);
    assert_eq!(onto.metadata.get("user.tag"), Some(Some(&b"kept"[..])));
    assert_eq!(d.read_file("/dst").await?, want_src);
    Ok(())
}

#[test]
fn a_copy_of_an_extents_file_reads_the_same() -> Result<()> {
    let d = drive(&Arc::new(Corestore::in_memory()?), WriteMode::Extents)?;
    d.write_file("/a", &vec![1u8; 5000], &WriteOptions::default())?;
    d.write_at("/a", 2000, b"hole-free edit")?;
    assert!(d.has_extents("/a")?);
    let before = content_len(&d)?;
    d.copy_file("/a", "/b")?;
    assert_eq!(content_len(&d)?, before);
    assert_eq!(d.read_file("/b")?, d.read_file("/a")?);
    d.set_len("/b", 100)?;
    assert_eq!(d.read_file("/a")?.len(), 5000);
    Ok(())
}

#[test]
fn a_copy_onto_a_hard_link_updates_every_name() -> Result<()> {
    let d = drive(&Arc::new(Corestore::in_memory()?), WriteMode::Compatible)?;
    d.write_file("/a", b"source", &WriteOptions::default())?;
    d.write_file("/x", b"old", &WriteOptions::default())?;
    d.link("/x", "/y")?;
    d.copy_file("/a", "/x")?;
    assert_eq!(d.read_file("/y")?, b"source");
    assert_eq!(d.lstat("/y")?.nlink(), 2);
    Ok(())
}

#[test]
fn refusals() -> Result<()> {
    let store = Arc::new(Corestore::in_memory()?);
    let d = drive(&store, WriteMode::Compatible)?;
    d.write_file("/a", b"x", &WriteOptions::default())?;
    d.mkdir("/dir", &WriteOptions::default())?;
    let other = Drive::create(Arc::new(store.namespace("other")?), DriveOptions::default())?;
    other.write_file("/inner", b"z", &WriteOptions::default())?;
    d.mount("/m", other.key(), &MountOptions::default())?;
    let err = |r: hyperdrive::Result<hyperdrive::Stat>| r.expect_err("refused").errno();
    assert_eq!(err(d.copy_file("/nope", "/b")), errno::ENOENT);
    assert_eq!(err(d.copy_file("/dir", "/b")), errno::EISDIR);
    assert_eq!(err(d.copy_file("/a", "/dir")), errno::EISDIR);
    assert_eq!(err(d.copy_file("/a", "/m/b")), errno::EXDEV);
    assert_eq!(err(d.copy_file("/m/inner", "/b")), errno::EXDEV);
    assert_eq!(err(d.checkout(2).copy_file("/a", "/b")), errno::EACCES);
    // Inside the mounted drive: shares that drive's blocks.
    d.copy_file("/m/inner", "/m/copy")?;
    assert_eq!(other.read_file("/copy")?, b"z");
    Ok(())
}
