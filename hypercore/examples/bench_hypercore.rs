//! The hypercore workloads of Node's benchmark (`bench/js/bench-hypercore.js`) on
//! [`FileStorage`], printing one JSON line. `cargo xtask bench hypercore` runs it beside Node.
//!
//! ```text
//! bench_hypercore feed [blocks] [block_size] [batch] [gets] [single_appends]
//! bench_hypercore blake2b [input_size] [seconds]
//! ```
//! `feed` takes Node's arguments in Node's order (defaults `100000 1024 1000 10000 10000`) and
//! works in a fresh folder under `$BENCH_DIR` (default: the system temp folder), removed at the
//! end. Like Node it never syncs inside a timed loop; the batched appends are additionally timed
//! with one [`Feed::flush`] at the end (`append_flush_*`: the durable figure). Right after them
//! it hashes the same blocks with plain BLAKE2b-256 on one thread (`blake2b_MBps`), the ceiling
//! an append of such blocks is measured against.
//! `blake2b` measures BLAKE2b-256 (blake2b_simd, one thread) on inputs of one size: the ceiling
//! for appends of blocks that size.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use benchkit::{
    Mulberry32, Res, ScratchDir, dir_bytes, mbps, ms, peak_rss_mib, r2, rate, thread_cpu_ms,
};
use hypercore::{Feed, FileStorage};
use serde_json::json;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_hypercore: {e}");
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
    match args.first().map(String::as_str) {
        Some("feed") => feed_bench(Workload {
            blocks: num(1, 100_000)?,
            block_size: num(2, 1024)? as usize,
            batch: num(3, 1000)?.max(1),
            gets: num(4, 10_000)?,
            single: num(5, 10_000)?,
        }),
        Some("blake2b") => {
            let size = num(1, 65536)? as usize;
            let seconds = args.get(2).map_or(Ok(1.0), |s| s.parse::<f64>())?;
            blake2b_bench(size, seconds)
        }
        _ => Err(
            "usage: bench_hypercore feed [blocks] [block_size] [batch] [gets] \
                  [single_appends] | blake2b [input_size] [seconds]"
                .into(),
        ),
    }
}

struct Workload {
    blocks: u64,
    block_size: usize,
    batch: u64,
    gets: u64,
    single: u64,
}

/// Distinct blocks sliced from one pool at offsets that vary per block, as Node's script does.
struct Pool {
    bytes: Vec<u8>,
    block_size: usize,
}

impl Pool {
    fn new(block_size: usize) -> Self {
        let mut state = 0x9e37_79b9_7f4a_7c15u64; // fixed seed: same content every run
        let bytes = (0..block_size * 1024 + block_size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        Pool { bytes, block_size }
    }

    fn block(&self, i: u64) -> &[u8] {
        let at = (i as usize * 977) % (self.block_size * 1024);
        &self.bytes[at..at + self.block_size]
    }
}

fn feed_bench(w: Workload) -> Res<()> {
    let scratch = ScratchDir::new("hypercore")?;
    let pool = Pool::new(w.block_size);
    let bytes = w.blocks * w.block_size as u64;

    // --- batched appends (no sync), then one flush: the durable figure
    let mut feed = Feed::open(FileStorage::new(scratch.0.join("feed")))?;
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    let mut b = 0;
    while b < w.blocks {
        let end = (b + w.batch).min(w.blocks);
        let batch: Vec<&[u8]> = (b..end).map(|i| pool.block(i)).collect();
        feed.append_batch(&batch)?;
        b = end;
    }
    let append_ms = ms(t0);
    let append_cpu_ms = thread_cpu_ms()? - cpu0;
    let t1 = Instant::now();
    feed.flush()?;
    let flush_ms = ms(t1);
    let append_flush_ms = ms(t0);
    let rss_after_append = peak_rss_mib()?;

    // --- the same blocks through plain BLAKE2b-256, one thread: the ceiling for these appends,
    // measured moments after them so both see the same machine load
    let params = blake2b_params();
    let t0 = Instant::now();
    for i in 0..w.blocks {
        black_box(params.hash(black_box(pool.block(i))));
    }
    let blake2b_ms = ms(t0);

    // --- random gets, one at a time, the indices Node's rng(7) picks
    let mut rng = Mulberry32(7);
    let idx: Vec<u64> = (0..w.gets)
        .map(|_| (rng.next_f64() * w.blocks as f64) as u64)
        .collect();
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    let mut got = 0usize;
    for &i in &idx {
        got += black_box(feed.get(i)?).len();
    }
    let get_ms = ms(t0);
    let get_cpu_ms = thread_cpu_ms()? - cpu0;
    if got != idx.len() * w.block_size {
        return Err(format!("gets returned {got} bytes").into());
    }
    let disk = dir_bytes(&scratch.0)?;
    feed.close()?;

    // --- one block per append call, on a second feed
    let mut feed2 = Feed::open(FileStorage::new(scratch.0.join("feed2")))?;
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    for i in 0..w.single {
        feed2.append(pool.block(i))?;
    }
    let single_ms = ms(t0);
    let single_cpu_ms = thread_cpu_ms()? - cpu0;
    feed2.close()?;

    let line = json!({
        "bench": "hypercore",
        "impl": "ddrive",
        "storage": "file",
        "blocks": w.blocks,
        "block_size": w.block_size,
        "batch": w.batch,
        "append_ms": r2(append_ms),
        "append_MBps": r2(mbps(bytes, append_ms)),
        "append_blocks_per_s": r2(rate(w.blocks, append_ms)),
        "append_cpu_ms": r2(append_cpu_ms),
        "flush_ms": r2(flush_ms),
        "append_flush_ms": r2(append_flush_ms),
        "append_flush_MBps": r2(mbps(bytes, append_flush_ms)),
        "blake2b_MBps": r2(mbps(bytes, blake2b_ms)),
        "gets": w.gets,
        "get_seq_ms": r2(get_ms),
        "get_seq_per_s": r2(rate(w.gets, get_ms)),
        "get_seq_us_per_op": r2(get_ms * 1000.0 / w.gets.max(1) as f64),
        "get_seq_cpu_ms": r2(get_cpu_ms),
        "single_appends": w.single,
        "single_append_per_s": r2(rate(w.single, single_ms)),
        "single_append_cpu_ms": r2(single_cpu_ms),
        "disk_bytes_feed": disk,
        "disk_overhead_ratio": r2(disk as f64 / bytes.max(1) as f64),
        "peak_rss_mib_after_append": rss_after_append,
        "peak_rss_mib": peak_rss_mib()?,
    });
    println!("{line}");
    Ok(())
}

fn blake2b_bench(size: usize, seconds: f64) -> Res<()> {
    let input: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    let params = blake2b_params();
    let mut n = 0u64;
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < seconds {
        for _ in 0..16 {
            black_box(params.hash(black_box(&input)));
        }
        n += 16;
    }
    let elapsed_ms = ms(t0);
    let line = json!({
        "bench": "blake2b",
        "impl": "blake2b_simd",
        "input_size": size,
        "hashes_per_s": r2(rate(n, elapsed_ms)),
        "MBps": r2(mbps(n * size as u64, elapsed_ms)),
    });
    println!("{line}");
    Ok(())
}

/// BLAKE2b-256, unkeyed: what hypercore hashes with.
fn blake2b_params() -> blake2b_simd::Params {
    let mut params = blake2b_simd::Params::new();
    params.hash_length(32);
    params
}
