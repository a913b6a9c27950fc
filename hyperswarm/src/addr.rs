//! Node ids and the ipv4-peers address encodings (6-byte peers, 38-byte nodes,
//! 4-byte local suffixes).

use std::cmp::Ordering;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::error::DecodeError;

/// Bytes of an encoded peer: IPv4 (4) then port.
pub const PEER_LEN: usize = 6;
/// Bytes of an encoded node: id (32), IPv4 (4), port.
pub const NODE_LEN: usize = 32 + PEER_LEN;
/// Bytes of a local-address suffix: the last two IPv4 octets, then port.
pub const LOCAL_SUFFIX_LEN: usize = 4;

/// A 32-byte DHT node id (random, not derived from the address), also used
/// for targets and topics.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// Parses a 32-byte slice.
    pub fn from_slice(bytes: &[u8]) -> Option<NodeId> {
        <[u8; 32]>::try_from(bytes).ok().map(NodeId)
    }

    /// XOR distance to `other`, compared as a big-endian number.
    pub fn distance(&self, other: &NodeId) -> [u8; 32] {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        d
    }

    /// Orders `a` and `b` by XOR distance to `self`.
    pub fn cmp_distance(&self, a: &NodeId, b: &NodeId) -> Ordering {
        self.distance(a).cmp(&self.distance(b))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..")
    }
}

/// A DHT node as carried in `closerNodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddrV4,
}

/// Encodes a peer: IPv4 octets, then the port as u16be.
pub fn encode_peer(addr: SocketAddrV4) -> [u8; PEER_LEN] {
    let mut out = [0u8; PEER_LEN];
    out[..4].copy_from_slice(&addr.ip().octets());
    out[4..].copy_from_slice(&addr.port().to_be_bytes()); // u16be
    out
}

fn peer_at(chunk: &[u8]) -> Result<SocketAddrV4, DecodeError> {
    let (ip, port) = match chunk {
        [a, b, c, d, p0, p1] => (
            Ipv4Addr::new(*a, *b, *c, *d),
            u16::from_be_bytes([*p0, *p1]),
        ), // u16be
        _ => return Err(DecodeError::Length("peer")),
    };
    if port == 0 {
        return Err(DecodeError::ZeroPort);
    }
    Ok(SocketAddrV4::new(ip, port))
}

/// Decodes a list of 6-byte peers like ipv4-peers 2: trailing bytes that do
/// not make a whole entry are ignored, any port 0 fails the whole list.
pub fn decode_peers(buf: &[u8]) -> Result<Vec<SocketAddrV4>, DecodeError> {
    buf.chunks_exact(PEER_LEN).map(peer_at).collect()
}

/// The first peer of an ipv4-peers buffer (how dht-rpc reads `to`, `_ping`
/// values and holepunch addresses); `None` when there is none or it is invalid.
pub fn decode_first_peer(buf: &[u8]) -> Option<SocketAddrV4> {
    buf.get(..PEER_LEN).and_then(|c| peer_at(c).ok())
}

/// Encodes nodes as `closerNodes`: id, IPv4 octets, port u16be, per node.
pub fn encode_nodes(nodes: &[NodeAddr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * NODE_LEN);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        out.extend_from_slice(&encode_peer(n.addr));
    }
    out
}

/// Decodes `closerNodes` like ipv4-peers with a 32-byte id: trailing bytes
/// are ignored, any port 0 fails the whole list.
pub fn decode_nodes(buf: &[u8]) -> Result<Vec<NodeAddr>, DecodeError> {
    buf.chunks_exact(NODE_LEN)
        .map(|c| {
            let id = NodeId::from_slice(&c[..32]).ok_or(DecodeError::Length("node id"))?;
            Ok(NodeAddr {
                id,
                addr: peer_at(&c[32..])?,
            })
        })
        .collect()
}

/// Decodes the stored peer records of a `peers` reply like @hyperswarm/dht's
/// `ipv4.decodeAll`: the length must be a multiple of 6 and no entry may have
/// port 0 or host 0.0.0.0.
pub fn decode_peer_records(buf: &[u8]) -> Result<Vec<SocketAddrV4>, DecodeError> {
    if !buf.len().is_multiple_of(PEER_LEN) {
        return Err(DecodeError::Length("peer records"));
    }
    buf.chunks_exact(PEER_LEN)
        .map(|c| {
            let p = peer_at(c)?;
            if p.ip().is_unspecified() {
                return Err(DecodeError::UnspecifiedHost);
            }
            Ok(p)
        })
        .collect()
}

/// The 4-byte local suffix of an address: last two octets, port u16be.
pub fn local_suffix(addr: SocketAddrV4) -> [u8; LOCAL_SUFFIX_LEN] {
    let o = addr.ip().octets();
    let p = addr.port().to_be_bytes(); // u16be
    [o[2], o[3], p[0], p[1]]
}

/// Decodes `localPeers` suffixes, completing each with the first two octets
/// of `prefix` (the querier's own local address), like `local.decodeAll`.
pub fn decode_local_peers(prefix: [u8; 2], buf: &[u8]) -> Result<Vec<SocketAddrV4>, DecodeError> {
    if !buf.len().is_multiple_of(LOCAL_SUFFIX_LEN) {
        return Err(DecodeError::Length("local peers"));
    }
    buf.chunks_exact(LOCAL_SUFFIX_LEN)
        .map(|c| {
            let port = u16::from_be_bytes([c[2], c[3]]); // u16be
            if port == 0 {
                return Err(DecodeError::ZeroPort);
            }
            Ok(SocketAddrV4::new(
                Ipv4Addr::new(prefix[0], prefix[1], c[0], c[1]),
                port,
            ))
        })
        .collect()
}
