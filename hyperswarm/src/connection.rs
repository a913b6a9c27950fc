//! A swarm connection: a TCP byte stream plus where it came from. Dropping
//! it (or its [`CloseGuard`]) tells the swarm the peer slot is free.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

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
    /// Always [`Transport::Tcp`] here (uTP is not implemented).
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

/// A connection handed out by a [`crate::Swarm`]: read and write it like
/// the TCP stream it wraps.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    info: ConnectionInfo,
    guard: CloseGuard,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, info: ConnectionInfo, guard: CloseGuard) -> Self {
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
    pub fn into_parts(self) -> (TcpStream, ConnectionInfo, CloseGuard) {
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
