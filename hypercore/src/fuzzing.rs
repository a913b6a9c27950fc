//! Entry points for the fuzz targets (`fuzz/` at the workspace root) and the corpus replay test:
//! each takes arbitrary bytes, as a peer or a disk could hand them over, and panics only on a
//! bug (a decoder panic, or a broken invariant checked here). Not part of the API.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::protocol::{
    Data, DataNode, FrameReader, Handshake, Message, NoiseKeyPair, NoisePayload, bitfield_rle,
    frame::{self, Frame},
};
use crate::replicate::{Outgoing, PeerId, Replicator, ReplicatorConfig};
use crate::{Feed, KeyPair, MemoryStorage, ProofRequest, Store};

/// Largest bitfield the RLE target decodes into (the replicator's own limit is 128 KiB).
const RLE_LIMIT: usize = 1 << 17;

/// A wire stream after the handshake: frames, cut into the chunks the input's first byte picks,
/// and every message body in them.
pub fn frames(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut reader = FrameReader::new();
    for piece in rest.chunks(chunk) {
        reader.push(piece);
        loop {
            match reader.next_frame() {
                Ok(Some(Frame::Message { channel, message })) => round_trip(channel, &message),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// One message body: the first byte's low nibble is the type, the rest the body.
pub fn message(data: &[u8]) {
    let Some((&type_id, body)) = data.split_first() else {
        return;
    };
    if let Ok(Some(message)) = Message::decode(type_id & 0x0f, body) {
        round_trip(u64::from(type_id >> 4), &message);
    }
}

/// A decoded message re-encodes into a frame that decodes to the same message.
fn round_trip(channel: u64, message: &Message) {
    let mut out = Vec::new();
    frame::encode(channel, message, &mut out);
    let mut reader = FrameReader::new();
    reader.push(&out);
    match reader.next_frame() {
        Ok(Some(Frame::Message {
            channel: c,
            message: again,
        })) => {
            assert_eq!(c, channel, "channel changed in a round trip");
            assert_eq!(&again, message, "message changed in a round trip");
        }
        other => panic!("a re-encoded message does not read back: {other:?}"),
    }
}

/// The Noise XX handshake with a peer whose messages are the input, in both roles: the first
/// byte picks the role, then `u16le` length-prefixed messages.
pub fn noise_handshake(data: &[u8]) {
    let Some((&role, mut rest)) = data.split_first() else {
        return;
    };
    let _ = NoisePayload::decode(rest);
    let static_key = NoiseKeyPair::from_secret([7; 32]);
    let ephemeral = NoiseKeyPair::from_secret([9; 32]);
    let payload = NoisePayload { nonce: vec![3; 24] }.encode();
    let mut hs = Handshake::with_ephemeral(role & 1 == 1, static_key, ephemeral, payload);
    for _ in 0..3 {
        if hs.is_finished() {
            break;
        }
        if hs.is_write_turn() {
            if hs.write_message().is_err() {
                return;
            }
            continue;
        }
        let Some(len) = rest.get(..2) else { return };
        let len = usize::from(u16::from_le_bytes([len[0], len[1]])); // u16le
        let msg = &rest[2..];
        let msg = &msg[..len.min(msg.len())];
        rest = &rest[2 + msg.len()..];
        if hs.read_message(msg).is_err() {
            return;
        }
    }
    if let Some(payload) = hs.outcome().and_then(|o| o.remote_payload) {
        let _ = NoisePayload::decode(&payload);
    }
}

/// A peer's RLE bitfield: whatever decodes re-encodes to the same bits.
pub fn bitfield_rle(data: &[u8]) {
    if let Ok(bits) = bitfield_rle::decode(data, RLE_LIMIT) {
        assert!(bits.len() <= RLE_LIMIT, "decoded past the limit");
        let again = bitfield_rle::decode(&bitfield_rle::encode(&bits), RLE_LIMIT);
        // Encoding may drop trailing zero bytes; the bits set must not change.
        let again = again.expect("our own encoding decodes");
        let trimmed = |b: &[u8]| b.len() - b.iter().rev().take_while(|&&x| x == 0).count();
        assert_eq!(bits[..trimmed(&bits)], again[..trimmed(&again)]);
    }
}

/// A feed folder as a disk might hold it after corruption: the input is cut into the `tree`,
/// `bitfield`, `signatures` and `data` files (each behind a `u16le` length), the keys are
/// fixed. Opening and reading must fail cleanly or succeed.
pub fn feed_files(data: &[u8]) {
    let key_pair = KeyPair::from_seed(&[1; 32]);
    let mut storage = MemoryStorage::new();
    storage.set_file(Store::Key, key_pair.public.as_bytes().to_vec());
    storage.set_file(Store::SecretKey, key_pair.secret.as_bytes().to_vec());
    let mut rest = data;
    for store in [Store::Tree, Store::Bitfield, Store::Signatures, Store::Data] {
        let Some(len) = rest.get(..2) else { break };
        let len = usize::from(u16::from_le_bytes([len[0], len[1]])); // u16le
        let file = &rest[2..];
        let file = &file[..len.min(file.len())];
        rest = &rest[2 + file.len()..];
        storage.set_file(store, file.to_vec());
    }
    let Ok(mut feed) = Feed::open(storage) else {
        return;
    };
    for index in 0..feed.len().min(8) {
        if feed.has(index) {
            let _ = feed.get(index);
            let _ = feed.proof(index, ProofRequest::default());
        }
    }
    let _ = feed.append(b"after");
}

/// Reads the input as a script of operations on one replicator and its feed, with messages
/// from its peers decoded from the input; genuine blocks come from a writer of the same key.
/// Checks that nothing unverified is stored and that no call panics.
pub fn replicator(data: &[u8]) {
    let mut script = Script(data);
    let key_pair = KeyPair::from_seed(&[2; 32]);
    let blocks = script.byte() % WRITER_BLOCKS;
    let writer = Feed::open(writer_files()[usize::from(blocks)].clone())
        .expect("a snapshot of a memory feed opens");
    let blocks = u64::from(blocks);
    // As the writer, peers download from us; as a reader, from the writer's genuine blocks
    // (`source`) and from whatever else the input says.
    let (mut feed, mut source) = if script.byte() & 1 == 1 {
        (writer, None)
    } else {
        let reader = Feed::builder(MemoryStorage::new())
            .key(key_pair.public)
            .open()
            .expect("a memory feed opens");
        (reader, Some(writer))
    };
    let mut rep = Replicator::new(ReplicatorConfig {
        request_timeout: Duration::from_secs(5),
        ..ReplicatorConfig::default()
    });
    let start = Instant::now();
    let mut now = start;
    let mut peers: Vec<PeerId> = Vec::new();
    let mut steps = 0;
    while !script.is_empty() && steps < 256 {
        steps += 1;
        let op = script.byte();
        let peer = (!peers.is_empty()).then(|| peers[usize::from(script.byte()) % peers.len()]);
        match (op % 10, peer) {
            (0, _) if peers.len() < 4 => peers.push(rep.add_peer(&mut feed, now)),
            (1, Some(p)) => {
                rep.remove_peer(&mut feed, p, now);
                peers.retain(|&q| q != p);
            }
            (2, Some(p)) => {
                let type_id = script.byte() & 0x0f;
                let len = usize::from(script.byte());
                let body = script.take(len);
                if let Ok(Some(message)) = Message::decode(type_id, body) {
                    let _ = rep.on_message(&mut feed, p, message, now);
                }
            }
            (3, Some(p)) => {
                for _ in 0..64 {
                    match rep.poll_transmit(&mut feed, p) {
                        Ok(Some(Outgoing::Message(_))) => {}
                        Ok(Some(Outgoing::Close)) | Ok(None) | Err(_) => break,
                    }
                }
            }
            (4, _) => {
                now += Duration::from_millis(u64::from(script.byte()) * 100);
                rep.handle_timeout(&mut feed, now);
            }
            (5, _) => rep.want(&mut feed, u64::from(script.byte()), now),
            (6, _) => {
                let from = u64::from(script.byte());
                let end = match script.byte() {
                    0 => None,
                    n => Some(from + u64::from(n)),
                };
                rep.download(&mut feed, from, end, now);
            }
            (7, Some(p)) if blocks > 0 => {
                // A genuine answer, as an honest peer would send it.
                let Some(writer) = source.as_mut() else {
                    continue;
                };
                let index = u64::from(script.byte()) % blocks;
                let hash = script.byte() & 1 == 1;
                let digest = u64::from(script.byte());
                if let Ok(proof) = writer.proof(index, ProofRequest { digest, hash }) {
                    let value = (!hash).then(|| writer.get(index).expect("the writer has it"));
                    let message = Message::Data(Data {
                        index,
                        value,
                        nodes: proof
                            .nodes
                            .iter()
                            .map(|n| DataNode {
                                index: n.index,
                                hash: n.hash.to_vec(),
                                size: n.size,
                            })
                            .collect(),
                        signature: proof.signature.map(|s| s.0.to_vec()),
                    });
                    let _ = rep.on_message(&mut feed, p, message, now);
                }
            }
            // The writer appends (the guard does it) and announces the new block.
            (8, _) if source.is_none() && feed.append(b"live").is_ok() => {
                rep.announce(feed.len() - 1, 1);
            }
            (9, _) => while rep.poll_event().is_some() {},
            _ => {}
        }
    }
    // Nothing unverified is stored: every block a reader holds is the writer's.
    let Some(writer) = source.as_mut() else {
        return;
    };
    for index in 0..feed.len().min(blocks) {
        if feed.has(index) {
            let got = feed.get(index).expect("a stored block reads back");
            let want = writer.get(index).expect("the writer has it");
            assert_eq!(got, want, "block {index} differs from the writer's");
        }
    }
}

/// Most blocks the replicator target's writer holds.
const WRITER_BLOCKS: u8 = 24;

/// The writer's files after each of its appends: signing them again for every input would
/// take most of the target's time.
fn writer_files() -> &'static [MemoryStorage] {
    static FILES: OnceLock<Vec<MemoryStorage>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut writer = Feed::builder(MemoryStorage::new())
            .key_pair(KeyPair::from_seed(&[2; 32]))
            .open()
            .expect("a memory feed opens");
        let mut files = vec![writer.storage().clone()];
        for i in 1..WRITER_BLOCKS {
            writer
                .append(format!("block {}", i - 1).as_bytes())
                .expect("a memory feed appends");
            files.push(writer.storage().clone());
        }
        files
    })
}

/// A cursor over the replicator script; reads past the end give zeros.
struct Script<'a>(&'a [u8]);

impl<'a> Script<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        head
    }
}
