//! The tree nodes a feed keeps decoded: a direct-mapped cache that grows with the feed.
//!
//! Appends insert every parent they make and reads insert what they load, so the cache sees one
//! insert per tree node; a table indexed by a hash of the node index needs no allocation per
//! insert, no rehash and no periodic clear. It starts small and doubles while it is at least
//! half occupied and the feed has more tree nodes than slots, up to 65,536 slots (3 MiB): a store
//! holding thousands of small feeds pays for what they hold, and so does a sparse replica of a
//! long feed that has read a handful of nodes (sizing the table by the feed's length made the
//! first block of every such feed fill 1.5 MiB of slots: ~0.8 ms on a first read).

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
    /// Slots holding a node.
    used: usize,
}

impl NodeCache {
    /// An empty cache; it allocates on the first insert.
    pub(crate) fn new() -> Self {
        NodeCache {
            slots: Vec::new(),
            used: 0,
        }
    }

    /// Keeps `node`, evicting whatever shared its slot.
    pub(crate) fn insert(&mut self, node: Node) {
        if self.slots.is_empty() {
            self.slots = vec![Node::new(EMPTY, [0; 32], 0); MIN_SLOTS];
        }
        let slot = slot(node.index, self.slots.len());
        if self.slots[slot].index == EMPTY {
            self.used += 1;
        }
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

    /// Doubles the table once it is half occupied, toward one slot per tree node of a feed of
    /// `length` blocks.
    pub(crate) fn fit(&mut self, length: u64) {
        let want = usize::try_from(length.saturating_mul(2))
            .unwrap_or(MAX_SLOTS)
            .clamp(MIN_SLOTS, MAX_SLOTS)
            .next_power_of_two();
        if self.slots.is_empty() || want <= self.slots.len() || self.used * 2 < self.slots.len() {
            return;
        }
        let grown = (self.slots.len() * 2).min(want);
        let old = std::mem::replace(&mut self.slots, vec![Node::new(EMPTY, [0; 32], 0); grown]);
        self.used = 0;
        for node in old.into_iter().filter(|n| n.index != EMPTY) {
            self.insert(node);
        }
    }

    /// Forgets every node.
    pub(crate) fn clear(&mut self) {
        for node in &mut self.slots {
            node.index = EMPTY;
        }
        self.used = 0;
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

    /// Inserts nodes `from..` until the table is half occupied.
    fn fill_half(cache: &mut NodeCache, from: u64) {
        let mut i = from;
        while cache.used * 2 < cache.slots.len() {
            cache.insert(Node::new(i, [1; 32], i));
            i += 1;
        }
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
        let mut len = MIN_SLOTS;
        while len < MAX_SLOTS {
            fill_half(&mut cache, 1_000_000 + len as u64);
            cache.insert(Node::new(5, [5; 32], 2));
            let used = cache.used;
            cache.fit(100_000);
            assert_eq!(cache.slots.len(), len * 2, "doubles once half occupied");
            assert_eq!(cache.used, used, "a bigger table keeps every node");
            assert_eq!(cache.get(5).map(|n| n.size), Some(2));
            len *= 2;
        }
        fill_half(&mut cache, 1 << 40);
        cache.fit(1 << 30);
        assert_eq!(cache.slots.len(), MAX_SLOTS, "never past the cap");
        cache.fit(10);
        assert_eq!(cache.slots.len(), MAX_SLOTS, "never shrinks");
    }

    #[test]
    fn a_long_feed_with_few_nodes_keeps_a_small_table() {
        // A sparse replica of a 10,000-block feed that has read one proof.
        let mut cache = NodeCache::new();
        for i in 0..20 {
            cache.fit(10_000);
            cache.insert(Node::new(i * 3, [2; 32], i));
        }
        assert_eq!(cache.slots.len(), MIN_SLOTS);
        assert_eq!(cache.get(57).map(|n| n.size), Some(19));
    }

    #[test]
    fn stops_at_what_the_feed_needs() {
        let mut cache = NodeCache::new();
        cache.insert(Node::new(0, [0; 32], 0));
        fill_half(&mut cache, 1);
        cache.fit(300);
        assert_eq!(
            cache.slots.len(),
            MIN_SLOTS,
            "300 blocks have 600 nodes: 1,024 slots do"
        );
        cache.fit(1_000);
        assert_eq!(cache.slots.len(), 2 * MIN_SLOTS);
        fill_half(&mut cache, 10_000);
        cache.fit(1_000);
        assert_eq!(
            cache.slots.len(),
            2 * MIN_SLOTS,
            "2,000 nodes need no more than 2,048"
        );
    }
}
