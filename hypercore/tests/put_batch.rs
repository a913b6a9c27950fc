//! Storing many blocks of a peer at once (`Feed::put_batch`): the same bytes on disk as one put
//! after another, a bad proof amid a batch stores exactly the blocks before it, and a crash at
//! any write of a batch leaves a replica that reopens consistent and can finish the download.

mod common;

use anyhow::{Result, ensure};
use common::Snapshot;
use hypercore::{
    CrashPlan, CrashStorage, Error, Feed, KeyPair, MemoryStorage, Proof, ProofRequest, PutBlock,
    Storage,
};

/// A writer of `n` blocks of varied sizes (some empty), appended in batches of 1 to 4.
fn writer(n: u64) -> Result<(Feed<MemoryStorage>, Vec<Vec<u8>>)> {
    let mut w = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[7; 32]))
        .open()?;
    let blocks: Vec<Vec<u8>> = (0..n)
        .map(|i| vec![i as u8; ((i * 37) % 300) as usize])
        .collect();
    let mut at = 0usize;
    let mut size = 1;
    while at < blocks.len() {
        let end = (at + size).min(blocks.len());
        w.append_batch(&blocks[at..end])?;
        at = end;
        size = size % 4 + 1;
    }
    Ok((w, blocks))
}

/// A fresh replica of `w`.
fn replica<S: Storage>(w: &Feed<MemoryStorage>, storage: S) -> Result<Feed<S>> {
    Ok(Feed::builder(storage).key(*w.key()).open()?)
}

/// Proofs of `indices` for `reader` as it is now, as a replicator requests them all before
/// any arrives.
fn proofs<S: Storage>(
    w: &mut Feed<MemoryStorage>,
    reader: &Feed<S>,
    indices: &[u64],
) -> Result<Vec<Proof>> {
    indices
        .iter()
        .map(|&i| {
            let request = ProofRequest {
                digest: reader.digest(i),
                hash: false,
            };
            Ok(w.proof(i, request)?)
        })
        .collect()
}

fn batch<'a>(indices: &[u64], blocks: &'a [Vec<u8>], proofs: &'a [Proof]) -> Vec<PutBlock<'a>> {
    indices
        .iter()
        .zip(proofs)
        .map(|(&i, proof)| PutBlock {
            index: i,
            data: Some(&blocks[i as usize]),
            proof,
        })
        .collect()
}

/// A replica that already holds a few blocks, so batches build on stored nodes too.
fn started(w: &mut Feed<MemoryStorage>, blocks: &[Vec<u8>]) -> Result<Feed<MemoryStorage>> {
    let mut r = replica(w, MemoryStorage::new())?;
    let last = w.len() - 1;
    for i in [last, 3] {
        let proof = proofs(w, &r, &[i])?;
        r.put(i, Some(&blocks[i as usize]), &proof[0])?;
    }
    Ok(r)
}

#[test]
fn a_batch_writes_what_one_put_after_another_writes() -> Result<()> {
    let (mut w, blocks) = writer(300)?;
    let mut one = started(&mut w, &blocks)?;
    let mut many = started(&mut w, &blocks)?;
    let indices: Vec<u64> = (0..300).filter(|&i| !one.has(i)).collect();
    let proofs = proofs(&mut w, &one, &indices)?;
    for (&i, proof) in indices.iter().zip(&proofs) {
        one.put(i, Some(&blocks[i as usize]), proof)?;
    }
    let outcome = many.put_batch(&batch(&indices, &blocks, &proofs));
    ensure!(outcome.error.is_none(), "{:?}", outcome.error);
    ensure!(outcome.stored == indices.len());
    ensure!(one.storage().snapshot()? == many.storage().snapshot()?);
    for i in 0..300 {
        ensure!(many.get(i)? == blocks[i as usize], "block {i}");
    }
    // Reopened, the batch's blocks are there and check out.
    let mut again = replica(&w, many.close()?)?;
    ensure!(again.downloaded(0, 300) == 300);
    ensure!(again.audit()?.invalid == 0);
    Ok(())
}

#[test]
fn a_bad_proof_amid_a_batch_stores_only_the_blocks_before_it() -> Result<()> {
    let (mut w, blocks) = writer(64)?;
    let indices: Vec<u64> = (0..64).collect();
    for bad in [0usize, 1, 18, 63] {
        let mut r = replica(&w, MemoryStorage::new())?;
        let mut proofs = proofs(&mut w, &r, &indices)?;
        let mut tampered = blocks.clone();
        tampered[bad].push(1);
        if bad == 18 {
            // A spoiled node rather than spoiled bytes: the first node of an even block's proof
            // is its sibling's leaf, which nothing before it in the batch proved.
            tampered[bad].pop();
            proofs[bad].nodes[0].hash[0] ^= 1;
        }
        let outcome = r.put_batch(&batch(&indices, &tampered, &proofs));
        ensure!(
            outcome.stored == bad,
            "bad {bad}: stored {}",
            outcome.stored
        );
        ensure!(
            matches!(outcome.error, Some(Error::BadProof(_))),
            "bad {bad}: {:?}",
            outcome.error
        );
        ensure!(r.downloaded(0, 64) == bad as u64, "bad {bad}");
        // Byte for byte what a replica holds that only ever saw the good blocks.
        let mut good = replica(&w, MemoryStorage::new())?;
        let prefix = &indices[..bad];
        let outcome = good.put_batch(&batch(prefix, &blocks, &proofs[..bad]));
        ensure!(outcome.error.is_none() && outcome.stored == bad);
        ensure!(
            r.storage().snapshot()? == good.storage().snapshot()?,
            "bad {bad}: stored more than the verified blocks"
        );
    }
    Ok(())
}

#[test]
fn a_crash_at_any_write_of_a_batch_reopens_consistent() -> Result<()> {
    let (mut w, blocks) = writer(40)?;
    let before = started(&mut w, &blocks)?;
    let indices: Vec<u64> = (0..40).filter(|&i| !before.has(i)).collect();
    let proofs = proofs(&mut w, &before, &indices)?;
    let disk = before.into_storage();
    let mut crashes = 0;
    for at in 0.. {
        let mut crashed_any = false;
        for seed in 0..4 {
            let plan = CrashPlan {
                ops_before_crash: at,
                seed,
            };
            // Opening writes too; a crash there is the open's business (tests/crash.rs).
            let Ok(mut r) = replica(&w, CrashStorage::new(disk.clone(), plan)) else {
                crashed_any = true;
                continue;
            };
            let outcome = r.put_batch(&batch(&indices, &blocks, &proofs));
            if outcome.error.is_none() {
                // The crash may come in the flush instead; a flush that returns is durable.
                let _ = r.flush();
            }
            let storage = r.into_storage();
            if !storage.crashed() {
                ensure!(outcome.error.is_none(), "{:?}", outcome.error);
                continue;
            }
            crashed_any = true;
            crashes += 1;
            ensure!(outcome.error.is_none() || outcome.stored == 0);
            let what = format!("crash at operation {at}, seed {seed}");
            let mut reopened = replica(&w, storage.into_disk())?;
            for i in 0..40 {
                if reopened.has(i) {
                    ensure!(reopened.get(i)? == blocks[i as usize], "{what}: block {i}");
                }
            }
            ensure!(reopened.audit()?.invalid == 0, "{what}: audit");
            // The download resumes and completes.
            let rest: Vec<u64> = (0..40).filter(|&i| !reopened.has(i)).collect();
            let more = self::proofs(&mut w, &reopened, &rest)?;
            let outcome = reopened.put_batch(&batch(&rest, &blocks, &more));
            ensure!(outcome.error.is_none(), "{what}: {:?}", outcome.error);
            for i in 0..40 {
                ensure!(reopened.get(i)? == blocks[i as usize], "{what}: block {i}");
            }
        }
        if !crashed_any {
            break;
        }
    }
    // Tree runs, data runs, a signature, syncs and a bitfield page: several places to crash.
    ensure!(crashes >= 4 * 4, "only {crashes} crashes");
    Ok(())
}
