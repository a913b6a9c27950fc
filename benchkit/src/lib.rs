//! What the side-by-side benchmark runners (`hypercore`, `hypertrie` and `hyperdrive`
//! examples) share: the Rust side of Node's `bench/js/lib.js`, so both sides generate
//! the same content and random indices and report figures the same way.
//!
//! Only the examples depend on it (as a dev-dependency); no library crate does.
//!
//! ```
//! let mut rng = benchkit::Mulberry32(7);
//! let i = (rng.next_f64() * 100.0) as u64;
//! assert!(i < 100);
//! assert_eq!(benchkit::pseudo_random(100, 1).len(), 100);
//! assert_eq!(benchkit::rate(10, 500.0), 20.0);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha512};

/// The runners' result type.
pub type Res<T> = Result<T, Box<dyn Error>>;

/// A folder under `$BENCH_DIR` (or the temp dir), removed when dropped, so a failed run leaves
/// nothing behind.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// A fresh `ddrive-{tag}-{pid}` folder.
    pub fn new(tag: &str) -> Res<Self> {
        let base = std::env::var_os("BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&base)?;
        let dir = base.join(format!("ddrive-{tag}-{}", std::process::id()));
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
pub fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut counter = 0u64;
    while out.len() < n {
        out.extend_from_slice(&Sha512::digest(format!("seed-{seed}-{counter}")));
        counter += 1;
    }
    out.truncate(n);
    out
}

/// Node's `rng` helper (mulberry32 scaled to [0, 1)), so both sides draw the same numbers.
#[derive(Debug, Clone)]
pub struct Mulberry32(pub u32);

impl Mulberry32 {
    /// The next number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x6D2B_79F5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }
}

/// Milliseconds since `since`.
pub fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Megabytes (10^6) per second for `bytes` in `ms` milliseconds.
pub fn mbps(bytes: u64, ms: f64) -> f64 {
    bytes as f64 / 1e6 / (ms / 1000.0)
}

/// Operations per second for `n` in `ms` milliseconds.
pub fn rate(n: u64, ms: f64) -> f64 {
    n as f64 / (ms / 1000.0)
}

/// Rounded to two decimals, as Node's `r2`.
pub fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Peak resident set of this process in MiB: `VmHWM`, the high-water mark `getrusage` reports
/// as `ru_maxrss` (read from /proc because the workspace forbids the `unsafe` a libc call needs).
pub fn peak_rss_mib() -> Res<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(r2(kib / 1024.0))
}

/// Time this thread has spent on a CPU (user and kernel), from `/proc/thread-self/schedstat`:
/// on a shared machine it tells our cost apart from time spent waiting for a core. It misses
/// work on other threads.
pub fn thread_cpu_ms() -> Res<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .ok_or("empty /proc/thread-self/schedstat")?
        .parse()?;
    Ok(ns as f64 / 1e6)
}

/// User and system CPU time of this whole process (every thread, live or exited) so far, in
/// ms: fields 14 and 15 of `/proc/self/stat`, what `getrusage(RUSAGE_SELF)` reports, in the
/// kernel's 100 Hz `USER_HZ` ticks (so 10 ms steps).
pub fn process_cpu_ms() -> Res<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may hold spaces and parentheses; the fields after it do not.
    let rest = stat.rsplit_once(')').ok_or("no ')' in /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Res<f64> {
        Ok(fields
            .get(i)
            .ok_or("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    // `rest` starts at field 3 (state), so utime (14) and stime (15) are its 12th and 13th.
    Ok((ticks(11)? * 10.0, ticks(12)? * 10.0))
}

/// Apparent size of every file under `dir`, recursively (what `du -sb` reports, folders aside).
pub fn dir_bytes(dir: &Path) -> Res<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
