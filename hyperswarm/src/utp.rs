//! uTP (BEP 29, libutp's wire format) on the DHT's UDP socket, as
//! hyperswarm 2 runs utp-native: one socket, one port, both protocols.
//!
//! The stream engine is `librqbit-utp` (checked against utp-native 2.5.3 in
//! `tests/utp_interop.rs`). Its socket reads datagrams from a
//! [`Transport`]; here that transport is the shared socket's uTP half: the
//! DHT task reads every datagram, keeps the ones that are not uTP by
//! [`is_utp_packet`] (libutp's own test in `utp_process_udp`) and hands
//! the rest to the uTP engine through a bounded queue.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use librqbit_dualstack_sockets::PollSendToVectored;
use librqbit_utp::{SocketOpts, Transport, UtpSocket, UtpSocketUdp, UtpStream};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A uTP datagram and its sender, on its way from the DHT task to the
/// uTP engine.
pub(crate) type UtpDatagram = (Vec<u8>, SocketAddr);

/// uTP datagrams queued for the engine; more are dropped, as a full socket
/// buffer would.
pub(crate) const UTP_QUEUE: usize = 1024;

/// SYN-ACK sends before an accepted stream gives up (see [`Utp::new`]).
const SYN_ACK_TRIES: usize = 50;

/// A uTP header is 20 bytes.
const HEADER_LEN: usize = 20;

/// Whether a datagram on the shared socket is uTP: at least a header long
/// and the low nibble of the first byte (the version) is 1. This is how
/// libutp's `utp_process_udp` claims datagrams; everything else goes to the
/// DHT. A dht-rpc 4 datagram starts with the `version` field's tag, 0x58
/// (field 11, varint), whose low nibble is 8, so the two never collide.
pub fn is_utp_packet(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram[0] & 0x0f == 1
}

/// The uTP half of the shared socket: sends straight on the socket,
/// receives what the DHT task forwards.
struct SharedUdp {
    socket: Arc<UdpSocket>,
    // the engine reads from one task only; the lock is never contended
    rx: Mutex<mpsc::Receiver<UtpDatagram>>,
    local: SocketAddr,
}

impl SharedUdp {
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut rx = self
            .rx
            .lock()
            .map_err(|_| io::Error::other("utp queue lock poisoned"))?;
        match rx.poll_recv(cx) {
            Poll::Ready(Some((data, from))) => {
                // a datagram longer than the engine's buffer is cut, as
                // recv_from on a real socket would
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Poll::Ready(Ok((n, from)))
            }
            Poll::Ready(None) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "shared UDP socket closed",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl PollSendToVectored for SharedUdp {
    fn poll_send_to_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.socket.as_ref().poll_send_to_vectored(cx, bufs, target)
    }
}

impl Transport for SharedUdp {
    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + Sync + 'a {
        std::future::poll_fn(move |cx| self.poll_recv(cx, buf))
    }

    fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send + Sync + 'a {
        std::future::poll_fn(move |cx| self.socket.poll_send_to(cx, buf, target))
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_send_to(cx, buf, target)
    }

    fn bind_addr(&self) -> SocketAddr {
        self.local
    }
}

/// librqbit-utp's default environment (real clock, real randomness). Its
/// type is public but not exported; the socket alias names it.
trait EnvOf {
    type Env;
}

impl<T, E> EnvOf for UtpSocket<T, E> {
    type Env = E;
}

type DefaultEnv = <UtpSocketUdp as EnvOf>::Env;

/// uTP on the swarm's shared socket: dial and accept.
#[derive(Debug)]
pub(crate) struct Utp {
    socket: Arc<UtpSocket<SharedUdp, DefaultEnv>>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for SharedUdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedUdp")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Utp {
    /// Starts the engine on `socket`, fed by `rx` (the DHT task's uTP
    /// datagrams).
    pub(crate) fn new(socket: Arc<UdpSocket>, rx: mpsc::Receiver<UtpDatagram>) -> io::Result<Utp> {
        let local = socket.local_addr()?;
        let cancel = CancellationToken::new();
        let opts = SocketOpts {
            // hyperswarm sets TCP_NODELAY on its TCP sockets; the same here
            disable_nagle: true,
            // librqbit-utp's acceptor re-sends its SYN-ACK every 200 ms
            // until the initiator sends a packet and gives up after this
            // many; libutp's initiator sends nothing until its application
            // writes, so the default 5 (1 s) drops Node dialers that wait
            // for us to speak. 50 waits as long as a dial may take (10 s).
            // The count also caps data retransmissions, but a peer that
            // stops acking is cut off by the 10 s inactivity timeout first.
            max_retransmissions: NonZeroUsize::new(SYN_ACK_TRIES),
            cancellation_token: cancel.clone(),
            ..SocketOpts::default()
        };
        let transport = SharedUdp {
            socket,
            rx: Mutex::new(rx),
            local,
        };
        let socket = UtpSocket::new_with_opts(transport, DefaultEnv::default(), opts)
            .map_err(io::Error::other)?;
        Ok(Utp { socket, cancel })
    }

    /// Opens a uTP connection to `addr`.
    pub(crate) async fn connect(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        self.socket.connect(addr).await.map_err(io::Error::other)
    }

    /// The next incoming uTP connection.
    pub(crate) async fn accept(&self) -> io::Result<UtpStream> {
        self.socket.accept().await.map_err(io::Error::other)
    }

    /// Stops the engine and every stream on it.
    pub(crate) fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Utp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utp_headers_are_claimed_and_dht_datagrams_are_not() {
        // a SYN as utp-native sends it (type 4, version 1), from the capture
        // of tests/swarm_interop.rs
        let syn = [
            0x41, 0x00, 0x23, 0xc6, 0xf8, 0xb2, 0x44, 0x01, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0x98,
            0x69, 0, 0,
        ];
        assert!(is_utp_packet(&syn));
        for kind in 0..5u8 {
            let mut h = syn;
            h[0] = (kind << 4) | 1;
            assert!(is_utp_packet(&h));
        }
        // too short, or another version: the DHT's
        assert!(!is_utp_packet(&syn[..19]));
        let mut v2 = syn;
        v2[0] = 0x42;
        assert!(!is_utp_packet(&v2));
        // every dht-rpc 4 datagram starts with the version tag
        let ping = crate::Message::new(crate::MessageType::Query, 1).encode();
        assert_eq!(ping[0], 0x58);
        assert!(!is_utp_packet(&ping));
    }
}
