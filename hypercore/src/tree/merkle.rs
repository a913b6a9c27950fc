//! The incremental merkle generator (merkle-tree-stream 4): turns appended blocks into the leaf
//! and parent nodes they create, keeping the current roots.

use blake2b_simd::State;
use blake2b_simd::many::{HashManyJob, hash_many, update_many};

use crate::crypto::{self, leaf_hash};
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
    /// (The reference [`Self::next_batch`] is tested against.)
    #[cfg(test)]
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
                crypto::parent_hash(&left, &right),
                left.size + right.size,
            );
            self.roots.truncate(n - 2);
            self.roots.push(parent);
            out.push(parent);
        }
    }

    /// Adds many blocks whose leaf hashes are known; pushes exactly the nodes, in the order,
    /// that calling [`Self::next_hashed`] for each would, but hashes the parents of each tree
    /// level together in SIMD lanes (about 3x faster than one parent after the other).
    pub(crate) fn next_batch(&mut self, leaves: &[([u8; 32], u64)], out: &mut Vec<Node>) {
        // First the shape: every node in creation order, parents with their children's slots.
        // Slots index `arena`: the current roots first, then the new nodes.
        let mut arena: Vec<Node> = std::mem::take(&mut self.roots);
        let first_new = arena.len();
        let mut stack: Vec<usize> = (0..first_new).collect();
        let mut by_depth: Vec<Vec<(usize, usize, usize)>> = Vec::new();
        for &(hash, size) in leaves {
            stack.push(arena.len());
            arena.push(Node::new(2 * self.blocks, hash, size));
            self.blocks += 1;
            while let [.., l, r] = stack[..] {
                let (left, right) = (arena[l], arena[r]);
                let parent = flat_tree::parent(left.index);
                if parent != flat_tree::parent(right.index) {
                    break;
                }
                let slot = arena.len();
                arena.push(Node::new(parent, [0; 32], left.size + right.size));
                let depth = flat_tree::depth(parent) as usize;
                if by_depth.len() < depth {
                    by_depth.resize_with(depth, Vec::new);
                }
                by_depth[depth - 1].push((slot, l, r));
                stack.truncate(stack.len() - 2);
                stack.push(slot);
            }
        }
        // Then the hashes, one level at a time: a level only needs the one below it.
        let params = crypto::hash_params();
        for level in &by_depth {
            let inputs: Vec<[u8; crypto::PARENT_INPUT_LEN]> = level
                .iter()
                .map(|&(_, l, r)| crypto::parent_input(&arena[l], &arena[r]))
                .collect();
            let mut jobs: Vec<HashManyJob<'_>> = inputs
                .iter()
                .map(|input| HashManyJob::new(&params, input))
                .collect();
            hash_many(jobs.iter_mut());
            for (&(slot, _, _), job) in level.iter().zip(&jobs) {
                arena[slot].hash = crypto::to_array32(job.to_hash().as_bytes());
            }
        }
        self.roots = stack.iter().map(|&slot| arena[slot]).collect();
        out.extend_from_slice(&arena[first_new..]);
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
    // Below this many bytes a second thread costs more than it saves: SIMD hashing runs at
    // ~2 GB/s, so 1 MB takes ~0.5 ms on one thread, and measured on this 2-core shared machine
    // a second thread did not make 1 MB batches any faster (spawn, and waiting for a core).
    const PARALLEL_BYTES: usize = 4 * 1024 * 1024;
    if total < PARALLEL_BYTES || blocks.len() < 2 {
        return leaf_hashes_serial(blocks);
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
        let right = scope.spawn(|| leaf_hashes_serial(b));
        let mut left = leaf_hashes_serial(a);
        match right.join() {
            Ok(r) => left.extend(r),
            // A panic in a pure hash loop cannot happen short of a bug; hash serially then.
            Err(_) => left.extend(leaf_hashes_serial(b)),
        }
        left
    })
}

/// Leaves hashed per SIMD pass: a few times the AVX2 degree (4), so lanes stay busy when sizes
/// differ, while the copied inputs stay in cache.
const GROUP: usize = 16;
/// Blocks up to this size are copied behind their prefix so the whole leaf runs in SIMD lanes;
/// for larger ones the copy costs more than the two blocks (prefix, tail) hashed one at a time.
const COPY_LIMIT: usize = 4096;

/// Leaf hashes on this thread, several blocks at once (`blake2b_simd::many`: four BLAKE2b
/// instances per AVX2 pass, 3-4x the throughput of hashing one input after the other).
fn leaf_hashes_serial<B: AsRef<[u8]>>(blocks: &[B]) -> Vec<[u8; 32]> {
    let mut out = Vec::with_capacity(blocks.len());
    if let [one] = blocks {
        out.push(leaf_hash(one.as_ref()));
        return out;
    }
    let params = crypto::hash_params();
    let mut scratch = Vec::new();
    for group in blocks.chunks(GROUP) {
        if group.iter().all(|b| b.as_ref().len() <= COPY_LIMIT) {
            scratch.clear();
            let mut ends = [0usize; GROUP];
            for (end, block) in ends.iter_mut().zip(group) {
                let block = block.as_ref();
                scratch.extend_from_slice(&crypto::leaf_prefix(block.len()));
                scratch.extend_from_slice(block);
                *end = scratch.len();
            }
            let mut start = 0;
            let mut jobs: Vec<HashManyJob<'_>> = ends[..group.len()]
                .iter()
                .map(|&end| {
                    let job = HashManyJob::new(&params, &scratch[start..end]);
                    start = end;
                    job
                })
                .collect();
            hash_many(jobs.iter_mut());
            out.extend(
                jobs.iter()
                    .map(|j| crypto::to_array32(j.to_hash().as_bytes())),
            );
        } else {
            let mut states: Vec<State> = group
                .iter()
                .map(|b| crypto::leaf_state(b.as_ref().len()))
                .collect();
            update_many(states.iter_mut().zip(group));
            out.extend(
                states
                    .iter_mut()
                    .map(|s| crypto::to_array32(s.finalize().as_bytes())),
            );
        }
    }
    out
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

    /// The batched generator yields the same nodes, in the same order, and the same roots as
    /// one block at a time, from empty and from every kind of existing tree.
    #[test]
    fn batch_matches_one_at_a_time() {
        for before in [0u64, 1, 2, 3, 5, 8, 13, 1000] {
            for batch in [0u64, 1, 2, 3, 7, 16, 1000, 1027] {
                let mut one = MerkleGenerator::default();
                let mut sink = Vec::new();
                for i in 0..before {
                    one.next(&i.to_be_bytes(), &mut sink);
                }
                let mut many = MerkleGenerator::new(one.roots().to_vec());
                let leaves: Vec<([u8; 32], u64)> = (before..before + batch)
                    .map(|i| {
                        let data = vec![i as u8; (i % 300) as usize];
                        (leaf_hash(&data), data.len() as u64)
                    })
                    .collect();
                let mut expected = Vec::new();
                for &(hash, size) in &leaves {
                    one.next_hashed(hash, size, &mut expected);
                }
                let mut got = Vec::new();
                many.next_batch(&leaves, &mut got);
                assert_eq!(got, expected, "before {before} batch {batch}");
                assert_eq!(many.roots(), one.roots(), "before {before} batch {batch}");
                assert_eq!(many.blocks, one.blocks);
            }
        }
    }

    #[test]
    fn parallel_hashes_match_serial() {
        // Over PARALLEL_BYTES in all, with sizes that make the byte midpoint fall mid-list.
        let blocks: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 40_000 + 97 * i]).collect();
        let serial: Vec<_> = blocks.iter().map(|b| leaf_hash(b)).collect();
        assert_eq!(leaf_hashes(&blocks), serial);
    }

    /// Every path of the SIMD hashing (copied small blocks, in-place large ones, mixed groups,
    /// group remainders, empty blocks, two threads) gives what one `leaf_hash` at a time gives.
    #[test]
    fn simd_leaf_hashes_match_one_at_a_time() {
        let seed = 0x5eed_u64;
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let sizes: [&[usize]; 7] = [
            &[],
            &[0],
            &[0, 1, 127, 128, 129, 1024, 4096, 4097, 9],
            &[65536, 3, 70000, 0, 4096, 1],
            &[1024; 37],
            &[128 * 1024; 5],
            &[1024 * 1024 + 3, 1, 2 * 1024 * 1024, 5, 1024 * 1024],
        ];
        for sizes in sizes {
            let blocks: Vec<Vec<u8>> = sizes
                .iter()
                .map(|&n| (0..n).map(|_| next() as u8).collect())
                .collect();
            let one_by_one: Vec<_> = blocks.iter().map(|b| leaf_hash(b)).collect();
            assert_eq!(
                leaf_hashes(&blocks),
                one_by_one,
                "sizes {sizes:?} seed {seed}"
            );
            assert_eq!(leaf_hashes_serial(&blocks), one_by_one, "sizes {sizes:?}");
        }
    }
}
