//! Full-clone throughput with and without local readers on the seeder's drive: two threads
//! loop `readdir` (with stats) of a big directory and a `stat`, on the drive being served,
//! while a second store in the same process clones it over TCP on 127.0.0.1. Readers and
//! replication share the seeder's feeds, so this shows whether they serialise behind each
//! other.
//!
//! ```text
//! bench_contention [files=5000] [big_mib=64] [rounds=3]
//! ```
//! Prints one JSON line: the median clone MB/s without readers, with two, their ratio, and the
//! readers' loops per second. Stores live under `$BENCH_DIR` (default: the system temp
//! folder).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use corestore::Corestore;
use hypercore::protocol::SessionConfig;
use hyperdrive::{AsyncDrive, Drive, DriveOptions, ReaddirOptions, WriteOptions};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(600);
const READERS: usize = 2;

fn arg(i: usize, default: u64) -> Result<u64> {
    match std::env::args().nth(i) {
        Some(s) => s.parse().with_context(|| format!("argument {s:?}")),
        None => Ok(default),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One full clone of `source`; `readers` threads loop over `source` meanwhile. Returns the
/// clone's MB/s and the readers' loops per second.
async fn clone_once(source: &AsyncDrive, readers: usize) -> Result<(f64, f64)> {
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seeder = source.clone();
    let serve = tokio::spawn(async move {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let _ = seeder.replicate(socket, SessionConfig::new(false)).await;
        Ok::<(), anyhow::Error>(())
    });

    let stop = Arc::new(AtomicBool::new(false));
    let loops = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..readers)
        .map(|_| {
            let (drive, stop, loops) = (source.sync().clone(), stop.clone(), loops.clone());
            std::thread::spawn(move || -> hyperdrive::Result<()> {
                while !stop.load(Ordering::Relaxed) {
                    drive.readdir_with_stats("/dir", &ReaddirOptions::default())?;
                    drive.stat("/big.bin")?;
                    loops.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();

    let store = Arc::new(Corestore::open(dir.path().join("clone"))?);
    let options = DriveOptions::default().block_timeout(Some(WAIT));
    let clone = AsyncDrive::new(Drive::open(store, source.key(), options)?);
    let socket = TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let start = Instant::now();
    let replication = tokio::spawn({
        let clone = clone.clone();
        async move { clone.replicate(socket, SessionConfig::new(true)).await }
    });
    let report = clone.download_all(WAIT).await?;
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a reader panicked"))??;
    }
    replication.abort();
    serve.abort();
    let mbps = report.bytes as f64 / 1e6 / secs;
    Ok((mbps, loops.load(Ordering::Relaxed) as f64 / secs))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let files = arg(1, 5000)?;
    let big_mib = arg(2, 64)?;
    let rounds = arg(3, 3)?;
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base)?;
    let store = Arc::new(Corestore::open(dir.path().join("seed"))?);
    let drive = Drive::create(store, DriveOptions::default())?;
    let w = WriteOptions::default();
    for i in 0..files {
        drive.write_file(&format!("/dir/file{i}"), &[i as u8; 1024], &w)?;
    }
    let big: Vec<u8> = (0..big_mib * 1024 * 1024)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    drive.write_file("/big.bin", &big, &w)?;
    let source = AsyncDrive::new(drive);

    let mut alone = Vec::new();
    let mut crowded = Vec::new();
    let mut reader_rate = Vec::new();
    for _ in 0..rounds {
        alone.push(clone_once(&source, 0).await?.0);
        let (mbps, rate) = clone_once(&source, READERS).await?;
        crowded.push(mbps);
        reader_rate.push(rate);
    }
    let (alone, crowded) = (median(alone), median(crowded));
    println!(
        "{}",
        json!({
            "files": files, "big_mib": big_mib, "rounds": rounds,
            "clone_MBps": alone,
            "clone_MBps_with_2_readers": crowded,
            "ratio": crowded / alone,
            "reader_loops_per_s": median(reader_rate),
        })
    );
    Ok(())
}
