//! Bad input from disk or from the caller: typed errors, never a panic, and never a wrong block.

mod common;

use anyhow::{Context, Result, bail, ensure};
use common::*;
use hypercore::{
    Error, Feed, FileStorage, KeyPair, MAX_BLOCK_SIZE, MemoryStorage, ProofRequest, Signature,
    Store,
};
use rand::Rng;
use rand::rngs::StdRng;

/// A writer of 40 blocks (sizes 0..=60, one empty) in several batches, and its blocks.
fn writer_feed(rng: &mut StdRng) -> Result<(Feed<MemoryStorage>, Vec<Vec<u8>>)> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[3; 32]))
        .open()?;
    let mut blocks = Vec::new();
    for size in [1usize, 4, 2, 9, 7, 13, 4] {
        let batch: Vec<Vec<u8>> = (0..size)
            .map(|i| {
                let len = if blocks.len() + i == 5 {
                    0
                } else {
                    rng.gen_range(1..=60)
                };
                random_bytes(rng, len)
            })
            .collect();
        feed.append_batch(&batch)?;
        blocks.extend(batch);
    }
    Ok((feed, blocks))
}

/// A read-only replica of `writer` holding every other block.
fn replica_of(writer: &mut Feed<MemoryStorage>, blocks: &[Vec<u8>]) -> Result<MemoryStorage> {
    let mut replica = Feed::builder(MemoryStorage::new())
        .key(*writer.key())
        .open()?;
    for i in (0..blocks.len() as u64).step_by(2) {
        let request = ProofRequest {
            digest: replica.digest(i),
            hash: false,
        };
        let proof = writer.proof(i, request)?;
        replica.put(i, Some(&blocks[i as usize]), &proof)?;
    }
    Ok(replica.into_storage())
}

/// Opens (writable if `secret`), audits, and checks that whatever the feed still claims to hold
/// is exactly what was written. Returns the audit's invalid count, or `None` when opening gave a
/// typed error.
fn open_and_check(
    disk: MemoryStorage,
    key: hypercore::PublicKey,
    blocks: &[Vec<u8>],
    what: &str,
) -> Result<Option<u64>> {
    let mut feed = match Feed::builder(disk).key(key).create_if_missing(false).open() {
        Ok(feed) => feed,
        Err(Error::Io { .. }) => bail!("{what}: memory storage gave an I/O error"),
        Err(_) => return Ok(None),
    };
    ensure!(feed.len() <= blocks.len() as u64, "{what}: length grew");
    let report = feed.audit().with_context(|| format!("{what}: audit"))?;
    for i in 0..feed.len() {
        if feed.has(i) {
            let got = feed.get(i).with_context(|| format!("{what}: get({i})"))?;
            ensure!(
                got == blocks[i as usize],
                "{what}: block {i} audited valid but wrong"
            );
        }
    }
    // Other reads give answers or typed errors.
    let _ = feed.head();
    let _ = feed.roots();
    let _ = feed.seek(feed.byte_len() / 2);
    if !feed.is_empty() {
        if let Ok((signed, sig)) = feed.signature(0) {
            let _ = feed.verify(signed - 1, &sig);
        }
        let _ = feed.proof(0, ProofRequest::default());
    }
    Ok(Some(report.invalid))
}

#[test]
fn random_flips_in_every_file_are_caught() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let (mut writer, blocks) = writer_feed(&mut rng)?;
        let key = *writer.key();
        let replica = replica_of(&mut writer, &blocks)?;
        let writer = writer.into_storage();
        let mut opened = 0;
        for round in 0..200 {
            let (base, kind) = if round % 2 == 0 {
                (&writer, "writer")
            } else {
                (&replica, "replica")
            };
            let store =
                [Store::Tree, Store::Data, Store::Signatures, Store::Bitfield][rng.gen_range(0..4)];
            let mut disk = base.clone();
            let mut bytes = disk.file(store).context("file")?.to_vec();
            let flips = rng.gen_range(1..=3);
            let mut at = Vec::new();
            for _ in 0..flips {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] ^= 1 << rng.gen_range(0..8);
                at.push(i);
            }
            disk.set_file(store, bytes);
            let what = format!("{kind} {} flipped at {at:?}", store.file_name());
            if open_and_check(disk, key, &blocks, &what)?.is_some() {
                opened += 1;
            }
        }
        ensure!(opened > 60, "most flips still open ({opened})");
        Ok(())
    })
}

#[test]
fn flipped_data_bytes_show_up_in_audit() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let (mut writer, blocks) = writer_feed(&mut rng)?;
        let key = *writer.key();
        let replica = replica_of(&mut writer, &blocks)?;
        let writer = writer.into_storage();
        let starts: Vec<u64> = blocks
            .iter()
            .scan(0u64, |at, b| {
                let start = *at;
                *at += b.len() as u64;
                Some(start)
            })
            .collect();
        for (base, kind, stride) in [(&writer, "writer", 1), (&replica, "replica", 2)] {
            for _ in 0..20 {
                // A byte inside a non-empty block the feed holds.
                let block = loop {
                    let b = rng.gen_range(0..blocks.len() / stride) * stride;
                    if !blocks[b].is_empty() {
                        break b;
                    }
                };
                let offset = starts[block] + rng.gen_range(0..blocks[block].len()) as u64;
                let mut disk = base.clone();
                let mut data = disk.file(Store::Data).context("data")?.to_vec();
                data[offset as usize] ^= 0x20;
                disk.set_file(Store::Data, data);
                let what = format!("{kind}: data byte {offset} of block {block}");
                let mut feed = Feed::builder(disk).key(key).open()?;
                let report = feed.audit()?;
                ensure!(report.invalid == 1, "{what}: audit {report:?}");
                ensure!(!feed.has(block as u64), "{what}: still marked stored");
                ensure!(
                    matches!(feed.get(block as u64), Err(Error::NotStored(b)) if b == block as u64),
                    "{what}: get after audit"
                );
                // The audit's verdict is written down: a reopen agrees.
                let mut again = Feed::builder(feed.into_storage()).key(key).open()?;
                ensure!(!again.has(block as u64));
                ensure!(again.audit()?.invalid == 0);
            }
        }
        Ok(())
    })
}

#[test]
fn huge_node_sizes_on_disk_are_not_a_panic() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let (mut writer, blocks) = writer_feed(&mut rng)?;
        let key = *writer.key();
        let replica = replica_of(&mut writer, &blocks)?;
        let roots: Vec<u64> = writer.roots()?.iter().map(|r| r.index).collect();
        let writer = writer.into_storage();
        // Sizes that overflow when summed: every root, a leaf, and a parent inside the tree.
        let targets: Vec<Vec<u64>> = vec![roots.clone(), vec![0], vec![1, 3], vec![roots[0], 2]];
        for (base, kind) in [(&writer, "writer"), (&replica, "replica")] {
            for nodes in &targets {
                for size in [u64::MAX, u64::MAX / 2 + 1, MAX_BLOCK_SIZE + 1] {
                    let mut disk = base.clone();
                    let mut tree = disk.file(Store::Tree).context("tree")?.to_vec();
                    for &n in nodes {
                        let at = 32 + 40 * n as usize + 32;
                        if at + 8 <= tree.len() {
                            tree[at..at + 8].copy_from_slice(&size.to_be_bytes());
                        }
                    }
                    disk.set_file(Store::Tree, tree);
                    let what = format!("{kind}: nodes {nodes:?} sized {size}");
                    open_and_check(disk, key, &blocks, &what)?;
                }
            }
        }
        Ok(())
    })
}

#[test]
fn garbage_bitfield_page_size() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let (writer, blocks) = writer_feed(&mut rng)?;
        let key = *writer.key();
        let disk = writer.into_storage();
        for size in [0u16, 1, 1024, 3072, 3585, 5000, u16::MAX] {
            let mut d = disk.clone();
            let mut bf = d.file(Store::Bitfield).context("bitfield")?.to_vec();
            bf[5..7].copy_from_slice(&size.to_be_bytes()); // u16be
            d.set_file(Store::Bitfield, bf);
            match Feed::open(d) {
                Err(Error::Corrupt {
                    store: Store::Bitfield,
                    ..
                }) => {}
                other => bail!("page size {size}: {other:?}"),
            }
        }
        // Sizes whose index region is a power of two open and hold nothing wrong.
        for size in [3072u16 + 1, 3072 + 256, 3072 + 1024, 3072 + 32768] {
            let mut d = disk.clone();
            let mut bf = d.file(Store::Bitfield).context("bitfield")?.to_vec();
            bf[5..7].copy_from_slice(&size.to_be_bytes()); // u16be
            d.set_file(Store::Bitfield, bf);
            let what = format!("page size {size}");
            ensure!(
                open_and_check(d, key, &blocks, &what)?.is_some(),
                "{what}: refused"
            );
        }
        Ok(())
    })
}

#[test]
fn truncated_files_are_typed_errors_or_shorter_feeds() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let (mut writer, blocks) = writer_feed(&mut rng)?;
        let key = *writer.key();
        let replica = replica_of(&mut writer, &blocks)?;
        let writer = writer.into_storage();
        for (base, kind) in [(&writer, "writer"), (&replica, "replica")] {
            for store in Store::ALL {
                let Some(file) = base.file(store) else {
                    continue;
                };
                for _ in 0..8 {
                    let keep = rng.gen_range(0..file.len());
                    let mut disk = base.clone();
                    disk.set_file(store, file[..keep].to_vec());
                    let what = format!("{kind}: {} cut to {keep}", store.file_name());
                    let outcome = open_and_check(disk, key, &blocks, &what)?;
                    if matches!(store, Store::Key) && keep > 0 {
                        ensure!(outcome.is_none(), "{what}: a cut key must be refused");
                    }
                }
            }
        }
        Ok(())
    })
}

#[test]
fn wrong_key_and_mismatched_secret() -> Result<()> {
    let a = KeyPair::from_seed(&[1; 32]);
    let b = KeyPair::from_seed(&[2; 32]);
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(a.clone())
        .open()?;
    feed.append(b"a block")?;
    let disk = feed.into_storage();
    for result in [
        Feed::builder(disk.clone()).key(b.public).open(),
        Feed::builder(disk.clone()).key_pair(b.clone()).open(),
    ] {
        match result {
            Err(Error::WrongKey { stored, expected }) => {
                ensure!(stored == a.public.to_hex() && expected == b.public.to_hex());
            }
            other => bail!("expected WrongKey, got {other:?}"),
        }
    }
    let mut swapped = disk.clone();
    swapped.set_file(Store::SecretKey, b.secret.as_bytes().to_vec());
    ensure!(matches!(Feed::open(swapped), Err(Error::KeyMismatch)));

    // The same on disk.
    let dir = tempfile::tempdir()?;
    let mut feed = Feed::builder(FileStorage::new(dir.path()))
        .key_pair(a.clone())
        .open()?;
    feed.append(b"x")?;
    feed.close()?;
    ensure!(matches!(
        Feed::builder(FileStorage::new(dir.path()))
            .key(b.public)
            .open(),
        Err(Error::WrongKey { .. })
    ));
    ensure!(matches!(
        Feed::builder(MemoryStorage::new())
            .create_if_missing(false)
            .open(),
        Err(Error::NotFound)
    ));
    Ok(())
}

#[test]
fn bad_signatures_do_not_verify() -> Result<()> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[5; 32]))
        .open()?;
    feed.append_batch(&[b"one".as_slice(), b"two", b"three"])?;
    feed.append_batch(&[b"four".as_slice(), b"five"])?;
    let (len, sig) = feed.signature(4)?;
    ensure!(len == 5);
    feed.verify(4, &sig)?;
    let (_, early) = feed.signature(0)?;
    let mut flipped = sig;
    flipped.0[10] ^= 1;
    for (index, bad, what) in [
        (4, Signature([0; 64]), "blank"),
        (4, flipped, "flipped"),
        (4, early, "signature of length 3"),
        (1, sig, "signature of length 5 for length 2"),
    ] {
        ensure!(
            matches!(feed.verify(index, &bad), Err(Error::BadSignature)),
            "{what}"
        );
    }
    // A stored signature that went bad makes a writer fall back to the append before it.
    let mut disk = feed.into_storage();
    let mut sigs = disk.file(Store::Signatures).context("signatures")?.to_vec();
    sigs[32 + 64 * 4 + 7] ^= 0x40;
    disk.set_file(Store::Signatures, sigs);
    let mut feed = Feed::open(disk)?;
    ensure!(feed.len() == 3, "length {}", feed.len());
    ensure!(feed.audit()?.invalid == 0);
    Ok(())
}

#[test]
fn blocks_over_8_mib_are_refused() -> Result<()> {
    let mut feed = Feed::open(MemoryStorage::new())?;
    feed.append(b"small")?;
    let before = feed.storage().snapshot()?;
    let huge = vec![7u8; MAX_BLOCK_SIZE as usize + 1];
    let size = MAX_BLOCK_SIZE + 1;
    ensure!(matches!(feed.append(&huge), Err(Error::BlockTooLarge { size: s }) if s == size));
    ensure!(matches!(
        feed.append_batch(&[b"fine".as_slice(), &huge]),
        Err(Error::BlockTooLarge { .. })
    ));
    ensure!(feed.len() == 1 && feed.storage().snapshot()? == before);

    // A peer sending one is refused before anything is hashed or stored.
    let mut reader = Feed::builder(MemoryStorage::new())
        .key(*feed.key())
        .open()?;
    let proof = feed.proof(0, ProofRequest::default())?;
    let reader_before = reader.storage().snapshot()?;
    ensure!(matches!(
        reader.put(0, Some(&huge), &proof),
        Err(Error::BlockTooLarge { .. })
    ));
    ensure!(reader.storage().snapshot()? == reader_before && reader.is_empty());

    // Exactly the limit is fine.
    let limit = vec![1u8; MAX_BLOCK_SIZE as usize];
    feed.append(&limit)?;
    ensure!(feed.get(1)?.len() == limit.len());
    Ok(())
}

#[test]
fn out_of_range_indices_are_typed_errors() -> Result<()> {
    let mut feed = Feed::open(MemoryStorage::new())?;
    feed.append_batch(&[b"aa".as_slice(), b"bbb", b"c"])?;
    let (_, sig) = feed.signature(2)?;
    for index in [3, 4, 1000, u64::MAX / 2, u64::MAX] {
        ensure!(
            matches!(feed.get(index), Err(Error::OutOfRange { index: i, length: 3 }) if i == index),
            "get({index})"
        );
        ensure!(
            matches!(feed.signature(index), Err(Error::OutOfRange { .. })),
            "signature({index})"
        );
        ensure!(
            matches!(feed.verify(index, &sig), Err(Error::OutOfRange { .. })),
            "verify({index}): {:?}",
            feed.verify(index, &sig)
        );
        ensure!(
            feed.tree_node(index.saturating_mul(2)).is_err(),
            "tree_node(2*{index})"
        );
        ensure!(
            feed.proof(index, ProofRequest::default()).is_err(),
            "proof({index})"
        );
        ensure!(!feed.has(index));
        let _ = feed.digest(index);
        ensure!(feed.downloaded(index, index.saturating_add(100)) == 0);
    }
    for offset in [7, 8, 1 << 40, u64::MAX] {
        ensure!(
            matches!(feed.seek(offset), Err(Error::SeekOutOfRange { .. })),
            "seek({offset})"
        );
    }
    ensure!(feed.seek(6)? == (3, 0), "seek to the end");
    ensure!(feed.tree_node(u64::MAX).is_err());

    // Indices a peer may send: refused, never a panic.
    let mut reader = Feed::builder(MemoryStorage::new())
        .key(*feed.key())
        .open()?;
    let proof = feed.proof(1, ProofRequest::default())?;
    for index in [u64::MAX, u64::MAX / 2, 1 << 53] {
        ensure!(
            matches!(
                reader.put(index, Some(b"bbb"), &proof),
                Err(Error::BadProof(_))
            ),
            "put({index})"
        );
        let mut far = proof.clone();
        far.nodes[0].index = index;
        ensure!(matches!(
            reader.put(1, Some(b"bbb"), &far),
            Err(Error::BadProof(_))
        ));
    }
    ensure!(reader.is_empty());
    Ok(())
}

#[test]
fn read_only_feeds_refuse_writes() -> Result<()> {
    let mut feed = Feed::open(MemoryStorage::new())?;
    feed.append_batch(&[b"x".as_slice(), b"y"])?;
    let key = *feed.key();
    let mut disk = feed.into_storage();
    disk.remove_file(Store::SecretKey);
    let mut ro = Feed::builder(disk).key(key).open()?;
    ensure!(!ro.writable() && ro.key_pair().is_none() && ro.len() == 2);
    let before = ro.storage().snapshot()?;
    ensure!(matches!(ro.append(b"z"), Err(Error::NotWritable)));
    ensure!(matches!(
        ro.append_batch(&[b"z".as_slice()]),
        Err(Error::NotWritable)
    ));
    ensure!(matches!(ro.truncate(1), Err(Error::NotWritable)));
    ensure!(ro.storage().snapshot()? == before && ro.len() == 2);
    ensure!(ro.get(1)? == b"y");
    // Without asking for a key, the stored one opens read-only too.
    let ro = Feed::open(ro.into_storage())?;
    ensure!(!ro.writable() && ro.key() == &key);
    Ok(())
}

#[test]
fn storage_errors_are_io_errors() -> Result<()> {
    // A storage that fails every write: opening reports the file, never panics.
    let disk = MemoryStorage::new();
    let crash = hypercore::CrashStorage::new(
        disk,
        hypercore::CrashPlan {
            ops_before_crash: 0,
            seed: 0,
        },
    );
    ensure!(matches!(Feed::open(crash), Err(Error::Io { .. })));
    let mut feed = Feed::open(hypercore::CrashStorage::new(
        MemoryStorage::new(),
        hypercore::CrashPlan {
            // Opening: three headers, the secret key, its sync, the public key.
            ops_before_crash: 6 + 3,
            seed: 0,
        },
    ))?;
    feed.append(b"lands")?;
    ensure!(matches!(feed.append(b"fails"), Err(Error::Io { .. })));
    ensure!(feed.len() == 1);
    Ok(())
}

#[test]
fn a_feed_open_elsewhere_is_locked_until_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut first = Feed::builder(FileStorage::new(dir.path()))
        .key_pair(KeyPair::from_seed(&[7; 32]))
        .create_if_missing(true)
        .open()?;
    first.append(b"held")?;
    // A second open of the same folder is refused while the first holds it (as Node's
    // random-access-file lock does), and succeeds once the first is closed.
    match Feed::builder(FileStorage::new(dir.path())).open() {
        Err(Error::Locked) => {}
        Err(e) => bail!("expected Locked, got {e}"),
        Ok(_) => bail!("a second open of a held feed succeeded"),
    }
    first.close()?;
    let mut again = Feed::builder(FileStorage::new(dir.path())).open()?;
    ensure!(again.get(0)? == b"held", "block 0 lost");
    Ok(())
}
