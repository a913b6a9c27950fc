//! The tree nodes a feed keeps decoded: a direct-mapped cache that grows with the feed.
//!
//! Appends insert every parent they make and reads insert what they load, so the cache sees one
//! insert per tree node; a table indexed by a hash of the node index needs no allocation per
//! insert, no rehash and no periodic clear. It starts small and doubles as the feed grows, up
//! to 65,536 slots (3 MiB): a store holding thousands of small feeds pays for what they hold.

use crate::node::Node;

/// Slots of a feed's first table (x 48 bytes: 48 KiB).
const MIN_SLOTS: usize = 1 << 10;
/// Most slots one feed may use (x 48 bytes: 3 MiB).
const MAX_SLOTS: usize = 1 << 16;
/// The index of an empty slot: no tree node has it (indexes stay below 2^63).
const EMPTY: u64 = u64::MAX;

/// Tree nodes by flat index; a newer node evicts the one sharing its slot.
#[derive(Debug, Default)]
pub(crate) struct NodeCache {
    slots: Vec<Node>,
}

impl NodeCache {
    /// An empty cache; it allocates on the first insert.
    pub(crate) fn new() -> Self {
        NodeCache { slots: Vec::new() }
    }

    /// Keeps `node`, evicting whatever shared its slot.
    pub(crate) fn insert(&mut self, node: Node) {
        if self.slots.is_empty() {
            self.slots = vec![Node::new(EMPTY, [0; 32], 0); MIN_SLOTS];
        }
        let slot = slot(node.index, self.slots.len());
        self.slots[slot] = node;
    }

    /// The node with flat index `index`, if cached.
    pub(crate) fn get(&self, index: u64) -> Option<&Node> {
        if self.slots.is_empty() {
            return None;
        }
        let node = &self.slots[slot(index, self.slots.len())];
        // `EMPTY` itself is never cached, however an out-of-range lookup asks for it.
        (node.index == index && index != EMPTY).then_some(node)
    }

    /// Grows the table toward one slot per tree node of a feed of `length` blocks.
    pub(crate) fn fit(&mut self, length: u64) {
        let want = usize::try_from(length.saturating_mul(2))
            .unwrap_or(MAX_SLOTS)
            .clamp(MIN_SLOTS, MAX_SLOTS)
            .next_power_of_two();
        if self.slots.is_empty() || want <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Node::new(EMPTY, [0; 32], 0); want]);
        for node in old.into_iter().filter(|n| n.index != EMPTY) {
            self.insert(node);
        }
    }

    /// Forgets every node.
    pub(crate) fn clear(&mut self) {
        for node in &mut self.slots {
            node.index = EMPTY;
        }
    }
}

/// Multiplicative (Fibonacci) hashing: the top bits of `index * 2^64/phi`. Plain `index % slots`
/// would make the high tree nodes every read needs (2^k - 1 for every k) share slots.
fn slot(index: u64, slots: usize) -> usize {
    (index.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - slots.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_and_evicts() {
        let mut cache = NodeCache::new();
        assert!(cache.get(0).is_none());
        assert!(cache.get(EMPTY).is_none());
        cache.insert(Node::new(7, [7; 32], 4));
        assert_eq!(cache.get(7).map(|n| n.size), Some(4));
        assert!(cache.get(8).is_none());
        // Two indexes in one slot: the later one wins, the earlier is a miss, never a wrong node.
        let a = 3u64;
        let b = (1..)
            .map(|k| a + k)
            .find(|&i| slot(i, MIN_SLOTS) == slot(a, MIN_SLOTS))
            .unwrap();
        cache.insert(Node::new(a, [1; 32], 1));
        cache.insert(Node::new(b, [2; 32], 2));
        assert!(cache.get(a).is_none());
        assert_eq!(cache.get(b).map(|n| n.hash), Some([2; 32]));
        cache.clear();
        assert!(cache.get(b).is_none());
    }

    #[test]
    fn grows_with_the_feed_and_keeps_nodes() {
        let mut cache = NodeCache::new();
        cache.fit(1 << 20);
        assert!(
            cache.slots.is_empty(),
            "nothing is allocated before the first insert"
        );
        cache.insert(Node::new(5, [5; 32], 2));
        assert_eq!(cache.slots.len(), MIN_SLOTS);
        cache.fit(100_000);
        assert_eq!(cache.slots.len(), MAX_SLOTS);
        assert_eq!(cache.get(5).map(|n| n.size), Some(2));
        cache.fit(10);
        assert_eq!(cache.slots.len(), MAX_SLOTS, "never shrinks");
    }
}
