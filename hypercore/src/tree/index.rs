//! Tree-index logic (hypercore 9 `lib/tree-index.js`) over any set of present node bits:
//! the local tree bits of the bitfield, or the nodes a remote peer says it holds.

use std::collections::HashSet;

use crate::bitfield::Bitfield;
use crate::flat_tree;

/// A set of present tree nodes.
pub(crate) trait Bits {
    fn get(&self, i: u64) -> bool;
    /// Sets or clears bit `i`; returns whether it changed.
    fn put(&mut self, i: u64, value: bool) -> bool;
    /// Length in bits as `sparse-bitfield` reports it (bounds the scans of `blocks`/`digest`).
    fn bit_len(&self) -> u64;

    /// Marks `i` present and every parent whose both children are now present (`TreeIndex.set`).
    fn set_node(&mut self, mut i: u64) -> bool {
        if !self.put(i, true) {
            return false;
        }
        while self.get(flat_tree::sibling(i)) {
            i = flat_tree::parent(i);
            if !self.put(i, true) {
                break;
            }
        }
        true
    }
}

impl Bits for Bitfield {
    fn get(&self, i: u64) -> bool {
        self.tree_get(i)
    }
    fn put(&mut self, i: u64, value: bool) -> bool {
        self.tree_set(i, value)
    }
    fn bit_len(&self) -> u64 {
        self.tree_len()
    }
}

/// Node bits kept in a hash set, for the remote side's tree while building a proof.
#[derive(Debug, Default)]
pub(crate) struct SparseBits {
    set: HashSet<u64>,
    max: u64,
}

impl Bits for SparseBits {
    fn get(&self, i: u64) -> bool {
        self.set.contains(&i)
    }
    fn put(&mut self, i: u64, value: bool) -> bool {
        if value {
            self.max = self.max.max(i + 1);
            self.set.insert(i)
        } else {
            self.set.remove(&i)
        }
    }
    fn bit_len(&self) -> u64 {
        self.max
    }
}

/// Number of contiguous blocks the tree bits describe (`TreeIndex.blocks`), used on open.
pub(crate) fn blocks(bits: &impl Bits) -> u64 {
    let mut top = 0u64;
    let mut next = 0u64;
    let max = bits.bit_len();
    while flat_tree::right_span(next) < max {
        next = flat_tree::parent(next);
        if bits.get(next) {
            top = next;
        }
    }
    if bits.get(top) {
        verified_by(bits, top, None) / 2
    } else {
        0
    }
}

/// The tree width (`2 * length`) whose roots can verify `index` (`TreeIndex.verifiedBy`).
pub(crate) fn verified_by(bits: &impl Bits, index: u64, mut nodes: Option<&mut Vec<u64>>) -> u64 {
    if !bits.get(index) {
        return 0;
    }
    // Climb to the root of the complete subtree holding `index`.
    let mut depth = flat_tree::depth(index);
    let mut top = index;
    let mut parent = flat_tree::parent(top);
    depth += 1;
    while bits.get(parent) && bits.get(flat_tree::sibling(top)) {
        top = parent;
        parent = flat_tree::parent(top);
        depth += 1;
    }
    // Then walk down the right edge of what is present.
    depth -= 1;
    while depth > 0 {
        let right = flat_tree::index(depth, flat_tree::offset(top) + 1);
        // depth > 0, so `right` is a parent and has a left child.
        top = flat_tree::left_child(right).unwrap_or(right);
        depth -= 1;
        while !bits.get(top) && depth > 0 {
            top = flat_tree::left_child(top).unwrap_or(top);
            depth -= 1;
        }
        if let Some(nodes) = nodes.as_deref_mut()
            && bits.get(top)
        {
            nodes.push(top);
        }
    }
    if bits.get(top) { top + 2 } else { top }
}

/// Which nodes a proof for node `index` carries, and the width whose signature it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProofPlan {
    pub(crate) nodes: Vec<u64>,
    /// `2 * length` of the signed tree the proof verifies against; 0 when no signature is needed.
    pub(crate) verified_by: u64,
}

/// Plans a proof for node `index` given the remote's digest (`TreeIndex.proof`).
pub(crate) fn proof(bits: &impl Bits, index: u64, digest: u64, hash: bool) -> Option<ProofPlan> {
    let mut nodes = Vec::new();
    let mut remote = SparseBits::default();
    if !bits.get(index) {
        return None;
    }
    if hash {
        nodes.push(index);
    }
    if digest == 1 {
        return Some(ProofPlan {
            nodes,
            verified_by: 0,
        });
    }

    let mut next = index;
    let has_root = digest & 1 == 1;
    let mut digest = digest >> 1;
    while digest != 0 {
        if digest == 1 && has_root {
            if bits.get(next) {
                remote.set_node(next);
            }
            // Having a root implies having the roots before it.
            if flat_tree::sibling(next) < next {
                next = flat_tree::sibling(next);
            }
            for root in flat_tree::full_roots(flat_tree::right_span(next) + 2) {
                if bits.get(root) {
                    remote.set_node(root);
                }
            }
            break;
        }
        let sibling = flat_tree::sibling(next);
        if digest & 1 == 1 && bits.get(sibling) {
            remote.set_node(sibling);
        }
        next = flat_tree::parent(next);
        digest >>= 1;
    }

    next = index;
    while !remote.get(next) {
        let sibling = flat_tree::sibling(next);
        if !bits.get(sibling) {
            // `next` is a local root: the proof ends in the roots of the signed tree.
            let verified_by = verified_by(bits, next, None);
            for root in flat_tree::full_roots(verified_by) {
                if root != next && !remote.get(root) {
                    nodes.push(root);
                }
            }
            return Some(ProofPlan { nodes, verified_by });
        } else if !remote.get(sibling) {
            nodes.push(sibling);
        }
        next = flat_tree::parent(next);
    }
    Some(ProofPlan {
        nodes,
        verified_by: 0,
    })
}

/// The compact description of which nodes we hold around `index` (`TreeIndex.digest`), sent in
/// requests so the remote leaves those nodes out of its proof (docs/wire.md §3).
pub(crate) fn digest(bits: &impl Bits, index: u64) -> u64 {
    if bits.get(index) {
        return 1;
    }
    let mut digest = 0u64;
    let mut next = flat_tree::sibling(index);
    let max = (next + 2).max(bits.bit_len());
    let mut bit = 2u64;
    let mut parent = flat_tree::parent(next);
    while flat_tree::right_span(next) < max || flat_tree::left_span(parent) > 0 {
        if bits.get(next) {
            digest += bit;
        }
        if bits.get(parent) {
            digest += 2 * bit;
            if digest & 1 == 0 {
                digest += 1;
            }
            if digest + 1 == 4 * bit {
                return 1;
            }
            return digest;
        }
        next = flat_tree::sibling(parent);
        parent = flat_tree::parent(next);
        bit = match bit.checked_mul(2) {
            Some(b) => b,
            None => return digest,
        };
    }
    digest
}

/// Clears the tree bits beyond width `len` and the stale parents of its new roots.
pub(crate) fn truncate(bits: &mut impl Bits, len: u64) {
    let current = 2 * blocks(bits);
    for i in len..current {
        bits.put(i, false);
    }
    for root in flat_tree::full_roots(len) {
        let mut p = flat_tree::parent(root);
        while p < len {
            bits.put(p, false);
            p = flat_tree::parent(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(len: u64) -> SparseBits {
        let mut t = SparseBits::default();
        for b in 0..len {
            t.set_node(2 * b);
        }
        t
    }

    #[test]
    fn blocks_counts_appended() {
        for len in [0u64, 1, 2, 3, 7, 8, 20, 300] {
            assert_eq!(blocks(&tree_of(len)), len, "len {len}");
        }
    }

    #[test]
    fn proof_without_digest_carries_path_and_roots() {
        let t = tree_of(4); // root 3
        let p = proof(&t, 0, 0, false).expect("present");
        assert_eq!(p.nodes, vec![2, 5]);
        assert_eq!(p.verified_by, 8);
        let t = tree_of(3); // roots 1, 4
        let p = proof(&t, 4, 0, false).expect("present");
        assert_eq!(p.nodes, vec![1]);
        assert_eq!(p.verified_by, 6);
    }

    #[test]
    fn digest_of_present_node_is_one() {
        let t = tree_of(4);
        assert_eq!(digest(&t, 2), 1);
        assert_eq!(
            proof(&t, 2, 1, false).expect("present").nodes,
            Vec::<u64>::new()
        );
    }
}
