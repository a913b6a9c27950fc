//! Crash consistency when writes reach the disk in order: a crash at any write (whole or torn
//! after some bytes), or a file that lost its tail, reopens as a feed that audits clean, reads
//! back what was written, and keeps working. `crash_disk.rs` drops the ordering.

mod common;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::io;

use anyhow::{Context, Result, bail, ensure};
use common::*;
use hypercore::{Error, Feed, FileStorage, KeyPair, MemoryStorage, Storage, Store};
use rand::Rng;
use rand::rngs::StdRng;

type Batches = Vec<Vec<Vec<u8>>>;

/// A storage that logs which file every write went to.
#[derive(Debug, Default)]
struct Recording {
    disk: MemoryStorage,
    writes: Vec<Store>,
}

impl Storage for Recording {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.disk.read_at(store, offset, buf)
    }
    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        self.writes.push(store);
        self.disk.write_at(store, offset, data)
    }
    fn len(&mut self, store: Store) -> io::Result<u64> {
        self.disk.len(store)
    }
    fn exists(&mut self, store: Store) -> io::Result<bool> {
        self.disk.exists(store)
    }
    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        self.writes.push(store);
        self.disk.truncate(store, len)
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// When the crash of a [`PrefixCrash`] happens.
#[derive(Clone, Copy, Debug)]
struct CrashPlan {
    /// Writes that complete before the crash.
    writes_before_crash: usize,
    /// Bytes of the crashing write that still reach the disk (a torn write); 0 for none.
    torn_bytes: usize,
}

/// Memory storage that applies the first `writes_before_crash` writes, tears the next one after
/// `torn_bytes`, and fails every operation after that: the disk of a process killed mid-write,
/// or of a power cut on a disk that kept its writes in order.
#[derive(Debug)]
struct PrefixCrash {
    disk: MemoryStorage,
    plan: CrashPlan,
    writes: usize,
    crashed: bool,
}

impl PrefixCrash {
    fn new(disk: MemoryStorage, plan: CrashPlan) -> Self {
        PrefixCrash {
            disk,
            plan,
            writes: 0,
            crashed: false,
        }
    }

    fn check(&self) -> io::Result<()> {
        if self.crashed {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "simulated crash"))
        } else {
            Ok(())
        }
    }

    fn crash_now(&mut self) -> bool {
        self.writes += 1;
        self.crashed = self.writes > self.plan.writes_before_crash;
        self.crashed
    }
}

impl Storage for PrefixCrash {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        self.disk.read_at(store, offset, buf)
    }
    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        if self.crash_now() {
            let torn = self.plan.torn_bytes.min(data.len());
            if torn > 0 {
                self.disk.write_at(store, offset, &data[..torn])?;
            }
            return self.check();
        }
        self.disk.write_at(store, offset, data)
    }
    fn len(&mut self, store: Store) -> io::Result<u64> {
        self.check()?;
        self.disk.len(store)
    }
    fn exists(&mut self, store: Store) -> io::Result<bool> {
        self.check()?;
        self.disk.exists(store)
    }
    fn truncate(&mut self, store: Store, len: u64) -> io::Result<()> {
        self.check()?;
        if self.crash_now() {
            return self.check();
        }
        self.disk.truncate(store, len)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.check()
    }
}

/// Write log of a run without crash: which writes belong to the open and to each append call.
struct Reference {
    writes: Vec<Store>,
    open_writes: usize,
    /// `[start, end)` write indices of each append call.
    appends: Vec<(usize, usize)>,
}

/// The disk after the first `prebuilt` batches, written without crash.
fn prebuilt_disk(kp: &KeyPair, batches: &[Vec<Vec<u8>>]) -> Result<Option<MemoryStorage>> {
    if batches.is_empty() {
        return Ok(None);
    }
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(kp.clone())
        .open()?;
    for b in batches {
        feed.append_batch(b)?;
    }
    Ok(Some(feed.close()?))
}

fn reference(
    kp: &KeyPair,
    disk: Option<&MemoryStorage>,
    batches: &[Vec<Vec<u8>>],
) -> Result<Reference> {
    let storage = Recording {
        disk: disk.cloned().unwrap_or_default(),
        writes: Vec::new(),
    };
    let mut feed = Feed::builder(storage).key_pair(kp.clone()).open()?;
    let open_writes = feed.storage().writes.len();
    let mut appends = Vec::new();
    for b in batches {
        let start = feed.storage().writes.len();
        feed.append_batch(b)?;
        feed.flush()?;
        appends.push((start, feed.storage().writes.len()));
    }
    let writes = feed.into_storage().writes;
    Ok(Reference {
        writes,
        open_writes,
        appends,
    })
}

fn lengths(batches: &[Vec<Vec<u8>>]) -> Vec<u64> {
    let mut n = 0;
    batches
        .iter()
        .map(|b| {
            n += b.len() as u64;
            n
        })
        .collect()
}

/// Checks a reopened feed against the blocks it should hold (reading, auditing, proving a sample
/// of them to a fresh reader), appends one more block, and checks that the result reopens clean.
fn check_recovered(
    mut feed: Feed<MemoryStorage>,
    kp: &KeyPair,
    blocks: &[Vec<u8>],
    what: &str,
) -> Result<MemoryStorage> {
    let len = feed.len();
    ensure!(feed.writable(), "{what}: reopened read-only");
    ensure!(feed.key() == &kp.public, "{what}: key changed");
    let report = feed.audit()?;
    ensure!(
        report.invalid == 0 && report.valid == len,
        "{what}: audit {report:?} at length {len}"
    );
    let bytes: u64 = blocks[..len as usize].iter().map(|b| b.len() as u64).sum();
    ensure!(
        feed.byte_len() == bytes,
        "{what}: byte length {}",
        feed.byte_len()
    );
    // Every block of small feeds; a spread sample of big ones (the audit hashed them all).
    let every = if len > 1000 { 97 } else { 1 };
    for (i, b) in blocks[..len as usize].iter().enumerate().step_by(every) {
        ensure!(
            &feed.get(i as u64)? == b,
            "{what}: block {i} reads back wrong"
        );
    }
    if len > 0 {
        // The writer can still prove what it holds (the first proof carries the signature).
        let mut reader = Feed::builder(MemoryStorage::new()).key(kp.public).open()?;
        let step = (len / 8).max(1);
        let mut sample: Vec<u64> = (0..len).step_by(step as usize).chain([len - 1]).collect();
        sample.reverse();
        for i in sample {
            let request = hypercore::ProofRequest {
                digest: reader.digest(i),
                hash: false,
            };
            let proof = feed
                .proof(i, request)
                .with_context(|| format!("{what}: proof of block {i}"))?;
            reader
                .put(i, Some(&blocks[i as usize]), &proof)
                .with_context(|| format!("{what}: put of block {i}"))?;
        }
        ensure!(
            reader.len() == len,
            "{what}: reader length {}",
            reader.len()
        );
    }
    feed.append(b"after the crash")?;
    ensure!(feed.get(len)? == b"after the crash");
    let mut again = Feed::open(feed.close()?)?;
    ensure!(again.len() == len + 1, "{what}: post-crash append lost");
    if len <= 1000 {
        ensure!(again.audit()?.invalid == 0, "{what}: post-crash audit");
    }
    ensure!(again.get(len)? == b"after the crash");
    Ok(again.into_storage())
}

/// The files a run without crash writes for the same successful appends, for comparison.
fn clean_build(kp: &KeyPair, batches: &[Vec<Vec<u8>>]) -> Result<MemoryStorage> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(kp.clone())
        .open()?;
    for b in batches {
        feed.append_batch(b)?;
    }
    feed.append(b"after the crash")?;
    Ok(feed.into_storage())
}

/// The prefix of `store` that a feed of `len` blocks and `bytes` bytes owns.
fn owned_prefix(disk: &MemoryStorage, store: Store, len: u64, bytes: u64) -> Vec<u8> {
    let file = disk.file(store).unwrap_or_default();
    let end = match store {
        Store::Data => bytes,
        Store::Signatures => 32 + 64 * len,
        _ => file.len() as u64,
    };
    file[..(end as usize).min(file.len())].to_vec()
}

/// Builds the first `prebuilt` batches without crash, then crashes at every write of reopening
/// and appending the rest: cleanly, and torn after each of `torn` bytes when the write goes to
/// one of `torn_in`. Returns the number of crashes simulated.
fn crash_everywhere(
    name: &str,
    batches: &Batches,
    prebuilt: usize,
    torn: &[usize],
    torn_in: &[Store],
    seed: u64,
) -> Result<usize> {
    let kp = KeyPair::from_seed(&[seed as u8 ^ 0x5a; 32]);
    let blocks: Vec<Vec<u8>> = batches.concat();
    let ends = lengths(batches);
    let base = prebuilt_disk(&kp, &batches[..prebuilt])?;
    let base_len = prebuilt.checked_sub(1).map_or(0, |k| ends[k]);
    let rest = &batches[prebuilt..];
    let reference = reference(&kp, base.as_ref(), rest)?;
    let total = reference.writes.len();
    let mut cleans: HashMap<u64, MemoryStorage> = HashMap::new();
    let mut runs = 0;
    for crash_at in 0..=total {
        for &torn_bytes in [0].iter().chain(torn) {
            if torn_bytes > 0
                && (crash_at == total || !torn_in.contains(&reference.writes[crash_at]))
            {
                continue;
            }
            runs += 1;
            let what = format!("{name}: crash at write {crash_at}/{total}, torn {torn_bytes}");
            let plan = CrashPlan {
                writes_before_crash: crash_at,
                torn_bytes,
            };
            let disk = base.clone().unwrap_or_default();
            let shared = Shared::new(PrefixCrash::new(disk, plan));
            let mut completed = base_len;
            match Feed::builder(shared.clone()).key_pair(kp.clone()).open() {
                Ok(mut feed) => {
                    for (k, b) in rest.iter().enumerate() {
                        if feed.append_batch(b).and_then(|_| feed.flush()).is_err() {
                            break;
                        }
                        completed = ends[prebuilt + k];
                    }
                }
                Err(e) => ensure!(
                    crash_at < reference.open_writes,
                    "{what}: open failed late: {e}"
                ),
            }
            let disk = shared.into_inner()?.disk;

            // Which lengths may survive: the last completed append, or the crashing one if
            // everything but its bitfield pages landed.
            let mut allowed = vec![completed];
            if let Some(k) = reference
                .appends
                .iter()
                .position(|&(a, b)| (a..b).contains(&crash_at))
            {
                let (start, end) = reference.appends[k];
                let last_other = (start..end)
                    .filter(|&j| reference.writes[j] != Store::Bitfield)
                    .max()
                    .unwrap_or(start);
                if crash_at > last_other {
                    allowed.push(ends[prebuilt + k]);
                }
            }

            let reopened = if crash_at < reference.open_writes && base.is_none() {
                // The crash hit the creation: the key may not be stored yet.
                Feed::builder(disk).key_pair(kp.clone()).open()
            } else {
                Feed::open(disk)
            };
            let feed = reopened.with_context(|| format!("{what}: reopen"))?;
            let len = feed.len();
            ensure!(
                allowed.contains(&len),
                "{what}: reopened at length {len}, expected one of {allowed:?}"
            );
            let bytes: u64 = blocks[..len as usize].iter().map(|b| b.len() as u64).sum();
            let disk = check_recovered(feed, &kp, &blocks, &what)?;

            // What survives is byte-identical to a run without crash of the same appends
            // (stale bytes past the end excepted, as in JS).
            let clean = match cleans.entry(len) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => {
                    let kept = ends.iter().take_while(|&&e| e <= len).count();
                    let at_batch_end = match kept {
                        0 => len == 0,
                        k => ends[k - 1] == len,
                    };
                    ensure!(at_batch_end, "{what}: length {len} is not a batch end");
                    v.insert(clean_build(&kp, &batches[..kept])?)
                }
            };
            let bytes = bytes + b"after the crash".len() as u64;
            for store in [Store::Key, Store::SecretKey, Store::Data, Store::Signatures] {
                if owned_prefix(&disk, store, len + 1, bytes)
                    != owned_prefix(clean, store, len + 1, bytes)
                {
                    bail!("{what}: {} differs from a clean run", store.file_name());
                }
            }
            let torn_page =
                torn_bytes > 0 && crash_at < total && reference.writes[crash_at] == Store::Bitfield;
            bitfield_like_clean(
                disk.file(Store::Bitfield).unwrap_or_default(),
                clean.file(Store::Bitfield).unwrap_or_default(),
                len + 1,
                torn_page,
            )
            .with_context(|| what.clone())?;
        }
    }
    Ok(runs)
}

/// The bitfield of a recovered feed of `len` blocks against a clean run's. The data bits of a
/// crashed append beyond the recovered length may stay set (JS leaves them too, as after its
/// `truncate`); every other data and tree bit is the same. The index summary is the same too,
/// unless such a stale bit exists or the crash tore a bitfield page: then the summary bytes of
/// the torn page may lag behind its data bits, since neither JS nor we re-derive them on open.
/// Nothing reads them but Node's download iterator on a reader; a recovered feed is a writer.
fn bitfield_like_clean(crashed: &[u8], clean: &[u8], len: u64, torn_page: bool) -> Result<()> {
    const PAGE: usize = 3584;
    ensure!(
        crashed.get(..32) == clean.get(..32),
        "bitfield header differs"
    );
    let byte = |f: &[u8], at: usize| f.get(at).copied().unwrap_or(0);
    let pages = (crashed.len().max(clean.len()).saturating_sub(32)).div_ceil(PAGE);
    let mut stale = false;
    let mut index_differs = None;
    for page in 0..pages {
        let base = 32 + page * PAGE;
        for o in 0..PAGE {
            let (a, b) = (byte(crashed, base + o), byte(clean, base + o));
            if o < 1024 {
                for bit in 0..8 {
                    let block = (page * 8192 + o * 8 + bit) as u64;
                    let (x, y) = (a & (0x80 >> bit) != 0, b & (0x80 >> bit) != 0);
                    if block < len {
                        ensure!(x == y, "data bit of block {block} differs");
                    } else {
                        ensure!(!y, "clean run has block {block} past its length");
                        stale |= x;
                    }
                }
            } else if o < 3072 {
                ensure!(a == b, "tree bits differ at page {page} byte {o}");
            } else if a != b && index_differs.is_none() {
                index_differs = Some((page, o));
            }
        }
    }
    if let Some((page, o)) = index_differs {
        ensure!(
            stale || torn_page,
            "index byte differs at page {page} offset {o}"
        );
    }
    Ok(())
}

fn random_batches(rng: &mut StdRng, shape: &[(usize, usize, usize)]) -> Batches {
    shape
        .iter()
        .map(|&(count, min, max)| {
            (0..count)
                .map(|_| {
                    let len = rng.gen_range(min..=max);
                    random_bytes(rng, len)
                })
                .collect()
        })
        .collect()
}

#[test]
fn crash_at_every_write_small_blocks() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let batches = random_batches(
            &mut rng,
            // Ends at 1, 4, 8, 12, 14, 30: the 4 -> 8 append completes node 7, whose tree bit
            // sits in an earlier bitfield byte than the new leaves' bits.
            &[
                (1, 0, 16),
                (3, 1, 16),
                (4, 1, 1),
                (4, 0, 16),
                (2, 1, 16),
                (16, 1, 8),
            ],
        );
        let runs = crash_everywhere("small", &batches, 0, &[1, 1025, 3000], &Store::ALL, seed.0)?;
        ensure!(runs > 100);
        Ok(())
    })
}

#[test]
fn crash_at_every_write_large_blocks() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let batches = random_batches(
            &mut rng,
            &[
                (1, 65536, 65536),
                (3, 1, 4096),
                (1, 1, 1),
                (2, 100, 8000),
                (5, 1, 100),
            ],
        );
        crash_everywhere("large", &batches, 0, &[40_000], &Store::ALL, seed.0)?;
        Ok(())
    })
}

#[test]
fn crash_at_every_write_across_a_bitfield_page() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        // 8192 blocks fill the first bitfield page; the second append spills into the next.
        let batches = random_batches(&mut rng, &[(8190, 1, 1), (5, 1, 3)]);
        crash_everywhere("page", &batches, 1, &[1025], &[Store::Bitfield], seed.0)?;
        Ok(())
    })
}

/// The disk after creating a feed with a crash at write `at`, torn after `torn` bytes.
fn crash_creation(kp: &KeyPair, at: usize, torn: usize) -> Result<MemoryStorage> {
    let plan = CrashPlan {
        writes_before_crash: at,
        torn_bytes: torn,
    };
    let shared = Shared::new(PrefixCrash::new(MemoryStorage::new(), plan));
    let created = Feed::builder(shared.clone()).key_pair(kp.clone()).open();
    ensure!(
        created.is_err(),
        "the crash at write {at} did not hit the creation"
    );
    drop(created);
    Ok(shared.into_inner()?.disk)
}

#[test]
fn crash_while_creating_keeps_or_restarts_the_feed() -> Result<()> {
    let kp = KeyPair::from_seed(&[8; 32]);
    let writes = reference(&kp, None, &[])?.writes;
    let position = |store| writes.iter().position(|s| *s == store);
    let secret_at = position(Store::SecretKey).context("secret key write")?;
    let key_at = position(Store::Key).context("public key write")?;
    ensure!(secret_at < key_at, "the secret key must be written first");
    // The secret key landed: the feed opens with its identity, key file mended.
    for torn in [0, 1, 31] {
        let feed = Feed::open(crash_creation(&kp, key_at, torn)?)?;
        ensure!(feed.key() == &kp.public && feed.writable(), "torn {torn}");
        ensure!(feed.storage().file(Store::Key) == Some(kp.public.as_bytes().as_slice()));
    }
    // It did not: nothing was created, so a new feed starts (or the given key pair's).
    for torn in [0, 1, 63] {
        let feed = Feed::open(crash_creation(&kp, secret_at, torn)?)?;
        ensure!(feed.writable() && feed.is_empty() && feed.key() != &kp.public);
        let feed = Feed::builder(crash_creation(&kp, secret_at, torn)?)
            .key_pair(kp.clone())
            .open()?;
        ensure!(feed.key() == &kp.public && feed.writable());
    }
    Ok(())
}

// ----- cut tails of real files -----

/// What reopening a folder with one cut file must give.
#[derive(Debug, PartialEq)]
enum Expect {
    Corrupt(Store),
    Length {
        len: u64,
        writable: bool,
    },
    /// A batch end at least this long: a present parent's tree bit vouches for its whole
    /// subtree, so a cut bitfield may keep more than its surviving leaf bits show.
    AtLeast(u64),
}

fn expected_after_cut(store: Store, keep: u64, ends: &[u64], byte_ends: &[u64]) -> Expect {
    let full = *ends.last().unwrap_or(&0);
    // The longest append whose every part survives the cut.
    let last_fitting = |fits: &dyn Fn(usize) -> bool| {
        (0..ends.len())
            .rev()
            .find(|&k| fits(k))
            .map_or(0, |k| ends[k])
    };
    match store {
        Store::Key if keep < 32 => Expect::Corrupt(Store::Key),
        Store::SecretKey if keep == 0 => Expect::Length {
            len: full,
            writable: false,
        },
        Store::SecretKey if keep < 64 => Expect::Corrupt(Store::SecretKey),
        Store::Data => Expect::Length {
            len: last_fitting(&|k| byte_ends[k] <= keep),
            writable: true,
        },
        // Every record up to the last block's leaf.
        Store::Tree => Expect::Length {
            len: last_fitting(&|k| 32 + 40 * (2 * ends[k] - 1) <= keep),
            writable: true,
        },
        Store::Signatures => Expect::Length {
            len: last_fitting(&|k| 32 + 64 * ends[k] <= keep),
            writable: true,
        },
        // Tree bits of every node up to the last leaf (one page: they start at byte 32 + 1024).
        Store::Bitfield => {
            Expect::AtLeast(last_fitting(&|k| 32 + 1024 + (2 * ends[k] - 2) / 8 < keep))
        }
        _ => Expect::Length {
            len: full,
            writable: true,
        },
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

#[test]
fn cut_tail_of_each_file() -> Result<()> {
    with_seed(|seed| {
        let mut rng = seed.rng();
        let kp = KeyPair::from_seed(&[9; 32]);
        let batches = random_batches(&mut rng, &[(2, 1, 50), (1, 1, 50), (4, 1, 50), (3, 1, 50)]);
        let blocks = batches.concat();
        let ends = lengths(&batches);
        let byte_ends: Vec<u64> = ends
            .iter()
            .map(|&e| blocks[..e as usize].iter().map(|b| b.len() as u64).sum())
            .collect();

        let root = tempfile::tempdir()?;
        let original = root.path().join("original");
        let mut feed = Feed::builder(FileStorage::new(&original))
            .key_pair(kp.clone())
            .open()?;
        for b in &batches {
            feed.append_batch(b)?;
        }
        feed.close()?;

        let mut sizes = BTreeMap::new();
        for store in Store::ALL {
            sizes.insert(
                store,
                std::fs::metadata(original.join(store.file_name()))?.len(),
            );
        }
        let mut case = 0;
        for store in Store::ALL {
            let size = sizes[&store];
            let mut keeps: Vec<u64> = [1, 7, 40, 64, 100, 500, 1000]
                .iter()
                .map(|c| size.saturating_sub(*c))
                .collect();
            keeps.extend([0, 31, 32]);
            if store == Store::Bitfield {
                keeps.extend([1056, 1057, 1058, 1059, 1060, 3104, 3615]);
            }
            if store == Store::Data {
                keeps.extend(byte_ends.iter().copied());
            }
            keeps.sort_unstable();
            keeps.dedup();
            for keep in keeps.into_iter().filter(|&k| k < size) {
                case += 1;
                let what = format!("{} cut to {keep} of {size} bytes", store.file_name());
                let dir = root.path().join(format!("case{case}"));
                copy_dir(&original, &dir)?;
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(store.file_name()))?
                    .set_len(keep)?;
                let expect = expected_after_cut(store, keep, &ends, &byte_ends);
                let opened = Feed::open(FileStorage::new(&dir));
                let expect = match (expect, &opened) {
                    (Expect::AtLeast(min), Ok(feed)) => {
                        let len = feed.len();
                        ensure!(
                            len >= min && (len == 0 || ends.contains(&len)),
                            "{what}: length {len}, expected a batch end of at least {min}"
                        );
                        Expect::Length {
                            len,
                            writable: true,
                        }
                    }
                    (other, _) => other,
                };
                match (opened, expect) {
                    (Err(Error::Corrupt { store: got, .. }), Expect::Corrupt(want)) => {
                        ensure!(got == want, "{what}: corrupt {got:?}, expected {want:?}");
                    }
                    (Ok(mut feed), Expect::Length { len, writable }) => {
                        ensure!(
                            feed.len() == len && feed.writable() == writable,
                            "{what}: length {} writable {}, expected {len} {writable}",
                            feed.len(),
                            feed.writable()
                        );
                        let report = feed.audit()?;
                        ensure!(
                            report.invalid == 0 && report.valid == len,
                            "{what}: audit {report:?}"
                        );
                        for i in 0..len {
                            ensure!(feed.get(i)? == blocks[i as usize], "{what}: block {i}");
                        }
                        let mut reader =
                            Feed::builder(MemoryStorage::new()).key(kp.public).open()?;
                        for i in (0..len).rev() {
                            let request = hypercore::ProofRequest {
                                digest: reader.digest(i),
                                hash: false,
                            };
                            let proof = feed
                                .proof(i, request)
                                .with_context(|| format!("{what}: proof of {i}"))?;
                            reader.put(i, Some(&blocks[i as usize]), &proof)?;
                        }
                        if writable {
                            feed.append(b"more")?;
                            let mut again = Feed::open(feed.close()?)?;
                            ensure!(again.len() == len + 1, "{what}: append after cut");
                            ensure!(again.audit()?.invalid == 0);
                        } else {
                            ensure!(matches!(feed.append(b"x"), Err(Error::NotWritable)));
                        }
                    }
                    (Err(e), want) => bail!("{what}: error {e:?}, expected {want:?}"),
                    (Ok(feed), want) => bail!(
                        "{what}: opened at length {} (writable {}), expected {want:?}",
                        feed.len(),
                        feed.writable()
                    ),
                }
            }
        }
        ensure!(case > 50);
        Ok(())
    })
}
