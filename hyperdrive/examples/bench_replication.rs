//! Our side of `cargo xtask bench replication` (Node's anchor:
//! `shared/bench/js/bench-replication.js`): a drive of many small files and one big file
//! replicated between two processes over TCP on 127.0.0.1.
//!
//! ```text
//! bench_replication setup SRC FILES FILE_SIZE BIG_MIB   build the source drive (reused)
//! bench_replication seed SRC                            serve it; prints {"port","key"},
//!                                                       then its CPU time when stdin closes
//! bench_replication clone full|ttfb PORT KEY DST SEED   a fresh clone: everything, or one
//!                                                       1 KiB read of /big.bin
//! ```
//! Every mode prints one JSON line. Content: file i is `/dir<i % 100>/file<i>`, FILE_SIZE
//! bytes from a fixed pool; `/big.bin` is 64 KiB chunks of a fixed pool, as Node's setup.
//!
//! `BENCH_TRACE=1` prints a timeline on stderr (wall clock, to merge the seeder's and the clone's): every wire read
//! and write, session event and message sent (target `ddrive::wire`) and the runner's steps.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use corestore::Corestore;
use hypercore::PublicKey;
use hypercore::protocol::SessionConfig;
use hyperdrive::{AsyncDrive, Drive, DriveOptions, WriteOptions};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt};
use tokio::net::{TcpListener, TcpStream};

const CHUNK: usize = 64 * 1024;
const POOL: usize = 4 * 1024 * 1024;
const WAIT: Duration = Duration::from_secs(600);

fn pool(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.r#gen()).collect()
}

/// Bytes `[off, off + len)` of the big file: chunk c is pool bytes from `(c * 65537) % POOL`.
fn big_bytes(big_pool: &[u8], off: usize, len: usize) -> Vec<u8> {
    (off..off + len)
        .map(|o| big_pool[(o / CHUNK * 65537) % POOL + o % CHUNK])
        .collect()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os("BENCH_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_timer(tracing_subscriber::fmt::time::SystemTime)
            .with_writer(std::io::stderr)
            .with_target(false)
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("setup") => setup(&args[1..]),
        Some("seed") => rt.block_on(seed(&args[1..])),
        Some("clone") => rt.block_on(clone(&args[1..])),
        _ => bail!("usage: bench_replication setup|seed|clone ..."),
    }
}

fn setup(args: &[String]) -> Result<()> {
    let [src, files, file_size, big_mib] = args else {
        bail!("setup SRC FILES FILE_SIZE BIG_MIB");
    };
    let (files, file_size, big_mib): (usize, usize, usize) =
        (files.parse()?, file_size.parse()?, big_mib.parse()?);
    let src = PathBuf::from(src);
    let marker = src.join("SETUP_DONE.json");
    let params = format!("{files}x{file_size}+{big_mib}MiB-v1");
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let info: serde_json::Value = serde_json::from_str(&text)?;
        if info["params"] == params.as_str() {
            println!("{text}");
            return Ok(());
        }
    }
    if src.exists() {
        std::fs::remove_dir_all(&src)?;
    }
    let t0 = Instant::now();
    let store = Arc::new(Corestore::open(src.join("store"))?);
    let drive = Drive::create(Arc::clone(&store), DriveOptions::default())?;
    let small = pool(file_size * 1024 + file_size, 5);
    let w = WriteOptions::default();
    for i in 0..files {
        let off = (i * 131) % (file_size * 1024);
        drive.write_file(
            &format!("/dir{}/file{i}", i % 100),
            &small[off..off + file_size],
            &w,
        )?;
    }
    let big_pool = pool(POOL + CHUNK, 9);
    let mut writer = drive.open_writer("/big.bin", w.clone())?;
    let big = big_mib * 1024 * 1024;
    let mut written = 0;
    while written < big {
        let n = CHUNK.min(big - written);
        writer.write(&big_bytes(&big_pool, written, n))?;
        written += n;
    }
    writer.finish()?;
    let content = drive.content_feed().context("content feed")?;
    let info = serde_json::json!({
        "params": params,
        "key": drive.key().to_hex(),
        "metadata_length": drive.metadata_feed().lock().len(),
        "metadata_byte_length": drive.metadata_feed().lock().byte_len(),
        "content_length": content.lock().len(),
        "content_byte_length": content.lock().byte_len(),
        "setup_ms": ms(t0.elapsed()),
    });
    store.close()?;
    std::fs::write(&marker, info.to_string())?;
    println!("{info}");
    Ok(())
}

fn cpu_ms() -> (f64, f64) {
    // /proc/self/stat fields 14 and 15: user and system time in clock ticks (100 Hz).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) * 10.0;
    (tick(11), tick(12))
}

async fn seed(args: &[String]) -> Result<()> {
    let [src] = args else { bail!("seed SRC") };
    let store = Arc::new(Corestore::open(Path::new(src).join("store"))?);
    let drive = AsyncDrive::new(Drive::create(store, DriveOptions::default())?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "{}",
        serde_json::json!({"port": listener.local_addr()?.port(), "key": drive.key().to_hex()})
    );
    let serve = async {
        loop {
            let (socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            let drive = drive.clone();
            tokio::spawn(async move {
                let _ = drive.replicate(socket, session(false)).await;
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), anyhow::Error>(())
    };
    let stdin_closed = async {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while lines.next_line().await?.is_some() {}
        Ok::<(), anyhow::Error>(())
    };
    tokio::select! {
        r = serve => r?,
        r = stdin_closed => r?,
    }
    let (user, sys) = cpu_ms();
    println!(
        "{}",
        serde_json::json!({"seeder_cpu_user_ms": user, "seeder_cpu_sys_ms": sys})
    );
    Ok(())
}

async fn clone(args: &[String]) -> Result<()> {
    let [mode, port, key, dst, seed] = args else {
        bail!("clone full|ttfb PORT KEY DST SEED");
    };
    let key = PublicKey(<[u8; 32]>::try_from(hex::decode(key)?.as_slice())?);
    let dst = PathBuf::from(dst);
    if dst.exists() {
        std::fs::remove_dir_all(&dst)?;
    }
    let big_pool = (mode == "ttfb").then(|| pool(POOL + CHUNK, 9));
    let t0 = Instant::now();
    let store = Arc::new(Corestore::open(dst.join("store"))?);
    let options = DriveOptions::default().block_timeout(Some(WAIT));
    let drive = AsyncDrive::new(Drive::open(store, &key, options)?);
    let ready_ms = ms(t0.elapsed());
    let tc = Instant::now();
    tracing::trace!("connect");
    // An address, not a host name: tokio would resolve a name on its blocking pool. A
    // blocking connect: on loopback the kernel completes it within the call, where an async
    // one waits for the runtime's I/O thread to wake this one (0.2-3 ms on a busy machine).
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.parse::<u16>()?));
    let socket = std::net::TcpStream::connect(addr)?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    let socket = TcpStream::from_std(socket)?;
    tracing::trace!("connected");
    let replication = tokio::spawn({
        let drive = drive.clone();
        async move { drive.replicate(socket, session(true)).await }
    });
    let mut out = serde_json::json!({"mode": mode, "ready_ms": ready_ms});
    match mode.as_str() {
        "full" => {
            let report = drive.download_all(WAIT).await?;
            let elapsed = tc.elapsed();
            out["full_download_ms"] = ms(elapsed).into();
            out["bytes"] = report.bytes.into();
            out["blocks"] = report.blocks.into();
            out["full_download_MBps"] =
                ((report.bytes as f64 / 1e6 / elapsed.as_secs_f64() * 100.0).round() / 100.0)
                    .into();
            let content = drive.sync().content_feed().context("content feed")?.clone();
            let f = content.lock();
            out["complete"] = (f.downloaded(0, f.len()) == f.len()).into();
        }
        "ttfb" => {
            let big_pool = big_pool.context("pool")?;
            let mut rng = StdRng::seed_from_u64(seed.parse()?);
            let mut read = async |drive: &AsyncDrive| -> Result<(f64, bool)> {
                let ts = Instant::now();
                let mut reader = drive.reader("/big.bin").await?;
                tracing::trace!("reader open");
                let size = reader.size() as usize;
                let off = rng.gen_range(0..size - 1024);
                let mut buf = vec![0u8; 1024];
                reader.seek(std::io::SeekFrom::Start(off as u64)).await?;
                reader.read_exact(&mut buf).await?;
                Ok((ms(ts.elapsed()), buf == big_bytes(&big_pool, off, 1024)))
            };
            let (first, ok) = read(&drive).await?;
            tracing::trace!("first read returned");
            out["ttfb_from_connect_ms"] = ms(tc.elapsed()).into();
            out["first_read_ms"] = first.into();
            out["first_read_ok"] = ok.into();
            let mut warm = Vec::new();
            for _ in 0..5 {
                let (t, ok) = read(&drive).await?;
                if !ok {
                    out["warm_read_bad"] = true.into();
                }
                warm.push(t);
            }
            warm.sort_by(f64::total_cmp);
            out["warm_random_read_median_ms"] = warm[2].into();
        }
        other => bail!("unknown mode {other:?}"),
    }
    replication.abort();
    println!("{out}");
    Ok(())
}
