//! tokio glue: one task drives a [`Node`] over one UDP socket.
//!
//! The socket is IPv4 only (dht-rpc 4 is). Send errors are logged and
//! otherwise ignored, like dht-rpc's fire-and-forget sends: a lost datagram
//! is just a timeout to the state machine.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::addr::NodeId;
use crate::error::RpcError;
use crate::node::{Config, Event, Node, OpId, Reply};
use crate::peers_value::FoundPeers;
use crate::query::{QueryId, QueryStats};
use crate::utp::{UtpDatagram, is_utp_packet};

/// Everything a finished query produced.
#[derive(Clone, Debug)]
pub struct QueryOutput {
    /// Non-error replies, in arrival order.
    pub replies: Vec<Reply>,
    /// Counters, or why the query failed.
    pub result: Result<QueryStats, RpcError>,
}

impl QueryOutput {
    /// The distinct peers of every `peers` reply (public, then LAN).
    pub fn peers(&self, local: Option<SocketAddrV4>) -> Vec<SocketAddrV4> {
        let mut out: Vec<SocketAddrV4> = Vec::new();
        for r in &self.replies {
            if let Some(f) = FoundPeers::from_value(r.value.as_deref(), local) {
                for p in f.peers.into_iter().chain(f.local_peers) {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        out
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Query,
    Update,
    QueryAndUpdate,
}

enum Cmd {
    Run {
        kind: Kind,
        command: String,
        target: NodeId,
        value: Option<Vec<u8>>,
        reply: oneshot::Sender<QueryOutput>,
    },
    Ping {
        addr: SocketAddrV4,
        reply: oneshot::Sender<Result<SocketAddrV4, RpcError>>,
    },
    Holepunch {
        peer: SocketAddrV4,
        referrer: SocketAddrV4,
        reply: oneshot::Sender<Result<(), RpcError>>,
    },
    Ready(oneshot::Sender<Result<(), RpcError>>),
    Info(oneshot::Sender<DhtInfo>),
    Bootstrap,
    Shutdown(oneshot::Sender<()>),
}

/// What a DHT node knows of itself and the network ([`Dht::info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DhtInfo {
    /// A bootstrap walk finished (an isolated node, with no bootstrap list, is at once).
    pub bootstrapped: bool,
    /// Nodes in the routing table.
    pub nodes: usize,
    /// Our address as the nodes we hear from report it ([`Node::remote_address`]).
    pub remote_address: Option<SocketAddrV4>,
    /// Whether they agree on it ([`Node::holepunchable`]).
    pub holepunchable: bool,
}

/// A DHT node on a UDP socket.
#[derive(Debug)]
pub struct Dht {
    tx: mpsc::Sender<Cmd>,
    local_addr: SocketAddrV4,
    id: NodeId,
    task: JoinHandle<()>,
}

impl Dht {
    /// Binds `addr` and starts a node with `config` (it bootstraps at once).
    pub async fn bind(addr: SocketAddrV4, config: Config) -> io::Result<Dht> {
        let socket = UdpSocket::bind(addr).await?;
        Dht::on_socket(Arc::new(socket), config, None)
    }

    /// Starts a node on a bound `socket`. With `utp`, datagrams that are uTP
    /// by [`is_utp_packet`] go there instead of the DHT (hyperswarm's shared
    /// socket); without, they are dropped as undecodable.
    pub(crate) fn on_socket(
        socket: Arc<UdpSocket>,
        config: Config,
        utp: Option<mpsc::Sender<UtpDatagram>>,
    ) -> io::Result<Dht> {
        let local_addr = match socket.local_addr()? {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => return Err(io::Error::other("dht-rpc 4 is IPv4 only")),
        };
        let node = Node::new(config, now());
        let id = node.id();
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(run(socket, node, rx, utp));
        Ok(Dht {
            tx,
            local_addr,
            id,
            task,
        })
    }

    /// A persistent node with no bootstrap list: what others bootstrap from.
    pub async fn bootstrap_node(addr: SocketAddrV4) -> io::Result<Dht> {
        Dht::bind(addr, Config::default()).await
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local_addr
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T, RpcError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| RpcError::Cancelled)?;
        rx.await.map_err(|_| RpcError::Cancelled)
    }

    /// Waits for the first bootstrap walk; an error means no bootstrap node
    /// answered (the node keeps retrying; see [`Dht::bootstrap`]).
    pub async fn ready(&self) -> Result<(), RpcError> {
        self.call(Cmd::Ready).await?
    }

    /// The node's state: bootstrapped, routing table size, our address as seen from outside.
    pub async fn info(&self) -> Result<DhtInfo, RpcError> {
        self.call(Cmd::Info).await
    }

    /// Starts another bootstrap walk now.
    pub async fn bootstrap(&self) -> Result<(), RpcError> {
        self.tx
            .send(Cmd::Bootstrap)
            .await
            .map_err(|_| RpcError::Cancelled)
    }

    async fn run_query(
        &self,
        kind: Kind,
        command: &str,
        target: NodeId,
        value: Option<Vec<u8>>,
    ) -> Result<QueryOutput, RpcError> {
        let command = command.to_owned();
        self.call(|reply| Cmd::Run {
            kind,
            command,
            target,
            value,
            reply,
        })
        .await
    }

    /// `query(command, target, value)`.
    pub async fn query(
        &self,
        command: &str,
        target: NodeId,
        value: Option<Vec<u8>>,
    ) -> Result<QueryOutput, RpcError> {
        self.run_query(Kind::Query, command, target, value).await
    }

    /// Announces us under `topic` (port 0 = this socket's port as seen by
    /// the DHT) and returns what the walk found.
    pub async fn announce(
        &self,
        topic: NodeId,
        local: Option<SocketAddrV4>,
    ) -> Result<QueryOutput, RpcError> {
        let v = crate::PeersInput::announce(local).encode();
        self.run_query(Kind::QueryAndUpdate, "peers", topic, Some(v))
            .await
    }

    /// Looks `topic` up.
    pub async fn lookup(
        &self,
        topic: NodeId,
        local: Option<SocketAddrV4>,
    ) -> Result<QueryOutput, RpcError> {
        let v = crate::PeersInput::lookup(local).encode();
        self.run_query(Kind::Query, "peers", topic, Some(v)).await
    }

    /// Removes our announce of `topic`.
    pub async fn unannounce(
        &self,
        topic: NodeId,
        local: Option<SocketAddrV4>,
    ) -> Result<QueryOutput, RpcError> {
        let v = crate::PeersInput::unannounce(local).encode();
        self.run_query(Kind::Update, "peers", topic, Some(v)).await
    }

    /// Pings `addr`; returns our address as it saw us.
    pub async fn ping(&self, addr: SocketAddrV4) -> Result<SocketAddrV4, RpcError> {
        self.call(|reply| Cmd::Ping { addr, reply }).await?
    }

    /// Asks `peer`, learned through the DHT node `referrer`, to open its
    /// NAT towards us (dht-rpc `holepunch`): a `_holepunch` straight to the
    /// peer plus one relayed by the referrer. `Ok` once the peer answered,
    /// i.e. a direct UDP path both ways exists.
    pub async fn holepunch(
        &self,
        peer: SocketAddrV4,
        referrer: SocketAddrV4,
    ) -> Result<(), RpcError> {
        self.call(|reply| Cmd::Holepunch {
            peer,
            referrer,
            reply,
        })
        .await?
    }

    /// Cancels everything in flight and closes the socket.
    pub async fn shutdown(self) {
        let _ = self.call(Cmd::Shutdown).await;
        let _ = self.task.await;
    }
}

/// tokio's clock (so paused test time drives the node too).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

#[derive(Default)]
struct Waiters {
    queries: HashMap<QueryId, (Vec<Reply>, oneshot::Sender<QueryOutput>)>,
    pings: HashMap<OpId, oneshot::Sender<Result<SocketAddrV4, RpcError>>>,
    holepunches: HashMap<OpId, oneshot::Sender<Result<(), RpcError>>>,
    ready: Vec<oneshot::Sender<Result<(), RpcError>>>,
}

async fn flush(socket: &UdpSocket, node: &mut Node, w: &mut Waiters) {
    while let Some(t) = node.poll_transmit() {
        if let Err(e) = socket.send_to(&t.payload, t.dest).await {
            tracing::debug!(dest = %t.dest, error = %e, "dht send failed");
        }
    }
    while let Some(e) = node.poll_event() {
        match e {
            Event::Bootstrapped => {
                for r in w.ready.drain(..) {
                    let _ = r.send(Ok(()));
                }
            }
            Event::BootstrapFailed(err) => {
                for r in w.ready.drain(..) {
                    let _ = r.send(Err(err.clone()));
                }
            }
            Event::Reply { query, reply } => {
                if let Some((replies, _)) = w.queries.get_mut(&query) {
                    replies.push(reply);
                }
            }
            Event::QueryDone { query, result } => {
                if let Some((replies, tx)) = w.queries.remove(&query) {
                    let _ = tx.send(QueryOutput { replies, result });
                }
            }
            Event::Pong { op, result } => {
                if let Some(tx) = w.pings.remove(&op) {
                    let _ = tx.send(result);
                }
            }
            Event::Holepunched { op, result } => {
                if let Some(tx) = w.holepunches.remove(&op) {
                    let _ = tx.send(result);
                }
            }
            other => tracing::trace!(event = ?other, "dht event"),
        }
    }
}

async fn run(
    socket: Arc<UdpSocket>,
    mut node: Node,
    mut rx: mpsc::Receiver<Cmd>,
    utp: Option<mpsc::Sender<UtpDatagram>>,
) {
    let mut buf = vec![0u8; 65536];
    let mut w = Waiters::default();
    loop {
        flush(&socket, &mut node, &mut w).await;
        let deadline = tokio::time::Instant::from_std(node.poll_timeout());
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                // a plain dht-rpc node (no uTP) decodes everything, as Node's
                Ok((n, from)) if utp.is_some() && is_utp_packet(&buf[..n]) => {
                    if let Some(utp) = &utp
                        && utp.try_send((buf[..n].to_vec(), from)).is_err()
                    {
                        tracing::trace!(%from, "utp queue full or closed; datagram dropped");
                    }
                }
                Ok((n, SocketAddr::V4(from))) => node.handle_datagram(&buf[..n], from, now()),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "dht recv failed"),
            },
            _ = tokio::time::sleep_until(deadline) => node.handle_timeout(now()),
            cmd = rx.recv() => {
                let now = now();
                match cmd {
                    None => break,
                    Some(Cmd::Run { kind, command, target, value, reply }) => {
                        let q = match kind {
                            Kind::Query => node.query(&command, target, value, now),
                            Kind::Update => node.update(&command, target, value, now),
                            Kind::QueryAndUpdate => node.query_and_update(&command, target, value, now),
                        };
                        w.queries.insert(q, (Vec::new(), reply));
                    }
                    Some(Cmd::Ping { addr, reply }) => {
                        let op = node.ping(addr, None, now);
                        w.pings.insert(op, reply);
                    }
                    Some(Cmd::Holepunch { peer, referrer, reply }) => {
                        let op = node.holepunch(peer, referrer, now);
                        w.holepunches.insert(op, reply);
                    }
                    Some(Cmd::Ready(reply)) => {
                        if node.is_bootstrapped() {
                            let _ = reply.send(Ok(()));
                        } else {
                            w.ready.push(reply);
                        }
                    }
                    Some(Cmd::Info(reply)) => {
                        let _ = reply.send(DhtInfo {
                            bootstrapped: node.is_bootstrapped(),
                            nodes: node.routing_table().len(),
                            remote_address: node.remote_address(),
                            holepunchable: node.holepunchable(),
                        });
                    }
                    Some(Cmd::Bootstrap) => node.bootstrap(now),
                    Some(Cmd::Shutdown(reply)) => {
                        node.shutdown(now);
                        flush(&socket, &mut node, &mut w).await;
                        let _ = reply.send(());
                        break;
                    }
                }
            }
        }
    }
}
