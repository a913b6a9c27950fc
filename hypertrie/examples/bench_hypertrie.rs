//! The hypertrie workloads of Node's anchor (`shared/bench/js/bench-hypertrie.js`) on
//! [`FileStorage`], printing one JSON line. `cargo xtask bench hypertrie` runs it beside Node.
//!
//! ```text
//! bench_hypertrie [keys=100000] [value_size=64] [batch_size=1000]
//! ```
//! Same keys (`dir{i%100}/file{i}`), same values (64-byte slices of Node's SHA-512 pool), same
//! random indices (Node's mulberry32 `rng(11)`), same order of phases: put one by one (one
//! append and signature each), random gets, list `dir7`, iterate everything, then batches of
//! puts into a second trie. Works in a fresh folder under `$BENCH_DIR` (default: the system
//! temp folder), removed at the end; like Node it never syncs inside a timed loop.

use std::error::Error;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use hypercore::{Feed, FileStorage};
use hypertrie::{BatchOp, Hypertrie, IterOptions, OpenOptions};
use serde_json::json;
use sha2::{Digest, Sha512};

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_hypertrie: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> Res<u64> {
        match args.get(i) {
            Some(s) => Ok(s.parse().map_err(|e| format!("argument {s:?}: {e}"))?),
            None => Ok(default),
        }
    };
    bench(num(0, 100_000)?, num(1, 64)? as usize, num(2, 1000)?.max(1))
}

/// A folder removed when dropped, so a failed run leaves nothing behind.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Res<Self> {
        let base = std::env::var_os("BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&base)?;
        let dir = base.join(format!("ddrive-hypertrie-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover scratch folder is harmless and the result is already out.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Node's `pseudoRandom(n, seed)`: SHA-512 of `seed-{seed}-{counter}`, concatenated.
fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut counter = 0u64;
    while out.len() < n {
        out.extend_from_slice(&Sha512::digest(format!("seed-{seed}-{counter}")));
        counter += 1;
    }
    out.truncate(n);
    out
}

/// Node's `rng` helper (mulberry32 scaled to [0, 1)), so both sides read the same keys.
struct Mulberry32(u32);

impl Mulberry32 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x6D2B_79F5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }
}

/// Opens a trie with the default node cache, or `$BENCH_CACHE_BYTES` to study its effect.
fn open(dir: &Path) -> Res<Hypertrie<FileStorage>> {
    let feed = Feed::open(FileStorage::new(dir))?;
    let mut options = OpenOptions::default();
    if let Some(bytes) = std::env::var_os("BENCH_CACHE_BYTES") {
        let bytes = bytes.to_str().ok_or("BENCH_CACHE_BYTES is not UTF-8")?;
        options = options.cache_bytes(bytes.parse()?);
    }
    Ok(Hypertrie::open_with(feed, options)?)
}

fn bench(n: u64, value_size: usize, batch: u64) -> Res<()> {
    let scratch = ScratchDir::new()?;
    let key = |i: u64| format!("dir{}/file{i}", i % 100);
    let span = value_size * 4096;
    let pool = pseudo_random(span + value_size, 3);
    let value = |i: u64| {
        let at = (i as usize * 61) % span;
        &pool[at..at + value_size]
    };

    // --- part A: one put (one append, one signature) at a time
    let mut db = open(&scratch.0.join("seq"))?;
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    for i in 0..n {
        db.put(&key(i), value(i))?;
    }
    let put_ms = ms(t0);
    let put_cpu_ms = thread_cpu_ms()? - cpu0;

    let mut rng = Mulberry32(11);
    let idx: Vec<u64> = (0..n).map(|_| (rng.next_f64() * n as f64) as u64).collect();
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    let mut misses = 0u64;
    for &i in &idx {
        let node = black_box(db.get(&key(i))?);
        if node.and_then(|n| n.value().map(<[u8]>::len)) != Some(value_size) {
            misses += 1;
        }
    }
    let get_ms = ms(t0);
    let get_cpu_ms = thread_cpu_ms()? - cpu0;

    let t0 = Instant::now();
    let listed = db.list_with("dir7", IterOptions::default())?.len();
    let list_ms = ms(t0);

    let t0 = Instant::now();
    let mut iterated = 0u64;
    for node in db.iter("", IterOptions::default()) {
        black_box(node?);
        iterated += 1;
    }
    let iter_ms = ms(t0);
    let disk_seq = dir_bytes(&scratch.0.join("seq"))?;
    let feed_len = db.version();
    db.into_feed().close()?;

    // --- part B: batches of puts into a second trie, one append call per batch
    let mut db2 = open(&scratch.0.join("batch"))?;
    let t0 = Instant::now();
    let mut b = 0;
    while b < n {
        let end = (b + batch).min(n);
        db2.batch((b..end).map(|i| BatchOp::put(key(i), value(i))))?;
        b = end;
    }
    let batch_ms = ms(t0);
    db2.into_feed().close()?;

    let line = json!({
        "bench": "hypertrie",
        "impl": "ddrive",
        "keys": n,
        "value_size": value_size,
        "put_seq_ms": r2(put_ms),
        "put_seq_per_s": r2(rate(n, put_ms)),
        "put_seq_cpu_ms": r2(put_cpu_ms),
        "get_random_ms": r2(get_ms),
        "get_random_per_s": r2(rate(n, get_ms)),
        "get_random_cpu_ms": r2(get_cpu_ms),
        "get_misses": misses,
        "list_dir_keys": listed,
        "list_dir_ms": r2(list_ms),
        "iterate_keys": iterated,
        "iterate_ms": r2(iter_ms),
        "iterate_per_s": r2(rate(iterated, iter_ms)),
        "put_batch_size": batch,
        "put_batch_per_s": r2(rate(n, batch_ms)),
        "feed_length": feed_len,
        "disk_bytes_seq": disk_seq,
        "peak_rss_mib": peak_rss_mib()?,
    });
    println!("{line}");
    Ok(())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn rate(n: u64, ms: f64) -> f64 {
    n as f64 / (ms / 1000.0)
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Peak resident set of this process in MiB: `VmHWM`, the high-water mark `getrusage` reports
/// as `ru_maxrss` (read from /proc because the workspace forbids the `unsafe` a libc call needs).
fn peak_rss_mib() -> Res<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(r2(kib / 1024.0))
}

/// Time this thread has spent on a CPU, from `/proc/thread-self/schedstat`: on a shared machine
/// it tells our cost apart from time spent waiting for a core.
fn thread_cpu_ms() -> Res<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .ok_or("empty /proc/thread-self/schedstat")?
        .parse()?;
    Ok(ns as f64 / 1e6)
}

/// Apparent size of every file under `dir` (what `du -sb` reports, folders aside).
fn dir_bytes(dir: &Path) -> Res<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let meta = entry?.metadata()?;
        total += meta.len();
    }
    Ok(total)
}
