//! Sans-IO LAN discovery: the multicast DNS side of @hyperswarm/discovery 2.
//!
//! Feed received packets with [`LanDiscovery::handle_packet`] and time with
//! [`LanDiscovery::handle_timeout`]; send what [`LanDiscovery::poll_transmit`]
//! returns to [`crate::mdns::MDNS_GROUP`] (multicast-dns sends queries and
//! responses to the group, never unicast).
//!
//! Behaviour as in Node: a topic that looks up queries at once and then every
//! 30–60 s (random); an announcing topic answers every `SRV` query for its
//! name with an `SRV` record (port = its TCP port, target `0.0.0.0`) and a
//! `TXT` record `id=<32 random bytes>`, plus an `A` record
//! `referrer.hyperswarm.local` holding the querier's address; on join it
//! sends that answer unsolicited (without the `A` record). A response naming
//! a topic yields a peer at the packet's source address (or the SRV target
//! when it is not `0.0.0.0`) unless its `TXT` id is our own.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::mdns::{self, Packet, RData, Record, TYPE_SRV};

/// Shortest wait between two queries of a topic (multicast-dns `_notify`
/// with `eager`: 30 s + random 30 s).
pub const QUERY_INTERVAL: Duration = Duration::from_secs(30);
/// Cap on packets a caller has not collected.
const MAX_QUEUED: usize = 1024;

/// A peer found on the LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LanPeer {
    /// The topic it serves.
    pub topic: [u8; 32],
    /// Where to dial it over TCP.
    pub addr: SocketAddrV4,
}

#[derive(Clone, Debug)]
struct LanTopic {
    topic: [u8; 32],
    /// `"id=" ‖ 32 random bytes`, the TXT string that marks our own answers.
    id: Vec<u8>,
    announce_port: Option<u16>,
    lookup: bool,
    next_query: Option<Instant>,
}

/// The mDNS state of one swarm.
#[derive(Debug)]
pub struct LanDiscovery {
    /// Topics by record name.
    topics: HashMap<String, LanTopic>,
    out: VecDeque<Vec<u8>>,
    rng: StdRng,
}

impl LanDiscovery {
    /// A discovery with no topics; `seed` fixes the ids and timer jitter.
    pub fn new(seed: Option<u64>) -> LanDiscovery {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        LanDiscovery {
            topics: HashMap::new(),
            out: VecDeque::new(),
            rng,
        }
    }

    /// Joins `topic`: `announce_port` is the TCP port to announce (None =
    /// lookup only). Replaces an earlier join of the same topic.
    pub fn join(
        &mut self,
        topic: [u8; 32],
        announce_port: Option<u16>,
        lookup: bool,
        now: Instant,
    ) {
        let name = mdns::topic_name(&topic);
        let mut id = b"id=".to_vec();
        let mut rnd = [0u8; 32];
        self.rng.fill_bytes(&mut rnd);
        id.extend_from_slice(&rnd);
        // a topic that does not announce is a lookup
        let lookup = announce_port.is_none() || lookup;
        let mut t = LanTopic {
            topic,
            id,
            announce_port,
            lookup,
            next_query: None,
        };
        if lookup {
            self.push(&Packet::srv_query(&name));
            t.next_query = Some(now + self.jitter());
        }
        self.topics.insert(name.clone(), t);
        if announce_port.is_some() {
            // Node fakes a query to itself so peers learn of us at once
            let q = Packet::srv_query(&name);
            self.answer(&q, None);
        }
    }

    /// Leaves `topic` (nothing is sent: mDNS records carry TTL 0).
    pub fn leave(&mut self, topic: &[u8; 32]) {
        self.topics.remove(&mdns::topic_name(topic));
    }

    /// The TXT id of a joined topic (`"id=" ‖ 32 bytes`).
    pub fn topic_id(&self, topic: &[u8; 32]) -> Option<&[u8]> {
        self.topics
            .get(&mdns::topic_name(topic))
            .map(|t| t.id.as_slice())
    }

    /// Handles a packet received from `from`; returns the peers it names
    /// for topics we look up. Undecodable packets are ignored.
    pub fn handle_packet(&mut self, buf: &[u8], from: Ipv4Addr) -> Vec<LanPeer> {
        let Ok(p) = Packet::decode(buf) else {
            return Vec::new();
        };
        if p.is_response() {
            self.peers_in(&p, from)
        } else {
            self.answer(&p, Some(from));
            Vec::new()
        }
    }

    fn peers_in(&self, p: &Packet, from: Ipv4Addr) -> Vec<LanPeer> {
        let mut found = Vec::new();
        for a in &p.answers {
            let RData::Srv { port, target, .. } = &a.data else {
                continue;
            };
            let Some(t) = self.topics.get(&a.name) else {
                continue;
            };
            if !t.lookup {
                continue;
            }
            if txt_id(p, &a.name) == Some(t.id.as_slice()) {
                continue;
            }
            let host = if target == "0.0.0.0" {
                from
            } else {
                // Node would resolve a host name; we only dial addresses
                match target.parse::<Ipv4Addr>() {
                    Ok(ip) => ip,
                    Err(_) => continue,
                }
            };
            if *port == 0 {
                continue;
            }
            found.push(LanPeer {
                topic: t.topic,
                addr: SocketAddrV4::new(host, *port),
            });
        }
        found
    }

    fn answer(&mut self, q: &Packet, from: Option<Ipv4Addr>) {
        let mut answers = Vec::new();
        for question in &q.questions {
            if question.qtype != TYPE_SRV {
                continue;
            }
            let Some(t) = self.topics.get(&question.name) else {
                continue;
            };
            if txt_id(q, &question.name) == Some(t.id.as_slice()) {
                continue;
            }
            if let Some(port) = t.announce_port {
                answers.push(Record::new(
                    question.name.clone(),
                    RData::Srv {
                        priority: 0,
                        weight: 0,
                        port,
                        target: "0.0.0.0".into(),
                    },
                ));
                answers.push(Record::new(
                    question.name.clone(),
                    RData::Txt(vec![t.id.clone()]),
                ));
            }
        }
        if answers.is_empty() {
            return;
        }
        if let Some(ip) = from {
            answers.push(Record::new(mdns::referrer_name(), RData::A(ip)));
        }
        self.push(&Packet::response(answers));
    }

    fn push(&mut self, p: &Packet) {
        if self.out.len() >= MAX_QUEUED {
            return;
        }
        match p.encode() {
            Ok(b) => self.out.push_back(b),
            Err(e) => tracing::debug!(error = %e, "mdns encode failed"),
        }
    }

    fn jitter(&mut self) -> Duration {
        QUERY_INTERVAL + self.rng.gen_range(Duration::ZERO..QUERY_INTERVAL)
    }

    /// The next packet to multicast.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// When [`LanDiscovery::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.topics.values().filter_map(|t| t.next_query).min()
    }

    /// Re-sends the queries that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, t)| t.next_query.is_some_and(|at| at <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            self.push(&Packet::srv_query(&name));
            let next = now + self.jitter();
            if let Some(t) = self.topics.get_mut(&name) {
                t.next_query = Some(next);
            }
        }
    }
}

/// The first string of the first TXT answer named `name` (Node `_getId`).
fn txt_id<'a>(p: &'a Packet, name: &str) -> Option<&'a [u8]> {
    p.answers.iter().find_map(|a| match &a.data {
        RData::Txt(s) if a.name == name => s.first().map(Vec::as_slice),
        _ => None,
    })
}
