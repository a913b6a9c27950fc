//! The hyperswarm 2 swarm: topics joined over the DHT, a dial queue, and TCP
//! and uTP connections on the port number of the DHT's UDP socket (uTP on
//! that very socket).
//!
//! One task owns the TCP listener, the [`PeerQueue`] and the connection
//! counts; one task per joined topic runs the DHT announce or lookup cycle
//! (at once, then every 5–10 min, as @hyperswarm/discovery) and reports the
//! peers it finds; one short task per dial; with [`SwarmConfig::lan`], a
//! [`LanSocket`] task multicasts and answers the topics' mDNS queries and
//! feeds the peers it hears of into the same queue (priority 3, no
//! referrer). uTP connections are accepted by a task of their own.
//!
//! A dial races TCP against uTP as @hyperswarm/network does: TCP at once
//! and, for a peer found through a DHT node, uTP once a holepunch through
//! that node succeeded; the first to connect wins and the other is dropped.
//! Unlike Node, uTP is also tried when TCP failed and no holepunch was made
//! or it failed (Node gives up): a peer that only speaks uTP, or whose TCP
//! port is filtered, is still reached. Connections are byte streams: the
//! Noise session runs on top of them, elsewhere.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::accept::Acceptor;
use crate::addr::NodeId;
use crate::connection::{CloseGuard, Connection, ConnectionId, ConnectionInfo, Stream};
use crate::dedup::{ConnectionSide, Decision, Deduplicator};
use crate::lan::LanPeer;
use crate::lan_socket::{LanConfig, LanSocket};
use crate::node::Config;
use crate::peer_queue::{Peer, PeerId, PeerQueue, QueueConfig};
use crate::peers_value::FoundPeers;
use crate::udp::{Dht, QueryOutput};
use crate::utp::{UTP_QUEUE, Utp};

/// hyperswarm 2's default cap on connections (incoming + outgoing).
pub const MAX_PEERS: usize = 24;
/// @hyperswarm/network's dial timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest wait between two DHT cycles of a topic (5 min + random 5 min).
pub const DHT_INTERVAL: Duration = Duration::from_secs(300);
/// Dials in flight at once (Node dials from the queue one at a time per
/// wake-up; a few in parallel keeps dead peers from stalling the queue).
const MAX_DIALS: usize = 4;
/// Ports tried when binding (Node: the preferred port, +1, +2, then 4 random).
const BIND_TRIES: usize = 7;

/// How a [`Swarm`] is set up.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Address for the TCP listener and the DHT's UDP socket; port 0 picks
    /// one (the same number for both). Node binds 0.0.0.0.
    pub bind: SocketAddrV4,
    /// DHT bootstrap nodes; empty = an isolated DHT of our own.
    pub bootstrap: Vec<SocketAddrV4>,
    /// Cap on connections, incoming and outgoing together.
    pub max_peers: usize,
    /// Start the DHT node ephemeral (hyperswarm's default).
    pub ephemeral: bool,
    /// Announce this LAN address (with our port) alongside the public one
    /// (Node's `announceLocalAddress`, off by default).
    pub announce_local_address: Option<Ipv4Addr>,
    /// Seeds every random choice (DHT, queue, timers); random when `None`.
    pub seed: Option<u64>,
    /// Dial queue timings.
    pub queue: QueueConfig,
    /// LAN discovery over multicast DNS (224.0.0.251:5353). Node turns it
    /// on by default; here it is opt-in so that a swarm never multicasts
    /// unless asked (tests, hosts that must stay quiet).
    pub lan: Option<LanConfig>,
    /// Listen for and dial TCP (Node always does). Off, the swarm speaks
    /// uTP only: tests use it to force uTP.
    pub tcp: bool,
    /// Accept and dial uTP on the DHT's socket (Node always does). Off,
    /// uTP datagrams reaching the socket are dropped.
    pub utp: bool,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig {
            bind: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            bootstrap: Vec::new(),
            max_peers: MAX_PEERS,
            ephemeral: true,
            announce_local_address: None,
            seed: None,
            queue: QueueConfig::default(),
            lan: None,
            tcp: true,
            utp: true,
        }
    }
}

/// How to join a topic (hyperswarm default: lookup only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinOptions {
    /// Announce ourselves under the topic.
    pub announce: bool,
    /// Look peers up and dial them.
    pub lookup: bool,
}

impl Default for JoinOptions {
    fn default() -> Self {
        JoinOptions {
            announce: false,
            lookup: true,
        }
    }
}

/// Why a swarm call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// Neither announce nor lookup was asked for.
    #[error("join options must enable lookup, announce or both, but not neither")]
    JoinOptions,
    /// The swarm has shut down.
    #[error("swarm has been destroyed")]
    Closed,
    /// Binding the sockets failed.
    #[error("bind failed: {0}")]
    Io(#[from] io::Error),
    /// Binding or joining the mDNS group failed.
    #[error("mdns socket failed: {0}")]
    Lan(io::Error),
    /// Both TCP and uTP were switched off.
    #[error("a swarm needs TCP, uTP or both")]
    NoTransport,
    /// The connection is not (or no longer) open.
    #[error("unknown connection")]
    UnknownConnection,
}

/// Counters of a swarm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwarmStats {
    /// Connections and dials in flight, both directions.
    pub peers: usize,
    /// Outgoing connections and dials in flight.
    pub client: usize,
    /// Incoming connections.
    pub server: usize,
    /// Peers waiting in the dial queue.
    pub queued: usize,
    /// Joined topics.
    pub topics: usize,
}

enum Cmd {
    Join([u8; 32], JoinOptions, oneshot::Sender<()>),
    Leave([u8; 32], oneshot::Sender<()>),
    Dedup {
        conn: ConnectionId,
        local: [u8; 32],
        remote: [u8; 32],
        reply: oneshot::Sender<Result<Decision<ConnectionId>, SwarmError>>,
    },
    Stats(oneshot::Sender<SwarmStats>),
    Shutdown(oneshot::Sender<()>),
}

/// A hyperswarm 2 swarm.
#[derive(Debug)]
pub struct Swarm {
    cmd: mpsc::Sender<Cmd>,
    /// Behind a lock so that [`Swarm::next_connection`] takes `&self`: one task can wait for
    /// connections while others join and leave through the same (shared) swarm.
    conns: tokio::sync::Mutex<mpsc::UnboundedReceiver<Connection>>,
    dht: Arc<Dht>,
    local_addr: SocketAddrV4,
    task: JoinHandle<()>,
}

impl Swarm {
    /// Binds TCP and the DHT's UDP socket on one port number and starts.
    pub async fn bind(config: SwarmConfig) -> Result<Swarm, SwarmError> {
        if !config.tcp && !config.utp {
            return Err(SwarmError::NoTransport);
        }
        let (listener, dht, utp) = bind_both(&config).await?;
        let lan = match &config.lan {
            Some(c) => match LanSocket::bind(c.clone()) {
                Ok(l) => Some(l),
                Err(e) => {
                    dht.shutdown().await;
                    return Err(SwarmError::Lan(e));
                }
            },
            None => None,
        };
        let local_addr = dht.local_addr();
        let dht = Arc::new(dht);
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (conns_tx, conns_rx) = mpsc::unbounded_channel();
        let core = Core::new(config, listener, dht.clone(), utp, lan, conns_tx);
        let task = tokio::spawn(core.run(cmd_rx));
        Ok(Swarm {
            cmd: cmd_tx,
            conns: tokio::sync::Mutex::new(conns_rx),
            dht,
            local_addr,
            task,
        })
    }

    /// The shared TCP/UDP (DHT and uTP) address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local_addr
    }

    /// The DHT node under the swarm.
    pub fn dht(&self) -> &Dht {
        &self.dht
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T, SwarmError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| SwarmError::Closed)?;
        rx.await.map_err(|_| SwarmError::Closed)
    }

    /// Joins `topic` (re-joining replaces the earlier options). Returns once
    /// the first DHT cycle finished and the peers it found are queued (Node's
    /// `join(topic, opts, onjoin)` callback); a failed cycle (no bootstrap
    /// node reachable) returns too and is retried with the next cycle.
    pub async fn join(&self, topic: [u8; 32], opts: JoinOptions) -> Result<(), SwarmError> {
        if !opts.announce && !opts.lookup {
            return Err(SwarmError::JoinOptions);
        }
        self.call(|r| Cmd::Join(topic, opts, r)).await
    }

    /// Leaves `topic`: stops its cycle and, if it announced, unannounces.
    /// Returns when the unannounce finished. Open connections stay open;
    /// queued peers of the topic are not dialled.
    pub async fn leave(&self, topic: [u8; 32]) -> Result<(), SwarmError> {
        self.call(|r| Cmd::Leave(topic, r)).await
    }

    /// The next connection, incoming or outgoing; `None` once shut down. Callers in several
    /// tasks take turns.
    pub async fn next_connection(&self) -> Option<Connection> {
        self.conns.lock().await.recv().await
    }

    /// Applies hyperswarm's dedup rule to connection `conn` once its Noise
    /// handshake gave the two static keys. The decision names the duplicate
    /// to close (it may be an earlier connection); a duplicate we dialled is
    /// not re-dialled until the surviving connection closes.
    pub async fn deduplicate(
        &self,
        conn: ConnectionId,
        local: [u8; 32],
        remote: [u8; 32],
    ) -> Result<Decision<ConnectionId>, SwarmError> {
        self.call(|reply| Cmd::Dedup {
            conn,
            local,
            remote,
            reply,
        })
        .await?
    }

    /// Counters.
    pub async fn stats(&self) -> Result<SwarmStats, SwarmError> {
        self.call(Cmd::Stats).await
    }

    /// Unannounces every announced topic, closes the listener and the DHT.
    /// Connections already handed out stay open until dropped.
    pub async fn shutdown(self) {
        let Swarm { cmd, dht, task, .. } = self;
        drop(dht);
        let (tx, rx) = oneshot::channel();
        if cmd.send(Cmd::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let _ = task.await;
    }
}

/// Binds the TCP listener (if any) and the UDP socket on one port number,
/// and starts the DHT and uTP on that socket.
async fn bind_both(
    config: &SwarmConfig,
) -> Result<(Option<TcpListener>, Dht, Option<Arc<Utp>>), SwarmError> {
    let dht_config = Config {
        ephemeral: config.ephemeral,
        bootstrap: config.bootstrap.clone(),
        seed: config.seed,
        ..Config::default()
    };
    let mut last = io::Error::other("no port tried");
    for i in 0..BIND_TRIES {
        let preferred = config.bind.port();
        let port = match (preferred, i) {
            (0, _) | (_, 3..) => 0,
            (p, i) => p.saturating_add(i as u16),
        };
        let listener = if config.tcp {
            match TcpListener::bind(SocketAddrV4::new(*config.bind.ip(), port)).await {
                Ok(l) => Some(l),
                Err(e) => {
                    last = e;
                    continue;
                }
            }
        } else {
            None
        };
        let port = match &listener {
            Some(l) => l.local_addr()?.port(),
            None => port,
        };
        let socket = match UdpSocket::bind(SocketAddrV4::new(*config.bind.ip(), port)).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                last = e;
                continue;
            }
        };
        let (utp, utp_tx) = if config.utp {
            let (tx, rx) = mpsc::channel(UTP_QUEUE);
            (Some(Arc::new(Utp::new(socket.clone(), rx)?)), Some(tx))
        } else {
            (None, None)
        };
        let dht = Dht::on_socket(socket, dht_config, utp_tx)?;
        return Ok((listener, dht, utp));
    }
    Err(SwarmError::Io(last))
}

/// Peers found by one DHT cycle of a topic.
struct Found {
    topic: [u8; 32],
    peers: Vec<Peer>,
    /// Set after the first cycle: answered once the peers are queued.
    first_cycle: Option<oneshot::Sender<()>>,
}

struct DialDone {
    peer: PeerId,
    addr: SocketAddrV4,
    result: io::Result<Stream>,
}

struct TopicState {
    opts: JoinOptions,
    task: JoinHandle<()>,
}

struct OpenConn {
    /// The queue entry, for connections we dialled.
    peer: Option<PeerId>,
    side: ConnectionSide,
}

struct Core {
    dht: Arc<Dht>,
    /// The TCP listener, pausing after failed accepts.
    acceptor: Acceptor<TcpListener>,
    utp: Option<Arc<Utp>>,
    /// Incoming uTP streams, from the accept task.
    utp_in: mpsc::Receiver<librqbit_utp::UtpStream>,
    utp_accept: Option<JoinHandle<()>>,
    tcp: bool,
    lan: Option<(LanSocket, mpsc::Receiver<LanPeer>)>,
    queue: PeerQueue,
    topics: HashMap<[u8; 32], TopicState>,
    conns_tx: mpsc::UnboundedSender<Connection>,
    closed_tx: mpsc::UnboundedSender<ConnectionId>,
    closed_rx: mpsc::UnboundedReceiver<ConnectionId>,
    found_tx: mpsc::Sender<Found>,
    found_rx: mpsc::Receiver<Found>,
    dial_tx: mpsc::UnboundedSender<DialDone>,
    dial_rx: mpsc::UnboundedReceiver<DialDone>,
    open: HashMap<ConnectionId, OpenConn>,
    dedup: Deduplicator<ConnectionId>,
    /// Banned duplicates we dialled, re-added when their survivor closes.
    banned_dups: Vec<(ConnectionId, PeerId)>,
    local: Option<SocketAddrV4>,
    max_peers: usize,
    peers: usize,
    client: usize,
    dialing: usize,
    next_conn: u64,
    rng: StdRng,
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Core {
    fn new(
        config: SwarmConfig,
        listener: Option<TcpListener>,
        dht: Arc<Dht>,
        utp: Option<Arc<Utp>>,
        lan: Option<(LanSocket, mpsc::Receiver<LanPeer>)>,
        conns_tx: mpsc::UnboundedSender<Connection>,
    ) -> Core {
        let mut rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        let queue_config = QueueConfig {
            seed: Some(config.queue.seed.unwrap_or_else(|| rng.r#gen())),
            ..config.queue
        };
        let (closed_tx, closed_rx) = mpsc::unbounded_channel();
        let (found_tx, found_rx) = mpsc::channel(64);
        let (dial_tx, dial_rx) = mpsc::unbounded_channel();
        let local = config
            .announce_local_address
            .map(|ip| SocketAddrV4::new(ip, dht.local_addr().port()));
        let (utp_in_tx, utp_in) = mpsc::channel(16);
        let utp_accept = utp.clone().map(|u| tokio::spawn(accept_utp(u, utp_in_tx)));
        Core {
            dht,
            acceptor: Acceptor::new(listener),
            utp,
            utp_in,
            utp_accept,
            tcp: config.tcp,
            lan,
            queue: PeerQueue::new(queue_config),
            topics: HashMap::new(),
            conns_tx,
            closed_tx,
            closed_rx,
            found_tx,
            found_rx,
            dial_tx,
            dial_rx,
            open: HashMap::new(),
            dedup: Deduplicator::default(),
            banned_dups: Vec::new(),
            local,
            max_peers: config.max_peers,
            peers: 0,
            client: 0,
            dialing: 0,
            next_conn: 0,
            rng,
        }
    }

    async fn run(mut self, mut cmd_rx: mpsc::Receiver<Cmd>) {
        let done = loop {
            self.drain();
            let timer = self
                .queue
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            // biased: a close or a finished dial is handled before a command
            // sent after it, so counters read by `stats` are current
            let step = tokio::select! {
                biased;
                Some(id) = self.closed_rx.recv() => Step::Closed(id),
                Some(d) = self.dial_rx.recv() => Step::Dialled(d),
                Some(f) = self.found_rx.recv() => Step::Found(f),
                Some(p) = lan_recv(&mut self.lan) => Step::Lan(p),
                cmd = cmd_rx.recv() => Step::Cmd(cmd),
                _ = sleep_until(timer), if timer.is_some() => Step::Timer,
                r = self.acceptor.accept() => Step::Accept(r),
                Some(s) = self.utp_in.recv() => Step::AcceptUtp(s),
            };
            match step {
                Step::Cmd(None) => break None,
                Step::Cmd(Some(Cmd::Shutdown(reply))) => break Some(reply),
                Step::Cmd(Some(c)) => self.command(c),
                Step::Accept((stream, addr)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "set_nodelay failed");
                    }
                    self.incoming(Stream::Tcp(stream), addr)
                }
                Step::AcceptUtp(s) => {
                    let addr = s.remote_addr();
                    self.incoming(Stream::Utp(s), addr)
                }
                Step::Found(f) => self.found(f),
                Step::Lan(p) => self.lan_found(p),
                Step::Dialled(d) => self.dialled(d),
                Step::Closed(id) => self.closed(id),
                Step::Timer => self.queue.handle_timeout(now()),
            }
        };
        self.shutdown().await;
        if let Some(reply) = done {
            let _ = reply.send(());
        }
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Join(topic, opts, reply) => {
                self.stop_topic(&topic);
                if let Some((lan, _)) = &self.lan {
                    let port = opts.announce.then(|| self.dht.local_addr().port());
                    lan.join(topic, port, opts.lookup);
                }
                let task = tokio::spawn(topic_cycle(
                    self.dht.clone(),
                    topic,
                    opts,
                    self.local,
                    self.found_tx.clone(),
                    self.rng.r#gen(),
                    reply,
                ));
                self.topics.insert(topic, TopicState { opts, task });
            }
            Cmd::Leave(topic, reply) => {
                let announced = self.stop_topic(&topic);
                let dht = self.dht.clone();
                let local = self.local;
                tokio::spawn(async move {
                    if announced {
                        unannounce(&dht, topic, local).await;
                    }
                    let _ = reply.send(());
                });
            }
            Cmd::Dedup {
                conn,
                local,
                remote,
                reply,
            } => {
                let _ = reply.send(self.deduplicate(conn, &local, &remote));
            }
            Cmd::Stats(reply) => {
                let _ = reply.send(SwarmStats {
                    peers: self.peers,
                    client: self.client,
                    server: self.peers - self.client,
                    queued: self.queue.len(),
                    topics: self.topics.len(),
                });
            }
            Cmd::Shutdown(_) => {}
        }
    }

    /// Stops a topic's cycle; returns whether it was announcing.
    fn stop_topic(&mut self, topic: &[u8; 32]) -> bool {
        if let Some((lan, _)) = &self.lan {
            lan.leave(*topic);
        }
        match self.topics.remove(topic) {
            Some(t) => {
                t.task.abort();
                t.opts.announce
            }
            None => false,
        }
    }

    fn found(&mut self, f: Found) {
        // a cycle that raced a leave or a re-join without lookup adds nothing
        if self.topics.get(&f.topic).is_some_and(|t| t.opts.lookup) {
            for p in f.peers {
                self.queue.add(p);
            }
        }
        if let Some(tx) = f.first_cycle {
            let _ = tx.send(());
        }
    }

    /// A peer heard of on the LAN: local, so dialled first and TCP only.
    fn lan_found(&mut self, p: LanPeer) {
        if self.topics.get(&p.topic).is_some_and(|t| t.opts.lookup) {
            self.queue.add(Peer {
                addr: p.addr,
                local: true,
                referrer: None,
                to: None,
                topic: Some(p.topic),
            });
        }
    }

    fn drain(&mut self) {
        while self.peers < self.max_peers && self.dialing < MAX_DIALS {
            let Some((id, peer)) = self.queue.shift() else {
                return;
            };
            if let Some(t) = peer.topic
                && !self.topics.contains_key(&t)
            {
                // Node leaves such an entry active forever, so a re-join
                // could never dial it again; forget it instead
                self.queue.remove(id);
                continue;
            }
            self.peers += 1;
            self.client += 1;
            self.dialing += 1;
            let tx = self.dial_tx.clone();
            let addr = peer.addr;
            let dial = Dial {
                addr,
                referrer: peer.referrer,
                tcp: self.tcp,
                utp: self.utp.clone(),
                dht: self.dht.clone(),
            };
            tokio::spawn(async move {
                let result = match tokio::time::timeout(CONNECT_TIMEOUT, dial.run()).await {
                    Ok(r) => r,
                    Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "Timeout")),
                };
                let _ = tx.send(DialDone {
                    peer: id,
                    addr,
                    result,
                });
            });
        }
    }

    fn next_id(&mut self) -> ConnectionId {
        self.next_conn += 1;
        ConnectionId(self.next_conn)
    }

    fn dialled(&mut self, d: DialDone) {
        self.dialing -= 1;
        match d.result {
            Ok(stream) => {
                self.queue.connected(d.peer, true);
                let peer = self.queue.peer(d.peer);
                let id = self.next_id();
                let info = ConnectionInfo {
                    id,
                    initiator: true,
                    peer: SocketAddr::V4(d.addr),
                    topic: peer.and_then(|p| p.topic),
                    local: peer.is_some_and(|p| p.local),
                    transport: stream.transport(),
                };
                self.hand_out(stream, info, Some(d.peer));
            }
            Err(e) => {
                tracing::debug!(peer = %d.addr, error = %e, "dial failed");
                self.peers -= 1;
                self.client -= 1;
                self.queue.requeue(d.peer, now());
            }
        }
    }

    fn incoming(&mut self, stream: Stream, addr: SocketAddr) {
        if self.peers >= self.max_peers {
            // Node's listeners at maxConnections close new sockets at once
            return;
        }
        self.peers += 1;
        let id = self.next_id();
        let info = ConnectionInfo {
            id,
            initiator: false,
            peer: addr,
            topic: None,
            local: false,
            transport: stream.transport(),
        };
        self.hand_out(stream, info, None);
    }

    fn hand_out(&mut self, stream: Stream, info: ConnectionInfo, peer: Option<PeerId>) {
        let side = ConnectionSide {
            initiator: info.initiator,
            transport: info.transport,
        };
        self.open.insert(info.id, OpenConn { peer, side });
        let guard = CloseGuard::new(info.id, self.closed_tx.clone());
        // if nobody listens the connection drops and its guard frees the slot
        let _ = self.conns_tx.send(Connection::new(stream, info, guard));
    }

    fn closed(&mut self, id: ConnectionId) {
        let Some(c) = self.open.remove(&id) else {
            return;
        };
        self.peers -= 1;
        if let Some(p) = c.peer {
            self.client -= 1;
            self.queue.requeue(p, now());
        }
        self.dedup.remove(id);
        let mut readd = Vec::new();
        self.banned_dups.retain(|(survivor, dup)| {
            if *survivor == id {
                readd.push(*dup);
                false
            } else {
                true
            }
        });
        for p in readd {
            self.queue.readd(p);
        }
    }

    fn deduplicate(
        &mut self,
        conn: ConnectionId,
        local: &[u8; 32],
        remote: &[u8; 32],
    ) -> Result<Decision<ConnectionId>, SwarmError> {
        let side = self
            .open
            .get(&conn)
            .map(|c| c.side)
            .ok_or(SwarmError::UnknownConnection)?;
        let d = self.dedup.add(local, remote, conn, side);
        if let Some(dup) = d.duplicate {
            let dup_peer = self.open.get(&dup).and_then(|c| c.peer);
            // hyperswarm bans only a duplicate it dialled, until the
            // survivor closes
            if let Some(p) = dup_peer {
                self.queue.ban(p);
                if let Some(s) = d.survivor {
                    self.banned_dups.push((s, p));
                }
            }
        }
        Ok(d)
    }

    async fn shutdown(mut self) {
        let mut announced = Vec::new();
        for (topic, t) in self.topics.drain() {
            t.task.abort();
            if t.opts.announce {
                announced.push(topic);
            }
            // an aborted cycle drops its handle on the DHT
            let _ = t.task.await;
        }
        let unannounces: Vec<_> = announced
            .into_iter()
            .map(|topic| {
                let dht = self.dht.clone();
                let local = self.local;
                tokio::spawn(async move { unannounce(&dht, topic, local).await })
            })
            .collect();
        for u in unannounces {
            let _ = u.await;
        }
        self.acceptor.close();
        let Core {
            dht,
            lan,
            utp,
            utp_accept,
            ..
        } = self;
        if let Some(task) = utp_accept {
            task.abort();
            let _ = task.await;
        }
        if let Some(utp) = utp {
            // stops the engine even while a dial still holds a clone
            utp.shutdown();
        }
        if let Some((lan, _)) = lan {
            lan.shutdown().await;
        }
        // a leave still unannouncing holds a clone: the DHT closes with it
        if let Ok(dht) = Arc::try_unwrap(dht) {
            dht.shutdown().await;
        }
    }
}

enum Step {
    Cmd(Option<Cmd>),
    Accept((TcpStream, SocketAddr)),
    AcceptUtp(librqbit_utp::UtpStream),
    Found(Found),
    Lan(LanPeer),
    Dialled(DialDone),
    Closed(ConnectionId),
    Timer,
}

/// Hands incoming uTP streams to the swarm until it or the engine stops.
async fn accept_utp(utp: Arc<Utp>, tx: mpsc::Sender<librqbit_utp::UtpStream>) {
    loop {
        match utp.accept().await {
            Ok(s) => {
                if tx.send(s).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "utp accept failed");
                return;
            }
        }
    }
}

/// One dial: TCP and uTP raced as described in the module docs.
struct Dial {
    addr: SocketAddrV4,
    referrer: Option<SocketAddrV4>,
    tcp: bool,
    utp: Option<Arc<Utp>>,
    dht: Arc<Dht>,
}

impl Dial {
    async fn run(self) -> io::Result<Stream> {
        let tcp_failed = Notify::new();
        let tcp = async {
            let r = if self.tcp {
                match TcpStream::connect(self.addr).await {
                    Ok(s) => s.set_nodelay(true).map(|()| s),
                    Err(e) => Err(e),
                }
            } else {
                Err(io::Error::other("TCP is off"))
            };
            if r.is_err() {
                // a stored permit: the uTP leg may start waiting later
                tcp_failed.notify_one();
            }
            r
        };
        let utp = async {
            let Some(utp) = &self.utp else {
                return Err(io::Error::other("uTP is off"));
            };
            let punched = match self.referrer {
                Some(r) => match self.dht.holepunch(self.addr, r).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!(peer = %self.addr, error = %e, "holepunch failed");
                        false
                    }
                },
                None => false,
            };
            if !punched {
                tcp_failed.notified().await;
            }
            utp.connect(SocketAddr::V4(self.addr)).await
        };
        tokio::pin!(tcp, utp);
        let mut tcp_err = None;
        let mut utp_err = None;
        loop {
            tokio::select! {
                r = &mut tcp, if tcp_err.is_none() => match r {
                    Ok(s) => return Ok(Stream::Tcp(s)),
                    Err(e) => tcp_err = Some(e),
                },
                r = &mut utp, if utp_err.is_none() => match r {
                    Ok(s) => return Ok(Stream::Utp(s)),
                    Err(e) => utp_err = Some(e),
                },
            }
            if let (Some(t), Some(u)) = (&tcp_err, &utp_err) {
                return Err(io::Error::new(t.kind(), format!("tcp: {t}; utp: {u}")));
            }
        }
    }
}

/// The next LAN peer; never, without LAN discovery.
async fn lan_recv(lan: &mut Option<(LanSocket, mpsc::Receiver<LanPeer>)>) -> Option<LanPeer> {
    match lan {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn unannounce(dht: &Dht, topic: [u8; 32], local: Option<SocketAddrV4>) {
    match dht.unannounce(NodeId(topic), local).await {
        Ok(out) => {
            if let Err(e) = out.result {
                tracing::debug!(error = %e, "unannounce failed");
            }
        }
        Err(e) => tracing::debug!(error = %e, "unannounce failed"),
    }
}

/// The peers of one DHT cycle, as @hyperswarm/discovery reports them:
/// public ones with the answering node as referrer, LAN ones without.
fn peers_of(out: &QueryOutput, topic: [u8; 32], local: Option<SocketAddrV4>) -> Vec<Peer> {
    let mut peers = Vec::new();
    for r in &out.replies {
        let Some(f) = FoundPeers::from_value(r.value.as_deref(), local) else {
            continue;
        };
        for addr in f.local_peers {
            peers.push(Peer {
                addr,
                local: true,
                referrer: None,
                to: r.to,
                topic: Some(topic),
            });
        }
        for addr in f.peers {
            peers.push(Peer {
                addr,
                local: false,
                referrer: Some(r.from),
                to: r.to,
                topic: Some(topic),
            });
        }
    }
    peers
}

/// A topic's DHT loop: announce (which also returns peers) or lookup, at
/// once and then every 5–10 min. Failures wait for the next cycle, as Node.
async fn topic_cycle(
    dht: Arc<Dht>,
    topic: [u8; 32],
    opts: JoinOptions,
    local: Option<SocketAddrV4>,
    found: mpsc::Sender<Found>,
    seed: u64,
    first_cycle: oneshot::Sender<()>,
) {
    let mut first_cycle = Some(first_cycle);
    let mut rng = StdRng::seed_from_u64(seed);
    if let Err(e) = dht.ready().await {
        tracing::debug!(error = %e, "DHT not bootstrapped; querying anyway");
    }
    loop {
        let out = if opts.announce {
            dht.announce(NodeId(topic), local).await
        } else {
            dht.lookup(NodeId(topic), local).await
        };
        match out {
            Ok(out) => {
                if let Err(e) = &out.result {
                    tracing::debug!(error = %e, "topic cycle failed");
                }
                let peers = if opts.lookup {
                    peers_of(&out, topic, local)
                } else {
                    Vec::new()
                };
                if (!peers.is_empty() || first_cycle.is_some())
                    && found
                        .send(Found {
                            topic,
                            peers,
                            first_cycle: first_cycle.take(),
                        })
                        .await
                        .is_err()
                {
                    return;
                }
            }
            // the DHT is gone
            Err(_) => return,
        }
        tokio::time::sleep(DHT_INTERVAL + rng.gen_range(Duration::ZERO..DHT_INTERVAL)).await;
    }
}
