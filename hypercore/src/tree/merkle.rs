//! The incremental merkle generator (merkle-tree-stream 4): turns appended blocks into the leaf
//! and parent nodes they create, keeping the current roots.

use crate::crypto::{leaf_hash, parent_hash};
use crate::flat_tree;
use crate::node::Node;

/// Roots of the tree so far; appending a block yields the new leaf and every parent it completes.
#[derive(Clone, Debug, Default)]
pub(crate) struct MerkleGenerator {
    roots: Vec<Node>,
    blocks: u64,
}

impl MerkleGenerator {
    /// Starts from the roots of an existing tree (ascending index order, `fullRoots`).
    pub(crate) fn new(roots: Vec<Node>) -> Self {
        let blocks = roots
            .last()
            .map_or(0, |r| flat_tree::right_span(r.index) / 2 + 1);
        MerkleGenerator { roots, blocks }
    }

    /// The current roots, ascending.
    pub(crate) fn roots(&self) -> &[Node] {
        &self.roots
    }

    /// Adds one block whose leaf hash is already known; pushes the leaf then the new parents.
    pub(crate) fn next_hashed(&mut self, hash: [u8; 32], size: u64, out: &mut Vec<Node>) {
        let leaf = Node::new(2 * self.blocks, hash, size);
        self.blocks += 1;
        self.roots.push(leaf);
        out.push(leaf);
        while self.roots.len() > 1 {
            let n = self.roots.len();
            let (left, right) = (self.roots[n - 2], self.roots[n - 1]);
            if flat_tree::parent(left.index) != flat_tree::parent(right.index) {
                break;
            }
            let parent = Node::new(
                flat_tree::parent(left.index),
                parent_hash(&left, &right),
                left.size + right.size,
            );
            self.roots.truncate(n - 2);
            self.roots.push(parent);
            out.push(parent);
        }
    }

    /// Adds one block; pushes the leaf then the new parents into `out`.
    #[cfg(test)]
    pub(crate) fn next(&mut self, data: &[u8], out: &mut Vec<Node>) {
        self.next_hashed(leaf_hash(data), data.len() as u64, out)
    }
}

/// Hashes many blocks' leaves; large batches are split across two threads.
pub(crate) fn leaf_hashes<B: AsRef<[u8]> + Sync>(blocks: &[B]) -> Vec<[u8; 32]> {
    let total: usize = blocks.iter().map(|b| b.as_ref().len()).sum();
    // Below this many bytes a second thread costs more than it saves.
    const PARALLEL_BYTES: usize = 256 * 1024;
    if total < PARALLEL_BYTES || blocks.len() < 2 {
        return blocks.iter().map(|b| leaf_hash(b.as_ref())).collect();
    }
    // Split at the byte midpoint so both halves hash about the same amount.
    let mut acc = 0usize;
    let mid = blocks
        .iter()
        .position(|b| {
            acc += b.as_ref().len();
            acc * 2 >= total
        })
        .map_or(blocks.len() / 2, |i| (i + 1).min(blocks.len() - 1).max(1));
    let (a, b) = blocks.split_at(mid);
    std::thread::scope(|scope| {
        let right = scope.spawn(|| b.iter().map(|x| leaf_hash(x.as_ref())).collect::<Vec<_>>());
        let mut left: Vec<[u8; 32]> = a.iter().map(|x| leaf_hash(x.as_ref())).collect();
        match right.join() {
            Ok(r) => left.extend(r),
            // A panic in a pure hash loop cannot happen short of a bug; hash serially then.
            Err(_) => left.extend(b.iter().map(|x| leaf_hash(x.as_ref()))),
        }
        left
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_blocks_make_the_vector_roots() {
        let mut m = MerkleGenerator::default();
        let mut out = Vec::new();
        for b in ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "hello world"] {
            m.next(b.as_bytes(), &mut out);
        }
        let idx: Vec<u64> = m.roots().iter().map(|r| r.index).collect();
        assert_eq!(idx, vec![3, 9, 12]);
        let sizes: Vec<u64> = m.roots().iter().map(|r| r.size).collect();
        assert_eq!(sizes, vec![10, 11, 11]);
        assert_eq!(out.len(), 7 + 4);
        let resumed = MerkleGenerator::new(m.roots().to_vec());
        assert_eq!(resumed.blocks, 7);
    }

    #[test]
    fn parallel_hashes_match_serial() {
        let blocks: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 4096 + i]).collect();
        let serial: Vec<_> = blocks.iter().map(|b| leaf_hash(b)).collect();
        assert_eq!(leaf_hashes(&blocks), serial);
    }
}
