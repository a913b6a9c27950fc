//! A bounded cache of decoded nodes, so hot paths (the head, the top of the trie) are not
//! re-read and re-hashed on every operation.
//!
//! Two generations: lookups hit the young map, or promote from the old one; when the young map
//! has used half the byte budget it becomes the old one and the previous old one is dropped.
//! Memory stays under the budget (plus one node) with O(1) work per access.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::node::Node;

/// Default byte budget: 32 MiB of decoded nodes.
pub(crate) const DEFAULT_CACHE_BYTES: usize = 32 << 20;

/// Seqs are trusted small integers: a multiply spreads them well enough, and SipHash (the
/// std default) showed up as a tenth of all put time.
#[derive(Default)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type SeqMap = HashMap<u64, Node, BuildHasherDefault<SeqHasher>>;

#[derive(Debug, Default)]
pub(crate) struct NodeCache {
    young: SeqMap,
    old: SeqMap,
    young_bytes: usize,
    budget: usize,
}

impl NodeCache {
    pub(crate) fn new(budget: usize) -> Self {
        NodeCache {
            budget,
            ..Default::default()
        }
    }

    pub(crate) fn get(&mut self, seq: u64) -> Option<Node> {
        if let Some(n) = self.young.get(&seq) {
            return Some(n.clone());
        }
        let n = self.old.remove(&seq)?;
        self.insert(n.clone());
        Some(n)
    }

    pub(crate) fn insert(&mut self, node: Node) {
        let size = node.heap_size() + 32;
        if size > self.budget / 2 {
            return;
        }
        if self.young_bytes + size > self.budget / 2 {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += size;
        if let Some(prev) = self.young.insert(node.seq(), node) {
            self.young_bytes -= prev.heap_size() + 32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyPath;
    use crate::trie_field::Trie;

    fn node(seq: u64, value_len: usize) -> Node {
        Node::new(
            KeyPath::new("k", false),
            Some(vec![0; value_len]),
            0,
            seq,
            Trie::default(),
        )
    }

    #[test]
    fn stays_within_budget() {
        let mut c = NodeCache::new(64 << 10);
        for seq in 0..10_000 {
            c.insert(node(seq, 100));
        }
        let held: usize = c
            .young
            .values()
            .chain(c.old.values())
            .map(|n| n.heap_size() + 32)
            .sum();
        assert!(held <= 64 << 10, "cache holds {held} bytes");
        assert!(c.get(9_999).is_some(), "the newest node is kept");
        assert!(c.get(0).is_none(), "the oldest is gone");
    }

    #[test]
    fn promotes_old_hits() {
        let mut c = NodeCache::new(4 << 10);
        c.insert(node(1, 10));
        for seq in 2..12 {
            c.insert(node(seq, 100));
        }
        assert!(c.old.contains_key(&1) || c.young.contains_key(&1));
        assert!(c.get(1).is_some());
        assert!(c.young.contains_key(&1));
    }
}
