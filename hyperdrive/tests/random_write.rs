//! Random-access writes, appends and resizes in both write modes: what is appended, what
//! Node would read, and a seeded model test read back at every version.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use corestore::Corestore;
use hyperdrive::{BLOCK_SIZE, Drive, DriveOptions, EXTENTS_KEY, Stat, WriteMode, WriteOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn drive(mode: WriteMode) -> Result<Drive> {
    let store = Arc::new(Corestore::in_memory()?);
    Ok(Drive::create(
        store,
        DriveOptions::default().write_mode(mode),
    )?)
}

fn content_feed(d: &Drive) -> Result<&corestore::SharedFeed> {
    d.content_feed().context("no content feed")
}

fn content_bytes(d: &Drive) -> u64 {
    content_feed(d)
        .ok()
        .map(|f| f.lock().byte_len())
        .unwrap_or(0)
}

/// What Node's `readFile` returns for a Stat: the whole blocks `[offset, offset + blocks)`
/// of the content feed, concatenated (it ignores `byteOffset` and `size` without a range).
fn node_read(d: &Drive, stat: &Stat) -> Result<Vec<u8>> {
    let mut feed = content_feed(d)?.lock();
    let mut out = Vec::new();
    for i in stat.offset..stat.offset + stat.blocks {
        out.extend(feed.get(i)?);
    }
    Ok(out)
}

#[test]
fn compatible_appends_in_place_at_the_tail_and_rewrites_otherwise() -> Result<()> {
    let d = drive(WriteMode::Compatible)?;
    let w = WriteOptions::default();
    d.write_file("/log", &vec![1u8; 1000], &w)?;
    let before = content_bytes(&d);
    let stat = d.append("/log", b"tail")?;
    assert_eq!(content_bytes(&d) - before, 4, "only the appended bytes");
    assert_eq!(stat.blocks, 2);
    assert_eq!(node_read(&d, &stat)?, d.read_file("/log")?);

    // Another file ends the feed now: the append has to rewrite /log to keep it one run.
    d.write_file("/other", b"x", &w)?;
    let before = content_bytes(&d);
    let stat = d.append("/log", b"more")?;
    assert_eq!(content_bytes(&d) - before, 1008);
    assert_eq!(node_read(&d, &stat)?, d.read_file("/log")?);

    // A write in the middle rewrites the whole file (copy-on-write).
    let before = content_bytes(&d);
    let stat = d.write_at("/log", 10, b"MID")?;
    assert_eq!(content_bytes(&d) - before, 1008);
    let got = d.read_file("/log")?;
    assert_eq!(&got[8..15], [1, 1, b'M', b'I', b'D', 1, 1]);
    assert_eq!(node_read(&d, &stat)?, got);
    assert!(!d.has_extents("/log")?);
    Ok(())
}

#[test]
fn extents_append_only_the_written_bytes() -> Result<()> {
    let d = drive(WriteMode::Extents)?;
    let w = WriteOptions::default();
    let big: Vec<u8> = (0..3 * BLOCK_SIZE as u32)
        .map(|i| (i % 251) as u8)
        .collect();
    d.write_file("/big", &big, &w)?;
    d.write_file("/other", b"other file", &w)?;
    let before = content_bytes(&d);
    let stat = d.write_at("/big", BLOCK_SIZE as u64 + 5, b"patch")?;
    assert_eq!(
        content_bytes(&d) - before,
        5,
        "one small block, not the file"
    );
    assert!(d.has_extents("/big")?);
    assert!(stat.metadata.get(EXTENTS_KEY).is_some());
    let mut expected = big.clone();
    expected[BLOCK_SIZE + 5..BLOCK_SIZE + 10].copy_from_slice(b"patch");
    assert_eq!(d.read_file("/big")?, expected);
    assert_eq!(stat.size, expected.len() as u64);
    // Node reads the whole span of blocks: the old bytes, /other, then the patch.
    let node = node_read(&d, &stat)?;
    assert_ne!(node, expected);
    assert_eq!(&node[..big.len()], &big[..]);
    // Its download range still covers every block the file needs.
    let dl = d.download("/big")?;
    assert_eq!(dl.blocks(), stat.blocks);
    assert!(dl.is_complete());

    // Reads with a reader seek across extents.
    let mut r = d.open_reader("/big")?;
    let mut buf = [0u8; 9];
    let n = r.read_at(BLOCK_SIZE as u64 + 3, &mut buf)?;
    assert!(n > 0);
    let mut all = Vec::new();
    r.read_range_into(BLOCK_SIZE as u64, BLOCK_SIZE as u64 + 12, &mut all)?;
    assert_eq!(all, expected[BLOCK_SIZE..BLOCK_SIZE + 12]);

    // Truncating copies nothing; growing adds a hole of zeros.
    let before = content_bytes(&d);
    d.set_len("/big", 10)?;
    assert_eq!(content_bytes(&d), before);
    assert_eq!(d.read_file("/big")?, big[..10]);
    d.set_len("/big", 20)?;
    let mut grown = big[..10].to_vec();
    grown.resize(20, 0);
    assert_eq!(d.read_file("/big")?, grown);
    Ok(())
}

#[test]
fn a_record_copied_by_an_unaware_writer_is_ignored() -> Result<()> {
    let d = drive(WriteMode::Extents)?;
    let w = WriteOptions::default();
    d.write_file("/f", b"0123456789", &w)?;
    d.write_file("/g", b"g", &w)?;
    let stat = d.write_at("/f", 2, b"ab")?;
    let record = stat.metadata.get(EXTENTS_KEY).unwrap().unwrap().to_vec();
    // What Node's fd append does: a new file whose Stat copies the old metadata map.
    let mut options = WriteOptions::default();
    options.metadata.set(EXTENTS_KEY, Some(record));
    d.write_file("/f", b"fresh content", &options)?;
    assert_eq!(d.read_file("/f")?, b"fresh content");
    assert!(!d.has_extents("/f")?);
    assert_eq!(
        d.set_metadata("/f", EXTENTS_KEY, b"x").unwrap_err().errno(),
        hyperdrive::errno::EINVAL
    );
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Write(u64, Vec<u8>),
    Append(Vec<u8>),
    SetLen(u64),
    Other(Vec<u8>),
}

fn random_op(rng: &mut StdRng, size: u64) -> Op {
    let data = |rng: &mut StdRng| -> Vec<u8> {
        let len = if rng.gen_bool(0.05) {
            rng.gen_range(BLOCK_SIZE - 10..BLOCK_SIZE + 10)
        } else {
            rng.gen_range(1..200)
        };
        (0..len).map(|_| rng.r#gen()).collect()
    };
    match rng.gen_range(0..10) {
        0..=3 => {
            let at = rng.gen_range(0..=size + 50);
            Op::Write(at, data(rng))
        }
        4..=6 => Op::Append(data(rng)),
        7 | 8 => Op::SetLen(rng.gen_range(0..=size + 100)),
        _ => Op::Other(data(rng)),
    }
}

fn run(mode: WriteMode, seed: u64, steps: usize) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = drive(mode)?;
    let mut model: Vec<u8> = Vec::new();
    d.write_file("/f", b"", &WriteOptions::default())?;
    let mut versions: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    versions.insert(d.version(), model.clone());
    for step in 0..steps {
        let op = random_op(&mut rng, model.len() as u64);
        let stat = match &op {
            Op::Write(at, data) => {
                let at = *at as usize;
                if model.len() < at + data.len() {
                    model.resize(at + data.len(), 0);
                }
                model[at..at + data.len()].copy_from_slice(data);
                Some(d.write_at("/f", at as u64, data)?)
            }
            Op::Append(data) => {
                model.extend_from_slice(data);
                Some(d.append("/f", data)?)
            }
            Op::SetLen(n) => {
                model.resize(*n as usize, 0);
                Some(d.set_len("/f", *n)?)
            }
            Op::Other(data) => {
                d.write_file("/other", data, &WriteOptions::default())?;
                None
            }
        };
        let got = d
            .read_file("/f")
            .with_context(|| format!("step {step}: {op:?}"))?;
        assert!(got == model, "step {step}: {op:?}: content differs");
        if let Some(stat) = stat {
            assert_eq!(stat.size, model.len() as u64);
            if mode == WriteMode::Compatible || !d.has_extents("/f")? {
                assert!(!d.has_extents("/f")?);
                assert!(
                    node_read(&d, &stat)? == model,
                    "step {step}: Node would read other bytes"
                );
            }
        }
        versions.insert(d.version(), model.clone());
    }
    // Every version the drive passed through still reads back as it was.
    for (version, content) in &versions {
        let old = d.checkout(*version);
        assert!(
            old.read_file("/f")? == *content,
            "version {version} reads back differently"
        );
    }
    Ok(())
}

fn seeds() -> Vec<u64> {
    match std::env::var("HYPERDRIVE_SEED") {
        Ok(s) => vec![s.parse().expect("HYPERDRIVE_SEED is a number")],
        Err(_) => {
            let base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            (0..3)
                .map(|i| base.wrapping_mul(17).wrapping_add(i))
                .collect()
        }
    }
}

fn check_mode(mode: WriteMode) {
    for seed in seeds() {
        let outcome = std::panic::catch_unwind(|| run(mode, seed, 80));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{mode:?} seed {seed}: {e:?} (rerun with HYPERDRIVE_SEED={seed})"),
            Err(_) => panic!("{mode:?} seed {seed} panicked (rerun with HYPERDRIVE_SEED={seed})"),
        }
    }
}

#[test]
fn random_edits_match_the_model_in_compatible_mode() {
    check_mode(WriteMode::Compatible);
}

#[test]
fn random_edits_match_the_model_in_extents_mode() {
    check_mode(WriteMode::Extents);
}

#[test]
fn too_many_extents_are_compacted_into_one_run() -> Result<()> {
    let d = drive(WriteMode::Extents)?;
    let mut model = vec![7u8; 2000];
    d.write_file("/f", &model, &WriteOptions::default())?;
    let mut compacted = false;
    for i in 0..300u64 {
        let at = i * 6;
        d.write_at("/f", at, &[i as u8])?;
        model[at as usize] = i as u8;
        if i > 10 && !d.has_extents("/f")? {
            compacted = true;
            let stat = d.stat("/f")?;
            assert_eq!(
                node_read(&d, &stat)?,
                model,
                "a compacted file is Node-readable"
            );
        }
    }
    assert!(
        compacted,
        "more than MAX_EXTENTS extents must trigger a rewrite"
    );
    assert_eq!(d.read_file("/f")?, model);
    Ok(())
}
