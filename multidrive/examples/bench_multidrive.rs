//! The multidrive workloads of `bench/js/bench-multidrive.js` on file storage, printing one
//! JSON line. `cargo xtask bench multidrive` runs it beside Node's multi-hyperdrive.
//!
//! ```text
//! bench_multidrive [files=10000] [rewrites=1000]
//! ```
//! Three drives in one store each hold the same `files` paths (`/dir{i%10}/f{i}`, 256 bytes
//! each; untimed setup). Timed, through the union: `stat` of every path in a shuffled order
//! (mulberry32 seed 7, as Node), `readdir('/dir0')`, `read_file` of every path in another
//! shuffled order, and after unlinking `rewrites` files through the union (which tombstones
//! them in the writer), writing them again (each write erases its tombstone).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use benchkit::{Mulberry32, Res, ScratchDir, ms, peak_rss_mib, pseudo_random, r2, rate};
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, ReaddirOptions, WriteOptions};
use multidrive::MultiDrive;
use serde_json::json;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_multidrive: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| -> Res<usize> {
        match args.get(i) {
            Some(s) => Ok(s.parse().map_err(|e| format!("argument {s:?}: {e}"))?),
            None => Ok(default),
        }
    };
    bench(num(0, 10_000)?, num(1, 1_000)?)
}

/// Fisher-Yates over `0..n` with Node's mulberry32, so both sides visit the same order.
fn shuffled(n: usize, seed: u32) -> Vec<usize> {
    let mut rng = Mulberry32(seed);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_f64() * (i + 1) as f64) as usize;
        v.swap(i, j);
    }
    v
}

fn bench(files: usize, rewrites: usize) -> Res<()> {
    let scratch = ScratchDir::new("multidrive")?;
    let store = Arc::new(Corestore::open(&scratch.0)?);
    let path = |i: usize| format!("/dir{}/f{i}", i % 10);
    let pool = pseudo_random(256 + files, 1);
    let w = WriteOptions::default();
    let mut drives = Vec::new();
    for name in ["a", "b", "c"] {
        let d = Drive::create(Arc::new(store.namespace(name)?), DriveOptions::default())?;
        for i in 0..files {
            d.write_file(&path(i), &pool[i..i + 256], &w)?;
        }
        drives.push(d);
    }
    let union = MultiDrive::new(drives[0].clone());
    union.add_drive(drives[1].clone());
    union.add_drive(drives[2].clone());

    let order = shuffled(files, 7);
    let t = Instant::now();
    let mut size = 0u64;
    for &i in &order {
        size += union.stat(&path(i))?.stat.size;
    }
    let stat_ms = ms(t);
    assert_eq!(size, 256 * files as u64);

    let t = Instant::now();
    let listed = union.readdir("/dir0", &ReaddirOptions::default())?.len();
    let readdir_ms = ms(t);

    let order = shuffled(files, 8);
    let t = Instant::now();
    let mut bytes = 0u64;
    for &i in &order {
        bytes += union.read_file(&path(i))?.len() as u64;
    }
    let read_ms = ms(t);
    assert_eq!(bytes, 256 * files as u64);

    let rewrites = rewrites.min(files);
    for i in 0..rewrites {
        union.unlink(&path(i))?;
    }
    let t = Instant::now();
    for i in 0..rewrites {
        union.write_file(&path(i), &pool[i + 1..i + 257], &w)?;
    }
    let rewrite_ms = ms(t);

    store.close()?;
    let line = json!({
        "bench": "multidrive",
        "files": files,
        "drives": 3,
        "stat_per_s": r2(rate(files as u64, stat_ms)),
        "readdir_entries": listed,
        "readdir_ms": r2(readdir_ms),
        "read_per_s": r2(rate(files as u64, read_ms)),
        "rewrite_per_s": r2(rate(rewrites as u64, rewrite_ms)),
        "peak_rss_mib": r2(peak_rss_mib()?),
    });
    println!("{line}");
    Ok(())
}
