//! The daemon's network: one hyperswarm [`Swarm`], joined per drive network configuration, with
//! every connection replicating the whole corestore (corestore-swarm-networking, as the Node
//! daemon runs it).
//!
//! - Topics are discovery keys. [`Network::configure`] joins (lookup and/or announce; announce
//!   forced off by `--no-announce`) or leaves; a drive opened only to read is looked up
//!   ([`Network::ensure_lookup`]). A join returns at once: the swarm's first DHT cycle runs in
//!   a task of its own, so an unreachable DHT never holds up an RPC.
//! - Every connection runs one live corestore session with the daemon's Noise key pair
//!   (derived from the store's master key, so it survives restarts as the Node daemon's does),
//!   then applies hyperswarm's dedup rule after the handshake and cancels the duplicate
//!   ([`peers`]). A peer whose bytes are not hypercore-protocol fails the handshake: its
//!   connection ends, nothing else does.
//! - [`dht`] watches the DHT: bootstrapped or retrying with backoff, never fatal; when it comes
//!   back, every topic is joined again so its announce and lookup run at once instead of at
//!   the next 5–10 minute cycle.
//! - [`follow`] keeps drives someone else writes up to date while they are open.
//! - [`peersockets`]: named topics between daemons' clients, as stream extensions
//!   `peersockets/v0/<topic>` on the replication sessions (Node's peersockets 0.3).
//! - [`downloads`]: `Drive.download` ranges fetched in the background, cancellable.
//!
//! Bounds: connections are the swarm's (24); topics at most [`MAX_TOPICS`]; the maps of peers,
//! aliases, peersocket topics and downloads have limits of their own; every wait on the
//! network (handshake, dedup, DHT calls, unannounce at shutdown) has a timeout.

pub(crate) mod dht;
pub(crate) mod downloads;
pub(crate) mod follow;
pub(crate) mod peers;
pub(crate) mod peersockets;

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use corestore::Corestore;
use hypercore::protocol::{NoiseKeyPair, SessionConfig};
use hyperswarm::{Connection, JoinOptions, LanConfig, Swarm, SwarmConfig, SwarmError};
use tokio::task::JoinHandle;

use crate::config::{Bootstrap, Config};
use crate::state::NetworkRecord;

pub(crate) use self::dht::{DhtState, DhtStatus};
pub(crate) use self::downloads::Downloads;
pub(crate) use self::peers::Peers;
pub(crate) use self::peersockets::Peersockets;

/// The public bootstrap nodes of hyperswarm 2 (@hyperswarm/dht 4's defaults).
pub(crate) const PUBLIC_BOOTSTRAP: [&str; 3] = [
    "bootstrap1.hyperdht.org:49737",
    "bootstrap2.hyperdht.org:49737",
    "bootstrap3.hyperdht.org:49737",
];
/// Most topics joined at once (drives configured or looked up).
pub(crate) const MAX_TOPICS: usize = 4096;
/// How long a DHT name lookup may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the first DHT cycle of a join may take before its task gives up waiting (the
/// swarm goes on cycling the topic).
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a Noise handshake may take (the session's own idle timeout is 20 s).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(25);
/// How long a swarm command (dedup, stats) may take.
const SWARM_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutting the swarm down (unannouncing every topic) may take.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The name the daemon's Noise key pair is derived from.
const NOISE_KEY_NAME: &[u8] = b"ddrive-daemon/replication-keypair";

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent at every unlock, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A joined topic.
#[derive(Debug)]
struct Joined {
    opts: JoinOptions,
    /// The task waiting for the join's first DHT cycle.
    task: JoinHandle<()>,
}

/// The network manager (one per daemon).
#[derive(Debug)]
pub(crate) struct Network {
    swarm: Mutex<Option<Arc<Swarm>>>,
    /// Why the swarm is not running, when it is not.
    swarm_error: Option<String>,
    swarm_port: u16,
    no_announce: bool,
    keypair: NoiseKeyPair,
    topics: Mutex<HashMap<[u8; 32], Joined>>,
    pub(crate) peers: Arc<Peers>,
    pub(crate) sockets: Arc<Peersockets>,
    pub(crate) dht: Arc<DhtStatus>,
    pub(crate) downloads: Downloads,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The daemon's Noise static key pair: derived from the store's master key.
fn noise_keypair(store: &Corestore) -> NoiseKeyPair {
    let derived = store.derive_key_pair(NOISE_KEY_NAME);
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&derived.secret.as_bytes()[..32]);
    NoiseKeyPair::from_secret(secret)
}

/// Resolves `host:port` names to IPv4 addresses (dht-rpc 4 is IPv4 only), each within
/// [`RESOLVE_TIMEOUT`]; names that do not resolve are left out.
pub(crate) async fn resolve(names: &[String]) -> Vec<SocketAddrV4> {
    let mut out = Vec::new();
    for name in names {
        match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(name.as_str())).await {
            Ok(Ok(addrs)) => {
                for a in addrs {
                    if let std::net::SocketAddr::V4(v4) = a
                        && !out.contains(&v4)
                    {
                        out.push(v4);
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(node = %name, error = %e, "cannot resolve a bootstrap node")
            }
            Err(_) => tracing::debug!(node = %name, "resolving a bootstrap node timed out"),
        }
    }
    out
}

impl Network {
    /// Binds the swarm (never fatal: a swarm that cannot bind is reported in status) and
    /// starts accepting connections and watching the DHT.
    pub(crate) async fn start(config: &Config, store: Arc<Corestore>) -> Arc<Network> {
        let keypair = noise_keypair(&store);
        let names: Vec<String> = match &config.bootstrap {
            Bootstrap::Public => PUBLIC_BOOTSTRAP.iter().map(|s| (*s).to_owned()).collect(),
            Bootstrap::Nodes(n) => n.clone(),
            Bootstrap::None => Vec::new(),
        };
        let bootstrap = resolve(&names).await;
        let swarm_config = SwarmConfig {
            bind: SocketAddrV4::new(config.swarm_host, config.swarm_port),
            bootstrap: bootstrap.clone(),
            lan: config.lan.then(LanConfig::default),
            ..SwarmConfig::default()
        };
        let bound = match Swarm::bind(swarm_config.clone()).await {
            Err(SwarmError::Lan(e)) => {
                tracing::warn!(error = %e, "LAN discovery is off: cannot join the mDNS group");
                Swarm::bind(SwarmConfig {
                    lan: None,
                    ..swarm_config
                })
                .await
            }
            other => other,
        };
        let (swarm, swarm_error, swarm_port) = match bound {
            Ok(s) => {
                let port = s.local_addr().port();
                (Some(Arc::new(s)), None, port)
            }
            Err(e) => {
                tracing::error!(error = %e, "the swarm cannot start; drives are not networked");
                (None, Some(e.to_string()), 0)
            }
        };
        let dht = Arc::new(DhtStatus::new(if names.is_empty() {
            DhtState::Disabled
        } else {
            DhtState::Bootstrapping
        }));
        let peers = Arc::new(Peers::new());
        let network = Arc::new(Network {
            swarm: Mutex::new(swarm.clone()),
            swarm_error,
            swarm_port,
            no_announce: config.no_announce,
            keypair,
            topics: Mutex::new(HashMap::new()),
            sockets: Peersockets::new(peers.clone()),
            peers,
            dht,
            downloads: Downloads::default(),
            tasks: Mutex::new(Vec::new()),
        });
        if let Some(swarm) = swarm {
            tracing::info!(addr = %swarm.local_addr(), bootstrap = ?bootstrap, "swarm listening");
            let accept = tokio::spawn(accept_loop(Arc::downgrade(&network), swarm.clone(), store));
            let mut tasks = lock(&network.tasks);
            tasks.push(accept);
            if !names.is_empty() {
                tasks.push(tokio::spawn(dht::monitor(
                    Arc::downgrade(&network),
                    Arc::downgrade(&swarm),
                    names,
                    bootstrap,
                )));
            }
        }
        network
    }

    fn swarm(&self) -> Option<Arc<Swarm>> {
        lock(&self.swarm).clone()
    }

    /// The port the swarm listens on (TCP and UDP), 0 when it does not run.
    pub(crate) fn swarm_port(&self) -> u16 {
        self.swarm_port
    }

    /// Why the swarm does not run, if it does not.
    pub(crate) fn swarm_error(&self) -> Option<&str> {
        self.swarm_error.as_deref()
    }

    /// Our Noise static public key (what peers know us by).
    pub(crate) fn noise_key(&self) -> [u8; 32] {
        self.keypair.public
    }

    /// Applies a drive's configuration: joins with its lookup/announce, or leaves when it asks
    /// for neither.
    pub(crate) fn configure(&self, discovery_key: [u8; 32], record: &NetworkRecord) {
        let opts = JoinOptions {
            lookup: record.lookup,
            announce: record.announce && !self.no_announce,
        };
        if opts.lookup || opts.announce {
            self.join(discovery_key, opts);
        } else {
            self.leave(discovery_key);
        }
    }

    /// Looks the drive up unless its topic is joined already.
    pub(crate) fn ensure_lookup(&self, discovery_key: [u8; 32]) {
        if !lock(&self.topics).contains_key(&discovery_key) {
            self.join(discovery_key, JoinOptions::default());
        }
    }

    /// How many topics are joined.
    pub(crate) fn topic_count(&self) -> usize {
        lock(&self.topics).len()
    }

    fn join(&self, topic: [u8; 32], opts: JoinOptions) {
        let Some(swarm) = self.swarm() else { return };
        let mut topics = lock(&self.topics);
        if topics.get(&topic).is_some_and(|j| j.opts == opts) {
            return;
        }
        if !topics.contains_key(&topic) && topics.len() >= MAX_TOPICS {
            tracing::warn!(topic = %hex::encode(topic), "too many topics joined; this one is not");
            return;
        }
        let task = tokio::spawn(async move {
            match tokio::time::timeout(JOIN_TIMEOUT, swarm.join(topic, opts)).await {
                Ok(Ok(())) => tracing::debug!(topic = %hex::encode(topic), ?opts, "joined"),
                Ok(Err(e)) => {
                    tracing::warn!(topic = %hex::encode(topic), error = %e, "join failed")
                }
                Err(_) => {
                    tracing::debug!(topic = %hex::encode(topic), "first DHT cycle still running")
                }
            }
        });
        if let Some(old) = topics.insert(topic, Joined { opts, task }) {
            old.task.abort();
        }
    }

    fn leave(&self, topic: [u8; 32]) {
        let Some(joined) = lock(&self.topics).remove(&topic) else {
            return;
        };
        joined.task.abort();
        let Some(swarm) = self.swarm() else { return };
        tokio::spawn(async move {
            if tokio::time::timeout(JOIN_TIMEOUT, swarm.leave(topic))
                .await
                .is_err()
            {
                tracing::debug!(topic = %hex::encode(topic), "unannounce timed out");
            }
        });
    }

    /// Joins every topic again (after the DHT came back), so each runs its DHT cycle now.
    pub(crate) fn rejoin_all(&self) {
        let Some(swarm) = self.swarm() else { return };
        let mut topics = lock(&self.topics);
        for (topic, joined) in topics.iter_mut() {
            let (topic, opts, swarm) = (*topic, joined.opts, swarm.clone());
            joined.task.abort();
            joined.task = tokio::spawn(async move {
                let _ = tokio::time::timeout(JOIN_TIMEOUT, swarm.join(topic, opts)).await;
            });
        }
    }

    /// Stops the network: no more connections or joins, every session cancelled, the swarm
    /// shut down (unannouncing, bounded by [`SHUTDOWN_TIMEOUT`]).
    pub(crate) async fn shutdown(&self) {
        let swarm = lock(&self.swarm).clone();
        self.stop_now();
        let Some(swarm) = swarm else {
            return;
        };
        // The accept task and the join tasks were aborted; give them a turn to drop their
        // handles on the swarm.
        let mut swarm = swarm;
        for _ in 0..50 {
            match Arc::try_unwrap(swarm) {
                Ok(s) => {
                    if tokio::time::timeout(SHUTDOWN_TIMEOUT, s.shutdown())
                        .await
                        .is_err()
                    {
                        tracing::warn!("the swarm did not shut down in time");
                    }
                    return;
                }
                Err(shared) => {
                    swarm = shared;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        tracing::warn!("the swarm is still in use at shutdown; dropped without unannouncing");
    }

    /// Stops at once, without waiting (a daemon dropped without `shutdown`): tasks aborted,
    /// sessions cancelled, the swarm dropped (it closes when its last handle goes).
    pub(crate) fn stop_now(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        for (_, joined) in lock(&self.topics).drain() {
            joined.task.abort();
        }
        self.sockets.close_all();
        self.peers.cancel_all();
        lock(&self.swarm).take();
    }

    /// A session config for a connection: live, with the daemon's key pair.
    fn session_config(&self, initiator: bool) -> SessionConfig {
        let mut config = SessionConfig::new(initiator);
        config.live = true;
        config.keypair = Some(self.keypair.clone());
        config
    }
}

/// Hands every connection of the swarm to its own task.
async fn accept_loop(network: Weak<Network>, swarm: Arc<Swarm>, store: Arc<Corestore>) {
    let weak_swarm = Arc::downgrade(&swarm);
    while let Some(conn) = swarm.next_connection().await {
        let Some(net) = network.upgrade() else { return };
        tokio::spawn(run_connection(net, weak_swarm.clone(), store.clone(), conn));
    }
}

/// One connection: a live corestore session, dedup after the handshake, peersockets on it,
/// until the transport ends.
async fn run_connection(
    net: Arc<Network>,
    swarm: Weak<Swarm>,
    store: Arc<Corestore>,
    conn: Connection,
) {
    let info = *conn.info();
    let session = store
        .replicate(conn, net.session_config(info.initiator))
        .remote_addr(info.peer);
    let handle = session.handle();
    net.peers.opened(&info, handle.clone());
    let task = tokio::spawn(session);
    let peers = net.peers.clone();
    let sockets = net.sockets.clone();
    // Only the registry and the socket hub are kept past this point: a connection never keeps
    // the manager (or the swarm) alive.
    drop(net);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handle.handshake()).await {
        Ok(Ok(peer)) => {
            let decision = match swarm.upgrade() {
                Some(swarm) => tokio::time::timeout(
                    SWARM_CALL_TIMEOUT,
                    swarm.deduplicate(info.id, peer.local_public_key, peer.remote_public_key),
                )
                .await
                .ok()
                .and_then(Result::ok),
                None => None,
            };
            let mut keep = true;
            if let Some(dup) = decision.and_then(|d| d.duplicate) {
                tracing::debug!(peer = %info.peer, "duplicate connection dropped");
                keep = dup != info.id;
                peers.cancel(dup);
            }
            if keep && !handle.is_ended() {
                peers.handshaken(info.id, peer.remote_public_key);
                sockets.connected(info.id, peer.remote_public_key, &handle);
            }
        }
        Ok(Err(_)) => {}
        Err(_) => {
            tracing::debug!(peer = %info.peer, "no handshake in time");
            handle.cancel();
        }
    }
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(peer = %info.peer, error = %e, "replication ended"),
        Err(e) => tracing::warn!(peer = %info.peer, error = %e, "replication task failed"),
    }
    sockets.disconnected(info.id);
    peers.closed(info.id);
}
