//! The drives the daemon holds open, and the sessions clients hold on them.
//!
//! One [`AsyncDrive`] per key stays open while any session names it; the last `close` drops
//! it (in memory-only mode drives stay open, since their cores live nowhere else). New drives
//! are made in a fresh random corestore namespace, as the Node daemon does, so each gets its
//! own name-derived key pair.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use corestore::Corestore;
use hyperdrive::{AsyncDrive, Drive, DriveOptions};
use tokio::sync::watch;
use tonic::Status;

use crate::network::Network;
use crate::sessions::Sessions;
use crate::state::{DriveRecord, NetworkRecord, State};

/// At most this many watch streams at once, over all drives (the Node daemon's limit).
pub(crate) const WATCH_LIMIT: usize = 300;

/// What a session is a handle on.
#[derive(Debug)]
pub(crate) struct Session {
    /// The drive key.
    pub(crate) key: [u8; 32],
    /// The drive, or a checkout of it.
    pub(crate) drive: AsyncDrive,
    /// The version of a checkout session (read-only).
    pub(crate) checkout: Option<u64>,
    /// Turns true when the drive is closed (its last session ended).
    pub(crate) closed: watch::Receiver<bool>,
    /// The file descriptors opened through this session (`Drive.open`), closed with it.
    pub(crate) fds: Mutex<std::collections::BTreeSet<u64>>,
}

impl Session {
    /// The key as hex, for messages.
    pub(crate) fn key_hex(&self) -> String {
        hex::encode(self.key)
    }

    /// Makes what the session's drive wrote durable before a call that changed it answers:
    /// the feeds written since the last flush sync their data, then the bitfields that claim
    /// it (a flush with nothing new costs no sync). Without this a SIGKILL or power cut after
    /// the reply could lose a write the client was told had succeeded.
    pub(crate) async fn durable(&self, op: &str, path: &str) -> Result<(), Status> {
        self.drive.flush().await.map_err(|e| {
            crate::service::drive_error(op, &format!("drive {}", self.key_hex()), path, &e)
        })
    }

    /// Refuses writes through a checkout (the Node daemon let them reach the live drive).
    pub(crate) fn writable(&self, op: &str, path: &str) -> Result<(), Status> {
        match self.checkout {
            Some(version) => Err(Status::permission_denied(format!(
                "{op} {path} on drive {}: the session is a read-only checkout at version {version}",
                self.key_hex()
            ))),
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
struct OpenDrive {
    drive: AsyncDrive,
    sessions: usize,
    closed: watch::Sender<bool>,
    /// Keeps a drive someone else writes up to date while it is open.
    follower: Option<tokio::task::AbortHandle>,
}

impl Drop for OpenDrive {
    fn drop(&mut self) {
        if let Some(f) = &self.follower {
            f.abort();
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    open: HashMap<[u8; 32], OpenDrive>,
    sessions: Sessions<Session>,
}

/// The drive manager.
#[derive(Debug)]
pub(crate) struct Drives {
    store: Arc<Corestore>,
    pub(crate) state: Arc<State>,
    memory_only: bool,
    inner: Mutex<Inner>,
    /// Every drive's network configuration by discovery key (hex): the remembered ones loaded
    /// at start and every one set since. The one source of what is reported.
    networks: Mutex<HashMap<String, NetworkRecord>>,
    watches: AtomicUsize,
    pub(crate) network: Arc<Network>,
    block_timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the daemon with it: the maps stay consistent at
    // every unlock, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn blocking<T: Send + 'static>(
    op: &str,
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("{op}: the storage task failed: {e}")))?
}

impl Drives {
    /// The drive manager; remembered network configurations are joined again at once.
    pub(crate) fn new(
        store: Arc<Corestore>,
        state: Arc<State>,
        memory_only: bool,
        network: Arc<Network>,
        block_timeout: Duration,
    ) -> crate::Result<Self> {
        let networks: HashMap<String, NetworkRecord> = state.networks()?.into_iter().collect();
        for (dk, record) in &networks {
            match <[u8; 32]>::try_from(hex::decode(dk).unwrap_or_default().as_slice()) {
                Ok(dk) => network.configure(dk, record),
                Err(_) => {
                    tracing::warn!(discovery_key = %dk, "a stored network configuration has a bad key")
                }
            }
        }
        Ok(Drives {
            store,
            state,
            memory_only,
            inner: Mutex::new(Inner::default()),
            networks: Mutex::new(networks),
            watches: AtomicUsize::new(0),
            network,
            block_timeout,
        })
    }

    /// How drives are opened: reads of blocks only peers hold wait for them, at most the
    /// configured block timeout.
    fn drive_options(&self) -> DriveOptions {
        DriveOptions::default().block_timeout(Some(self.block_timeout))
    }

    pub(crate) fn store(&self) -> &Arc<Corestore> {
        &self.store
    }

    /// Opens a session: on the drive with `key` (a checkout when `version` is given), or on a
    /// new writable drive when `key` is `None`.
    pub(crate) async fn open(
        &self,
        key: Option<[u8; 32]>,
        version: Option<u64>,
    ) -> Result<(u64, Arc<Session>), Status> {
        let existing = key.and_then(|k| lock(&self.inner).open.get(&k).map(|o| o.drive.clone()));
        let drive = match existing {
            Some(drive) => drive,
            None => {
                let store = self.store.clone();
                let options = self.drive_options();
                let drive = blocking("get", move || {
                    let opened = match key {
                        Some(k) => Drive::open(store, &hypercore::PublicKey(k), options),
                        None => {
                            let mut ns = [0u8; 32];
                            getrandom::getrandom(&mut ns).map_err(|e| {
                                Status::internal(format!("get: no randomness for a new drive: {e}"))
                            })?;
                            let view = store.namespace(&hex::encode(ns)).map_err(|e| {
                                Status::internal(format!(
                                    "get: cannot make a corestore namespace: {e}"
                                ))
                            })?;
                            Drive::create(Arc::new(view), options)
                        }
                    };
                    let what = key.map_or_else(
                        || "a new drive".to_owned(),
                        |k| format!("drive {}", hex::encode(k)),
                    );
                    opened
                        .map(AsyncDrive::new)
                        .map_err(|e| crate::service::drive_error("get", &what, "/", &e))
                })
                .await?;
                let record = DriveRecord {
                    key: hex::encode(drive.key().as_bytes()),
                    writable: drive.writable(),
                };
                let state = self.state.clone();
                blocking("get", move || {
                    state
                        .record_drive(&record)
                        .map_err(|e| Status::internal(format!("get: cannot record the drive: {e}")))
                })
                .await?;
                drive
            }
        };
        let key = *drive.key().as_bytes();
        if !drive.writable() {
            // Node: a drive we cannot write is looked up (not announced) unless configured.
            let dk = drive.sync().discovery_key();
            if let std::collections::hash_map::Entry::Vacant(e) =
                lock(&self.networks).entry(hex::encode(dk))
            {
                e.insert(NetworkRecord {
                    key: hex::encode(key),
                    lookup: true,
                    announce: false,
                    remember: false,
                });
                self.network.ensure_lookup(dk);
            }
        }
        let mut inner = lock(&self.inner);
        let entry = inner.open.entry(key).or_insert_with(|| OpenDrive {
            drive: drive.clone(),
            sessions: 0,
            closed: watch::channel(false).0,
            follower: (!drive.writable()).then(|| {
                tokio::spawn(crate::network::follow::follow(drive.sync().clone())).abort_handle()
            }),
        });
        let live = entry.drive.clone();
        let closed = entry.closed.subscribe();
        let session = Session {
            key,
            drive: match version {
                Some(v) => live.checkout(v),
                None => live,
            },
            checkout: version,
            closed,
            fds: Mutex::default(),
        };
        let id = inner.sessions.insert(session).ok_or_else(|| {
            Status::resource_exhausted(format!(
                "get: {} sessions are open; close some first",
                crate::sessions::MAX_SESSIONS
            ))
        })?;
        if let Some(entry) = inner.open.get_mut(&key) {
            entry.sessions += 1;
        }
        let session = inner
            .sessions
            .get(id)
            .ok_or_else(|| Status::internal("get: the new session vanished"))?;
        Ok((id, session))
    }

    /// The session `id`.
    pub(crate) fn session(&self, op: &str, id: u64) -> Result<Arc<Session>, Status> {
        if id == 0 {
            return Err(Status::invalid_argument(format!(
                "{op}: a request must name a session (Drive.get returns ids from 1)"
            )));
        }
        lock(&self.inner).sessions.get(id).ok_or_else(|| {
            Status::not_found(format!(
                "{op}: session {id} does not exist (closed or never opened)"
            ))
        })
    }

    /// Ends session `id`; the drive closes with its last session.
    pub(crate) fn close(&self, id: u64) -> Result<(), Status> {
        self.session("close", id)?;
        let mut inner = lock(&self.inner);
        let session = inner
            .sessions
            .remove(id)
            .ok_or_else(|| Status::not_found(format!("close: session {id} does not exist")))?;
        let fds = std::mem::take(&mut *lock(&session.fds));
        if !fds.is_empty() {
            // A session that ends with descriptors open closes them (committing their writes),
            // as a process's exit does.
            let drive = session.drive.clone();
            tokio::task::spawn_blocking(move || {
                for fd in fds {
                    if let Err(e) = drive
                        .sync()
                        .close_fd(fd)
                        .and_then(|()| drive.sync().flush())
                    {
                        tracing::warn!(fd, error = %e, "closing a descriptor of an ended session failed");
                    }
                }
            });
        }
        let last = match inner.open.get_mut(&session.key) {
            Some(entry) => {
                entry.sessions = entry.sessions.saturating_sub(1);
                entry.sessions == 0
            }
            None => false,
        };
        if last
            && !self.memory_only
            && let Some(entry) = inner.open.remove(&session.key)
        {
            let _ = entry.closed.send(true);
        }
        Ok(())
    }

    /// How many sessions hold the drive with this key, and how many descriptors they have open.
    pub(crate) fn holders(&self, key: &[u8; 32]) -> (usize, usize) {
        let inner = lock(&self.inner);
        let sessions = inner.open.get(key).map_or(0, |o| o.sessions);
        let fds = inner
            .sessions
            .values()
            .filter(|s| s.key == *key)
            .map(|s| lock(&s.fds).len())
            .sum();
        (sessions, fds)
    }

    /// The open (live) drive with this key.
    pub(crate) fn live(&self, key: &[u8; 32]) -> Option<AsyncDrive> {
        lock(&self.inner).open.get(key).map(|o| o.drive.clone())
    }

    /// Drops a drive no session holds from the open set (memory-only mode keeps them), before
    /// it is deleted. `false` when a session holds it.
    pub(crate) fn release(&self, key: &[u8; 32]) -> bool {
        let mut inner = lock(&self.inner);
        match inner.open.get(key) {
            Some(o) if o.sessions > 0 => false,
            Some(_) => {
                if let Some(entry) = inner.open.remove(key) {
                    let _ = entry.closed.send(true);
                }
                true
            }
            None => true,
        }
    }

    /// Forgets a deleted drive's network configuration.
    pub(crate) fn forget_network(&self, discovery_key: &[u8; 32]) {
        lock(&self.networks).remove(&hex::encode(discovery_key));
    }

    /// Every open (live) drive.
    pub(crate) fn open_drives(&self) -> Vec<AsyncDrive> {
        lock(&self.inner)
            .open
            .values()
            .map(|o| o.drive.clone())
            .collect()
    }

    /// How many sessions are open.
    pub(crate) fn session_count(&self) -> usize {
        lock(&self.inner).sessions.len()
    }

    /// Sets a drive's network configuration (last write wins; remembered ones are persisted,
    /// and a configuration that is not remembered removes a persisted one).
    pub(crate) async fn configure_network(
        &self,
        session: &Session,
        record: NetworkRecord,
    ) -> Result<(), Status> {
        let dk = hex::encode(session.drive.sync().discovery_key());
        let state = self.state.clone();
        let (dk2, rec2) = (dk.clone(), record.clone());
        blocking("configureNetwork", move || {
            state.set_network(&dk2, &rec2).map_err(|e| {
                Status::internal(format!(
                    "configureNetwork: cannot store the configuration: {e}"
                ))
            })
        })
        .await?;
        self.network
            .configure(session.drive.sync().discovery_key(), &record);
        lock(&self.networks).insert(dk, record);
        Ok(())
    }

    /// The configuration of the drive with this discovery key.
    pub(crate) fn network(&self, discovery_key: &[u8; 32]) -> Option<NetworkRecord> {
        lock(&self.networks)
            .get(&hex::encode(discovery_key))
            .cloned()
    }

    /// Every configuration.
    pub(crate) fn networks(&self) -> Vec<NetworkRecord> {
        lock(&self.networks).values().cloned().collect()
    }

    /// Counts a new watch stream; `false` (and nothing counted) past [`WATCH_LIMIT`].
    pub(crate) fn add_watch(&self) -> bool {
        self.watches
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < WATCH_LIMIT).then_some(n + 1)
            })
            .is_ok()
    }

    /// Uncounts a watch stream.
    pub(crate) fn remove_watch(&self) {
        let _ = self
            .watches
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives over an in-memory store, with a swarm on 127.0.0.1 and no DHT.
    async fn drives(memory_only: bool) -> crate::Result<Drives> {
        let store = Arc::new(Corestore::in_memory()?);
        let config = crate::Config {
            bootstrap: crate::Bootstrap::None,
            lan: false,
            swarm_host: std::net::Ipv4Addr::LOCALHOST,
            swarm_port: 0,
            ..crate::Config::default()
        };
        let network = Network::start(&config, store.clone()).await;
        Drives::new(
            store,
            Arc::new(State::in_memory()?),
            memory_only,
            network,
            config.block_timeout,
        )
    }

    #[tokio::test]
    async fn watches_are_bounded() -> crate::Result<()> {
        let drives = drives(true).await?;
        for _ in 0..WATCH_LIMIT {
            assert!(drives.add_watch());
        }
        assert!(!drives.add_watch(), "the limit holds");
        drives.remove_watch();
        assert!(drives.add_watch(), "a closed watch frees its place");
        assert!(!drives.add_watch());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_last_close_drops_the_drive() -> crate::Result<()> {
        let drives = drives(false).await?;
        let (a, session) = drives
            .open(None, None)
            .await
            .map_err(|e| crate::Error::State(e.to_string()))?;
        let key = Some(session.key);
        let (b, _) = drives
            .open(key, None)
            .await
            .map_err(|e| crate::Error::State(e.to_string()))?;
        assert_ne!(a, b);
        assert_eq!(drives.open_drives().len(), 1, "one drive object per key");
        let mut closed = session.closed.clone();
        drives
            .close(a)
            .map_err(|e| crate::Error::State(e.to_string()))?;
        assert_eq!(drives.open_drives().len(), 1);
        assert!(!*closed.borrow_and_update());
        drives
            .close(b)
            .map_err(|e| crate::Error::State(e.to_string()))?;
        assert!(drives.open_drives().is_empty());
        assert!(
            *closed.borrow_and_update(),
            "watchers of the drive are told"
        );
        assert!(drives.close(b).is_err(), "a session closes once");
        Ok(())
    }
}
