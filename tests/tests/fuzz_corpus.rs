//! Replays every input of the fuzz corpora (`fuzz/corpus/<target>/`, found by the fuzz targets
//! in `fuzz/` or written as seeds) through the function its target calls, so a decoder
//! regression fails `cargo test` on stable, without cargo-fuzz.

use std::path::{Path, PathBuf};

/// What a fuzz target calls with each input.
type EntryPoint = fn(&[u8]);

/// Each fuzz target (`fuzz/fuzz_targets/<name>.rs`) and the entry point it calls.
const TARGETS: &[(&str, EntryPoint)] = &[
    ("hypercore_frames", hypercore::fuzzing::frames),
    ("hypercore_message", hypercore::fuzzing::message),
    ("hypercore_noise", hypercore::fuzzing::noise_handshake),
    ("hypercore_bitfield_rle", hypercore::fuzzing::bitfield_rle),
    ("hypercore_feed_files", hypercore::fuzzing::feed_files),
    ("hypercore_replicator", hypercore::fuzzing::replicator),
    ("hypertrie_node", hypertrie::fuzzing::node),
    ("hypertrie_header", hypertrie::fuzzing::header),
    ("hyperdrive_stat", hyperdrive::fuzzing::stat),
    ("hyperdrive_mount", hyperdrive::fuzzing::mount),
    ("hyperdrive_extents", hyperdrive::fuzzing::extents),
    ("hyperswarm_dht", hyperswarm::fuzzing::dht_message),
    ("hyperswarm_mdns", hyperswarm::fuzzing::mdns),
    ("corestore_name_file", corestore::fuzzing::name_file),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_replays() {
    for (name, run) in TARGETS {
        let inputs = files(&fuzz_dir().join("corpus").join(name));
        assert!(!inputs.is_empty(), "the corpus of {name} is empty");
        for input in inputs {
            let bytes = std::fs::read(&input).expect("a readable corpus file");
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{name} panics on {}", input.display());
        }
    }
}

#[test]
fn every_fuzz_target_is_replayed() {
    for target in files(&fuzz_dir().join("fuzz_targets")) {
        let name = target
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a target file name");
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz target {name} has no replay"
        );
    }
}

/// Writes the seed inputs the fuzzers start from, made by our own encoders (run once by hand:
/// `cargo test -p ddrive-tests --test fuzz_corpus -- --ignored`; the fuzzers then grow and
/// minimise the corpora).
#[test]
#[ignore = "writes fuzz/corpus; run by hand before fuzzing"]
fn write_seeds() -> anyhow::Result<()> {
    use hypercore::protocol::{self as p, Message};
    use hypercore::{Feed, KeyPair, MemoryStorage, ProofRequest, Store};

    let write = |target: &str, name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        Ok(())
    };

    // A writer feed of the replicator target's key, for genuine proofs and files.
    let key_pair = KeyPair::from_seed(&[2; 32]);
    let mut writer = Feed::builder(MemoryStorage::new())
        .key_pair(key_pair)
        .open()?;
    for i in 0..5 {
        writer.append(format!("block {i}").as_bytes())?;
    }
    let proof = writer.proof(3, ProofRequest::default())?;
    let data = p::Data {
        index: 3,
        value: Some(writer.get(3)?),
        nodes: proof
            .nodes
            .iter()
            .map(|n| p::DataNode {
                index: n.index,
                hash: n.hash.to_vec(),
                size: n.size,
            })
            .collect(),
        signature: proof.signature.map(|s| s.0.to_vec()),
    };
    let messages = [
        Message::Open(p::Open {
            discovery_key: vec![1; 32],
            capability: Some(vec![2; 32]),
        }),
        Message::Options(p::Options {
            extensions: vec!["hypertrie-get".into(), "x".into()],
            ack: Some(true),
        }),
        Message::Status(p::Status::new(true, false)),
        Message::Have(p::Have {
            start: 0,
            length: Some(5),
            bitfield: Some(p::bitfield_rle::encode(&[0xf8])),
            ack: None,
        }),
        Message::Unhave(p::Unhave {
            start: 2,
            length: Some(1),
        }),
        Message::Want(p::Want {
            start: 0,
            length: Some(1 << 20),
        }),
        Message::Unwant(p::Unwant {
            start: 0,
            length: None,
        }),
        Message::Request(p::Request::new(3, false, 0)),
        Message::Cancel(p::Cancel {
            index: 3,
            bytes: None,
            hash: Some(true),
        }),
        Message::Data(data.clone()),
        Message::Close(p::Close {
            discovery_key: Some(vec![1; 32]),
        }),
        Message::Extension(p::Extension {
            id: 1,
            payload: b"payload".to_vec(),
        }),
    ];
    let mut stream = vec![7u8, 0x00]; // chunks of 7 bytes, then a keep-alive
    for (i, m) in messages.iter().enumerate() {
        let mut body = vec![m.type_id()];
        m.encode_body(&mut body);
        write("hypercore_message", m.type_name(), &body)?;
        p::frame::encode(i as u64 % 3, m, &mut stream);
    }
    write("hypercore_frames", "all-types", &stream)?;

    // Noise: the first message of an initiator as a responder reads it, and a second message.
    let mut initiator = p::Handshake::with_ephemeral(
        true,
        p::NoiseKeyPair::from_secret([5; 32]),
        p::NoiseKeyPair::from_secret([6; 32]),
        p::NoisePayload { nonce: vec![4; 24] }.encode(),
    );
    let mut responder = p::Handshake::with_ephemeral(
        false,
        p::NoiseKeyPair::from_secret([7; 32]),
        p::NoiseKeyPair::from_secret([9; 32]),
        p::NoisePayload { nonce: vec![3; 24] }.encode(),
    );
    let first = initiator.write_message()?;
    responder.read_message(&first)?;
    let second = responder.write_message()?;
    initiator.read_message(&second)?;
    let third = initiator.write_message()?;
    let framed = |role: u8, msgs: &[&[u8]]| {
        let mut out = vec![role];
        for m in msgs {
            out.extend_from_slice(&(m.len() as u16).to_le_bytes()); // u16le
            out.extend_from_slice(m);
        }
        out
    };
    write(
        "hypercore_noise",
        "responder",
        &framed(0, &[&first, &third]),
    )?;
    write("hypercore_noise", "initiator", &framed(1, &[&second]))?;

    for (name, bits) in [
        ("ones", vec![0xff; 300]),
        ("mixed", vec![0xf0, 0, 0, 0x01, 0xff, 0xff, 0x80]),
    ] {
        write(
            "hypercore_bitfield_rle",
            name,
            &p::bitfield_rle::encode(&bits),
        )?;
    }

    // The files of a five-block feed, each behind a u16le length, in the target's order.
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[1; 32]))
        .open()?;
    for i in 0..5 {
        feed.append(format!("block {i}").as_bytes())?;
    }
    let storage = feed.into_storage();
    let mut files = Vec::new();
    for store in [Store::Tree, Store::Bitfield, Store::Signatures, Store::Data] {
        let file = storage.file(store).unwrap_or_default();
        files.extend_from_slice(&(file.len() as u16).to_le_bytes()); // u16le
        files.extend_from_slice(file);
    }
    write("hypercore_feed_files", "five-blocks", &files)?;

    // Trie blocks: the header and a few nodes with pointers.
    let mut trie = hypertrie::Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
    for key in ["a", "a/b", "a/c", "d/e/f", "hello"] {
        trie.put(key, key.as_bytes())?;
    }
    trie.del("a/b")?;
    let mut feed = trie.into_feed();
    write("hypertrie_header", "plain", &feed.get(0)?)?;
    write(
        "hypertrie_header",
        "drive",
        &hypertrie::Header::new(Some(vec![9; 32]), Some("hyperdrive".into())).encode(),
    )?;
    for i in 1..feed.len() {
        write("hypertrie_node", &format!("block-{i}"), &feed.get(i)?)?;
    }

    let mut stat = hyperdrive::Stat::file(1_600_000_000_000);
    stat.size = 1000;
    stat.blocks = 2;
    stat.offset = 4;
    stat.byte_offset = 70_000;
    write("hyperdrive_stat", "file", &stat.encode())?;
    write(
        "hyperdrive_stat",
        "symlink",
        &hyperdrive::Stat::symlink("../x", 5).encode(),
    )?;
    write(
        "hyperdrive_mount",
        "pinned",
        &hyperdrive::MountRecord {
            key: [3; 32],
            local_path: "mnt/a".into(),
            version: Some(7),
            remote_path: None,
            hash: None,
        }
        .encode(),
    )?;
    // Format 1, guard (size 10, offset 0, blocks 1, byteOffset 0), then (4 zeros) (6 from 0).
    write("hyperdrive_extents", "two", &[1, 10, 0, 1, 0, 4, 0, 6, 1])?;

    let mut query = hyperswarm::Message::new(hyperswarm::MessageType::Query, 42);
    query.id = Some(vec![8; 32]);
    query.target = Some(vec![9; 32]);
    query.command = Some("peers".into());
    query.value = Some(
        hyperswarm::PeersInput {
            port: Some(4000),
            local_address: Some(vec![10, 0, 0, 5, 0x1f, 0x90]),
            unannounce: None,
        }
        .encode(),
    );
    write("hyperswarm_dht", "query", &query.encode())?;
    let mut reply = hyperswarm::Message::new(hyperswarm::MessageType::Response, 42);
    reply.closer_nodes = Some(vec![1; 38]);
    reply.roundtrip_token = Some(vec![2; 32]);
    reply.value = Some(
        hyperswarm::PeersOutput {
            peers: Some(vec![127, 0, 0, 1, 0x1f, 0x90]),
            local_peers: Some(vec![0, 5, 0x1f, 0x90]),
        }
        .encode(),
    );
    write("hyperswarm_dht", "response", &reply.encode())?;
    let topic = [6u8; 32];
    let name = hyperswarm::mdns::topic_name(&topic);
    write(
        "hyperswarm_mdns",
        "query",
        &hyperswarm::mdns::Packet::srv_query(&name).encode()?,
    )?;
    let answer = hyperswarm::mdns::Record::new(
        name,
        hyperswarm::mdns::RData::Srv {
            priority: 0,
            weight: 0,
            port: 4000,
            target: "0.0.0.0".into(),
        },
    );
    write(
        "hyperswarm_mdns",
        "response",
        &hyperswarm::mdns::Packet::response(vec![answer]).encode()?,
    )?;
    write("corestore_name_file", "default", b"\x07default")?;

    // The replicator: a reader adds a peer, hears its Status and Have, downloads block 3 and
    // gets the genuine answer, then a writer answers a Want and a Request.
    let mut script = vec![5, 0, /* add */ 0, /* status */ 2, 0, 2];
    let mut status = Vec::new();
    Message::Status(p::Status::new(true, true)).encode_body(&mut status);
    script.push(status.len() as u8);
    script.extend_from_slice(&status);
    let mut have = Vec::new();
    Message::Have(p::Have {
        start: 0,
        length: Some(5),
        bitfield: None,
        ack: None,
    })
    .encode_body(&mut have);
    script.extend_from_slice(&[2, 0, 3, have.len() as u8]);
    script.extend_from_slice(&have);
    script.extend_from_slice(&[
        6, 3, 1, /* poll */ 3, 0, /* genuine */ 7, 0, 3, 0, 0,
    ]);
    script.extend_from_slice(&[9, 4, 60, 9]);
    write("hypercore_replicator", "reader", &script)?;
    let mut want = Vec::new();
    Message::Want(p::Want {
        start: 0,
        length: Some(8192),
    })
    .encode_body(&mut want);
    let mut request = Vec::new();
    Message::Request(p::Request::new(2, false, 0)).encode_body(&mut request);
    let mut script = vec![5, 1, 0, 2, 0, 5, want.len() as u8];
    script.extend_from_slice(&want);
    script.extend_from_slice(&[2, 0, 7, request.len() as u8]);
    script.extend_from_slice(&request);
    script.extend_from_slice(&[3, 0, 8, 3, 0, 4, 200, 9]);
    write("hypercore_replicator", "writer", &script)?;
    Ok(())
}
