//! The hyperdrive workloads of Node's benchmarks (`bench/js/bench-hyperdrive.js`,
//! `bench-open.js` with `open/setup.js` and `open/child.js`) on a [`Corestore`] folder,
//! printing one JSON line per run. `cargo xtask bench hyperdrive` runs it beside Node.
//!
//! ```text
//! bench_hyperdrive drive [files=10000] [file_size=1024] [dirs=100] [big_mib=1024] [chunk_kib=64]
//! bench_hyperdrive setup DIR [files=100000] [file_size=1024] [dirs=100]
//! bench_hyperdrive open STORE_DIR PATH
//! ```
//! `drive` takes Node's arguments in Node's order: writeFile `/dir{i%dirs}/file{i}` one by one,
//! readdir every dir, stat all, readFile all in Node's shuffled order (mulberry32 `rng(13)`),
//! then one big file through a [`hyperdrive::FileWriter`] fed `chunk_kib` pieces and read back
//! through a [`hyperdrive::FileReader`]. File contents are Node's (`pseudoRandom` SHA-512
//! pools, same offsets). Right after the big write it hashes the same chunks with plain
//! BLAKE2b-256 (blake2b_simd, one thread): the ceiling that write is measured against. It works
//! in a fresh folder under `$BENCH_DIR` (default: the system temp folder), removed at the end,
//! and like Node never syncs inside a timed loop.
//!
//! `setup` builds the many-file drive of the open-time benchmark in `DIR/store` once, writing
//! `DIR/SETUP_DONE.json` (reused while its parameters match), as Node's `open/setup.js`.
//! `open` is Node's `open/child.js`: open that store's drive in this fresh process, stat one
//! file, read it.

use std::hint::black_box;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use benchkit::{
    Mulberry32, Res, ScratchDir, dir_bytes, mbps, ms, peak_rss_mib, pseudo_random, r2, rate,
    thread_cpu_ms,
};
use corestore::Corestore;
use hyperdrive::{Drive, DriveOptions, ReaddirOptions, WriteOptions};
use serde_json::{Value, json};

fn main() -> ExitCode {
    // The open benchmark counts from here: as close to the exec as a program gets.
    let start = Instant::now();
    match run(start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_hyperdrive: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: bench_hyperdrive drive [files] [file_size] [dirs] [big_mib] \
                     [chunk_kib] | setup DIR [files] [file_size] [dirs] | open STORE_DIR PATH";

fn run(start: Instant) -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> Res<u64> {
        match args.get(i) {
            Some(s) => Ok(s.parse().map_err(|e| format!("argument {s:?}: {e}"))?),
            None => Ok(default),
        }
    };
    match args.first().map(String::as_str) {
        Some("drive") => drive_bench(&Workload {
            files: num(1, 10_000)?,
            file_size: num(2, 1024)? as usize,
            dirs: num(3, 100)?.max(1),
            big_bytes: num(4, 1024)? * 1_048_576,
            chunk: (num(5, 64)? as usize * 1024).max(1),
        }),
        Some("setup") => {
            let dir = args.get(1).ok_or(USAGE)?;
            setup(
                Path::new(dir),
                num(2, 100_000)?,
                num(3, 1024)? as usize,
                num(4, 100)?.max(1),
            )
        }
        Some("open") => {
            let (store, path) = (args.get(1).ok_or(USAGE)?, args.get(2).ok_or(USAGE)?);
            open_child(start, Path::new(store), path)
        }
        _ => Err(USAGE.into()),
    }
}

struct Workload {
    files: u64,
    file_size: usize,
    dirs: u64,
    big_bytes: u64,
    chunk: usize,
}

/// Node's small-file contents: `file_size` bytes of one pool at offset `i * 131`.
struct SmallFiles {
    pool: Vec<u8>,
    size: usize,
}

impl SmallFiles {
    fn new(size: usize) -> Self {
        SmallFiles {
            pool: pseudo_random(size * 1024 + size, 5),
            size,
        }
    }

    fn file(&self, i: u64) -> &[u8] {
        let at = (i as usize * 131) % (self.size * 1024).max(1);
        &self.pool[at..at + self.size]
    }
}

fn name(i: u64, dirs: u64) -> String {
    format!("/dir{}/file{i}", i % dirs)
}

fn open_drive(store_dir: &Path) -> Res<(Arc<Corestore>, Drive)> {
    let store = Arc::new(Corestore::open(store_dir)?);
    let drive = Drive::create(Arc::clone(&store), DriveOptions::default())?;
    Ok((store, drive))
}

fn drive_bench(w: &Workload) -> Res<()> {
    let scratch = ScratchDir::new("hyperdrive")?;
    let (store, drive) = open_drive(&scratch.0.join("store"))?;
    let files = SmallFiles::new(w.file_size);
    let write = WriteOptions::default();

    // --- phase 1: small files
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    for i in 0..w.files {
        drive.write_file(&name(i, w.dirs), files.file(i), &write)?;
    }
    let write_ms = ms(t0);
    let write_cpu_ms = thread_cpu_ms()? - cpu0;

    let t0 = Instant::now();
    let mut entries = 0;
    for k in 0..w.dirs {
        entries += drive
            .readdir(&format!("/dir{k}"), &ReaddirOptions::default())?
            .len();
    }
    let readdir_ms = ms(t0);

    let t0 = Instant::now();
    let mut stat_bytes = 0;
    for i in 0..w.files {
        stat_bytes += drive.stat(&name(i, w.dirs))?.size;
    }
    let stat_ms = ms(t0);

    let mut rng = Mulberry32(13);
    let mut order: Vec<u64> = (0..w.files).collect();
    for i in (1..order.len()).rev() {
        let j = (rng.next_f64() * (i + 1) as f64) as usize;
        order.swap(i, j);
    }
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    let (mut read_bytes, mut bad) = (0, 0u64);
    for &i in &order {
        let buf = drive.read_file(&name(i, w.dirs))?;
        read_bytes += buf.len();
        if buf != files.file(i) {
            bad += 1;
        }
    }
    let read_ms = ms(t0);
    let read_cpu_ms = thread_cpu_ms()? - cpu0;
    let peak_after_small = peak_rss_mib()?;
    let disk_small = dir_bytes(&scratch.0)?;

    // --- phase 2: one big file, written in Node's chunks (our writer cuts 512 KiB blocks)
    let span = 4 * 1_048_576;
    let big_pool = pseudo_random(span + w.chunk, 9);
    let chunk_at = |c: u64, written: u64| {
        let off = (c as usize * 65537) % span;
        let len = (w.big_bytes - written).min(w.chunk as u64) as usize;
        &big_pool[off..off + len]
    };
    let cpu0 = thread_cpu_ms()?;
    let (proc0, wait0) = (cpu_ms()?, thread_wait_ms()?);
    let t0 = Instant::now();
    let mut writer = drive.open_writer("/big.bin", WriteOptions::default())?;
    let (mut written, mut c) = (0u64, 0u64);
    while written < w.big_bytes {
        let chunk = chunk_at(c, written);
        writer.write(chunk)?;
        written += chunk.len() as u64;
        c += 1;
    }
    let big_stat = writer.finish()?;
    let big_write_ms = ms(t0);
    let big_write_cpu_ms = thread_cpu_ms()? - cpu0;
    let big_write_process_cpu_ms = cpu_ms()? - proc0;
    let big_write_wait_ms = thread_wait_ms()? - wait0;
    let peak_after_big_write = peak_rss_mib()?;

    // --- the same chunks through plain BLAKE2b-256, one thread, moments after the write so
    // both see the same machine load
    let mut params = blake2b_simd::Params::new();
    params.hash_length(32);
    let t0 = Instant::now();
    let (mut hashed, mut c) = (0u64, 0u64);
    while hashed < w.big_bytes {
        let chunk = chunk_at(c, hashed);
        black_box(params.hash(black_box(chunk)));
        hashed += chunk.len() as u64;
        c += 1;
    }
    let blake2b_ms = ms(t0);

    // --- read it back as a stream: one block-sized buffer, sequential reads
    let cpu0 = thread_cpu_ms()?;
    let t0 = Instant::now();
    let mut reader = drive.open_reader("/big.bin")?;
    let mut buf = vec![0u8; hyperdrive::BLOCK_SIZE];
    let (mut read_big, mut first_ms) = (0u64, None);
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        first_ms.get_or_insert_with(|| ms(t0));
        black_box(&buf[..n]);
        read_big += n as u64;
    }
    let big_read_ms = ms(t0);
    let big_read_cpu_ms = thread_cpu_ms()? - cpu0;
    if read_big != w.big_bytes {
        return Err(format!("read {read_big} bytes of {}", w.big_bytes).into());
    }
    let disk_total = dir_bytes(&scratch.0)?;
    drop(drive);
    store.close()?;

    let line = json!({
        "bench": "hyperdrive",
        "impl": "ddrive",
        "files": w.files,
        "file_size": w.file_size,
        "dirs": w.dirs,
        "writefile_per_s": r2(rate(w.files, write_ms)),
        "writefile_ms": r2(write_ms),
        "writefile_cpu_ms": r2(write_cpu_ms),
        "readdir_entries": entries,
        "readdir_ms_per_dir": r2(readdir_ms / w.dirs as f64),
        "stat_per_s": r2(rate(w.files, stat_ms)),
        "stat_bytes": stat_bytes,
        "readfile_per_s": r2(rate(w.files, read_ms)),
        "readfile_cpu_ms": r2(read_cpu_ms),
        "readfile_bytes": read_bytes,
        "readfile_mismatch": bad,
        "peak_rss_mib_after_small": peak_after_small,
        "disk_bytes_small": disk_small,
        "big_bytes": w.big_bytes,
        "big_chunk": w.chunk,
        "big_blocks": big_stat.blocks,
        "big_write_ms": r2(big_write_ms),
        "big_write_MBps": r2(mbps(w.big_bytes, big_write_ms)),
        "big_write_cpu_ms": r2(big_write_cpu_ms),
        "big_write_process_cpu_ms": r2(big_write_process_cpu_ms),
        "big_write_runqueue_wait_ms": r2(big_write_wait_ms),
        "big_write_MBps_per_cpu_s": r2(mbps(w.big_bytes, big_write_process_cpu_ms)),
        "blake2b_MBps": r2(mbps(w.big_bytes, blake2b_ms)),
        "peak_rss_mib_after_big_write": peak_after_big_write,
        "big_read_bytes": read_big,
        "big_read_ms": r2(big_read_ms),
        "big_read_MBps": r2(mbps(read_big, big_read_ms)),
        "big_read_cpu_ms": r2(big_read_cpu_ms),
        "big_read_first_chunk_ms": first_ms.map(r2),
        "disk_bytes_total": disk_total,
        "peak_rss_mib": peak_rss_mib()?,
    });
    println!("{line}");
    Ok(())
}

/// Node's `open/setup.js`: the drive of `files` small files in `dir/store`, built once.
fn setup(dir: &Path, files: u64, file_size: usize, dirs: u64) -> Res<()> {
    let marker = dir.join("SETUP_DONE.json");
    let want = json!({ "files": files, "file_size": file_size, "dirs": dirs });
    if let Ok(text) = std::fs::read_to_string(&marker)
        && let Ok(info) = serde_json::from_str::<Value>(&text)
        && info.get("params") == Some(&want)
    {
        println!("{info}");
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let (store, drive) = open_drive(&dir.join("store"))?;
    let contents = SmallFiles::new(file_size);
    let write = WriteOptions::default();
    let t0 = Instant::now();
    let mut info = serde_json::Map::new();
    for i in 0..files {
        drive.write_file(&name(i, dirs), contents.file(i), &write)?;
        if (i + 1) % 25_000 == 0 {
            info.insert(
                format!("writefile_per_s_at_{}", i + 1),
                json!(r2(rate(i + 1, ms(t0)))),
            );
        }
    }
    let setup_ms = ms(t0);
    info.insert("params".into(), want);
    info.insert("key".into(), json!(drive.key().to_hex()));
    info.insert("metadata_length".into(), json!(drive.version()));
    info.insert("setup_ms".into(), json!(r2(setup_ms)));
    info.insert("writefile_per_s".into(), json!(r2(rate(files, setup_ms))));
    drop(drive);
    store.close()?;
    drop(store);
    info.insert("disk_bytes".into(), json!(dir_bytes(&dir.join("store"))?));
    let info = Value::Object(info);
    std::fs::write(&marker, info.to_string())?;
    println!("{info}");
    Ok(())
}

/// Node's `open/child.js`: open the drive in `store_dir` in this fresh process, stat `path`,
/// read it.
fn open_child(start: Instant, store_dir: &Path, path: &str) -> Res<()> {
    let t0 = Instant::now();
    let (_store, drive) = open_drive(store_dir)?;
    let t_ready = Instant::now();
    let stat = drive.stat(path)?;
    let t_stat = Instant::now();
    let content = drive.read_file(path)?;
    let t_read = Instant::now();
    let span = |a: Instant, b: Instant| r2(b.duration_since(a).as_secs_f64() * 1000.0);
    let line = json!({
        "bench": "open",
        "impl": "ddrive",
        "start_to_main_ms": span(start, t0),
        "ready_ms": span(t0, t_ready),
        "stat_ms": span(t_ready, t_stat),
        "readfile_ms": span(t_stat, t_read),
        "open_plus_stat_ms": span(t0, t_stat),
        "size": stat.size,
        "read_len": content.len(),
        "metadata_length": drive.version(),
        "peak_rss_mib": peak_rss_mib()?,
    });
    println!("{line}");
    Ok(())
}

/// Time this thread has waited for a core while runnable (second field of
/// `/proc/thread-self/schedstat`): what other processes on a shared machine cost us.
fn thread_wait_ms() -> Res<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = stat
        .split_whitespace()
        .nth(1)
        .ok_or("short /proc/thread-self/schedstat")?
        .parse()?;
    Ok(ns as f64 / 1e6)
}

/// User plus system time of the whole process so far, in ms.
fn cpu_ms() -> Res<f64> {
    let (user, sys) = benchkit::process_cpu_ms()?;
    Ok(user + sys)
}
