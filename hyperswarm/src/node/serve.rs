//! Answering requests: `_ping`, `_find_node`, the `_holepunch` relay and
//! the @hyperswarm/dht `peers` command over the record store.

use std::net::SocketAddrV4;
use std::time::Instant;

use super::{Event, Node};
use crate::addr::{self, NodeAddr, NodeId};
use crate::message::{Holepunch, Message, MessageType, VERSION};
use crate::peers_value::{PeersInput, PeersOutput};
use crate::records::{Record, RecordName};
use crate::routing::K;

/// Records returned per `peers` query (public + local).
const MAX_PEERS: usize = 128;
/// Local records returned per `peers` query.
const MAX_LOCAL_PEERS: usize = 32;

impl Node {
    /// Handles one received datagram. Malformed or oversized datagrams, ids
    /// that are not 32 bytes and UPDATEs without a valid token are dropped
    /// silently, like dht-rpc.
    pub fn handle_datagram(&mut self, bytes: &[u8], from: SocketAddrV4, now: Instant) {
        if from.port() == 0 {
            return;
        }
        let Ok(mut m) = Message::decode(bytes) else {
            return;
        };
        if m.id.as_ref().is_some_and(|id| id.len() != 32) {
            return;
        }
        if m.id.is_some() && m.version.unwrap_or(0) < VERSION {
            // pre-version senders are treated as ephemeral
            m.id = None;
        }
        let sender = m.id.as_deref().and_then(NodeId::from_slice);
        match m.kind {
            MessageType::Response => {
                if let Some(id) = sender {
                    let (tok, to) = (m.roundtrip_token.clone(), m.to.clone());
                    self.add_node(id, from, tok, to, now);
                }
                if let Ok(rid) = u16::try_from(m.rid) {
                    self.finish(rid, Ok(m), Some(from), now);
                }
            }
            MessageType::Query => self.on_request(m, sender, from, now),
            MessageType::Update => {
                let ok = m
                    .roundtrip_token
                    .as_deref()
                    .is_some_and(|t| self.tokens.verify(*from.ip(), t));
                if ok {
                    self.on_request(m, sender, from, now);
                }
            }
        }
    }

    fn on_request(&mut self, m: Message, sender: Option<NodeId>, from: SocketAddrV4, now: Instant) {
        if let Some(id) = sender {
            self.add_node(id, from, None, m.to.clone(), now);
        }
        match m.command.as_deref().unwrap_or("") {
            "_ping" => {
                if m.value.as_ref().is_some_and(|v| v.as_slice() != self.id.0) {
                    return;
                }
                let v = addr::encode_peer(from).to_vec();
                self.respond(&m, Some(v), None, from);
            }
            "_find_node" => {
                let Some(target) = m.target.as_deref().and_then(NodeId::from_slice) else {
                    return;
                };
                let closer = addr::encode_nodes(&self.table.closest(&target, K));
                self.respond(&m, None, Some(closer), from);
            }
            "_holepunch" => self.on_holepunch(m, from),
            _ => self.on_command(m, from),
        }
    }

    fn on_holepunch(&mut self, mut m: Message, from: SocketAddrV4) {
        let Some(hp) = m.value.as_deref().and_then(|v| Holepunch::decode(v).ok()) else {
            return;
        };
        if let Some(to) = hp.to {
            let Some(to) = addr::decode_first_peer(&to) else {
                return;
            };
            if to == from {
                return;
            }
            // dht-rpc re-encodes the decoded request: absent strings decode
            // as "" and are written back, hence the empty `error`.
            m.version = Some(VERSION);
            m.id = self.io_id().map(|id| id.0.to_vec());
            m.to = Some(addr::encode_peer(to).to_vec());
            m.command = Some(m.command.unwrap_or_default());
            m.error = Some(m.error.unwrap_or_default());
            m.value = Some(
                Holepunch {
                    from: Some(addr::encode_peer(from).to_vec()),
                    to: None,
                }
                .encode(),
            );
            self.push_event(Event::HolepunchRelayed { from, to }, false);
            self.transmit(to, m.encode());
            return;
        }
        let reply_to = hp
            .from
            .as_deref()
            .and_then(addr::decode_first_peer)
            .unwrap_or(from);
        self.respond(&m, None, None, reply_to);
    }

    fn on_command(&mut self, m: Message, from: SocketAddrV4) {
        // Node accepts any non-empty target here; everything it stores or
        // routes by is 32 bytes, so other lengths are dropped.
        let Some(target) = m.target.as_deref().and_then(NodeId::from_slice) else {
            return;
        };
        let closer = addr::encode_nodes(&self.table.closest(&target, K));
        if m.command.as_deref() != Some("peers") {
            self.respond_error(&m, "Unsupported command", Some(closer), from);
            return;
        }
        // Node would crash on a `peers` request without a value; treat it as
        // an empty PeersInput.
        let input = match m.value.as_deref().map(PeersInput::decode) {
            None => PeersInput::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return,
        };
        let port = match input.port {
            Some(p) if p != 0 => p,
            _ => u64::from(from.port()),
        };
        let Some(port) = u16::try_from(port).ok().filter(|p| *p != 0) else {
            self.respond_error(&m, "Invalid port", Some(closer), from);
            return;
        };
        let peer = SocketAddrV4::new(*from.ip(), port);
        let remote_record = Record::new(&addr::encode_peer(peer));
        let remote_name = RecordName {
            topic: target,
            local_prefix: None,
        };
        let local = input.local_record().map(|l| {
            (
                RecordName {
                    topic: target,
                    local_prefix: Some([l[0], l[1]]),
                },
                Record::new(&l[2..]),
            )
        });
        if m.kind == MessageType::Query {
            let mut local_peers = Vec::new();
            if let Some((name, own)) = &local {
                let got = self.records.get(name, MAX_LOCAL_PEERS, &mut self.rng);
                local_peers = without(got, own);
            }
            let got = self
                .records
                .get(&remote_name, MAX_PEERS - local_peers.len(), &mut self.rng);
            let peers = without(got, &remote_record);
            self.push_event(
                Event::LookedUp {
                    topic: target,
                    peer,
                },
                false,
            );
            let out = PeersOutput {
                peers: concat(&peers),
                local_peers: concat(&local_peers),
            };
            self.respond(&m, Some(out.encode()), Some(closer), from);
            return;
        }
        if input.unannounce == Some(true) {
            self.records.remove(&remote_name, &remote_record);
            if let Some((name, r)) = &local {
                self.records.remove(name, r);
            }
            self.push_event(
                Event::Unannounced {
                    topic: target,
                    peer,
                },
                false,
            );
        } else {
            self.records.add(remote_name, remote_record);
            if let Some((name, r)) = local {
                self.records.add(name, r);
            }
            self.push_event(
                Event::Announced {
                    topic: target,
                    peer,
                },
                false,
            );
        }
        self.respond(&m, None, Some(closer), from);
    }

    fn respond(
        &mut self,
        req: &Message,
        value: Option<Vec<u8>>,
        closer: Option<Vec<u8>>,
        to: SocketAddrV4,
    ) {
        let mut r = Message::new(MessageType::Response, req.rid);
        r.to = Some(addr::encode_peer(to).to_vec());
        r.id = self.io_id().map(|id| id.0.to_vec());
        r.closer_nodes = closer;
        r.roundtrip_token = Some(self.tokens.token(*to.ip()).to_vec());
        r.value = value;
        self.transmit(to, r.encode());
    }

    fn respond_error(
        &mut self,
        req: &Message,
        error: &str,
        closer: Option<Vec<u8>>,
        to: SocketAddrV4,
    ) {
        let mut r = Message::new(MessageType::Response, req.rid);
        r.to = Some(addr::encode_peer(to).to_vec());
        r.id = self.io_id().map(|id| id.0.to_vec());
        r.closer_nodes = closer;
        r.error = Some(error.to_owned());
        self.transmit(to, r.encode());
    }

    /// Our `n` known nodes closest to `target` (what `_find_node` answers).
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeAddr> {
        self.table.closest(target, n)
    }
}

fn without(mut list: Vec<Record>, item: &Record) -> Vec<Record> {
    if let Some(i) = list.iter().position(|r| r == item) {
        list.swap_remove(i);
    }
    list
}

fn concat(list: &[Record]) -> Option<Vec<u8>> {
    if list.is_empty() {
        return None;
    }
    Some(
        list.iter()
            .flat_map(|r| r.as_slice().iter().copied())
            .collect(),
    )
}
