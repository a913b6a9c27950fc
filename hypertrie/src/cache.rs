//! A bounded cache of decoded nodes, so hot paths (the head, the top of the trie) are not
//! re-read and re-decoded on every operation.
//!
//! Seqs are dense block indices, so nodes sit in pages of slots indexed by seq rather than in a
//! hash map. Eviction is CLOCK: a hand sweeps the slots in seq order, clearing the "used" bit of
//! each node it passes and evicting the first one whose bit is already clear. Nodes touched
//! since the hand last came by survive, one node leaves per node that comes in, and memory
//! stays under the budget (plus the slots of pages in use) with O(1) work per access on
//! average.

use crate::node::Node;

/// Default byte budget: 32 MiB of decoded nodes.
pub(crate) const DEFAULT_CACHE_BYTES: usize = 32 << 20;

/// Small pages, so a large trie read here and there does not pay for a big page per node;
/// 64 slots is also one word of "used" bits.
const PAGE_BITS: u32 = 6;
const PAGE: usize = 1 << PAGE_BITS;
/// What a page costs beyond its nodes, charged to the budget.
const PAGE_BYTES: usize = std::mem::size_of::<Page>() + 16;

#[derive(Debug)]
struct Page {
    slots: [Option<Node>; PAGE],
    /// One bit per slot: touched since the hand last passed.
    used: u64,
    held: usize,
}

impl Page {
    fn new() -> Self {
        Page {
            slots: std::array::from_fn(|_| None),
            used: 0,
            held: 0,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct NodeCache {
    pages: Vec<Option<Box<Page>>>,
    /// Bytes charged: held nodes and live pages.
    bytes: usize,
    budget: usize,
    /// The next seq the clock hand looks at.
    hand: u64,
}

fn split(seq: u64) -> Option<(usize, usize)> {
    let page = usize::try_from(seq >> PAGE_BITS).ok()?;
    Some((page, (seq as usize) & (PAGE - 1)))
}

impl NodeCache {
    pub(crate) fn new(budget: usize) -> Self {
        NodeCache {
            budget,
            ..Default::default()
        }
    }

    pub(crate) fn get(&mut self, seq: u64) -> Option<Node> {
        let (p, s) = split(seq)?;
        let page = self.pages.get_mut(p)?.as_mut()?;
        let node = page.slots[s].as_ref()?;
        page.used |= 1 << s;
        Some(node.clone())
    }

    pub(crate) fn insert(&mut self, node: Node) {
        let size = node.heap_size();
        let Some((p, s)) = split(node.seq()) else {
            return;
        };
        if size + PAGE_BYTES > self.budget {
            return;
        }
        let new_page = self.pages.get(p).is_none_or(Option::is_none);
        let need = size + if new_page { PAGE_BYTES } else { 0 };
        if let Some(Some(page)) = self.pages.get_mut(p)
            && let Some(prev) = page.slots[s].take()
        {
            page.held -= 1;
            self.bytes -= prev.heap_size();
        }
        while self.bytes + need > self.budget {
            if !self.evict(p) {
                break;
            }
        }
        if self.bytes + need > self.budget {
            return;
        }
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        let page = self.pages[p].get_or_insert_with(|| {
            self.bytes += PAGE_BYTES;
            Box::new(Page::new())
        });
        page.slots[s] = Some(node);
        page.used |= 1 << s;
        page.held += 1;
        self.bytes += size;
    }

    /// Evicts one node (never from page `keep`'s slot being filled, which is empty); `false`
    /// when nothing is left to evict.
    fn evict(&mut self, keep: usize) -> bool {
        if self.bytes == 0 || self.pages.is_empty() {
            return false;
        }
        // Two full sweeps clear every used bit and find a node, if any is held.
        let mut budget = 2 * self.pages.len() * PAGE + 1;
        loop {
            let Some((p, s)) = split(self.hand) else {
                self.hand = 0;
                continue;
            };
            if p >= self.pages.len() {
                self.hand = 0;
                continue;
            }
            let Some(page) = self.pages[p].as_mut().filter(|pg| pg.held > 0) else {
                // An empty page (only `keep`'s, about to be filled, stays allocated).
                if self.pages[p].is_some() && p != keep {
                    self.pages[p] = None;
                    self.bytes -= PAGE_BYTES;
                    return true;
                }
                self.hand = ((p + 1) << PAGE_BITS) as u64;
                budget = budget.saturating_sub(PAGE - s);
                if budget == 0 {
                    return false;
                }
                continue;
            };
            self.hand += 1;
            budget -= 1;
            if budget == 0 {
                return false;
            }
            let bit = 1 << s;
            if page.slots[s].is_none() {
                continue;
            }
            if page.used & bit != 0 {
                page.used &= !bit;
                continue;
            }
            if let Some(old) = page.slots[s].take() {
                page.held -= 1;
                self.bytes -= old.heap_size();
                if page.held == 0 && p != keep {
                    self.pages[p] = None;
                    self.bytes -= PAGE_BYTES;
                }
            }
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(seq: u64, value_len: usize) -> Node {
        Node::build("k", None, Some(&vec![0; value_len]), &[], 0, seq).unwrap()
    }

    fn held(c: &NodeCache) -> usize {
        c.pages
            .iter()
            .flatten()
            .map(|p| PAGE_BYTES + p.slots.iter().flatten().map(Node::heap_size).sum::<usize>())
            .sum()
    }

    #[test]
    fn stays_within_budget() {
        let mut c = NodeCache::new(256 << 10);
        for seq in 0..10_000 {
            c.insert(node(seq, 100));
            assert_eq!(held(&c), c.bytes);
            assert!(c.bytes <= 256 << 10, "cache holds {} bytes", c.bytes);
        }
        assert!(c.get(9_999).is_some(), "the newest node is kept");
        assert!(c.get(0).is_none(), "the oldest is gone");
        // Pages far apart: each costs its slots, and an emptied page is freed.
        for seq in (0..200).map(|k| k * PAGE as u64 * 3) {
            c.insert(node(seq, 100));
            assert_eq!(held(&c), c.bytes);
            assert!(c.bytes <= 256 << 10);
        }
        assert!(c.get(199 * PAGE as u64 * 3).is_some());
    }

    #[test]
    fn used_nodes_survive_the_hand() {
        let mut c = NodeCache::new(PAGE_BYTES + 40 * node(0, 100).heap_size());
        for seq in 0..40 {
            c.insert(node(seq, 100));
        }
        for round in 0..20 {
            assert!(c.get(7).is_some(), "round {round}: the hot node stays");
            c.insert(node(40 + round, 100));
        }
        let cold = (0..40).filter(|&s| c.get(s).is_none()).count();
        assert_eq!(cold, 20, "one cold node leaves per node that comes in");
        assert!((40..60).all(|s| c.get(s).is_some()));
    }

    #[test]
    fn replacing_a_node_keeps_the_count() {
        let mut c = NodeCache::new(1 << 20);
        c.insert(node(3, 10));
        let before = c.bytes;
        c.insert(node(3, 10));
        assert_eq!(c.bytes, before);
        assert!(c.get(3).is_some());
        let mut tiny = NodeCache::new(16);
        tiny.insert(node(1, 10));
        assert!(tiny.get(1).is_none(), "a node over the budget is not kept");
    }
}
