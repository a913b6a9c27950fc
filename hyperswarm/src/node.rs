//! The sans-IO DHT node: dht-rpc 4 (`index.js`, `lib/io.js`,
//! `lib/query-stream.js`) plus the @hyperswarm/dht `peers` command.
//!
//! Feed it datagrams with [`Node::handle_datagram`] and time with
//! [`Node::handle_timeout`]; take datagrams to send from
//! [`Node::poll_transmit`] and results from [`Node::poll_event`]; sleep until
//! [`Node::poll_timeout`]. No sockets, no clocks, no threads: everything is
//! driven by the caller, so a whole network can be simulated in a test.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::addr::{self, NodeId};
use crate::error::RpcError;
use crate::message::{Holepunch, Message, MessageType};
use crate::peers_value::PeersInput;
use crate::query::{CONCURRENCY, Query, QueryId, QueryMode, QueryStats};
use crate::records::{self, RecordStore};
use crate::routing::{Added, Contact, RoutingTable};
use crate::token::{ROTATE_EVERY, Tokens};

/// The request timer of dht-rpc's IO layer.
pub const IO_TICK: Duration = Duration::from_millis(750);
/// The maintenance timer of dht-rpc.
pub const MAINTENANCE_TICK: Duration = Duration::from_secs(5);
/// Silence after which a request to a node with a referrer fires a holepunch.
pub const FAST_HOLEPUNCH: Duration = Duration::from_millis(500);
/// Sends per request (first + 2 retries).
const TRIES: u8 = 3;
/// Requests per second above which (with `CONCURRENCY` in flight) new
/// requests are queued (dht-rpc `concurrencyRPS`).
const RPS: usize = 50;
/// Hard cap on requests in flight; beyond it requests wait in the queue.
const MAX_INFLIGHT: usize = 4096;
/// Hard cap on queued requests; beyond it requests fail with `Cancelled`.
const MAX_PENDING: usize = 4096;
/// Cap on queued datagrams and events a caller has not collected.
const MAX_QUEUED: usize = 4096;
/// Cap on concurrent "bucket full" eviction ping chains.
const MAX_REPINGS: usize = 16;
/// Routing-table size under which a periodic re-bootstrap runs.
const MIN_NODES: usize = 20;

/// How a [`Node`] behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our node id; random when `None`.
    pub id: Option<NodeId>,
    /// Ephemeral nodes never send their id, so nobody routes through them;
    /// they still answer requests (hyperswarm clients start ephemeral).
    pub ephemeral: bool,
    /// Nodes to bootstrap from; empty = a bootstrap node of its own.
    pub bootstrap: Vec<SocketAddrV4>,
    /// Seeds every random choice (rids, secrets, record sampling); random
    /// when `None`.
    pub seed: Option<u64>,
    /// Records in the fresh generation before an early GC.
    pub max_records: usize,
    /// Record max age (records live between 2/3 and 4/3 of it).
    pub record_max_age: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: None,
            ephemeral: false,
            bootstrap: Vec::new(),
            seed: None,
            max_records: records::MAX_SIZE,
            record_max_age: records::MAX_AGE,
        }
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: SocketAddrV4,
    /// Encoded [`Message`].
    pub payload: Vec<u8>,
}

/// Identifies a ping or holepunch started on a [`Node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(pub u64);

/// One reply of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Whether it answers a QUERY or an UPDATE.
    pub kind: MessageType,
    /// The responder's id (absent for ephemeral responders).
    pub node: Option<NodeId>,
    /// Where the response came from.
    pub from: SocketAddrV4,
    /// Our address as the responder saw it.
    pub to: Option<SocketAddrV4>,
    /// The command-specific value.
    pub value: Option<Vec<u8>>,
}

/// Something the node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The first bootstrap walk finished (dht-rpc `ready`).
    Bootstrapped,
    /// A bootstrap walk got no response; it is retried by maintenance.
    BootstrapFailed(RpcError),
    /// A query got a (non-error) reply.
    Reply {
        /// The query.
        query: QueryId,
        /// The reply.
        reply: Reply,
    },
    /// A query finished.
    QueryDone {
        /// The query.
        query: QueryId,
        /// Its counters, or why it failed.
        result: Result<QueryStats, RpcError>,
    },
    /// A ping finished: our address as the pinged node saw it.
    Pong {
        /// The ping.
        op: OpId,
        /// Our address, or the failure.
        result: Result<SocketAddrV4, RpcError>,
    },
    /// A holepunch request finished.
    Holepunched {
        /// The holepunch.
        op: OpId,
        /// Whether the target answered.
        result: Result<(), RpcError>,
    },
    /// We stored an announce (server side).
    Announced {
        /// The topic.
        topic: NodeId,
        /// The stored address.
        peer: SocketAddrV4,
    },
    /// We removed an announce (server side).
    Unannounced {
        /// The topic.
        topic: NodeId,
        /// The removed address.
        peer: SocketAddrV4,
    },
    /// We answered a `peers` lookup (server side).
    LookedUp {
        /// The topic.
        topic: NodeId,
        /// The querier (with its announced port if it sent one).
        peer: SocketAddrV4,
    },
    /// We relayed a holepunch from `from` to `to`.
    HolepunchRelayed {
        /// The requester.
        from: SocketAddrV4,
        /// The node it wants to reach.
        to: SocketAddrV4,
    },
}

#[derive(Clone, Debug)]
enum Origin {
    Query(QueryId),
    Ping(OpId),
    Check,
    Reping(Box<Reping>),
    Holepunch(OpId),
}

#[derive(Clone, Debug)]
struct Reping {
    rest: Vec<Contact>,
    newcomer: Contact,
}

#[derive(Clone, Debug)]
struct Outgoing {
    message: Message,
    peer: SocketAddrV4,
    peer_id: Option<NodeId>,
    referrer: Option<SocketAddrV4>,
    fast_holepunch: bool,
    origin: Origin,
}

#[derive(Clone, Debug)]
struct Request {
    buffer: Vec<u8>,
    message: Message,
    peer: SocketAddrV4,
    peer_id: Option<NodeId>,
    referrer: Option<SocketAddrV4>,
    timeout: u8,
    tries: u8,
    holepunch_at: Option<Instant>,
    origin: Origin,
}

/// A dht-rpc 4 / @hyperswarm/dht 4 node without I/O.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    ephemeral: bool,
    bootstrap_nodes: Vec<SocketAddrV4>,
    rng: StdRng,
    table: RoutingTable,
    tokens: Tokens,
    records: RecordStore,
    next_rid: u16,
    inflight: BTreeMap<u16, Request>,
    pending: VecDeque<Outgoing>,
    sends: VecDeque<Instant>,
    first_send: Option<Instant>,
    queries: HashMap<QueryId, Query>,
    next_query: u64,
    next_op: u64,
    bootstrapped: bool,
    bootstrap_query: Option<QueryId>,
    repings: usize,
    tick: u64,
    seen: u64,
    io_tick_at: Instant,
    maintenance_at: Instant,
    rotate_at: Instant,
    gc_at: Instant,
    gc_every: Duration,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Node {
    /// A node starting at `now`; it begins bootstrapping at once.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        let id = config.id.unwrap_or_else(|| NodeId(rng.r#gen()));
        let tokens = Tokens::new(rng.r#gen(), rng.r#gen());
        let gc_every = RecordStore::gc_interval(config.record_max_age);
        let mut node = Node {
            id,
            ephemeral: config.ephemeral,
            bootstrap_nodes: config.bootstrap,
            next_rid: rng.r#gen(),
            rng,
            table: RoutingTable::new(id),
            tokens,
            records: RecordStore::new(config.max_records),
            inflight: BTreeMap::new(),
            pending: VecDeque::new(),
            sends: VecDeque::new(),
            first_send: None,
            queries: HashMap::new(),
            next_query: 0,
            next_op: 0,
            bootstrapped: false,
            bootstrap_query: None,
            repings: 0,
            tick: 0,
            seen: 0,
            io_tick_at: now + IO_TICK,
            maintenance_at: now + MAINTENANCE_TICK,
            rotate_at: now + ROTATE_EVERY,
            gc_at: now + gc_every,
            gc_every,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        node.bootstrap(now);
        node
    }

    /// Our node id (also when ephemeral, where it is never sent).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Whether we leave our id out of messages.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether the first bootstrap walk finished.
    pub fn is_bootstrapped(&self) -> bool {
        self.bootstrapped
    }

    /// The routing table.
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// Our address as the DHT sees it (dht-rpc `remoteAddress()`): the `to` most of the ten
    /// most recently heard nodes agree on, by host and port, else by host alone (then with
    /// the port the first of them reported, as dht-rpc); `None` until at least 3 agree and
    /// fewer than 3 disagree.
    pub fn remote_address(&self) -> Option<SocketAddrV4> {
        self.tally(false).or_else(|| self.tally(true))
    }

    /// Whether the nodes we hear from agree on our host and port (dht-rpc
    /// `holepunchable()`): a NAT that keeps one mapping for every remote.
    pub fn holepunchable(&self) -> bool {
        self.tally(false).is_some()
    }

    /// dht-rpc's `_tally`: over the ten most recently heard contacts that reported our
    /// address, the most reported one if at least 3 agree and fewer than 3 disagree.
    fn tally(&self, only_ip: bool) -> Option<SocketAddrV4> {
        let mut contacts: Vec<&Contact> = self.table.iter().collect();
        contacts.sort_by_key(|c| std::cmp::Reverse(c.seen));
        let mut sums: Vec<(SocketAddrV4, usize)> = Vec::new();
        let (mut counted, mut good, mut result) = (0usize, 0usize, None);
        for c in contacts {
            if counted >= 10 {
                break;
            }
            let Some(to) =
                c.to.as_deref()
                    .filter(|t| t.len() == 6)
                    .and_then(addr::decode_first_peer)
            else {
                continue;
            };
            let key = if only_ip {
                SocketAddrV4::new(*to.ip(), 0)
            } else {
                to
            };
            let hits = match sums.iter_mut().find(|(a, _)| *a == key) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    sums.push((key, 1));
                    1
                }
            };
            if hits > good {
                good = hits;
                result = Some(to);
            }
            counted += 1;
        }
        (counted - good < 3 && good >= 3)
            .then_some(result)
            .flatten()
    }

    /// Number of stored announce records.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Requests in flight.
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// Queries running.
    pub fn running_queries(&self) -> usize {
        self.queries.len()
    }

    /// The id we put in messages.
    fn io_id(&self) -> Option<NodeId> {
        (!self.ephemeral).then_some(self.id)
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self
            .io_tick_at
            .min(self.maintenance_at)
            .min(self.rotate_at)
            .min(self.gc_at);
        for r in self.inflight.values() {
            if let Some(h) = r.holepunch_at {
                t = t.min(h);
            }
        }
        t
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u16> = self
            .inflight
            .iter()
            .filter(|(_, r)| r.holepunch_at.is_some_and(|h| h <= now))
            .map(|(rid, _)| *rid)
            .collect();
        for rid in due {
            if let Some(r) = self.inflight.get_mut(&rid) {
                r.holepunch_at = None;
                let (msg, peer, referrer) = (r.message.clone(), r.peer, r.referrer);
                self.send_punch(&msg, rid, peer, referrer);
            }
        }
        while self.io_tick_at <= now {
            self.io_tick_at += IO_TICK;
            self.io_tick(now);
        }
        while self.maintenance_at <= now {
            self.maintenance_at += MAINTENANCE_TICK;
            self.maintenance_tick(now);
        }
        while self.rotate_at <= now {
            self.rotate_at += ROTATE_EVERY;
            let fresh = self.rng.r#gen();
            self.tokens.rotate(fresh);
        }
        while self.gc_at <= now {
            self.gc_at += self.gc_every;
            self.records.gc_tick();
        }
    }

    // ------------------------------------------------------------ public ops

    /// Starts a bootstrap walk (an iterative `_find_node` for our own id).
    /// With no bootstrap nodes the node is its own bootstrap and is ready at
    /// once.
    pub fn bootstrap(&mut self, now: Instant) {
        if self.bootstrap_nodes.is_empty() {
            self.mark_bootstrapped();
            return;
        }
        if self.bootstrap_query.is_some() {
            return;
        }
        let q = self.start_query(
            "_find_node",
            self.id,
            None,
            QueryMode {
                query: true,
                update: false,
            },
            true,
            now,
        );
        self.bootstrap_query = Some(q);
    }

    /// Starts sending our id (dht-rpc `persistent()`): re-bootstraps, then
    /// stops being ephemeral.
    pub fn make_persistent(&mut self, now: Instant) {
        self.ephemeral = false;
        if self.bootstrap_nodes.is_empty() {
            return;
        }
        self.bootstrap_query = None;
        self.bootstrap(now);
    }

    /// `query(command, target, value)`: walk with the command, report replies.
    pub fn query(
        &mut self,
        command: &str,
        target: NodeId,
        value: Option<Vec<u8>>,
        now: Instant,
    ) -> QueryId {
        let mode = QueryMode {
            query: true,
            update: false,
        };
        self.start_query(command, target, value, mode, false, now)
    }

    /// `update(command, target, value)`: `_find_node` walk, then UPDATE the
    /// closest nodes.
    pub fn update(
        &mut self,
        command: &str,
        target: NodeId,
        value: Option<Vec<u8>>,
        now: Instant,
    ) -> QueryId {
        let mode = QueryMode {
            query: false,
            update: true,
        };
        self.start_query(command, target, value, mode, false, now)
    }

    /// `queryAndUpdate(command, target, value)`.
    pub fn query_and_update(
        &mut self,
        command: &str,
        target: NodeId,
        value: Option<Vec<u8>>,
        now: Instant,
    ) -> QueryId {
        let mode = QueryMode {
            query: true,
            update: true,
        };
        self.start_query(command, target, value, mode, false, now)
    }

    /// Announces us under `topic` with port 0 (= our UDP source port) and an
    /// optional LAN address; replies carry peers already announced.
    pub fn announce(
        &mut self,
        topic: NodeId,
        local: Option<SocketAddrV4>,
        now: Instant,
    ) -> QueryId {
        let v = PeersInput::announce(local).encode();
        self.query_and_update("peers", topic, Some(v), now)
    }

    /// Looks `topic` up; decode replies with [`crate::FoundPeers::from_value`].
    pub fn lookup(&mut self, topic: NodeId, local: Option<SocketAddrV4>, now: Instant) -> QueryId {
        let v = PeersInput::lookup(local).encode();
        self.query("peers", topic, Some(v), now)
    }

    /// Removes our announce of `topic` from the closest nodes.
    pub fn unannounce(
        &mut self,
        topic: NodeId,
        local: Option<SocketAddrV4>,
        now: Instant,
    ) -> QueryId {
        let v = PeersInput::unannounce(local).encode();
        self.update("peers", topic, Some(v), now)
    }

    /// Pings `addr`; with `expect`, a node with another id ignores the ping.
    pub fn ping(&mut self, addr: SocketAddrV4, expect: Option<NodeId>, now: Instant) -> OpId {
        let op = self.new_op();
        let mut m = self.request_message(MessageType::Query, "_ping", addr);
        m.value = expect.map(|id| id.0.to_vec());
        self.request(
            Outgoing {
                message: m,
                peer: addr,
                peer_id: expect,
                referrer: None,
                fast_holepunch: false,
                origin: Origin::Ping(op),
            },
            now,
        );
        op
    }

    /// Asks `peer` (learned through `referrer`) to open its NAT towards us:
    /// a `_holepunch` to `peer` and, with the same rid, one relayed by
    /// `referrer`.
    pub fn holepunch(&mut self, peer: SocketAddrV4, referrer: SocketAddrV4, now: Instant) -> OpId {
        let op = self.new_op();
        let m = self.request_message(MessageType::Query, "_holepunch", peer);
        self.request(
            Outgoing {
                message: m,
                peer,
                peer_id: None,
                referrer: Some(referrer),
                fast_holepunch: false,
                origin: Origin::Holepunch(op),
            },
            now,
        );
        op
    }

    /// Fails every queued and in-flight request (queries finish with what
    /// they got); nothing more is sent.
    pub fn shutdown(&mut self, now: Instant) {
        for out in std::mem::take(&mut self.pending) {
            self.complete(
                out.origin,
                Err(RpcError::Cancelled),
                out.peer,
                out.peer_id,
                now,
            );
        }
        let rids: Vec<u16> = self.inflight.keys().copied().collect();
        for rid in rids {
            self.finish(rid, Err(RpcError::Cancelled), None, now);
        }
        self.pending.clear();
        self.inflight.clear();
        self.transmits.clear();
    }

    fn new_op(&mut self) -> OpId {
        self.next_op += 1;
        OpId(self.next_op)
    }

    fn mark_bootstrapped(&mut self) {
        if !self.bootstrapped {
            self.bootstrapped = true;
            self.push_event(Event::Bootstrapped, true);
        }
    }

    fn push_event(&mut self, e: Event, important: bool) {
        if important || self.events.len() < MAX_QUEUED {
            self.events.push_back(e);
        }
    }

    fn transmit(&mut self, dest: SocketAddrV4, payload: Vec<u8>) {
        if self.transmits.len() < MAX_QUEUED {
            self.transmits.push_back(Transmit { dest, payload });
        }
    }

    // ------------------------------------------------------------- requests

    fn request_message(&self, kind: MessageType, command: &str, to: SocketAddrV4) -> Message {
        let mut m = Message::new(kind, 0);
        m.to = Some(addr::encode_peer(to).to_vec());
        m.id = self.io_id().map(|id| id.0.to_vec());
        m.command = Some(command.to_owned());
        m
    }

    fn free_rid(&mut self) -> u16 {
        loop {
            let rid = self.next_rid;
            self.next_rid = self.next_rid.wrapping_add(1);
            if !self.inflight.contains_key(&rid) {
                return rid;
            }
        }
    }

    fn rate(&mut self, now: Instant) -> usize {
        let window = Duration::from_secs(5);
        while self
            .sends
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.sends.pop_front();
        }
        let age = self
            .first_send
            .map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
        if age < Duration::from_secs(1) {
            self.sends.len()
        } else {
            self.sends.len() * 1000 / (age.min(window).as_millis().max(1) as usize)
        }
    }

    fn saturated(&mut self, now: Instant) -> bool {
        self.inflight.len() >= MAX_INFLIGHT
            || (self.inflight.len() >= CONCURRENCY && self.rate(now) >= RPS)
    }

    fn request(&mut self, out: Outgoing, now: Instant) {
        if !self.pending.is_empty() || self.saturated(now) {
            if self.pending.len() >= MAX_PENDING {
                self.complete(
                    out.origin,
                    Err(RpcError::Cancelled),
                    out.peer,
                    out.peer_id,
                    now,
                );
                return;
            }
            self.pending.push_back(out);
        } else {
            self.request_now(out, now);
        }
    }

    fn request_now(&mut self, mut out: Outgoing, now: Instant) {
        let rid = self.free_rid();
        out.message.rid = u64::from(rid);
        let buffer = out.message.encode();
        self.sends.push_back(now);
        if self.sends.len() > RPS * 5 {
            self.sends.pop_front();
        }
        self.first_send.get_or_insert(now);
        let holepunch_at =
            (out.referrer.is_some() && !out.fast_holepunch).then(|| now + FAST_HOLEPUNCH);
        let is_punch = out.message.command.as_deref() == Some("_holepunch");
        self.transmit(out.peer, buffer.clone());
        if is_punch {
            self.send_punch(&out.message, rid, out.peer, out.referrer);
        }
        self.inflight.insert(
            rid,
            Request {
                buffer,
                message: out.message,
                peer: out.peer,
                peer_id: out.peer_id,
                referrer: out.referrer,
                timeout: 4,
                tries: 0,
                holepunch_at,
                origin: out.origin,
            },
        );
    }

    /// Fires `_holepunch` through the referrer of a slow request's target
    /// (dht-rpc `IO._holepunch`): same rid for holepunch requests, a fresh
    /// one otherwise; not tracked.
    fn send_punch(
        &mut self,
        req: &Message,
        rid: u16,
        peer: SocketAddrV4,
        referrer: Option<SocketAddrV4>,
    ) {
        let Some(referrer) = referrer else { return };
        let rid = if req.command.as_deref() == Some("_holepunch") {
            rid
        } else {
            self.free_rid()
        };
        let mut punch = Message::new(MessageType::Query, u64::from(rid));
        punch.to = Some(addr::encode_peer(referrer).to_vec());
        punch.id = req.id.clone();
        punch.command = Some("_holepunch".to_owned());
        punch.value = Some(
            Holepunch {
                from: None,
                to: Some(addr::encode_peer(peer).to_vec()),
            }
            .encode(),
        );
        self.transmit(referrer, punch.encode());
    }

    fn io_tick(&mut self, now: Instant) {
        let rids: Vec<u16> = self.inflight.keys().copied().collect();
        for rid in rids {
            let saturated = self.saturated(now);
            let Some(req) = self.inflight.get_mut(&rid) else {
                continue;
            };
            if req.timeout == 2 && req.tries + 1 < TRIES {
                if !saturated {
                    req.tries += 1;
                    req.timeout = 4;
                    let (buf, peer, msg, referrer) = (
                        req.buffer.clone(),
                        req.peer,
                        req.message.clone(),
                        req.referrer,
                    );
                    self.transmit(peer, buf);
                    self.send_punch(&msg, rid, peer, referrer);
                }
                continue;
            }
            if req.timeout == 2 {
                // the last try is used up; fall through to the countdown
                req.tries = TRIES;
            }
            req.timeout = req.timeout.saturating_sub(1);
            if req.timeout > 0 {
                continue;
            }
            self.finish(rid, Err(RpcError::Timeout), None, now);
        }
    }

    /// Completes request `rid` and dispatches the outcome.
    fn finish(
        &mut self,
        rid: u16,
        result: Result<Message, RpcError>,
        from: Option<SocketAddrV4>,
        now: Instant,
    ) {
        let Some(req) = self.inflight.remove(&rid) else {
            return;
        };
        if let (Ok(m), Some(expected)) = (&result, req.peer_id) {
            let same = m.id.as_deref() == Some(expected.0.as_slice());
            if !same
                && self
                    .table
                    .get(&expected)
                    .is_some_and(|c| c.addr == req.peer)
            {
                self.table.remove(&expected);
            }
        }
        let from = from.unwrap_or(req.peer);
        self.complete(req.origin, result, from, req.peer_id, now);
        while !self.pending.is_empty() && !self.saturated(now) {
            if let Some(out) = self.pending.pop_front() {
                self.request_now(out, now);
            }
        }
    }

    fn complete(
        &mut self,
        origin: Origin,
        result: Result<Message, RpcError>,
        from: SocketAddrV4,
        peer_id: Option<NodeId>,
        now: Instant,
    ) {
        match origin {
            Origin::Query(q) => self.on_query_response(q, result, from, peer_id, now),
            Origin::Ping(op) => {
                let r = result.and_then(|m| {
                    if let Some(e) = m.error_text() {
                        return Err(RpcError::Remote(e.to_owned()));
                    }
                    m.to.as_deref()
                        .or(m.value.as_deref())
                        .and_then(addr::decode_first_peer)
                        .ok_or(RpcError::InvalidPong)
                });
                self.push_event(Event::Pong { op, result: r }, true);
            }
            Origin::Holepunch(op) => {
                let r = result.and_then(|m| match m.error_text() {
                    Some(e) => Err(RpcError::Remote(e.to_owned())),
                    None => Ok(()),
                });
                self.push_event(Event::Holepunched { op, result: r }, true);
            }
            Origin::Check => {
                if result.is_err()
                    && let Some(id) = peer_id
                {
                    self.table.remove(&id);
                }
            }
            Origin::Reping(mut st) => {
                if result.is_ok() {
                    if st.rest.is_empty() {
                        self.repings -= 1;
                    } else {
                        let next = st.rest.remove(0);
                        self.send_reping(next, st, now);
                    }
                    return;
                }
                self.repings -= 1;
                if let Some(id) = peer_id {
                    self.table.remove(&id);
                }
                let n = st.newcomer;
                self.add_node(n.id, n.addr, n.token, n.to, now);
            }
        }
    }

    fn send_reping(&mut self, target: Contact, st: Box<Reping>, now: Instant) {
        let mut m = self.request_message(MessageType::Query, "_ping", target.addr);
        m.value = Some(target.id.0.to_vec());
        self.request_now(
            Outgoing {
                message: m,
                peer: target.addr,
                peer_id: Some(target.id),
                referrer: None,
                fast_holepunch: false,
                origin: Origin::Reping(st),
            },
            now,
        );
    }

    // --------------------------------------------------------------- routing

    fn add_node(
        &mut self,
        id: NodeId,
        from: SocketAddrV4,
        token: Option<Vec<u8>>,
        to: Option<Vec<u8>>,
        now: Instant,
    ) {
        if id == self.id {
            return;
        }
        self.seen += 1;
        let (old_token, old_to) = match self.table.get(&id) {
            Some(c) => (c.token.clone(), c.to.clone()),
            None => (None, None),
        };
        let contact = Contact {
            id,
            addr: from,
            token: token.or(old_token),
            to: to.or(old_to),
            tick: self.tick,
            seen: self.seen,
        };
        if let Added::BucketFull(oldest) = self.table.add(contact.clone()) {
            self.on_bucket_full(oldest, contact, now);
        }
    }

    /// k-bucket's `ping` event: a full bucket offers its oldest contacts.
    fn on_bucket_full(&mut self, oldest: Vec<Contact>, newcomer: Contact, now: Instant) {
        if !self.bootstrapped {
            return;
        }
        let mut reping = Vec::new();
        for old in oldest {
            if old.tick == self.tick {
                // heard from this tick: keep it, as the most recent entry
                self.table.add(old);
                continue;
            }
            reping.push(old);
        }
        if reping.is_empty() || self.repings >= MAX_REPINGS {
            return;
        }
        self.repings += 1;
        let first = reping.remove(0);
        self.send_reping(
            first,
            Box::new(Reping {
                rest: reping,
                newcomer,
            }),
            now,
        );
    }

    fn maintenance_tick(&mut self, now: Instant) {
        self.tick += 1;
        if self.tick & 7 == 0 {
            self.ping_some(now);
        }
        if self.tick & 63 == 0 && self.table.len() < MIN_NODES {
            self.bootstrap(now);
        }
    }

    fn ping_some(&mut self, now: Instant) {
        let cnt = if self.queries.len() > 2 { 3 } else { 5 };
        if self.table.is_empty() {
            self.bootstrap(now);
            return;
        }
        for c in self.table.oldest(cnt) {
            if c.tick == self.tick {
                break;
            }
            let mut m = self.request_message(MessageType::Query, "_ping", c.addr);
            m.value = Some(c.id.0.to_vec());
            self.request(
                Outgoing {
                    message: m,
                    peer: c.addr,
                    peer_id: Some(c.id),
                    referrer: None,
                    fast_holepunch: false,
                    origin: Origin::Check,
                },
                now,
            );
        }
    }
}

mod serve;
mod walk;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn heard(node: &mut Node, i: u8, to: SocketAddrV4) {
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, i), 1000);
        let to = Some(addr::encode_peer(to).to_vec());
        node.add_node(NodeId([i; 32]), from, None, to, Instant::now());
    }

    #[test]
    fn the_remote_address_needs_three_that_agree() {
        let mut node = Node::new(Config::default(), Instant::now());
        let me = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 5000);
        assert_eq!(node.remote_address(), None);
        heard(&mut node, 1, me);
        heard(&mut node, 2, me);
        assert!(!node.holepunchable(), "two samples are not enough");
        heard(&mut node, 3, me);
        assert_eq!(node.remote_address(), Some(me));
        assert!(node.holepunchable());
    }

    #[test]
    fn a_nat_that_changes_ports_is_not_holepunchable() {
        let mut node = Node::new(Config::default(), Instant::now());
        for i in 1..=4u8 {
            heard(
                &mut node,
                i,
                SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 5000 + u16::from(i)),
            );
        }
        assert!(!node.holepunchable());
        // The host alone is agreed on.
        assert_eq!(
            node.remote_address().map(|a| *a.ip()),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
    }
}
