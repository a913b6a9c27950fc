//! Our side of `cargo xtask bench replication` (Node's side: `bench/js/repl/{setup,seed,
//! clone}.js`): a drive of
//! many small files and one big file replicated between two processes over TCP on 127.0.0.1.
//!
//! ```text
//! bench_replication setup SRC FILES FILE_SIZE BIG_MIB CHUNK_KIB   build the source drive
//! bench_replication seed SRC                      serve it; prints {"port","key"}, then its
//!                                                 CPU time when stdin closes
//! bench_replication clone full|ttfb PORT KEY DST SETUP_JSON
//!                                                 a fresh clone: everything, or one 1 KiB
//!                                                 read of /big.bin (offsets from $TTFB_SEED)
//! ```
//! The arguments and the JSON lines are Node's scripts' own, so either side's clone runs
//! against either side's seeder: `SETUP_JSON` is what either `setup` printed.
//!
//! The source drive has Node's shape and bytes: file i is `/dir<i % 100>/file<i>`, FILE_SIZE
//! bytes of `pseudoRandom(FILE_SIZE * 1025, 5)` from `(i * 131) % (FILE_SIZE * 1024)`;
//! `/big.bin` is CHUNK_KIB chunks of `pseudoRandom(4 MiB + chunk, 9)`, chunk c from
//! `(c * 65537) % 4 MiB`, each chunk one content block as Node's `createWriteStream` makes it.
//!
//! `BENCH_TRACE=1` prints a timeline on stderr (wall clock, to merge the seeder's and the
//! clone's): every wire read and write, session event and message sent (target `ddrive::wire`)
//! and the runner's steps.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use benchkit::{Mulberry32, pseudo_random};
use corestore::Corestore;
use hypercore::PublicKey;
use hypercore::protocol::SessionConfig;
use hyperdrive::{AsyncDrive, Drive, DriveOptions, Stat, WriteOptions};
use hypertrie::{Hypertrie, PutOptions, TrieState};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt};
use tokio::net::{TcpListener, TcpStream};

const POOL: usize = 4 * 1024 * 1024;
const WAIT: Duration = Duration::from_secs(600);
/// Chunks of the big file appended (and signed) at once while building the source.
const BATCH: usize = 64;

/// Bytes `[off, off + len)` of the big file: chunk c is pool bytes from `(c * 65537) % POOL`.
fn big_bytes(big_pool: &[u8], chunk: usize, off: usize, len: usize) -> Vec<u8> {
    (off..off + len)
        .map(|o| big_pool[(o / chunk * 65537) % POOL + o % chunk])
        .collect()
}

fn ms(d: Duration) -> f64 {
    benchkit::r2(d.as_secs_f64() * 1000.0)
}

fn cpu_ms() -> Result<(f64, f64)> {
    benchkit::process_cpu_ms().map_err(|e| anyhow!("reading this process's CPU time: {e}"))
}

fn peak_rss_mib() -> Result<f64> {
    benchkit::peak_rss_mib().map_err(|e| anyhow!("reading this process's peak RSS: {e}"))
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
    let [src, files, file_size, big_mib, chunk_kib] = args else {
        bail!("setup SRC FILES FILE_SIZE BIG_MIB CHUNK_KIB");
    };
    let (files, file_size, big_mib, chunk): (usize, usize, usize, usize) = (
        files.parse()?,
        file_size.parse()?,
        big_mib.parse()?,
        chunk_kib.parse::<usize>()? * 1024,
    );
    let src = PathBuf::from(src);
    let marker = src.join("SETUP_DONE.json");
    // Node's parameters object, so its clone reads ours as its own; "ddrive" tells a source
    // built by an older runner (512 KiB blocks) apart.
    let params = json!({"files": files, "file_size": file_size, "big_mib": big_mib,
        "chunk": chunk, "v": 2, "ddrive": 2});
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let info: Value = serde_json::from_str(&text)?;
        if info["params"] == params {
            println!("{}", text.trim());
            return Ok(());
        }
    }
    if src.exists() {
        std::fs::remove_dir_all(&src)?;
    }
    let t0 = Instant::now();
    let store = Arc::new(Corestore::open(src.join("store"))?);
    let drive = Drive::create(Arc::clone(&store), DriveOptions::default())?;
    let small = pseudo_random(file_size * 1024 + file_size, 5);
    let w = WriteOptions::default();
    for i in 0..files {
        let off = (i * 131) % (file_size * 1024);
        drive.write_file(
            &format!("/dir{}/file{i}", i % 100),
            &small[off..off + file_size],
            &w,
        )?;
    }
    let big = write_big(&drive, big_mib * 1024 * 1024, chunk)?;
    let content = drive.content_feed().context("content feed")?;
    let info = json!({
        "params": params,
        "key": drive.key().to_hex(),
        "metadata_length": drive.metadata_feed().lock().len(),
        "metadata_byte_length": drive.metadata_feed().lock().byte_len(),
        "content_length": content.lock().len(),
        "content_byte_length": content.lock().byte_len(),
        "big_blocks": big.blocks,
        "big_offset": big.offset,
        "setup_ms": ms(t0.elapsed()),
    });
    store.close()?;
    std::fs::write(&marker, info.to_string())?;
    println!("{info}");
    Ok(())
}

/// `/big.bin` as Node's `createWriteStream` writes it: every `chunk`-byte write its own
/// content block, then the Stat. Our `FileWriter` regroups writes into 512 KiB blocks and
/// the drive has no public call that keeps a write's boundaries, so the blocks go to the
/// content feed directly and the Stat into the trie as the drive's own put does.
fn write_big(drive: &Drive, size: usize, chunk: usize) -> Result<Stat> {
    let big_pool = pseudo_random(POOL + chunk, 9);
    let content = drive.content_feed().context("content feed")?;
    let mut feed = content.lock();
    let (offset, byte_offset) = (feed.len(), feed.byte_len());
    let mut written = 0;
    while written < size {
        let mut blocks = Vec::with_capacity(BATCH);
        while written < size && blocks.len() < BATCH {
            let n = chunk.min(size - written);
            blocks.push(big_bytes(&big_pool, chunk, written, n));
            written += n;
        }
        feed.append_batch(&blocks)?;
    }
    let mut stat = Stat::file(drive.clock().now());
    stat.size = feed.byte_len() - byte_offset;
    stat.blocks = feed.len() - offset;
    stat.offset = offset;
    stat.byte_offset = byte_offset;
    drop(feed);
    let mut metadata = drive.metadata_feed().lock();
    let mut trie = Hypertrie::over(&mut metadata, TrieState::default())?;
    trie.put_with(
        "big.bin",
        Some(&stat.encode()),
        PutOptions::default().closest(true),
    )?;
    Ok(stat)
}

async fn seed(args: &[String]) -> Result<()> {
    let [src] = args else { bail!("seed SRC") };
    let store = Arc::new(Corestore::open(Path::new(src).join("store"))?);
    let drive = AsyncDrive::new(Drive::create(store, DriveOptions::default())?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "{}",
        json!({"port": listener.local_addr()?.port(), "key": drive.key().to_hex()})
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
    let (user, sys) = cpu_ms()?;
    println!(
        "{}",
        json!({"seeder_cpu_user_ms": user, "seeder_cpu_sys_ms": sys,
            "seeder_peak_rss_mib": peak_rss_mib()?})
    );
    Ok(())
}

/// What a clone needs from the source's setup line.
struct Setup {
    chunk: usize,
    big_mib: usize,
    file_size: usize,
    metadata_length: u64,
    content_length: u64,
}

impl Setup {
    fn parse(text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).context("parsing SETUP_JSON")?;
        let n = |x: &Value, what: &str| x.as_u64().with_context(|| format!("setup {what}"));
        Ok(Setup {
            chunk: usize::try_from(n(&v["params"]["chunk"], "params.chunk")?)?,
            big_mib: usize::try_from(n(&v["params"]["big_mib"], "params.big_mib")?)?,
            file_size: usize::try_from(n(&v["params"]["file_size"], "params.file_size")?)?,
            metadata_length: n(&v["metadata_length"], "metadata_length")?,
            content_length: n(&v["content_length"], "content_length")?,
        })
    }
}

async fn clone(args: &[String]) -> Result<()> {
    let [mode, port, key, dst, setup] = args else {
        bail!("clone full|ttfb PORT KEY DST SETUP_JSON");
    };
    let setup = Setup::parse(setup)?;
    let key = PublicKey(<[u8; 32]>::try_from(hex::decode(key)?.as_slice())?);
    let dst = PathBuf::from(dst);
    if dst.exists() {
        std::fs::remove_dir_all(&dst)?;
    }
    // As Node's clone: precomputation before the CPU baseline and the timers.
    let big_pool = (mode == "ttfb").then(|| pseudo_random(POOL + setup.chunk, 9));
    let cpu0 = cpu_ms()?;
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
    let mut out = json!({"mode": mode, "ready_ms": ready_ms});
    match mode.as_str() {
        "full" => {
            let report = drive.download_all(WAIT).await?;
            let elapsed = tc.elapsed();
            out["full_download_ms"] = ms(elapsed).into();
            out["bytes"] = report.bytes.into();
            out["blocks"] = report.blocks.into();
            out["full_download_MBps"] =
                benchkit::r2(benchkit::mbps(report.bytes, elapsed.as_secs_f64() * 1000.0)).into();
            let metadata = drive
                .sync()
                .metadata_feed()
                .lock()
                .downloaded(0, setup.metadata_length);
            let content = drive.sync().content_feed().context("content feed")?.clone();
            let content = content.lock().downloaded(0, setup.content_length);
            out["metadata_blocks_have"] = metadata.into();
            out["content_blocks_have"] = content.into();
            out["complete"] =
                (metadata == setup.metadata_length && content == setup.content_length).into();
        }
        "ttfb" => {
            let big_pool = big_pool.context("pool")?;
            let chunk = setup.chunk;
            let chunks = setup.big_mib * 1024 * 1024 / chunk;
            // Node's offsets: a random chunk, then a 1 KiB range that stays inside it.
            let seed = std::env::var("TTFB_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(42);
            let mut rng = Mulberry32(seed);
            let mut pick = || {
                let c = (rng.next_f64() * chunks as f64) as usize;
                c * chunk + (rng.next_f64() * (chunk - 1024) as f64) as usize
            };
            let read = async |drive: &AsyncDrive, off: usize| -> Result<(f64, bool)> {
                let ts = Instant::now();
                let mut reader = drive.reader("/big.bin").await?;
                tracing::trace!("reader open");
                let mut buf = vec![0u8; 1024];
                reader.seek(std::io::SeekFrom::Start(off as u64)).await?;
                reader.read_exact(&mut buf).await?;
                Ok((
                    ms(ts.elapsed()),
                    buf == big_bytes(&big_pool, chunk, off, 1024),
                ))
            };
            let off = pick();
            let (first, ok) = read(&drive, off).await?;
            tracing::trace!("first read returned");
            out["offset"] = off.into();
            out["ttfb_from_connect_ms"] = ms(tc.elapsed()).into();
            out["first_read_ms"] = first.into();
            out["first_read_ok"] = ok.into();
            let mut warm = Vec::new();
            for _ in 0..5 {
                let (t, ok) = read(&drive, pick()).await?;
                if !ok {
                    out["warm_read_bad"] = true.into();
                }
                warm.push(t);
            }
            warm.sort_by(f64::total_cmp);
            out["warm_random_read_median_ms"] = warm[2].into();
            let ts = Instant::now();
            let small = drive.read_file("/dir42/file4242").await?;
            out["warm_small_readfile_ms"] = ms(ts.elapsed()).into();
            out["small_ok"] = (small.len() == setup.file_size).into();
        }
        other => bail!("unknown mode {other:?}"),
    }
    let (user, sys) = cpu_ms()?;
    out["clone_cpu_user_ms"] = (user - cpu0.0).into();
    out["clone_cpu_sys_ms"] = (sys - cpu0.1).into();
    out["clone_peak_rss_mib"] = peak_rss_mib()?.into();
    replication.abort();
    println!("{out}");
    Ok(())
}
