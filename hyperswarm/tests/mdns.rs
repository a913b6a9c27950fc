//! The multicast DNS packets of the LAN discovery, byte for byte against
//! @hyperswarm/discovery 2 + multicast-dns 7.
//!
//! `NODE_*` below were printed by `tests/js/mdns-records.js` (the real Node
//! packages over a fake socket) for topic 00 01 .. 1f and port 49737:
//! `node tests/js/mdns-records.js 000102…1f 49737`. The TXT id is random per
//! Node topic, so the test swaps Node's id for ours before comparing; every
//! other byte must match. The `interop` feature re-runs the script live with
//! a random topic and port.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hyperswarm::lan::{LanDiscovery, LanPeer};
use hyperswarm::mdns::{self, Packet, RData, Record};

const NODE_ID: &str = "69643d5c26f1acbcd74f49170b1ecd76fb2895362337d4a9f41c5c83ea62151ac8472c";
const NODE_UNSOLICITED: &str = "00008400000000020000000028303030313032303330343035303630373038303930613062306330643065306631303131313231330a6879706572737761726d056c6f63616c000021000100000000000f00000000c24901300130013001300028303030313032303330343035303630373038303930613062306330643065306631303131313231330a6879706572737761726d056c6f63616c00001000010000000000242369643d5c26f1acbcd74f49170b1ecd76fb2895362337d4a9f41c5c83ea62151ac8472c";
const NODE_QUERY: &str = "00000000000100000000000028303030313032303330343035303630373038303930613062306330643065306631303131313231330a6879706572737761726d056c6f63616c0000210001";
const NODE_ANSWER: &str = "00008400000000030000000028303030313032303330343035303630373038303930613062306330643065306631303131313231330a6879706572737761726d056c6f63616c000021000100000000000f00000000c24901300130013001300028303030313032303330343035303630373038303930613062306330643065306631303131313231330a6879706572737761726d056c6f63616c00001000010000000000242369643d5c26f1acbcd74f49170b1ecd76fb2895362337d4a9f41c5c83ea62151ac8472c0872656665727265720a6879706572737761726d056c6f63616c00000100010000000000047f000002";

fn topic() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// Node's bytes with its random TXT id replaced by `ours`.
fn with_id(node_hex: &str, node_id: &str, ours: &[u8]) -> Vec<u8> {
    assert!(node_hex.contains(node_id), "Node packet lacks its id");
    hex::decode(node_hex.replace(node_id, &hex::encode(ours))).expect("hex")
}

struct Produced {
    id: Vec<u8>,
    unsolicited: Vec<u8>,
    query: Vec<u8>,
    answer: Vec<u8>,
}

/// What our announcer and a lookup-only peer send for `topic` and `port`.
fn ours(topic: [u8; 32], port: u16) -> Produced {
    let now = Instant::now();
    let mut announcer = LanDiscovery::new(Some(1));
    announcer.join(topic, Some(port), false, now);
    let unsolicited = announcer.poll_transmit().expect("unsolicited response");
    assert_eq!(announcer.poll_transmit(), None);
    let mut looker = LanDiscovery::new(Some(2));
    looker.join(topic, None, true, now);
    let query = looker.poll_transmit().expect("query");
    let peers = announcer.handle_packet(&query, Ipv4Addr::new(127, 0, 0, 2));
    assert!(peers.is_empty());
    let answer = announcer.poll_transmit().expect("answer");
    Produced {
        id: announcer.topic_id(&topic).expect("id").to_vec(),
        unsolicited,
        query,
        answer,
    }
}

#[test]
fn records_match_node_byte_for_byte() {
    let p = ours(topic(), 49737);
    assert_eq!(hex::encode(&p.query), NODE_QUERY);
    assert_eq!(p.unsolicited, with_id(NODE_UNSOLICITED, NODE_ID, &p.id));
    assert_eq!(p.answer, with_id(NODE_ANSWER, NODE_ID, &p.id));
}

#[test]
fn node_packets_decode_to_the_documented_layout() {
    let p = Packet::decode(&hex::decode(NODE_ANSWER).expect("hex")).expect("decode");
    let name = mdns::topic_name(&topic());
    assert_eq!(
        name,
        "000102030405060708090a0b0c0d0e0f10111213.hyperswarm.local"
    );
    assert_eq!(p.flags, 0x8400);
    assert!(p.questions.is_empty());
    let node_id = hex::decode(NODE_ID).expect("hex");
    assert_eq!(
        p.answers,
        vec![
            Record::new(
                name.clone(),
                RData::Srv {
                    priority: 0,
                    weight: 0,
                    port: 49737,
                    target: "0.0.0.0".into()
                }
            ),
            Record::new(name, RData::Txt(vec![node_id])),
            Record::new(
                "referrer.hyperswarm.local",
                RData::A(Ipv4Addr::new(127, 0, 0, 2))
            ),
        ]
    );
    // re-encoding a decoded Node packet gives the same bytes
    assert_eq!(hex::encode(p.encode().expect("encode")), NODE_ANSWER);
}

#[test]
fn a_response_yields_the_peer_at_the_source_address_but_not_ourselves() {
    let now = Instant::now();
    let t = topic();
    let mut a = LanDiscovery::new(Some(3));
    let mut b = LanDiscovery::new(Some(4));
    a.join(t, Some(4000), true, now);
    b.join(t, Some(5000), true, now);
    let a_sent: Vec<Vec<u8>> = std::iter::from_fn(|| a.poll_transmit()).collect();
    // a's query, then its unsolicited answer
    assert_eq!(a_sent.len(), 2);
    let src = Ipv4Addr::new(127, 0, 0, 9);
    // multicast loops our own packets back: they must not name us
    assert!(a.handle_packet(&a_sent[1], src).is_empty());
    assert_eq!(
        b.handle_packet(&a_sent[1], src),
        vec![LanPeer {
            topic: t,
            addr: "127.0.0.9:4000".parse().expect("addr")
        }]
    );
    // a query answered: b replies to a's query
    let _ = std::iter::from_fn(|| b.poll_transmit()).count();
    assert!(b.handle_packet(&a_sent[0], src).is_empty());
    let reply = b.poll_transmit().expect("b answers");
    assert_eq!(
        a.handle_packet(&reply, Ipv4Addr::new(127, 0, 0, 8)),
        vec![LanPeer {
            topic: t,
            addr: "127.0.0.8:5000".parse().expect("addr")
        }]
    );
    // our own query looped back is not answered
    assert!(a.handle_packet(&a_sent[0], src).is_empty());
    let _ = a.poll_transmit();
    a.leave(&t);
    assert!(a.handle_packet(&reply, src).is_empty());
}

#[test]
fn lookup_queries_repeat_every_30_to_60_seconds() {
    let start = Instant::now();
    let mut l = LanDiscovery::new(Some(5));
    l.join(topic(), None, false, start);
    assert!(l.poll_transmit().is_some());
    let mut now = start;
    for _ in 0..20 {
        let at = l.poll_timeout().expect("timer");
        let wait = at - now;
        assert!(
            wait >= Duration::from_secs(30) && wait < Duration::from_secs(60),
            "{wait:?}"
        );
        l.handle_timeout(at - Duration::from_millis(1));
        assert_eq!(l.poll_transmit(), None);
        l.handle_timeout(at);
        assert_eq!(
            l.poll_transmit().map(hex::encode).as_deref(),
            Some(NODE_QUERY)
        );
        now = at;
    }
    // an announce-only topic never queries
    let mut a = LanDiscovery::new(Some(6));
    a.join(topic(), Some(1), false, start);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn compressed_and_hostile_packets() {
    // an SRV answer whose target is a compression pointer to its own name
    let name = mdns::topic_name(&topic());
    let mut b = Packet::srv_query(&name).encode().expect("encode");
    b[2] = 0x84; // QR + AA
    b[5] = 0; // no questions ...
    b[7] = 1; // ... one answer, named inline at offset 12
    b.truncate(b.len() - 4);
    b.extend_from_slice(&[
        0, 0x21, 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0x13, 0x88, 0xc0, 12,
    ]);
    let p = Packet::decode(&b).expect("decode");
    assert!(matches!(&p.answers[0].data, RData::Srv { port: 5000, target, .. } if target == &name));
    // pointer loops, forward pointers and truncation are errors, not panics
    assert!(Packet::decode(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 33, 0, 1]).is_err());
    assert!(Packet::decode(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 40]).is_err());
    assert!(Packet::decode(&[0, 0, 0, 0, 0xff, 0xff]).is_err());
    let mut l = LanDiscovery::new(Some(7));
    l.join(topic(), Some(9), true, Instant::now());
    for n in 0..b.len() {
        let _ = l.handle_packet(&b[..n], Ipv4Addr::LOCALHOST);
    }
}

#[cfg(feature = "interop")]
#[test]
fn records_match_a_live_node_run() -> anyhow::Result<()> {
    use anyhow::Context;
    use rand::{Rng, SeedableRng};
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let topic: [u8; 32] = rng.r#gen();
    let port: u16 = rng.gen_range(1..=u16::MAX);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("node")
        .arg(root.join("tests/js/mdns-records.js"))
        .arg(hex::encode(topic))
        .arg(port.to_string())
        .env("NODE_PATH", root.join("../tests/js/node_modules"))
        .output()
        .context("running node")?;
    anyhow::ensure!(out.status.success(), "node failed: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let s = |k: &str| v[k].as_str().map(str::to_owned).context("field");
    let p = ours(topic, port);
    assert_eq!(hex::encode(&p.query), s("query")?, "seed {seed}");
    assert_eq!(
        p.unsolicited,
        with_id(&s("unsolicited")?, &s("id")?, &p.id),
        "seed {seed}"
    );
    assert_eq!(
        p.answer,
        with_id(&s("answer")?, &s("id")?, &p.id),
        "seed {seed}"
    );
    Ok(())
}
