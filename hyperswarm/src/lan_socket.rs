//! tokio glue for LAN discovery: one task drives a [`LanDiscovery`] over a
//! UDP socket joined to the mDNS group 224.0.0.251:5353.
//!
//! The socket is set up as multicast-dns sets its own: `SO_REUSEADDR` (so
//! several swarms, and a Node peer, share port 5353 on one host), bound to
//! `0.0.0.0:5353`, TTL 255, loopback on (other swarms on the same host hear
//! us; our own packets come back and are ignored by their TXT id). Every
//! packet goes to the group, never unicast.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::lan::{LanDiscovery, LanPeer};
use crate::mdns::{MAX_PACKET, MDNS_GROUP};

/// Peers found but not yet taken by the caller; more are dropped (mDNS
/// repeats its queries, so a dropped peer comes back).
const FOUND_BACKLOG: usize = 256;
/// multicast-dns's multicast TTL.
const MULTICAST_TTL: u32 = 255;

/// How LAN discovery is set up.
#[derive(Clone, Debug)]
pub struct LanConfig {
    /// The interface (by its IPv4 address) to join the group on and send
    /// from; `0.0.0.0` lets the kernel pick by the multicast route.
    pub interface: Ipv4Addr,
    /// Seeds the topic ids and query jitter; random when `None`.
    pub seed: Option<u64>,
}

impl Default for LanConfig {
    fn default() -> Self {
        LanConfig {
            interface: Ipv4Addr::UNSPECIFIED,
            seed: None,
        }
    }
}

enum Cmd {
    Join {
        topic: [u8; 32],
        announce_port: Option<u16>,
        lookup: bool,
    },
    Leave([u8; 32]),
    Shutdown(oneshot::Sender<()>),
}

/// LAN discovery on the mDNS group: join topics, receive [`LanPeer`]s.
#[derive(Debug)]
pub struct LanSocket {
    tx: mpsc::UnboundedSender<Cmd>,
    task: JoinHandle<()>,
}

impl LanSocket {
    /// Binds `0.0.0.0:5353`, joins the group and starts; found peers arrive
    /// on the returned receiver.
    pub fn bind(config: LanConfig) -> io::Result<(LanSocket, mpsc::Receiver<LanPeer>)> {
        let socket = multicast_socket(config.interface)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (found_tx, found_rx) = mpsc::channel(FOUND_BACKLOG);
        let disc = LanDiscovery::new(config.seed);
        let task = tokio::spawn(run(socket, disc, rx, found_tx));
        Ok((LanSocket { tx, task }, found_rx))
    }

    /// Joins `topic` (see [`LanDiscovery::join`]); replaces an earlier join.
    pub fn join(&self, topic: [u8; 32], announce_port: Option<u16>, lookup: bool) {
        let _ = self.tx.send(Cmd::Join {
            topic,
            announce_port,
            lookup,
        });
    }

    /// Stops answering and querying for `topic`.
    pub fn leave(&self, topic: [u8; 32]) {
        let _ = self.tx.send(Cmd::Leave(topic));
    }

    /// Sends what is queued and closes the socket.
    pub async fn shutdown(self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }
}

fn multicast_socket(interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, MDNS_GROUP.port())).into())?;
    s.set_multicast_ttl_v4(MULTICAST_TTL)?;
    s.set_multicast_loop_v4(true)?;
    if !interface.is_unspecified() {
        s.set_multicast_if_v4(&interface)?;
    }
    s.join_multicast_v4(MDNS_GROUP.ip(), &interface)?;
    UdpSocket::from_std(s.into())
}

async fn flush(socket: &UdpSocket, disc: &mut LanDiscovery) {
    while let Some(p) = disc.poll_transmit() {
        if let Err(e) = socket.send_to(&p, MDNS_GROUP).await {
            // a LAN without a multicast route: discovery just finds nothing
            tracing::debug!(error = %e, "mdns send failed");
        }
    }
}

async fn run(
    socket: UdpSocket,
    mut disc: LanDiscovery,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    found: mpsc::Sender<LanPeer>,
) {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        flush(&socket, &mut disc).await;
        let timer = disc.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, SocketAddr::V4(from))) => {
                    for p in disc.handle_packet(&buf[..n], *from.ip()) {
                        if found.try_send(p).is_err() {
                            tracing::debug!(peer = %p.addr, "lan peer dropped: backlog full");
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "mdns recv failed"),
            },
            _ = sleep_until(timer), if timer.is_some() => disc.handle_timeout(now()),
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Cmd::Join { topic, announce_port, lookup }) => {
                    disc.join(topic, announce_port, lookup, now());
                }
                Some(Cmd::Leave(topic)) => disc.leave(&topic),
                Some(Cmd::Shutdown(reply)) => {
                    flush(&socket, &mut disc).await;
                    let _ = reply.send(());
                    break;
                }
            },
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// tokio's clock (so paused test time drives the timers too).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
