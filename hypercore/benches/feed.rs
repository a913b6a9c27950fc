//! Feed throughput on [`MemoryStorage`] and [`FileStorage`] (a temp dir): batched 1 KiB
//! appends, 64 KiB appends, single-block appends and random gets.
//!
//! Kept short (10 samples, 2 s each) so `cargo bench -p hypercore` ends in about a minute. The
//! side-by-side comparison with Node is `cargo xtask bench hypercore`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use hypercore::{Feed, FileStorage, MemoryStorage, Storage};

/// Feeds are started over after this many payload bytes, so neither memory nor the temp dir
/// grows with the iteration count criterion picks.
const RESET_BYTES: u64 = 64 * 1024 * 1024;

/// Ends the benchmark with a message: a feed operation failing here is a bug to look at.
fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A fresh feed of one backend, with the temp dir (if any) that is removed when it drops.
type Fresh<S> = (Feed<S>, Option<tempfile::TempDir>);

fn memory() -> Fresh<MemoryStorage> {
    (must(Feed::open(MemoryStorage::new()), "open"), None)
}

fn file() -> Fresh<FileStorage> {
    let dir = must(tempfile::tempdir(), "temp dir");
    let feed = must(
        Feed::open(FileStorage::new(dir.path().join("feed"))),
        "open",
    );
    (feed, Some(dir))
}

/// Distinct deterministic blocks: slices of one pseudo-random pool at offsets varying per block.
struct Pool {
    bytes: Vec<u8>,
    block_size: usize,
}

impl Pool {
    fn new(block_size: usize) -> Self {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let bytes = (0..block_size * 64 + block_size)
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
        let at = (i as usize * 977) % (self.block_size * 64);
        &self.bytes[at..at + self.block_size]
    }
}

/// Times `iters` calls of `step` (which appends `bytes_per_step`), starting a new feed whenever
/// the current one holds `RESET_BYTES`; opening and dropping feeds is not timed.
fn timed_appends<S: Storage>(
    open: fn() -> Fresh<S>,
    iters: u64,
    bytes_per_step: u64,
    step: &mut impl FnMut(&mut Feed<S>, u64),
) -> Duration {
    let per_feed = (RESET_BYTES / bytes_per_step).max(1);
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let (mut feed, dir) = open();
        let n = per_feed.min(iters - done);
        let t0 = Instant::now();
        for i in 0..n {
            step(&mut feed, i);
        }
        total += t0.elapsed();
        done += n;
        drop((feed, dir));
    }
    total
}

/// One append workload on both backends.
fn append_group(
    c: &mut Criterion,
    name: &str,
    throughput: Throughput,
    bytes_per_step: u64,
    mut step: impl FnMut(&mut dyn FnMut(&[&[u8]]), u64),
) {
    let mut group = c.benchmark_group(name);
    group.throughput(throughput);
    group.bench_function(BenchmarkId::from_parameter("memory"), |b| {
        b.iter_custom(|iters| {
            timed_appends(memory, iters, bytes_per_step, &mut |feed, i| {
                step(
                    &mut |blocks| {
                        must(feed.append_batch(blocks), "append");
                    },
                    i,
                )
            })
        })
    });
    group.bench_function(BenchmarkId::from_parameter("file"), |b| {
        b.iter_custom(|iters| {
            timed_appends(file, iters, bytes_per_step, &mut |feed, i| {
                step(
                    &mut |blocks| {
                        must(feed.append_batch(blocks), "append");
                    },
                    i,
                )
            })
        })
    });
    group.finish();
}

fn appends(c: &mut Criterion) {
    let small = Pool::new(1024);
    let large = Pool::new(64 * 1024);
    append_group(
        c,
        "append_1KiB_batch_1000",
        Throughput::Bytes(1000 * 1024),
        1000 * 1024,
        |append, i| {
            let batch: Vec<&[u8]> = (0..1000).map(|j| small.block(i * 1000 + j)).collect();
            append(&batch);
        },
    );
    append_group(
        c,
        "append_64KiB",
        Throughput::Bytes(64 * 1024),
        64 * 1024,
        |append, i| append(&[large.block(i)]),
    );
    append_group(
        c,
        "append_1KiB_single",
        Throughput::Elements(1),
        1024,
        |append, i| append(&[small.block(i)]),
    );
}

/// A feed of `blocks` x 1 KiB, appended in batches of 1000.
fn filled<S: Storage>(fresh: Fresh<S>, blocks: u64) -> Fresh<S> {
    let (mut feed, dir) = fresh;
    let pool = Pool::new(1024);
    let mut i = 0;
    while i < blocks {
        let end = (i + 1000).min(blocks);
        let batch: Vec<&[u8]> = (i..end).map(|j| pool.block(j)).collect();
        must(feed.append_batch(&batch), "fill");
        i = end;
    }
    (feed, dir)
}

/// Reads of random blocks (seeded xorshift) of a 100k x 1 KiB feed, one at a time.
fn random_gets(c: &mut Criterion) {
    const BLOCKS: u64 = 100_000;
    fn run<S: Storage>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, fresh: Fresh<S>) {
        let (mut feed, _dir) = filled(fresh, BLOCKS);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                black_box(must(feed.get(state % BLOCKS), "get"))
            })
        });
    }
    let mut group = c.benchmark_group("get_random_1KiB_of_100k");
    group.throughput(Throughput::Elements(1));
    run(&mut group, "memory", memory());
    run(&mut group, "file", file());
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = appends, random_gets
}
criterion_main!(benches);
