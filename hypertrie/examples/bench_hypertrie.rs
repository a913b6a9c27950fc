//! The hypertrie workloads of Node's benchmark (`bench/js/bench-hypertrie.js`) on
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

use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use benchkit::{
    Mulberry32, Res, ScratchDir, dir_bytes, ms, peak_rss_mib, pseudo_random, r2, rate,
    thread_cpu_ms,
};
use hypercore::{Feed, FileStorage};
use hypertrie::{BatchOp, Hypertrie, IterOptions, OpenOptions};
use serde_json::json;

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
    let scratch = ScratchDir::new("hypertrie")?;
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
