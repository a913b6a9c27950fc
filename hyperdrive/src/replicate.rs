//! Drive replication: the store's session, the content feed once the header names it, and
//! full clones that follow mounts.
//!
//! A drive replicates as Node's `hyperdrive.replicate` does, through its corestore: one
//! hypercore-protocol session carries every core the store has loaded, and a core loaded
//! later joins it ([`corestore::Corestore::replicate`]). What the drive adds is knowing which
//! cores to load: the metadata feed first, the content feed whose key is in the metadata
//! header (block 0), and the drives mounted in the trie, recursively.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use corestore::SharedFeed;
use hypercore::PublicKey;
use hypercore::protocol::SessionConfig;
use hypercore::replicate::Replication;
use hypertrie::IterOptions;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::async_drive::AsyncDrive;
use crate::drive::{Drive, DriveOptions};
use crate::error::{Error, Result};
use crate::stat::Stat;

/// How often a wait on a remote feed re-checks its length (the wake-ups come from stored
/// blocks; this only bounds how stale a peer's announced length may be when nothing arrives).
const POLL: Duration = Duration::from_millis(200);

/// What [`AsyncDrive::download_all`] fetched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloneReport {
    /// Drives cloned: this one and every drive mounted in it, recursively.
    pub drives: usize,
    /// Hypercores mounted as files, cloned.
    pub cores: usize,
    /// Blocks stored locally at the end, over every feed above.
    pub blocks: u64,
    /// Bytes in those blocks.
    pub bytes: u64,
}

impl AsyncDrive {
    /// Replicates the drive's corestore with the peer at the other end of `io` until the
    /// transport ends (Node `drive.replicate(isInitiator)`): every core the store has loaded,
    /// and every core it loads later, on one session; a core the peer opens is served only if
    /// the store holds it.
    ///
    /// For a drive whose header has not arrived yet, the header is fetched first and the
    /// content feed it names is opened, so it joins the session. Other blocks move when a
    /// read waits on them or [`download_all`](Self::download_all) asks for everything. The
    /// drive's watchers ([`Drive::watch`]) hear of metadata that arrives from peers.
    ///
    /// The returned [`Replication`] owns what it needs: spawn it, and keep its
    /// [`handle`](Replication::handle) for the peer's keys, the counters and cancelling
    /// (corestore's session, see [`corestore::Corestore::replicate`]).
    pub fn replicate<T>(
        &self,
        io: T,
        config: SessionConfig,
    ) -> Replication<impl Future<Output = Result<()>> + use<T>>
    where
        T: AsyncRead + AsyncWrite,
    {
        let store = std::sync::Arc::clone(self.sync().corestore());
        let (handle, session) = store.replicate(io, config).into_parts();
        let drive = self.sync().clone();
        Replication::from_parts(handle, async move {
            let mut session = session;
            let follow = follow_header(drive.clone());
            tokio::pin!(follow);
            let arrivals = watch_arrivals(drive);
            tokio::pin!(arrivals);
            let mut following = true;
            loop {
                tokio::select! {
                    r = &mut session => return r.map_err(Error::from),
                    () = &mut arrivals => {}
                    r = &mut follow, if following => {
                        following = false;
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "cannot open the drive's content feed");
                        }
                    }
                }
            }
        })
    }

    /// Downloads the whole drive from the peers of its running replication sessions: the
    /// metadata feed, then the content feed the header names, then every drive and hypercore
    /// mounted in it, recursively (each drive once). Returns when every feed holds every block
    /// its peers announced (and every block its files' Stats point at); fails with
    /// [`Error::Timeout`] if that has not happened within `timeout`.
    pub async fn download_all(&self, timeout: Duration) -> Result<CloneReport> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut report = CloneReport::default();
        let mut seen: HashSet<PublicKey> = HashSet::new();
        let mut queue = vec![self.sync().clone()];
        while let Some(drive) = queue.pop() {
            if !seen.insert(*drive.key()) {
                continue;
            }
            report.drives += 1;
            let metadata = drive.metadata_feed().clone();
            // The header first: it says where the content is.
            fetch_block(&metadata, 0, deadline, timeout).await?;
            complete(&metadata, 0, deadline, timeout, &mut report).await?;
            let (content_end, mounts) = {
                let d = drive.clone();
                tokio::task::spawn_blocking(move || d.clone_plan())
                    .await
                    .map_err(|e| Error::Task(e.to_string()))??
            };
            let content = drive.content()?.clone();
            complete(&content, content_end, deadline, timeout, &mut report).await?;
            for mount in mounts {
                match mount {
                    Mounted::Drive(key) => {
                        let options = DriveOptions::default()
                            .clock(drive.clock().clone())
                            .write_mode(drive.write_mode())
                            .block_timeout(drive.block_timeout());
                        let sub =
                            Drive::open(std::sync::Arc::clone(drive.corestore()), &key, options)?;
                        queue.push(sub);
                    }
                    Mounted::Core { key, blocks } => {
                        if seen.insert(key) {
                            report.cores += 1;
                            let core = drive.corestore().get_by_key(&key)?;
                            complete(&core, blocks, deadline, timeout, &mut report).await?;
                        }
                    }
                }
            }
        }
        Ok(report)
    }
}

/// Something mounted in a drive's trie.
enum Mounted {
    Drive(PublicKey),
    Core { key: PublicKey, blocks: u64 },
}

impl Drive {
    /// From the (complete, local) metadata: how many content blocks the current files need,
    /// and what is mounted.
    fn clone_plan(&self) -> Result<(u64, Vec<Mounted>)> {
        let nodes = self.trie_list("", IterOptions::default())?;
        let mut end = 0u64;
        let mut mounts = Vec::new();
        for node in nodes {
            let Some(value) = node.value() else { continue };
            let Ok(stat) = Stat::decode(value) else {
                continue;
            };
            match &stat.mount {
                Some(m) if m.hypercore => mounts.push(Mounted::Core {
                    key: PublicKey(m.key),
                    blocks: stat.blocks,
                }),
                Some(m) => mounts.push(Mounted::Drive(PublicKey(m.key))),
                None => end = end.max(stat.offset.saturating_add(stat.blocks)),
            }
        }
        Ok((end, mounts))
    }
}

/// Fetches the header of a drive that does not have it yet and opens the content feed, so the
/// store's sessions replicate it. Gives up quietly when no peer sends it (the session runs on).
async fn follow_header(drive: Drive) -> Result<()> {
    let metadata = drive.metadata_feed().clone();
    loop {
        if drive.content.get().is_some() {
            return Ok(());
        }
        if metadata.lock().has(0) {
            // Opening a core creates its files: on the blocking pool, so the session this
            // runs beside goes on moving blocks (the trie nodes a first read needs) meanwhile.
            let d = drive.clone();
            tokio::task::spawn_blocking(move || d.load_content().map(|_| ()))
                .await
                .map_err(|e| Error::Task(e.to_string()))??;
            tracing::trace!(target: "ddrive::wire", "content feed loaded");
            return Ok(());
        }
        if metadata.lock().writable() {
            return Ok(());
        }
        match metadata.get(0).await {
            Ok(_) => {}
            Err(hypercore::replicate::ReplicateError::GetTimeout { .. }) => {}
            Err(e) => return Err(Error::Task(e.to_string())),
        }
    }
}

/// Keeps a drive someone else writes up to date: when a peer announces a longer metadata
/// feed, fetches its last block (which brings the signed length, as JS's `update`), and tells
/// the drive's watchers whenever the metadata grows. Never returns; ends with the session.
async fn watch_arrivals(drive: Drive) {
    let metadata = drive.metadata_feed().clone();
    if metadata.lock().writable() {
        // Our own writes notify as they happen.
        return std::future::pending().await;
    }
    let mut seen = metadata.lock().len();
    let mut asked = 0;
    loop {
        let changed = metadata.changed();
        let len = metadata.lock().len();
        let remote = metadata.remote_length();
        if remote > len && remote != asked {
            asked = remote;
            metadata.download(remote - 1, Some(remote));
        }
        if len > seen {
            seen = len;
            let d = drive.clone();
            // A diff per watcher: off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || d.notify_watchers()).await;
        }
        changed.await;
    }
}

/// Waits for block `index` of `feed`, at most until `deadline`.
async fn fetch_block(
    feed: &SharedFeed,
    index: u64,
    deadline: tokio::time::Instant,
    timeout: Duration,
) -> Result<()> {
    feed.download(index, Some(index + 1));
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let done = feed.wait_until(left, |f| f.has(index)).await;
    feed.undownload(index, Some(index + 1));
    if done {
        return Ok(());
    }
    Err(timeout_error(feed, index, timeout))
}

/// Downloads all of `feed` (every block peers announce, and at least `min_len` blocks) and
/// waits until it is stored, at most until `deadline`.
async fn complete(
    feed: &SharedFeed,
    min_len: u64,
    deadline: tokio::time::Instant,
    timeout: Duration,
    report: &mut CloneReport,
) -> Result<()> {
    feed.download(0, None);
    loop {
        let target = min_len.max(feed.remote_length());
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let done = feed
            .wait_until(left.min(POLL), |f| {
                let len = f.len();
                len >= target && f.downloaded(0, len) == len
            })
            .await;
        if done {
            let f = feed.lock();
            report.blocks += f.len();
            report.bytes += f.byte_len();
            return Ok(());
        }
        if left <= POLL {
            let missing = {
                let f = feed.lock();
                (0..f.len().max(target)).find(|&i| !f.has(i)).unwrap_or(0)
            };
            return Err(timeout_error(feed, missing, timeout));
        }
    }
}

fn timeout_error(feed: &SharedFeed, index: u64, timeout: Duration) -> Error {
    Error::Timeout {
        feed: feed.key().to_hex(),
        index,
        timeout,
        last_peer_error: feed.last_peer_error(),
    }
}
