//! Reading a block into a caller's buffer (how a served block goes straight into its frame).

use anyhow::Result;
use hypercore::{Error, Feed, KeyPair, MemoryStorage, ProofRequest};

#[test]
fn get_into_reads_what_get_returns_and_checks_the_size() -> Result<()> {
    let mut feed = Feed::open(MemoryStorage::new())?;
    feed.append_batch(&[b"first".as_slice(), b"", b"the third block"])?;
    for index in 0..3 {
        let block = feed.get(index)?;
        assert_eq!(feed.block_size(index)?, block.len());
        let mut buf = vec![0xaa; block.len()];
        feed.get_into(index, &mut buf)?;
        assert_eq!(buf, block);
    }
    let mut short = [0u8; 4];
    assert!(matches!(
        feed.get_into(0, &mut short),
        Err(Error::BlockSize {
            index: 0,
            size: 5,
            buf: 4
        })
    ));
    assert!(matches!(
        feed.get_into(3, &mut short),
        Err(Error::OutOfRange { index: 3, .. })
    ));
    Ok(())
}

#[test]
fn a_block_not_stored_has_no_size() -> Result<()> {
    let mut writer = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[7; 32]))
        .open()?;
    writer.append_batch(&[b"a".as_slice(), b"bb"])?;
    let mut reader = Feed::builder(MemoryStorage::new())
        .key(*writer.key())
        .open()?;
    let proof = writer.proof(1, ProofRequest::default())?;
    reader.put(1, Some(b"bb"), &proof)?;
    assert_eq!(reader.block_size(1)?, 2);
    assert!(matches!(reader.block_size(0), Err(Error::NotStored(0))));
    let mut buf = [0u8; 1];
    assert!(matches!(
        reader.get_into(0, &mut buf),
        Err(Error::NotStored(0))
    ));
    Ok(())
}
