//! A sparse replica's seek names the block to fetch next: with equal blocks, the very block
//! holding the byte, whose proof then lets the seek finish without another fetch.

use anyhow::{Result, bail, ensure};
use hypercore::{Error, Feed, KeyPair, MemoryStorage, ProofRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Mem = Feed<MemoryStorage>;

/// Copies block `index` from `writer` into `reader` by proof, as replication does.
fn fetch(writer: &mut Mem, reader: &mut Mem, index: u64) -> Result<()> {
    let request = ProofRequest {
        digest: reader.digest(index),
        hash: false,
    };
    let proof = writer.proof(index, request)?;
    let data = writer.get(index)?;
    reader.put(index, Some(&data), &proof)?;
    Ok(())
}

#[test]
fn seek_hint_is_the_block_holding_the_byte_when_blocks_are_equal() -> Result<()> {
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let check = |ok: bool, what: String| -> Result<()> {
        ensure!(ok, "seed {seed}: {what}");
        Ok(())
    };
    let mut writer = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[7; 32]))
        .open()?;
    let (blocks, size) = (rng.gen_range(2..300u64), rng.gen_range(1..64u64));
    let batch: Vec<Vec<u8>> = (0..blocks).map(|i| vec![i as u8; size as usize]).collect();
    writer.append_batch(&batch)?;
    let mut reader = Feed::builder(MemoryStorage::new())
        .key(*writer.key())
        .open()?;
    // Any block brings the signed length and roots.
    fetch(&mut writer, &mut reader, rng.gen_range(0..blocks))?;
    for _ in 0..20 {
        let byte = rng.gen_range(0..blocks * size);
        let want = (byte / size, byte % size);
        match reader.seek(byte) {
            Ok(found) => check(found == want, format!("seek({byte}) = {found:?}"))?,
            Err(Error::NotStored(hint)) => {
                check(
                    hint == want.0,
                    format!("seek({byte}) hint {hint}, not {}", want.0),
                )?;
                fetch(&mut writer, &mut reader, hint)?;
                let found = reader.seek(byte)?;
                check(
                    found == want,
                    format!("seek({byte}) after fetch = {found:?}"),
                )?;
            }
            Err(e) => bail!("seed {seed}: seek({byte}): {e}"),
        }
    }
    Ok(())
}

#[test]
fn seek_hint_lands_inside_the_subtree_when_blocks_differ() -> Result<()> {
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut writer = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[8; 32]))
        .open()?;
    let blocks = rng.gen_range(2..200u64);
    let batch: Vec<Vec<u8>> = (0..blocks)
        .map(|_| vec![1u8; rng.gen_range(1..100usize)])
        .collect();
    writer.append_batch(&batch)?;
    let mut reader = Feed::builder(MemoryStorage::new())
        .key(*writer.key())
        .open()?;
    fetch(&mut writer, &mut reader, 0)?;
    let byte = rng.gen_range(0..writer.byte_len());
    let want = writer.seek(byte)?;
    // Each fetch of the hinted block takes the seek at least one level further down.
    for _ in 0..=64 {
        match reader.seek(byte) {
            Ok(found) => {
                ensure!(found == want, "seed {seed}: seek({byte}) = {found:?}");
                return Ok(());
            }
            Err(Error::NotStored(hint)) => {
                ensure!(hint < blocks, "seed {seed}: hint {hint} past the feed");
                fetch(&mut writer, &mut reader, hint)?;
            }
            Err(e) => bail!("seed {seed}: seek({byte}): {e}"),
        }
    }
    bail!("seed {seed}: seek({byte}) never finished")
}
