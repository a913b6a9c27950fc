//! Crash consistency against what a disk promises, not against writes landing in order: after a
//! power cut that keeps any subset of the writes since the last sync (torn at 4096-byte pages),
//! a reopened feed claims only blocks that verify, and still holds every block flushed before.
//!
//! Seeded runs of appends, batch appends, replica puts and put batches, and flushes, each cut at
//! a random operation. `HYPERCORE_CRASH_RUNS` sets how many (default below);
//! `HYPERCORE_TEST_SEED` replays a failure.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use common::*;
use hypercore::{CrashPlan, CrashStorage, Feed, KeyPair, MemoryStorage, ProofRequest, PutBlock};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Runs in CI: each is a few milliseconds.
const DEFAULT_RUNS: u64 = 10_000;

/// A [`CrashStorage`] the test keeps a handle to, to cut the power while the feed holds it.
type Disk = Shared<CrashStorage>;

fn crash_disk(storage: MemoryStorage, plan: CrashPlan) -> Disk {
    Shared::new(CrashStorage::new(storage, plan))
}

/// Cuts the power now (if the plan has not yet) and gives the disk it leaves.
fn power_cut(disk: Disk) -> Result<MemoryStorage> {
    disk.with(|s| {
        s.cut_power();
        Ok(())
    })?;
    Ok(disk.into_inner()?.into_disk())
}

/// What every run starts from, built once.
struct Fixtures {
    kp: KeyPair,
    /// A flushed writer of `prebuilt` blocks.
    writer_disk: MemoryStorage,
    prebuilt: Vec<Vec<u8>>,
    /// The feed replicas download from, and its blocks.
    source: Feed<MemoryStorage>,
    source_blocks: Vec<Vec<u8>>,
    /// A flushed replica holding `replica_has` of the source's blocks.
    replica_disk: MemoryStorage,
    replica_has: BTreeSet<u64>,
}

fn block(rng: &mut StdRng) -> Vec<u8> {
    // Mostly small, sometimes a few disk pages, so writes tear inside and across pages.
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1..=6 => rng.gen_range(1..300),
        _ => rng.gen_range(300..9000),
    };
    random_bytes(rng, len)
}

fn fixtures(rng: &mut StdRng) -> Result<Fixtures> {
    let kp = KeyPair::from_seed(&[0x42; 32]);
    let prebuilt: Vec<Vec<u8>> = (0..5).map(|_| block(rng)).collect();
    let mut writer = Feed::builder(MemoryStorage::new())
        .key_pair(kp.clone())
        .open()?;
    writer.append_batch(&prebuilt[..2])?;
    writer.append_batch(&prebuilt[2..])?;
    let writer_disk = writer.close()?;

    let source_kp = KeyPair::from_seed(&[0x43; 32]);
    let mut source = Feed::builder(MemoryStorage::new())
        .key_pair(source_kp)
        .open()?;
    let source_blocks: Vec<Vec<u8>> = (0..48).map(|_| block(rng)).collect();
    for chunk in source_blocks.chunks(5) {
        source.append_batch(chunk)?;
    }
    let replica_has: BTreeSet<u64> = [0, 1, 2, 9, 30].into_iter().collect();
    let mut replica = Feed::builder(MemoryStorage::new())
        .key(*source.key())
        .open()?;
    for &i in replica_has.iter().rev() {
        let proof = source.proof(
            i,
            ProofRequest {
                digest: replica.digest(i),
                hash: false,
            },
        )?;
        replica.put(i, Some(&source_blocks[i as usize]), &proof)?;
    }
    let replica_disk = replica.close()?;
    Ok(Fixtures {
        kp,
        writer_disk,
        prebuilt,
        source,
        source_blocks,
        replica_disk,
        replica_has,
    })
}

/// One writer run: open (or create), a random script of appends and flushes, a power cut at a
/// random operation; then the checks on the reopened feed.
fn writer_run(fx: &Fixtures, rng: &mut StdRng, seed: u64) -> Result<bool> {
    let fresh = rng.gen_bool(0.2);
    let (disk, mut model) = if fresh {
        (MemoryStorage::new(), Vec::new())
    } else {
        (fx.writer_disk.clone(), fx.prebuilt.clone())
    };
    let mut flushed = model.len();
    let steps = rng.gen_range(1..10);
    let plan = CrashPlan {
        ops_before_crash: rng.gen_range(0..8 + 5 * steps),
        seed,
    };
    let shared = crash_disk(disk, plan);
    // Whether the planned cut came before the script ended (an open it fails counts).
    let mut planned = true;
    if let Ok(mut feed) = Feed::builder(shared.clone()).key_pair(fx.kp.clone()).open() {
        for _ in 0..steps {
            let ok = match rng.gen_range(0..3) {
                0 => {
                    let b = block(rng);
                    let ok = feed.append(&b).is_ok();
                    if ok {
                        model.push(b);
                    }
                    ok
                }
                1 => {
                    let batch: Vec<Vec<u8>> =
                        (0..rng.gen_range(2..7)).map(|_| block(rng)).collect();
                    let ok = feed.append_batch(&batch).is_ok();
                    if ok {
                        model.extend(batch);
                    }
                    ok
                }
                _ => {
                    let ok = feed.flush().is_ok();
                    if ok {
                        flushed = model.len();
                    }
                    ok
                }
            };
            if !ok {
                break;
            }
        }
        // The power goes while the feed is still open: dropping it commits nothing more.
        planned = shared.with(|s| Ok(s.crashed()))?;
        shared.with(|s| {
            s.cut_power();
            Ok(())
        })?;
        drop(feed);
    }
    let disk = power_cut(shared)?;

    let mut feed = Feed::builder(disk)
        .key_pair(fx.kp.clone())
        .open()
        .context("reopen")?;
    let len = feed.len();
    ensure!(
        len as usize >= flushed && len as usize <= model.len(),
        "length {len}: flushed {flushed}, appended {}",
        model.len()
    );
    for i in 0..len {
        ensure!(feed.has(i), "block {i} of the length is not claimed");
        ensure!(
            feed.get(i)? == model[i as usize],
            "block {i} reads back wrong"
        );
    }
    let report = feed.audit()?;
    ensure!(report.invalid == 0, "audit {report:?}");
    if len > 0 {
        // The signature over the recovered length verifies for a reader.
        let mut reader = Feed::builder(MemoryStorage::new())
            .key(fx.kp.public)
            .open()?;
        let proof = feed.proof(len - 1, ProofRequest::default())?;
        reader
            .put(len - 1, Some(&model[len as usize - 1]), &proof)
            .context("a reader verifies the last block")?;
    }
    // And it keeps working.
    feed.append(b"after the power cut")?;
    let mut again = Feed::open(feed.close()?)?;
    ensure!(again.len() == len + 1 && again.get(len)? == b"after the power cut");
    Ok(planned)
}

/// One replica run: puts and put batches of a source's blocks with flushes, a power cut at a
/// random operation; then the checks on the reopened replica.
fn replica_run(fx: &mut Fixtures, rng: &mut StdRng, seed: u64) -> Result<bool> {
    let mut stored = fx.replica_has.clone();
    let mut flushed = stored.clone();
    let steps = rng.gen_range(1..10);
    let plan = CrashPlan {
        ops_before_crash: rng.gen_range(0..6 + 5 * steps),
        seed,
    };
    let n = fx.source_blocks.len() as u64;
    let shared = crash_disk(fx.replica_disk.clone(), plan);
    let mut planned = true;
    if let Ok(mut replica) = Feed::builder(shared.clone()).key(*fx.source.key()).open() {
        for _ in 0..steps {
            let ok = match rng.gen_range(0..3) {
                0 => {
                    let i = rng.gen_range(0..n);
                    let proof = fx.source.proof(
                        i,
                        ProofRequest {
                            digest: replica.digest(i),
                            hash: false,
                        },
                    )?;
                    let ok = replica
                        .put(i, Some(&fx.source_blocks[i as usize]), &proof)
                        .is_ok();
                    if ok {
                        stored.insert(i);
                    }
                    ok
                }
                1 => {
                    let start = rng.gen_range(0..n);
                    let indices: Vec<u64> = (start..(start + rng.gen_range(2..9)).min(n))
                        .filter(|i| !stored.contains(i))
                        .collect();
                    // Proofs as a replicator asks for them: all before any arrives.
                    let proofs = indices
                        .iter()
                        .map(|&i| {
                            fx.source.proof(
                                i,
                                ProofRequest {
                                    digest: replica.digest(i),
                                    hash: false,
                                },
                            )
                        })
                        .collect::<hypercore::Result<Vec<_>>>()?;
                    let blocks: Vec<PutBlock<'_>> = indices
                        .iter()
                        .zip(&proofs)
                        .map(|(&i, proof)| PutBlock {
                            index: i,
                            data: Some(&fx.source_blocks[i as usize]),
                            proof,
                        })
                        .collect();
                    let outcome = replica.put_batch(&blocks);
                    stored.extend(indices.iter().take(outcome.stored));
                    outcome.error.is_none()
                }
                _ => {
                    let ok = replica.flush().is_ok();
                    if ok {
                        flushed = stored.clone();
                    }
                    ok
                }
            };
            if !ok {
                break;
            }
        }
        planned = shared.with(|s| Ok(s.crashed()))?;
        shared.with(|s| {
            s.cut_power();
            Ok(())
        })?;
        drop(replica);
    }
    let disk = power_cut(shared)?;

    let mut replica = Feed::builder(disk)
        .key(*fx.source.key())
        .open()
        .context("reopen")?;
    for &i in &flushed {
        ensure!(replica.has(i), "flushed block {i} is no longer claimed");
    }
    for i in 0..n {
        if replica.has(i) {
            ensure!(
                replica.get(i)? == fx.source_blocks[i as usize],
                "claimed block {i} reads back wrong"
            );
        }
    }
    let report = replica.audit()?;
    ensure!(report.invalid == 0, "audit {report:?}");
    // And the download resumes.
    if let Some(i) = (0..n).find(|&i| !replica.has(i)) {
        let proof = fx.source.proof(
            i,
            ProofRequest {
                digest: replica.digest(i),
                hash: false,
            },
        )?;
        replica
            .put(i, Some(&fx.source_blocks[i as usize]), &proof)
            .context("put after the power cut")?;
        let mut again = Feed::builder(replica.close()?)
            .key(*fx.source.key())
            .open()?;
        ensure!(again.get(i)? == fx.source_blocks[i as usize]);
    }
    Ok(planned)
}

#[test]
fn power_cuts_keep_flushed_blocks_and_claim_only_verified_ones() -> Result<()> {
    with_seed(|seed| {
        let runs: u64 = std::env::var("HYPERCORE_CRASH_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_RUNS);
        let mut fx = fixtures(&mut seed.rng())?;
        let started = Instant::now();
        let mut mid_operation = 0;
        for run in 0..runs {
            let run_seed = seed.0.wrapping_add(run);
            let mut rng = StdRng::seed_from_u64(run_seed);
            let (kind, result) = if run % 2 == 0 {
                ("writer", writer_run(&fx, &mut rng, run_seed))
            } else {
                ("replica", replica_run(&mut fx, &mut rng, run_seed))
            };
            if result.with_context(|| format!("power cut {run} ({kind}, run seed {run_seed})"))? {
                mid_operation += 1;
            }
        }
        println!(
            "{runs} simulated power cuts ({} writer, {} replica; {mid_operation} in the middle of \
             an operation) in {:.2?}",
            runs.div_ceil(2),
            runs / 2,
            started.elapsed()
        );
        // Most cuts must land inside the script, not after it.
        ensure!(
            2 * mid_operation > runs,
            "only {mid_operation} of {runs} cut mid-operation"
        );
        Ok(())
    })
}

#[test]
fn a_flush_with_nothing_new_syncs_nothing() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut fx = fixtures(&mut rng)?;
    let plan = CrashPlan {
        ops_before_crash: usize::MAX,
        seed: 0,
    };
    let syncs = |s: &Disk| s.with(|c| Ok(c.syncs()));

    let writer = crash_disk(fx.writer_disk.clone(), plan);
    let mut feed = Feed::builder(writer.clone())
        .key_pair(fx.kp.clone())
        .open()?;
    // Reopening a flushed feed leaves nothing to sync.
    feed.flush()?;
    ensure!(
        syncs(&writer)? == 0,
        "{} syncs after a clean open",
        syncs(&writer)?
    );
    feed.append(b"one")?;
    feed.append_batch(&[&b"two"[..], b"three"])?;
    ensure!(feed.needs_flush());
    feed.flush()?;
    let after_first = syncs(&writer)?;
    // One sync of what the bitfield claims, one of the bitfield: however many appends.
    ensure!(after_first == 2, "{after_first} syncs for the first flush");
    feed.flush()?;
    ensure!(!feed.needs_flush() && syncs(&writer)? == after_first);

    let replica = crash_disk(fx.replica_disk.clone(), plan);
    let mut r = Feed::builder(replica.clone())
        .key(*fx.source.key())
        .open()?;
    let proof = fx.source.proof(
        5,
        ProofRequest {
            digest: r.digest(5),
            hash: false,
        },
    )?;
    r.put(5, Some(&fx.source_blocks[5]), &proof)?;
    r.flush()?;
    let after_first = syncs(&replica)?;
    ensure!(
        after_first == 2,
        "{after_first} syncs for the replica's first flush"
    );
    r.flush()?;
    ensure!(syncs(&replica)? == after_first, "a second flush synced");
    Ok(())
}
