//! Values of the @hyperswarm/dht `peers` command (`schema.proto` there).

use std::net::SocketAddrV4;

use crate::addr::{self, PEER_LEN};
use crate::error::DecodeError;
use crate::pb;

/// `PeersInput { optional uint32 port = 1; optional bytes localAddress = 2;
/// optional bool unannounce = 3; }`: sent with announce, lookup, unannounce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeersInput {
    /// The announced port; hyperswarm sends 0 = "the UDP source port".
    pub port: Option<u64>,
    /// The announcer's LAN address (6 bytes) when local announcing is on.
    pub local_address: Option<Vec<u8>>,
    /// Set on unannounce.
    pub unannounce: Option<bool>,
}

impl PeersInput {
    /// The value hyperswarm sends to announce: `port: 0` (source port) and
    /// an optional LAN address.
    pub fn announce(local: Option<SocketAddrV4>) -> Self {
        PeersInput {
            port: Some(0),
            local_address: local.map(|a| addr::encode_peer(a).to_vec()),
            unannounce: None,
        }
    }

    /// The value of a lookup: only the optional LAN address (empty otherwise).
    pub fn lookup(local: Option<SocketAddrV4>) -> Self {
        PeersInput {
            port: None,
            local_address: local.map(|a| addr::encode_peer(a).to_vec()),
            unannounce: None,
        }
    }

    /// The value of an unannounce: like announce plus `unannounce: true`.
    pub fn unannounce(local: Option<SocketAddrV4>) -> Self {
        PeersInput {
            unannounce: Some(true),
            ..PeersInput::announce(local)
        }
    }

    /// Encodes port, localAddress, unannounce in that order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12);
        if let Some(p) = self.port {
            pb::put_varint_field(&mut out, 1, p);
        }
        if let Some(l) = &self.local_address {
            pb::put_bytes_field(&mut out, 2, l);
        }
        if let Some(u) = self.unannounce {
            pb::put_varint_field(&mut out, 3, u64::from(u));
        }
        out
    }

    /// Decodes; unknown fields are skipped.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut v = PeersInput::default();
        for field in pb::fields(buf) {
            match field? {
                (1, value) => v.port = Some(pb::varint(value)?),
                (2, value) => v.local_address = Some(pb::bytes(value)?.to_vec()),
                (3, value) => v.unannounce = Some(pb::varint(value)? != 0),
                _ => {}
            }
        }
        Ok(v)
    }

    /// The local address if it is exactly one 6-byte peer (Node uses its
    /// first two bytes as a prefix and the rest as the stored suffix).
    pub fn local_record(&self) -> Option<[u8; PEER_LEN]> {
        self.local_address
            .as_deref()
            .and_then(|l| <[u8; PEER_LEN]>::try_from(l).ok())
    }
}

/// `PeersOutput { optional bytes peers = 1; optional bytes localPeers = 2; }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeersOutput {
    /// Concatenated 6-byte records.
    pub peers: Option<Vec<u8>>,
    /// Concatenated 4-byte local suffixes.
    pub local_peers: Option<Vec<u8>>,
}

impl PeersOutput {
    /// Encodes peers then localPeers.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(p) = &self.peers {
            pb::put_bytes_field(&mut out, 1, p);
        }
        if let Some(l) = &self.local_peers {
            pb::put_bytes_field(&mut out, 2, l);
        }
        out
    }

    /// Decodes; unknown fields are skipped.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut v = PeersOutput::default();
        for field in pb::fields(buf) {
            let (field, value) = field?;
            match field {
                1 | 2 => {
                    let b = Some(pb::bytes(value)?.to_vec());
                    if field == 1 {
                        v.peers = b;
                    } else {
                        v.local_peers = b;
                    }
                }
                _ => {}
            }
        }
        Ok(v)
    }
}

/// Peers found in one `peers` reply, decoded like @hyperswarm/dht's
/// `mapPeers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundPeers {
    /// Public records (a malformed list yields none, as in Node).
    pub peers: Vec<SocketAddrV4>,
    /// LAN records completed with the first two octets of our local address.
    pub local_peers: Vec<SocketAddrV4>,
}

impl FoundPeers {
    /// Decodes a reply value; `None` when it carries no peers at all (Node
    /// skips such replies). `local` is the local address we sent, if any.
    pub fn from_value(value: Option<&[u8]>, local: Option<SocketAddrV4>) -> Option<Self> {
        let out = PeersOutput::decode(value?).ok()?;
        if out.peers.is_none() && out.local_peers.is_none() {
            return None;
        }
        let peers = out
            .peers
            .as_deref()
            .and_then(|p| addr::decode_peer_records(p).ok())
            .unwrap_or_default();
        let local_peers = match (local, out.local_peers.as_deref()) {
            (Some(l), Some(buf)) => {
                let o = l.ip().octets();
                addr::decode_local_peers([o[0], o[1]], buf).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        Some(FoundPeers { peers, local_peers })
    }
}
