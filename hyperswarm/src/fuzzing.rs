//! Entry points for the fuzz targets (`fuzz/` at the workspace root) and the corpus replay test:
//! each takes a datagram as anyone on the network could send it and panics only on a bug.
//! Not part of the API.

use crate::addr::{
    decode_local_peers, decode_nodes, decode_peer_records, decode_peers, encode_nodes,
};
use crate::mdns::Packet;
use crate::message::{Holepunch, Message};
use crate::peers_value::{PeersInput, PeersOutput};

/// A DHT datagram and the values and address lists it carries: whatever decodes re-encodes to
/// the same message.
pub fn dht_message(data: &[u8]) {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(
            Message::decode(&message.encode()).as_ref(),
            Ok(&message),
            "message changed in a round trip"
        );
        if let Some(nodes) = &message.closer_nodes
            && let Ok(decoded) = decode_nodes(nodes)
        {
            assert_eq!(decode_nodes(&encode_nodes(&decoded)), Ok(decoded));
        }
        if let Some(value) = &message.value {
            values(value);
        }
    }
    values(data);
}

/// The values a `peers` command carries, and the address lists inside them.
fn values(data: &[u8]) {
    if let Ok(input) = PeersInput::decode(data) {
        assert_eq!(PeersInput::decode(&input.encode()).as_ref(), Ok(&input));
    }
    if let Ok(output) = PeersOutput::decode(data) {
        assert_eq!(PeersOutput::decode(&output.encode()).as_ref(), Ok(&output));
        let _ = output.peers.as_deref().map(decode_peer_records);
        let _ = output
            .local_peers
            .as_deref()
            .map(|l| decode_local_peers([10, 0], l));
    }
    if let Ok(punch) = Holepunch::decode(data) {
        assert_eq!(Holepunch::decode(&punch.encode()).as_ref(), Ok(&punch));
    }
    let _ = decode_peers(data);
}

/// An mDNS packet from the LAN: once re-encoded, a packet reads back the same.
///
/// The first round trip may change names: like dns-packet, the decoder joins labels with dots
/// without escaping, so a label holding a dot (`e.` as one label) reads as two labels. That is
/// what JS peers see too; only the encoding of what we read must be stable.
pub fn mdns(data: &[u8]) {
    let Ok(packet) = Packet::decode(data) else {
        return;
    };
    let Ok(bytes) = packet.encode() else { return };
    let Ok(again) = Packet::decode(&bytes) else {
        panic!("a re-encoded packet does not decode: {packet:?}");
    };
    let bytes = again.encode().expect("a packet we encoded encodes again");
    assert_eq!(
        Packet::decode(&bytes).as_ref(),
        Ok(&again),
        "packet changed in a second round trip"
    );
}
