//! Full-clone throughput while local readers loop over the drive being served, against the same
//! readers looping over an unrelated drive: two threads loop `readdir` (with stats) of a big
//! directory and a `stat`, while a second store in the same process clones the served drive over
//! TCP on 127.0.0.1.
//!
//! Three phases a round, in an order that rotates each round: `alone` (no readers), `control`
//! (the readers on another drive in another store: they take the same CPU but share no feed
//! with the clone) and `contended` (the readers on the drive being cloned). On a machine with
//! few cores, readers slow a clone by taking CPU whatever the locks do; the ratio
//! `contended / control` isolates what sharing the feeds costs.
//!
//! Each phase also reports how long the feeds' mutexes were held and waited for (summed over
//! every locker; [`hypercore::replicate::profile_locks`]): the seeder's metadata and content
//! feeds, and the clone's, against the phase's wall time.
//!
//! ```text
//! bench_contention [files=5000] [big_mib=64] [rounds=3]
//! ```
//! Prints one JSON line of medians. Stores live under `$BENCH_DIR` (default: the system temp
//! folder).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use corestore::{Corestore, SharedFeed};
use hypercore::protocol::SessionConfig;
use hypercore::replicate::{LockProfile, profile_locks};
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

fn base_dir() -> std::path::PathBuf {
    std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into)
}

/// A drive of `files` 1 KiB files in `/dir` and a `big_mib` MiB `/big.bin`.
fn make_drive(store: Arc<Corestore>, files: u64, big_mib: u64) -> Result<Drive> {
    let drive = Drive::create(store, DriveOptions::default())?;
    let w = WriteOptions::default();
    for i in 0..files {
        drive.write_file(&format!("/dir/file{i}"), &[i as u8; 1024], &w)?;
    }
    let big: Vec<u8> = (0..big_mib * 1024 * 1024)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    drive.write_file("/big.bin", &big, &w)?;
    Ok(drive)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The lock profiles of a set of feeds, by label.
fn profiles(feeds: &[(&'static str, SharedFeed)]) -> Vec<(&'static str, LockProfile)> {
    feeds.iter().map(|(l, f)| (*l, f.lock_profile())).collect()
}

/// One full clone of `source`; `readers` threads loop over `read` meanwhile. Returns the
/// phase's figures: clone MB/s, reader loops/s, and per feed the mutex held and waited ms.
async fn clone_once(
    source: &AsyncDrive,
    read: Option<&Drive>,
    phase: &str,
) -> Result<BTreeMap<String, f64>> {
    let dir = tempfile::tempdir_in(base_dir())?;
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
    let threads: Vec<_> = read
        .map(|d| vec![d.clone(); READERS])
        .unwrap_or_default()
        .into_iter()
        .map(|drive| {
            let (stop, loops) = (stop.clone(), loops.clone());
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
    let content = source
        .sync()
        .content_feed()
        .context("the source has content")?
        .clone();
    let seed_feeds = [
        ("seed_meta", source.sync().metadata_feed().clone()),
        ("seed_content", content),
    ];
    let before = profiles(&seed_feeds);
    let socket = TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let start = Instant::now();
    let replication = tokio::spawn({
        let clone = clone.clone();
        async move { clone.replicate(socket, SessionConfig::new(true)).await }
    });
    let report = clone.download_all(WAIT).await?;
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a reader panicked"))??;
    }
    replication.abort();
    serve.abort();

    let secs = wall.as_secs_f64();
    let mut out = BTreeMap::new();
    out.insert(
        format!("{phase}.clone_MBps"),
        report.bytes as f64 / 1e6 / secs,
    );
    out.insert(format!("{phase}.wall_ms"), ms(wall));
    if read.is_some() {
        let rate = loops.load(Ordering::Relaxed) as f64 / secs;
        out.insert(format!("{phase}.reader_loops_per_s"), rate);
    }
    let mut clone_feeds = vec![("clone_meta", clone.sync().metadata_feed().clone())];
    clone_feeds.extend(
        clone
            .sync()
            .content_feed()
            .map(|f| ("clone_content", f.clone())),
    );
    let after = profiles(&seed_feeds);
    let deltas = before
        .iter()
        .zip(&after)
        .map(|((label, b), (_, a))| (*label, a.since(b)))
        .chain(profiles(&clone_feeds));
    for (label, p) in deltas {
        out.insert(format!("{phase}.{label}_held_ms"), ms(p.held));
        out.insert(format!("{phase}.{label}_wait_ms"), ms(p.wait));
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let files = arg(1, 5000)?;
    let big_mib = arg(2, 64)?;
    let rounds = arg(3, 3)?;
    profile_locks(true);
    let dir = tempfile::tempdir_in(base_dir())?;
    let source = make_drive(
        Arc::new(Corestore::open(dir.path().join("seed"))?),
        files,
        big_mib,
    )?;
    // The control's drive: the same directory, in a store the clone never touches. Its big file
    // is only ever stat'ed, so one block of it will do.
    let other = make_drive(
        Arc::new(Corestore::open(dir.path().join("other"))?),
        files,
        0,
    )?;
    let source = AsyncDrive::new(source);

    let mut runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let phases: [(&str, Option<&Drive>); 3] = [
        ("alone", None),
        ("control", Some(&other)),
        ("contended", Some(source.sync())),
    ];
    for round in 0..rounds as usize {
        for k in 0..phases.len() {
            let (phase, read) = phases[(round + k) % phases.len()];
            for (key, value) in clone_once(&source, read, phase).await? {
                runs.entry(key).or_default().push(value);
            }
        }
    }
    let mut medians: BTreeMap<String, f64> =
        runs.into_iter().map(|(k, v)| (k, median(v))).collect();
    let get = |k: &str| medians.get(k).copied().unwrap_or(f64::NAN);
    let ratio = get("contended.clone_MBps") / get("control.clone_MBps");
    let cpu_ratio = get("contended.clone_MBps") / get("alone.clone_MBps");
    medians.insert("ratio".into(), ratio);
    medians.insert("ratio_vs_alone".into(), cpu_ratio);
    let mut line =
        json!({ "bench": "contention", "files": files, "big_mib": big_mib, "rounds": rounds });
    if let Some(map) = line.as_object_mut() {
        for (k, v) in medians {
            map.insert(k, json!(v));
        }
    }
    println!("{line}");
    Ok(())
}
