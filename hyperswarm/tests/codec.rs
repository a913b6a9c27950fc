//! The codec against every datagram of the traces in `tests/traces` (captured from the real
//! Node packages by `tests/js/traces/swarm.js`) and round-trip properties.

// Helpers outside #[test] fns panic on broken fixtures, like the tests do.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use hyperswarm::addr::{self, NodeAddr, NodeId};
use hyperswarm::message::{Holepunch, Message, MessageType};
use hyperswarm::peers_value::{FoundPeers, PeersInput, PeersOutput};
use proptest::prelude::*;
use serde_json::Value;

fn traces() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/traces");
    let mut out = Vec::new();
    for name in ["swarm-tcp", "swarm-utp", "swarm-both"] {
        let p = dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        out.push((name.to_owned(), serde_json::from_str(&text).unwrap()));
    }
    out
}

fn hex_field(v: &Value, k: &str) -> Option<Vec<u8>> {
    v.get(k)
        .and_then(Value::as_str)
        .map(|s| hex::decode(s).unwrap())
}

fn addr_of(v: &Value) -> SocketAddrV4 {
    SocketAddrV4::new(
        v["host"].as_str().unwrap().parse().unwrap(),
        v["port"].as_u64().unwrap() as u16,
    )
}

#[test]
fn every_trace_datagram_decodes_and_reencodes_byte_exact() {
    let mut count = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for (name, trace) in traces() {
        for e in trace["udp"].as_array().unwrap() {
            let bytes = hex::decode(e["hex"].as_str().unwrap()).unwrap();
            let m = Message::decode(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(m.encode(), bytes, "{name}: re-encoding differs");
            let j = &e["msg"];
            assert_eq!(bytes[0], 0x58, "version is written first");
            assert_eq!(m.version, j["version"].as_u64());
            let kind = match j["type"].as_str().unwrap() {
                "QUERY" => MessageType::Query,
                "UPDATE" => MessageType::Update,
                _ => MessageType::Response,
            };
            assert_eq!(m.kind, kind);
            assert_eq!(m.rid, j["rid"].as_u64().unwrap());
            assert_eq!(m.command.as_deref(), j["command"].as_str());
            assert_eq!(m.error.as_deref(), j["error"].as_str());
            assert_eq!(m.id, hex_field(j, "id"));
            assert_eq!(m.target, hex_field(j, "target"));
            assert_eq!(m.roundtrip_token, hex_field(j, "roundtripToken"));
            assert_eq!(m.value, hex_field(j, "value"));
            let to = m.to.as_deref().map(|t| addr::decode_first_peer(t).unwrap());
            assert_eq!(to, j.get("to").map(addr_of));
            if let Some(cn) = j.get("closerNodes") {
                let nodes = addr::decode_nodes(m.closer_nodes.as_deref().unwrap()).unwrap();
                let want: Vec<NodeAddr> = cn
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| NodeAddr {
                        id: NodeId::from_slice(&hex::decode(n["id"].as_str().unwrap()).unwrap())
                            .unwrap(),
                        addr: addr_of(n),
                    })
                    .collect();
                assert_eq!(nodes, want);
                assert_eq!(addr::encode_nodes(&nodes), m.closer_nodes.clone().unwrap());
            }
            check_value(&m, j);
            kinds.insert(format!(
                "{:?}:{}",
                m.kind,
                j["command"]
                    .as_str()
                    .or(j["inReplyTo"].as_str())
                    .unwrap_or("?")
            ));
            count += 1;
        }
    }
    assert!(count > 200, "only {count} datagrams");
    for k in [
        "Query:_find_node",
        "Response:_find_node",
        "Query:peers",
        "Update:peers",
        "Response:peers",
        "Query:_ping",
        "Response:_ping",
        "Query:_holepunch",
        "Response:_holepunch",
    ] {
        assert!(kinds.contains(k), "no {k} in the traces: {kinds:?}");
    }
}

fn check_value(m: &Message, j: &Value) {
    let Some(dec) = j.get("valueDecoded") else {
        return;
    };
    let v = m.value.as_deref().unwrap();
    let cmd = j["command"].as_str().or(j["inReplyTo"].as_str()).unwrap();
    match (cmd, m.kind) {
        ("peers", MessageType::Query | MessageType::Update) => {
            let p = PeersInput::decode(v).unwrap();
            assert_eq!(p.encode(), v);
            assert_eq!(p.port, dec.get("port").and_then(Value::as_u64));
            assert_eq!(p.unannounce, dec.get("unannounce").and_then(Value::as_bool));
        }
        ("peers", MessageType::Response) => {
            let p = PeersOutput::decode(v).unwrap();
            assert_eq!(p.encode(), v);
            let want: Vec<SocketAddrV4> = dec["peers"]
                .as_array()
                .map(|a| a.iter().map(addr_of).collect())
                .unwrap_or_default();
            let got = p
                .peers
                .as_deref()
                .map(|b| addr::decode_peer_records(b).unwrap());
            assert_eq!(got.unwrap_or_default(), want);
        }
        ("_holepunch", _) => {
            let h = Holepunch::decode(v).unwrap();
            assert_eq!(h.encode(), v);
            assert_eq!(
                h.from
                    .as_deref()
                    .map(|f| addr::decode_first_peer(f).unwrap()),
                dec.get("from").filter(|f| !f.is_null()).map(addr_of)
            );
            assert_eq!(
                h.to.as_deref().map(|f| addr::decode_first_peer(f).unwrap()),
                dec.get("to").filter(|f| !f.is_null()).map(addr_of)
            );
        }
        ("_ping", MessageType::Response) => {
            assert_eq!(addr::decode_first_peer(v), Some(addr_of(&dec["pong"])));
        }
        _ => {}
    }
}

#[test]
fn announced_record_is_found_in_trace_lookups() {
    // swarm-tcp: swarmA announced with port 0, the nodes stored its UDP
    // source port; a later lookup reply carries it.
    for (name, trace) in traces() {
        let a = trace["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["label"] == "swarmA")
            .unwrap()["addr"]
            .as_str()
            .unwrap()
            .parse::<SocketAddrV4>()
            .unwrap();
        let found = trace["udp"].as_array().unwrap().iter().any(|e| {
            let m = Message::decode(&hex::decode(e["hex"].as_str().unwrap()).unwrap()).unwrap();
            m.kind == MessageType::Response
                && FoundPeers::from_value(m.value.as_deref(), None)
                    .is_some_and(|f| f.peers.contains(&a))
        });
        assert!(found, "{name}: no lookup reply carries swarmA {a}");
    }
}

#[test]
fn known_bytes() {
    // PeersInput of an announce, lookup and unannounce (docs/wire.md)
    assert_eq!(PeersInput::announce(None).encode(), [0x08, 0x00]);
    assert_eq!(PeersInput::lookup(None).encode(), Vec::<u8>::new());
    assert_eq!(
        PeersInput::unannounce(None).encode(),
        [0x08, 0x00, 0x18, 0x01]
    );
    let local = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 7), 0x1234);
    assert_eq!(
        PeersInput::announce(Some(local)).encode(),
        [0x08, 0x00, 0x12, 0x06, 192, 168, 1, 7, 0x12, 0x34]
    );
    assert_eq!(addr::local_suffix(local), [1, 7, 0x12, 0x34]);
    assert_eq!(
        addr::decode_local_peers([192, 168], &[1, 7, 0x12, 0x34]).unwrap(),
        vec![local]
    );
    // empty value and error survive (`4a 00`, `42 00`)
    let mut m = Message::new(MessageType::Query, 5);
    m.error = Some(String::new());
    m.value = Some(Vec::new());
    assert_eq!(
        m.encode(),
        [0x58, 0x01, 0x08, 0x01, 0x10, 0x05, 0x42, 0x00, 0x4a, 0x00]
    );
    assert_eq!(Message::decode(&m.encode()).unwrap().error_text(), None);
}

#[test]
fn malformed_input_is_rejected() {
    assert!(Message::decode(&[]).is_err(), "type and rid are required");
    assert!(Message::decode(&[0x08, 0x01]).is_err(), "rid is required");
    assert!(
        Message::decode(&[0x08, 0x04, 0x10, 0x00]).is_err(),
        "unknown type"
    );
    assert!(
        Message::decode(&[0x08, 0x01, 0x10, 0x00, 0x4a, 0x05, 1]).is_err(),
        "truncated"
    );
    assert!(Message::decode(&[0x08, 0x01, 0x10]).is_err());
    assert!(
        Message::decode(&[0x08, 0x01, 0x10, 0x00, 0x1b]).is_err(),
        "group wire type"
    );
    assert!(Message::decode(&vec![0u8; 5000]).is_err(), "oversize");
    assert!(Message::decode(&[0x08; 11]).is_err());
    // unknown fields are skipped
    let m = Message::decode(&[0x08, 0x03, 0x10, 0x07, 0x60, 0x01, 0x6a, 0x01, 0xff]).unwrap();
    assert_eq!((m.kind, m.rid), (MessageType::Response, 7));
    assert_eq!(
        addr::decode_peers(&[127, 0, 0, 1, 0, 0]),
        Err(hyperswarm::DecodeError::ZeroPort)
    );
    assert!(addr::decode_peer_records(&[127, 0, 0, 1, 0, 1, 9]).is_err());
    assert!(addr::decode_peer_records(&[0, 0, 0, 0, 0, 1]).is_err());
    // ipv4-peers ignores a trailing partial entry
    assert_eq!(
        addr::decode_peers(&[127, 0, 0, 1, 0, 1, 9]).unwrap().len(),
        1
    );
}

fn opt_bytes(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max))
}

prop_compose! {
    fn message()(
        version in proptest::option::of(0u64..3),
        kind in prop_oneof![Just(MessageType::Query), Just(MessageType::Update), Just(MessageType::Response)],
        rid in any::<u64>(),
        to in opt_bytes(8), id in opt_bytes(40), target in opt_bytes(40),
        closer in opt_bytes(120), token in opt_bytes(40),
        command in proptest::option::of("[a-z_]{0,12}"), error in proptest::option::of(".{0,12}"),
        value in opt_bytes(300),
    ) -> Message {
        let mut m = Message::new(kind, rid);
        m.version = version;
        m.to = to; m.id = id; m.target = target; m.closer_nodes = closer;
        m.roundtrip_token = token; m.command = command; m.error = error; m.value = value;
        m
    }
}

fn v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), 1u16..).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}

proptest! {
    #[test]
    fn message_round_trips(m in message()) {
        let bytes = m.encode();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::decode(&bytes);
        let _ = PeersInput::decode(&bytes);
        let _ = PeersOutput::decode(&bytes);
        let _ = Holepunch::decode(&bytes);
        let _ = addr::decode_nodes(&bytes);
        let _ = FoundPeers::from_value(Some(&bytes), Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1)));
    }

    #[test]
    fn values_round_trip(port in proptest::option::of(0u64..70000), local in opt_bytes(8),
                         un in proptest::option::of(any::<bool>()), peers in opt_bytes(60), lp in opt_bytes(40),
                         from in opt_bytes(8), to in opt_bytes(8)) {
        let i = PeersInput { port, local_address: local, unannounce: un };
        prop_assert_eq!(PeersInput::decode(&i.encode()).unwrap(), i);
        let o = PeersOutput { peers, local_peers: lp };
        prop_assert_eq!(PeersOutput::decode(&o.encode()).unwrap(), o);
        let h = Holepunch { from, to };
        prop_assert_eq!(Holepunch::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn addresses_round_trip(peers in proptest::collection::vec(v4(), 0..25), ids in proptest::collection::vec(any::<[u8; 32]>(), 25)) {
        let enc: Vec<u8> = peers.iter().flat_map(|p| addr::encode_peer(*p)).collect();
        prop_assert_eq!(addr::decode_peers(&enc).unwrap(), peers.clone());
        let nodes: Vec<NodeAddr> = peers.iter().zip(&ids).map(|(p, id)| NodeAddr { id: NodeId(*id), addr: *p }).collect();
        let enc = addr::encode_nodes(&nodes);
        prop_assert_eq!(enc.len(), nodes.len() * addr::NODE_LEN);
        prop_assert_eq!(addr::decode_nodes(&enc).unwrap(), nodes);
        for p in &peers {
            let o = p.ip().octets();
            prop_assert_eq!(addr::decode_local_peers([o[0], o[1]], &addr::local_suffix(*p)).unwrap(), vec![*p]);
        }
    }
}
