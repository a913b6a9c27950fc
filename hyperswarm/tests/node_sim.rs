//! The sans-IO node in a simulated network: no sockets, a virtual clock.

// Helpers outside #[test] fns panic on broken fixtures, like the tests do.
#![allow(clippy::unwrap_used)]

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use hyperswarm::message::{Holepunch, Message, MessageType};
use hyperswarm::node::Transmit;
use hyperswarm::{Config, Event, FoundPeers, Node, NodeId, QueryId, RpcError, addr};

fn a(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// N nodes on 127.0.0.1:(10000+i); datagrams delivered in order; time only
/// moves when the network is idle.
struct Net {
    t0: Instant,
    now: Instant,
    nodes: Vec<(SocketAddrV4, Node)>,
    events: Vec<Vec<Event>>,
    down: HashSet<SocketAddrV4>,
    wire: VecDeque<(SocketAddrV4, Transmit)>,
    log: Vec<(SocketAddrV4, Transmit)>,
}

impl Net {
    fn new() -> Self {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            nodes: Vec::new(),
            events: Vec::new(),
            down: HashSet::new(),
            wire: VecDeque::new(),
            log: Vec::new(),
        }
    }

    fn add(&mut self, mut cfg: Config) -> usize {
        let i = self.nodes.len();
        cfg.seed = Some(cfg.seed.unwrap_or(1000 + i as u64));
        let addr = a(10000 + i as u16);
        self.nodes.push((addr, Node::new(cfg, self.now)));
        self.events.push(Vec::new());
        i
    }

    fn addr(&self, i: usize) -> SocketAddrV4 {
        self.nodes[i].0
    }

    fn collect(&mut self) {
        for (i, (from, n)) in self.nodes.iter_mut().enumerate() {
            while let Some(t) = n.poll_transmit() {
                self.wire.push_back((*from, t));
            }
            while let Some(e) = n.poll_event() {
                self.events[i].push(e);
            }
        }
    }

    /// Delivers datagrams until none are left.
    fn settle(&mut self) {
        self.collect();
        while let Some((from, t)) = self.wire.pop_front() {
            self.log.push((from, t.clone()));
            if !self.down.contains(&t.dest)
                && let Some((_, n)) = self.nodes.iter_mut().find(|(addr, _)| *addr == t.dest)
            {
                n.handle_datagram(&t.payload, from, self.now);
            }
            self.collect();
        }
    }

    /// Settles, then advances the clock timer by timer up to `d` later.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.settle();
            let next = self
                .nodes
                .iter()
                .map(|(_, n)| n.poll_timeout())
                .min()
                .unwrap();
            if next > end {
                self.now = end;
                return;
            }
            self.now = next.max(self.now);
            for (_, n) in &mut self.nodes {
                if n.poll_timeout() <= self.now {
                    n.handle_timeout(self.now);
                }
            }
        }
    }

    /// Runs until `f` holds for node `i`'s events (at most `limit` virtual time).
    fn run_until(&mut self, i: usize, limit: Duration, f: impl Fn(&Event) -> bool) -> Duration {
        let end = self.now + limit;
        while self.now < end {
            if self.events[i].iter().any(&f) {
                return self.now - self.t0;
            }
            self.run_for(Duration::from_millis(250));
        }
        panic!(
            "condition not met within {limit:?}; events: {:?}",
            self.events[i]
        );
    }

    fn query_done(&mut self, i: usize, q: QueryId) -> Result<hyperswarm::QueryStats, RpcError> {
        self.run_until(
            i,
            Duration::from_secs(30),
            |e| matches!(e, Event::QueryDone { query, .. } if *query == q),
        );
        self.events[i]
            .iter()
            .find_map(|e| match e {
                Event::QueryDone { query, result } if *query == q => Some(result.clone()),
                _ => None,
            })
            .unwrap()
    }

    fn found(&self, i: usize, q: QueryId) -> Vec<SocketAddrV4> {
        let mut out = Vec::new();
        for e in &self.events[i] {
            if let Event::Reply { query, reply } = e
                && *query == q
                && let Some(f) = FoundPeers::from_value(reply.value.as_deref(), None)
            {
                out.extend(f.peers);
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn persistent(bootstrap: &[SocketAddrV4]) -> Config {
    Config {
        bootstrap: bootstrap.to_vec(),
        ..Config::default()
    }
}

fn ephemeral(bootstrap: &[SocketAddrV4]) -> Config {
    Config {
        ephemeral: true,
        ..persistent(bootstrap)
    }
}

/// A bootstrap node plus `n` persistent nodes, all bootstrapped.
fn network(n: usize) -> Net {
    let mut net = Net::new();
    net.add(persistent(&[]));
    let b = net.addr(0);
    for _ in 0..n {
        let i = net.add(persistent(&[b]));
        net.run_until(i, Duration::from_secs(10), |e| *e == Event::Bootstrapped);
    }
    net
}

#[test]
fn twenty_nodes_converge_and_announces_are_found() {
    let mut net = network(20);
    for (i, (_, n)) in net.nodes.iter().enumerate() {
        assert!(n.is_bootstrapped(), "node {i}");
        assert!(
            n.routing_table().len() >= 10,
            "node {i} knows only {}",
            n.routing_table().len()
        );
    }
    let b = net.addr(0);
    let announcer = net.add(ephemeral(&[b]));
    let seeker = net.add(ephemeral(&[b]));
    let topic = NodeId([7u8; 32]);
    let q = net.nodes[announcer].1.announce(topic, None, net.now);
    let stats = net.query_done(announcer, q).unwrap();
    assert!(stats.updates >= 1);
    let stored = net
        .nodes
        .iter()
        .filter(|(_, n)| n.record_count() > 0)
        .count();
    assert!((1..=20).contains(&stored), "stored on {stored} nodes");

    let q = net.nodes[seeker].1.lookup(topic, None, net.now);
    net.query_done(seeker, q).unwrap();
    assert_eq!(
        net.found(seeker, q),
        vec![net.addr(announcer)],
        "port 0 = UDP source port"
    );

    // the stored records are on the nodes closest to the topic
    let mut by_distance: Vec<(usize, [u8; 32])> = (0..=20)
        .map(|i| (i, topic.distance(&net.nodes[i].1.id())))
        .collect();
    by_distance.sort_by_key(|x| x.1);
    assert!(
        net.nodes[by_distance[0].0].1.record_count() > 0,
        "closest node has the record"
    );

    // unannounce removes it
    let q = net.nodes[announcer].1.unannounce(topic, None, net.now);
    net.query_done(announcer, q).unwrap();
    assert_eq!(
        net.nodes
            .iter()
            .map(|(_, n)| n.record_count())
            .sum::<usize>(),
        0
    );
    let q = net.nodes[seeker].1.lookup(topic, None, net.now);
    net.query_done(seeker, q).unwrap();
    assert!(net.found(seeker, q).is_empty());
}

#[test]
fn ephemeral_nodes_never_send_their_id_and_are_not_routed() {
    let mut net = network(5);
    let b = net.addr(0);
    let e = net.add(ephemeral(&[b]));
    net.run_until(e, Duration::from_secs(10), |x| *x == Event::Bootstrapped);
    let q = net.nodes[e].1.lookup(NodeId([1; 32]), None, net.now);
    net.query_done(e, q).unwrap();
    let eid = net.nodes[e].1.id();
    let eaddr = net.addr(e);
    let mut sent = 0;
    for (from, t) in &net.log {
        if *from == eaddr {
            let m = Message::decode(&t.payload).unwrap();
            assert_eq!(m.id, None);
            sent += 1;
        }
    }
    assert!(sent > 0);
    for (_, n) in &net.nodes {
        assert!(n.routing_table().get(&eid).is_none());
    }
    // a persistent node is routed once it talks
    net.nodes[e].1.make_persistent(net.now);
    net.run_for(Duration::from_secs(5));
    assert!(net.nodes[0].1.routing_table().get(&eid).is_some());
}

#[test]
fn requests_are_sent_three_times_then_time_out() {
    let mut net = Net::new();
    let n = net.add(persistent(&[]));
    let dead = a(9);
    net.down.insert(dead);
    let op = net.nodes[n].1.ping(dead, None, net.now);
    let t = net.run_until(n, Duration::from_secs(20), |e| {
        matches!(e, Event::Pong { .. })
    });
    assert!(
        net.events[n].contains(&Event::Pong {
            op,
            result: Err(RpcError::Timeout)
        }),
        "{:?}",
        net.events[n]
    );
    let sends = net.log.iter().filter(|(_, t)| t.dest == dead).count();
    assert_eq!(sends, 3);
    // ETIMEDOUT at the 10th 750 ms tick (virtual clock, 250 ms polling)
    assert!(
        t >= Duration::from_millis(7500) && t <= Duration::from_millis(7750),
        "{t:?}"
    );
}

#[test]
fn ping_reports_our_address_and_respects_the_expected_id() {
    let mut net = network(1);
    let (b, bid) = (net.addr(0), net.nodes[0].1.id());
    let op = net.nodes[1].1.ping(b, Some(bid), net.now);
    net.settle();
    assert!(net.events[1].contains(&Event::Pong {
        op,
        result: Ok(net.addr(1))
    }));
    let op = net.nodes[1].1.ping(b, Some(NodeId([9; 32])), net.now);
    let t0 = net.now;
    net.run_until(
        1,
        Duration::from_secs(20),
        |e| matches!(e, Event::Pong { op: o, .. } if *o == op),
    );
    assert!(
        net.now - t0 > Duration::from_secs(6),
        "a wrong expected id is ignored"
    );
}

fn raw(net: &mut Net, from: SocketAddrV4, to: usize, m: &Message) -> Vec<Message> {
    let before = net.log.len();
    let now = net.now;
    net.nodes[to].1.handle_datagram(&m.encode(), from, now);
    net.settle();
    net.log[before..]
        .iter()
        .filter(|(f, t)| *f == net.addr(to) && t.dest == from)
        .map(|(_, t)| Message::decode(&t.payload).unwrap())
        .collect()
}

fn peers_request(kind: MessageType, rid: u64, topic: NodeId, token: Option<Vec<u8>>) -> Message {
    let mut m = Message::new(kind, rid);
    m.command = Some("peers".into());
    m.target = Some(topic.0.to_vec());
    m.value = Some(hyperswarm::PeersInput::announce(None).encode());
    m.roundtrip_token = token;
    m
}

#[test]
fn tokens_guard_updates_and_rotate() {
    let mut net = network(0);
    let stranger = a(20000);
    let topic = NodeId([3; 32]);
    let spoofed = peers_request(MessageType::Update, 1, topic, Some(vec![0; 32]));
    assert!(
        raw(&mut net, stranger, 0, &spoofed).is_empty(),
        "no answer to a bad token"
    );
    let no_token = peers_request(MessageType::Update, 2, topic, None);
    assert!(raw(&mut net, stranger, 0, &no_token).is_empty());
    assert_eq!(net.nodes[0].1.record_count(), 0);

    let replies = raw(
        &mut net,
        stranger,
        0,
        &peers_request(MessageType::Query, 3, topic, None),
    );
    let token = replies[0].roundtrip_token.clone().unwrap();
    assert_eq!(
        replies[0].value.as_deref(),
        Some(&[][..]),
        "empty PeersOutput is still written"
    );
    // the token is bound to the IP, not the port
    let other_port = a(20001);
    let ok = raw(
        &mut net,
        other_port,
        0,
        &peers_request(MessageType::Update, 4, topic, Some(token.clone())),
    );
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].error, None);
    assert_eq!(net.nodes[0].1.record_count(), 1);
    // another IP cannot use it
    let other_ip = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 20000);
    assert!(
        raw(
            &mut net,
            other_ip,
            0,
            &peers_request(MessageType::Update, 5, topic, Some(token.clone()))
        )
        .is_empty()
    );
    // valid across one rotation, not two
    net.run_for(Duration::from_secs(301));
    assert_eq!(
        raw(
            &mut net,
            stranger,
            0,
            &peers_request(MessageType::Update, 6, topic, Some(token.clone()))
        )
        .len(),
        1
    );
    net.run_for(Duration::from_secs(300));
    assert!(
        raw(
            &mut net,
            stranger,
            0,
            &peers_request(MessageType::Update, 7, topic, Some(token))
        )
        .is_empty()
    );
}

#[test]
fn bad_input_is_dropped_or_answered_like_node() {
    let mut net = network(2);
    let x = a(20000);
    for junk in [
        &[][..],
        &[0x58],
        &[0xff; 40],
        &[0x08, 0x01, 0x10, 0x01, 0x1a, 0x03, 1, 2, 3],
    ] {
        let before = net.log.len();
        let now = net.now;
        net.nodes[0].1.handle_datagram(junk, x, now);
        net.settle();
        assert_eq!(net.log.len(), before, "{junk:?} got an answer");
    }
    let big = vec![0u8; 5000];
    let now = net.now;
    net.nodes[0].1.handle_datagram(&big, x, now);
    // unknown command: error with closer nodes, no token
    let mut m = Message::new(MessageType::Query, 9);
    m.command = Some("frobnicate".into());
    m.target = Some(vec![1; 32]);
    let r = raw(&mut net, x, 0, &m);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].error.as_deref(), Some("Unsupported command"));
    assert_eq!(r[0].roundtrip_token, None);
    assert_eq!(
        addr::decode_nodes(r[0].closer_nodes.as_deref().unwrap())
            .unwrap()
            .len(),
        2
    );
    // unknown command without target: ignored
    m.target = None;
    assert!(raw(&mut net, x, 0, &m).is_empty());
    // invalid port
    let mut p = peers_request(MessageType::Query, 10, NodeId([1; 32]), None);
    p.value = Some(
        hyperswarm::PeersInput {
            port: Some(70000),
            ..Default::default()
        }
        .encode(),
    );
    assert_eq!(
        raw(&mut net, x, 0, &p)[0].error.as_deref(),
        Some("Invalid port")
    );
    // a peers request without any value does not break the node
    p.value = None;
    assert_eq!(raw(&mut net, x, 0, &p).len(), 1);
    // an id of the wrong length drops the message
    let mut f = Message::new(MessageType::Query, 11);
    f.command = Some("_find_node".into());
    f.target = Some(vec![1; 32]);
    f.id = Some(vec![1; 31]);
    assert!(raw(&mut net, x, 0, &f).is_empty());
    f.id = None;
    let r = raw(&mut net, x, 0, &f);
    assert_eq!(
        addr::decode_nodes(r[0].closer_nodes.as_deref().unwrap())
            .unwrap()
            .len(),
        2
    );
    // responses to unknown rids are ignored
    let resp = Message::new(MessageType::Response, 12345);
    assert!(raw(&mut net, x, 0, &resp).is_empty());
}

#[test]
fn record_store_is_bounded_and_records_expire() {
    let mut net = Net::new();
    net.add(Config {
        max_records: 100,
        ..persistent(&[])
    });
    let x = a(20000);
    let topic = NodeId([5; 32]);
    let q = raw(
        &mut net,
        x,
        0,
        &peers_request(MessageType::Query, 1, topic, None),
    );
    let token = q[0].roundtrip_token.clone().unwrap();
    for port in 1..=1000u16 {
        let mut m = peers_request(MessageType::Update, 2, topic, Some(token.clone()));
        m.value = Some(
            hyperswarm::PeersInput {
                port: Some(u64::from(port)),
                ..Default::default()
            }
            .encode(),
        );
        let now = net.now;
        net.nodes[0].1.handle_datagram(&m.encode(), x, now);
        assert!(
            net.nodes[0].1.record_count() <= 201,
            "two generations of ~100"
        );
    }
    net.settle();
    // lookups return at most 128 records, and never the querier's own
    let mut net = Net::new();
    net.add(persistent(&[]));
    let token = raw(
        &mut net,
        x,
        0,
        &peers_request(MessageType::Query, 1, topic, None),
    )[0]
    .roundtrip_token
    .clone()
    .unwrap();
    for port in 1..=300u16 {
        let mut m = peers_request(MessageType::Update, 2, topic, Some(token.clone()));
        m.value = Some(
            hyperswarm::PeersInput {
                port: Some(u64::from(port)),
                ..Default::default()
            }
            .encode(),
        );
        let now = net.now;
        net.nodes[0].1.handle_datagram(&m.encode(), x, now);
    }
    net.settle();
    let mut look = peers_request(MessageType::Query, 3, topic, None);
    look.value = Some(
        hyperswarm::PeersInput {
            port: Some(5),
            ..Default::default()
        }
        .encode(),
    );
    let r = raw(&mut net, x, 0, &look);
    let found = FoundPeers::from_value(r[0].value.as_deref(), None)
        .unwrap()
        .peers;
    assert!(found.len() == 127 || found.len() == 128, "{}", found.len());
    assert!(!found.contains(&SocketAddrV4::new(*x.ip(), 5)));
    // lifetime: alive after 8 min, gone after 16 min (two GCs)
    net.run_for(Duration::from_secs(8 * 60 - 1));
    assert_eq!(net.nodes[0].1.record_count(), 300);
    net.run_for(Duration::from_secs(8 * 60 + 2));
    assert_eq!(net.nodes[0].1.record_count(), 0);
}

#[test]
fn local_records_are_returned_to_the_same_lan_prefix() {
    let mut net = network(0);
    let topic = NodeId([6; 32]);
    let b = net.addr(0);
    let lan = |last: u8, port: u16| SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, last), port);
    let ann = net.add(ephemeral(&[b]));
    let q = net.nodes[ann]
        .1
        .announce(topic, Some(lan(5, 4000)), net.now);
    net.query_done(ann, q).unwrap();
    let seek = net.add(ephemeral(&[b]));
    let q = net.nodes[seek].1.lookup(topic, Some(lan(9, 5000)), net.now);
    net.query_done(seek, q).unwrap();
    let locals: Vec<SocketAddrV4> = net.events[seek]
        .iter()
        .filter_map(|e| match e {
            Event::Reply { reply, .. } => {
                FoundPeers::from_value(reply.value.as_deref(), Some(lan(9, 5000)))
            }
            _ => None,
        })
        .flat_map(|f| f.local_peers)
        .collect();
    assert_eq!(locals, vec![lan(5, 4000)]);
}

#[test]
fn holepunch_relay_matches_the_node_trace_bytes() {
    // swarm-tcp-nomdns: swarmB (33501) asks the bootstrap (48436, id f432..)
    // to relay a holepunch to swarmA (37957).
    let bid: [u8; 32] =
        hex::decode("f4322afe96db7756e16ec6cb54eae07e227fc3483e20d9e60586e12900b1ba45")
            .unwrap()
            .try_into()
            .unwrap();
    let now = Instant::now();
    let mut r = Node::new(
        Config {
            id: Some(NodeId(bid)),
            seed: Some(1),
            ..Config::default()
        },
        now,
    );
    while r.poll_transmit().is_some() {}
    let req =
        hex::decode("5801080110ed810152067f000001bd343a0a5f686f6c6570756e63684a081a067f0000019445")
            .unwrap();
    r.handle_datagram(&req, a(33501), now);
    let t = r.poll_transmit().unwrap();
    assert_eq!(t.dest, a(37957));
    let want = "5801080110ed810152067f00000194451a20f4322afe96db7756e16ec6cb54eae07e227fc3483e20d9e60586e12900b1ba453a0a5f686f6c6570756e636842004a0812067f00000182dd";
    assert_eq!(hex::encode(&t.payload), want);
    assert!(r.poll_transmit().is_none());

    // A answers the relayed message to B (the `from`), same rid, with a token
    let mut node_a = Node::new(
        Config {
            seed: Some(2),
            ephemeral: true,
            ..Config::default()
        },
        now,
    );
    node_a.handle_datagram(&t.payload, a(48436), now);
    let resp = node_a.poll_transmit().unwrap();
    assert_eq!(resp.dest, a(33501));
    let m = Message::decode(&resp.payload).unwrap();
    assert_eq!(
        (m.kind, m.rid, m.id.clone()),
        (MessageType::Response, 0x40ed, None)
    );
    assert_eq!(m.to.as_deref(), Some(&addr::encode_peer(a(33501))[..]));
    assert_eq!(m.roundtrip_token.as_ref().map(Vec::len), Some(32));
    // the direct `_holepunch` without value is ignored, and so is a relay
    // request pointing back at its sender
    node_a.handle_datagram(
        &hex::decode("5801080110ed810152067f00000194453a0a5f686f6c6570756e6368").unwrap(),
        a(33501),
        now,
    );
    assert!(node_a.poll_transmit().is_none());
    let mut back = Message::new(MessageType::Query, 1);
    back.command = Some("_holepunch".into());
    back.value = Some(
        Holepunch {
            from: None,
            to: Some(addr::encode_peer(a(33501)).to_vec()),
        }
        .encode(),
    );
    r.handle_datagram(&back.encode(), a(33501), now);
    assert!(r.poll_transmit().is_none());
}

#[test]
fn client_holepunch_and_requests_match_the_node_trace_layout() {
    let now = Instant::now();
    let mut b = Node::new(
        Config {
            ephemeral: true,
            seed: Some(3),
            ..Config::default()
        },
        now,
    );
    b.holepunch(a(37957), a(48436), now);
    let direct = b.poll_transmit().unwrap();
    let relay = b.poll_transmit().unwrap();
    assert_eq!((direct.dest, relay.dest), (a(37957), a(48436)));
    let with_rid = |p: &[u8], rid| {
        let mut m = Message::decode(p).unwrap();
        m.rid = rid;
        hex::encode(m.encode())
    };
    assert_eq!(
        with_rid(&direct.payload, 0x40ed),
        "5801080110ed810152067f00000194453a0a5f686f6c6570756e6368"
    );
    assert_eq!(
        with_rid(&relay.payload, 0x40ed),
        "5801080110ed810152067f000001bd343a0a5f686f6c6570756e63684a081a067f0000019445"
    );
    assert_eq!(
        Message::decode(&direct.payload).unwrap().rid,
        Message::decode(&relay.payload).unwrap().rid
    );

    // an ephemeral announce's first QUERY to the bootstrap (swarmA in the trace)
    let topic = NodeId(
        hex::decode("ac9a56ff34db32f37ac4401325bf67ca1197b2ddda66edd4f023e2c5ec8a3f0b")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let mut s = Node::new(
        Config {
            ephemeral: true,
            seed: Some(4),
            bootstrap: vec![a(48436)],
            ..Config::default()
        },
        now,
    );
    while s.poll_transmit().is_some() {}
    s.announce(topic, None, now);
    let t = s.poll_transmit().unwrap();
    assert_eq!(
        with_rid(&t.payload, 0x5155),
        "5801080110d5a20152067f000001bd342220ac9a56ff34db32f37ac4401325bf67ca1197b2ddda66edd4f023e2c5ec8a3f0b3a0570656572734a020800"
    );
}

#[test]
fn no_bootstrap_reachable_is_reported_and_retried() {
    let mut net = Net::new();
    let n = net.add(persistent(&[a(9)]));
    net.down.insert(a(9));
    net.run_until(n, Duration::from_secs(20), |e| {
        matches!(e, Event::BootstrapFailed(_))
    });
    assert!(!net.nodes[n].1.is_bootstrapped());
    // maintenance retries (every 8th 5 s tick with an empty table)
    let before = net.log.iter().filter(|(_, t)| t.dest == a(9)).count();
    net.run_for(Duration::from_secs(45));
    let after = net.log.iter().filter(|(_, t)| t.dest == a(9)).count();
    assert!(after > before, "bootstrap retried");
}
