//! Crash trials of the daemon, shared by `tests/sigkill.rs` (a few trials in `cargo test`) and
//! `examples/crash_trials.rs` (what `cargo xtask crash daemon` runs, 200 and more).
//!
//! One trial, every choice drawn from its seed: start `ddrive start --foreground` on a fresh
//! folder, open a drive, let 1 to 3 clients write files through gRPC (sizes from empty to
//! 300 KiB, now and then one over a 3.9 MB chunk), and SIGKILL the daemon once a drawn number
//! of writes was acknowledged plus a drawn delay, so the kill lands anywhere: between RPCs,
//! mid-stream, mid-flush. Then, with the daemon dead:
//! - every core in the store opens and audits clean (every stored block hashes to its leaf:
//!   hypercore's `Feed::audit`);
//! - the restarted daemon reopens the drive under its key, and every write whose RPC had
//!   returned reads back byte for byte;
//! - a write that was in flight at the kill is either absent or whole (never torn).

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corestore::Corestore;
use ddrive_daemon::proto::{self, drive_client::DriveClient};
use tonic::transport::Channel;
use tonic::{Code, Request};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a daemon may take to answer after its process starts.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Writes one client makes at most in a trial (the kill comes long before).
const MAX_WRITES: u64 = 10_000;

/// What a run of trials checked.
#[derive(Debug, Default)]
pub struct Tally {
    pub trials: u64,
    /// Acknowledged writes read back intact after the restart.
    pub acked_checked: u64,
    /// Writes in flight at the kill found whole after the restart.
    pub in_flight_whole: u64,
    /// Writes in flight at the kill found absent after the restart.
    pub in_flight_absent: u64,
    /// Cores opened and audited after a kill, and the blocks they hold.
    pub cores_audited: u64,
    pub blocks_audited: u64,
    /// One line per failed check, naming its trial's seed.
    pub failures: Vec<String>,
}

/// The seed of trial `i` of a run seeded `seed`.
pub fn trial_seed(seed: u64, i: u64) -> u64 {
    splitmix(seed ^ splitmix(i.wrapping_add(1)))
}

/// Runs `trials` trials; `progress` is called after each.
pub async fn run(
    ddrive: &Path,
    seed: u64,
    trials: u64,
    mut progress: impl FnMut(u64, &Tally),
) -> Result<Tally, BoxError> {
    let mut tally = Tally::default();
    for i in 0..trials {
        trial(ddrive, trial_seed(seed, i), &mut tally).await?;
        tally.trials += 1;
        progress(i, &tally);
    }
    Ok(tally)
}

/// A running `ddrive start --foreground` and a client of it.
pub struct Running {
    child: Child,
    client: DriveClient<Channel>,
    token: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Best effort: a trial's daemon is killed either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `ddrive start --foreground` on `storage` and waits, with a bound, until it answers.
pub async fn start(ddrive: &Path, storage: &Path) -> Result<Running, BoxError> {
    let port = free_port()?;
    let child = Command::new(ddrive)
        .arg("--storage")
        .arg(storage)
        .args([
            "start",
            "--foreground",
            "--no-fuse",
            "--bootstrap",
            "none",
            "--port",
        ])
        .arg(port.to_string())
        .env_remove("DDRIVE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut child = Some(child);
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        // config.json is rewritten (by rename) at every start, before the listener answers;
        // the port in it tells this start from the last one.
        if let Ok(text) = std::fs::read_to_string(storage.join("config.json"))
            && text.contains(&format!(":{port}\""))
        {
            let config: serde_json::Value = serde_json::from_str(&text)?;
            let token = config["token"].as_str().unwrap_or_default().to_owned();
            let endpoint = format!("http://127.0.0.1:{port}");
            if let Ok(channel) = tonic::transport::Endpoint::from_shared(endpoint)?
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(60))
                .connect()
                .await
            {
                return Ok(Running {
                    child: child.take().ok_or("the daemon's process is gone")?,
                    client: DriveClient::new(channel),
                    token,
                });
            }
        }
        if Instant::now() > deadline {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(format!("the daemon did not answer within {READY_WITHIN:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Running {
    fn req<T>(token: &str, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.metadata_mut()
            .insert("token", token.parse().expect("a token is ASCII"));
        r
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the daemon and waits for it.
    pub fn kill(mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// A handle for another client task on the same connection.
    pub fn writer(&self) -> Writer {
        Writer {
            client: self.client.clone(),
            token: self.token.clone(),
        }
    }

    /// Opens a drive (a new one when `key` is empty): its session id and key.
    pub async fn open(&mut self, key: Vec<u8>) -> Result<(u64, Vec<u8>), tonic::Status> {
        let opts = proto::HyperdriveOptions {
            key,
            ..Default::default()
        };
        let rsp = self
            .client
            .get(Self::req(
                &self.token,
                proto::GetDriveRequest { opts: Some(opts) },
            ))
            .await?
            .into_inner();
        Ok((rsp.id, rsp.opts.map(|o| o.key).unwrap_or_default()))
    }

    /// The whole file at `path`.
    pub async fn read(&mut self, id: u64, path: &str) -> Result<Vec<u8>, tonic::Status> {
        let mut stream = self
            .client
            .read_file(Self::req(
                &self.token,
                proto::ReadFileRequest {
                    id,
                    path: path.into(),
                },
            ))
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(m) = stream.message().await? {
            out.extend_from_slice(&m.chunk);
        }
        Ok(out)
    }
}

/// One client's writes.
#[derive(Clone)]
pub struct Writer {
    client: DriveClient<Channel>,
    token: String,
}

impl Writer {
    /// `Drive.writeFile` of `data` at `path`, in chunks of at most 3.9 MB; returns once the
    /// daemon answered.
    pub async fn write(&mut self, id: u64, path: &str, data: &[u8]) -> Result<(), tonic::Status> {
        let mut messages: Vec<proto::WriteFileRequest> = data
            .chunks(ddrive_daemon::CHUNK_SIZE)
            .map(|c| proto::WriteFileRequest {
                chunk: c.to_vec(),
                ..Default::default()
            })
            .collect();
        if messages.is_empty() {
            messages.push(proto::WriteFileRequest::default());
        }
        messages[0].id = id;
        messages[0].path = path.into();
        let request = Running::req(&self.token, tokio_stream::iter(messages));
        self.client.write_file(request).await?;
        Ok(())
    }
}

/// A small deterministic generator, so a failing trial can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bytes of write `i` of client `w` in the trial seeded `seed`.
pub fn content(seed: u64, w: u64, i: u64, len: usize) -> Vec<u8> {
    let mut state = splitmix(seed ^ (w << 48) ^ i) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = splitmix(state);
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One write a client started: its path, who wrote it, and its length.
#[derive(Clone, Debug)]
struct Write {
    path: String,
    w: u64,
    i: u64,
    len: usize,
}

/// What the clients saw before the kill.
#[derive(Default)]
struct Seen {
    acked: Vec<Write>,
    in_flight: Vec<Write>,
}

/// A file size: mostly small, some up to 300 KiB, one in 50 over a 3.9 MB chunk.
fn draw_len(rng: &mut Rng) -> usize {
    let len = match rng.below(50) {
        0 => 3_900_000 + rng.below(600_000),
        1..=14 => rng.below(300 * 1024),
        _ => rng.below(4096),
    };
    usize::try_from(len).unwrap_or(0)
}

/// One trial (see the module docs); failed checks go to `tally.failures`, and an `Err` is a
/// trial that could not run (a daemon that would not start).
pub async fn trial(ddrive: &Path, seed: u64, tally: &mut Tally) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut rng = Rng::new(seed);
    let clients = 1 + rng.below(3);
    let kill_after_acks = rng.below(25);
    let kill_delay = Duration::from_micros(rng.below(30_000));

    let mut daemon = start(ddrive, dir.path()).await?;
    let (id, key) = daemon.open(Vec::new()).await?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (acks_tx, mut acks_rx) = tokio::sync::watch::channel(0u64);
    let acks_tx = Arc::new(acks_tx);
    let mut tasks = Vec::new();
    for w in 0..clients {
        let mut writer = daemon.writer();
        let seen = seen.clone();
        let acks = acks_tx.clone();
        let mut rng = Rng::new(seed ^ (w + 1).wrapping_mul(0x1000_0001));
        tasks.push(tokio::spawn(async move {
            for i in 0..MAX_WRITES {
                let write = Write {
                    path: format!("/c{w}/f{i}.bin"),
                    w,
                    i,
                    len: draw_len(&mut rng),
                };
                let data = content(seed, w, i, write.len);
                lock(&seen).in_flight.push(write.clone());
                if writer.write(id, &write.path, &data).await.is_err() {
                    // The daemon died: this write stays in flight.
                    return;
                }
                let mut s = lock(&seen);
                s.in_flight.retain(|x| x.path != write.path);
                s.acked.push(write);
                drop(s);
                acks.send_modify(|n| *n += 1);
            }
        }));
    }
    // The kill: once enough writes were acknowledged (or every client stopped), plus a delay.
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        acks_rx.wait_for(|n| *n >= kill_after_acks),
    )
    .await;
    tokio::time::sleep(kill_delay).await;
    daemon.kill()?;
    for t in tasks {
        t.await?;
    }
    let seen = std::mem::take(&mut *lock(&seen));

    let fail = |tally: &mut Tally, what: String| {
        tally
            .failures
            .push(format!("trial seed {seed:#018x}: {what}"));
    };

    // Every core on disk opens and audits clean, before anything else touches them.
    match audit(&dir.path().join("storage/cores")) {
        Ok(report) => {
            tally.cores_audited += report.cores;
            tally.blocks_audited += report.valid;
            for bad in report.bad {
                fail(tally, bad);
            }
        }
        Err(e) => fail(
            tally,
            format!("the store does not open after the kill: {e}"),
        ),
    }

    let mut daemon = start(ddrive, dir.path()).await?;
    let (id, reopened) = match daemon.open(key.clone()).await {
        Ok(opened) => opened,
        Err(e) => {
            fail(tally, format!("the drive does not reopen: {e}"));
            return Ok(());
        }
    };
    if reopened != key {
        fail(tally, "the drive reopens under another key".into());
    }
    for wr in &seen.acked {
        match daemon.read(id, &wr.path).await {
            Ok(got) if got == content(seed, wr.w, wr.i, wr.len) => tally.acked_checked += 1,
            Ok(got) => fail(
                tally,
                format!(
                    "acknowledged write {} reads back {} different bytes ({} long, wrote {})",
                    wr.path,
                    got.iter()
                        .zip(content(seed, wr.w, wr.i, wr.len))
                        .filter(|(a, b)| **a != *b)
                        .count(),
                    got.len(),
                    wr.len
                ),
            ),
            Err(e) => fail(
                tally,
                format!("acknowledged write {} lost after SIGKILL: {e}", wr.path),
            ),
        }
    }
    for wr in &seen.in_flight {
        match daemon.read(id, &wr.path).await {
            Ok(got) if got == content(seed, wr.w, wr.i, wr.len) => tally.in_flight_whole += 1,
            Ok(got) => fail(
                tally,
                format!(
                    "write {} in flight at the kill is torn: {} bytes of {}",
                    wr.path,
                    got.len(),
                    wr.len
                ),
            ),
            Err(e) if e.code() == Code::NotFound => tally.in_flight_absent += 1,
            Err(e) => fail(
                tally,
                format!("write {} in flight at the kill: {e}", wr.path),
            ),
        }
    }
    daemon.kill()?;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What auditing a store found.
#[derive(Debug, Default)]
pub struct Audit {
    pub cores: u64,
    /// Stored blocks that hash to their leaf.
    pub valid: u64,
    /// One line per core that does not open or holds a block that does not hash.
    pub bad: Vec<String>,
}

/// Opens every core under `cores` (the corestore folder: `<dk0:2>/<dk2:4>/<dk>/`) and audits
/// it.
pub fn audit(cores: &Path) -> Result<Audit, BoxError> {
    let store = Corestore::open(cores)?;
    let mut out = Audit::default();
    for dk in discovery_keys(cores)? {
        let name = hex(&dk);
        match store.get_by_discovery_key(&dk) {
            Ok(Some(feed)) => {
                out.cores += 1;
                match feed.with_feed(|f| f.audit()) {
                    Ok(r) if r.invalid == 0 => out.valid += r.valid,
                    Ok(r) => out.bad.push(format!(
                        "core {name}: {} of {} stored blocks do not hash to their leaf",
                        r.invalid,
                        r.valid + r.invalid
                    )),
                    Err(e) => out.bad.push(format!("core {name} cannot be audited: {e}")),
                }
            }
            // A folder without a key: the kill came before the core's first file.
            Ok(None) => {}
            Err(e) => out.bad.push(format!("core {name} does not open: {e}")),
        }
    }
    store.close()?;
    Ok(out)
}

/// The discovery keys of the core folders under `cores`.
fn discovery_keys(cores: &Path) -> std::io::Result<Vec<[u8; 32]>> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> std::io::Result<Vec<PathBuf>> {
        if !p.is_dir() {
            return Ok(Vec::new());
        }
        let mut v = Vec::new();
        for e in std::fs::read_dir(p)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                v.push(e.path());
            }
        }
        Ok(v)
    };
    for a in dirs(cores)? {
        for b in dirs(&a)? {
            for c in dirs(&b)? {
                let name = c.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if let Some(dk) = unhex(name) {
                    out.push(dk);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
