//! Entry points for the fuzz targets (`fuzz/` at the workspace root) and the corpus replay test:
//! each takes a block as a peer or the disk could hand it over and panics only on a bug.
//! Not part of the API.

use crate::message::{Header, NodeMessage, encode_node};
use crate::node::Node;

/// A trie node block: decoded, every bucket walked, and its message re-encoded.
pub fn node(data: &[u8]) {
    if let Ok(msg) = NodeMessage::decode(data) {
        let again = encode_node(msg.key, msg.value, msg.trie, msg.seq, msg.flags);
        assert_eq!(
            NodeMessage::decode(&again),
            Ok(msg),
            "node changed in a round trip"
        );
    }
    let Ok(node) = Node::decode(data, 1) else {
        return;
    };
    let _ = (node.key(), node.value(), node.flags(), node.hidden());
    for i in 0..node.len().min(1024) {
        let _ = node.path(i);
        let bucket = node.bucket(i);
        for (slot, seq) in bucket.iter().enumerate().take(64) {
            assert_eq!(bucket.get(slot), seq, "bucket slot {slot} reads two ways");
        }
    }
}

/// Block 0 of a trie feed (hyperdrive's too): whatever decodes re-encodes to the same header.
pub fn header(data: &[u8]) {
    if let Ok(header) = Header::decode(data) {
        assert_eq!(
            Header::decode(&header.encode()),
            Ok(header),
            "header changed in a round trip"
        );
    }
}
