//! A swarm connection: a TCP or uTP byte stream plus where it came from.
//! Dropping it (or its [`CloseGuard`]) tells the swarm the peer slot is free.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use librqbit_utp::UtpStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub use crate::dedup::Transport;

/// Identifies a connection within one swarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Where a connection came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Its id in the swarm.
    pub id: ConnectionId,
    /// We dialled it (the Noise initiator is the dialer).
    pub initiator: bool,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The topic we dialled it for (`None` for incoming connections:
    /// hyperswarm 2 does not tell the acceptor).
    pub topic: Option<[u8; 32]>,
    /// The peer was found on the LAN.
    pub local: bool,
    /// TCP or uTP.
    pub transport: Transport,
}

/// Tells the swarm when a connection is gone.
#[derive(Debug)]
pub struct CloseGuard {
    id: ConnectionId,
    tx: mpsc::UnboundedSender<ConnectionId>,
}

impl CloseGuard {
    pub(crate) fn new(id: ConnectionId, tx: mpsc::UnboundedSender<ConnectionId>) -> Self {
        CloseGuard { id, tx }
    }
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        // the swarm may be gone already: nothing to tell then
        let _ = self.tx.send(self.id);
    }
}

/// The byte stream under a [`Connection`].
pub enum Stream {
    /// A TCP stream (`TCP_NODELAY` set).
    Tcp(TcpStream),
    /// A uTP stream on the swarm's shared UDP socket (Nagle off).
    Utp(UtpStream),
}

impl Stream {
    /// Its transport.
    pub fn transport(&self) -> Transport {
        match self {
            Stream::Tcp(_) => Transport::Tcp,
            Stream::Utp(_) => Transport::Utp,
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            Stream::Utp(s) => f.debug_tuple("Utp").field(&s.remote_addr()).finish(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Utp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Utp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Utp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Utp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A connection handed out by a [`crate::Swarm`]: read and write it like
/// the stream it wraps.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    info: ConnectionInfo,
    guard: CloseGuard,
}

impl Connection {
    pub(crate) fn new(stream: Stream, info: ConnectionInfo, guard: CloseGuard) -> Self {
        Connection {
            stream,
            info,
            guard,
        }
    }

    /// Where it came from.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The stream, its info and the guard that frees the swarm's peer slot
    /// when dropped (keep it as long as the stream).
    pub fn into_parts(self) -> (Stream, ConnectionInfo, CloseGuard) {
        (self.stream, self.info, self.guard)
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
