//! One merkle tree node and its 40-byte record in the `tree` file.

/// Size of one node record: 32-byte hash then `u64be` size (docs/formats.md §2.3).
pub const NODE_RECORD: usize = 40;

/// A merkle tree node: its flat-tree index, BLAKE2b hash and the byte size of the blocks under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// Flat-tree index (block `b` is node `2b`).
    pub index: u64,
    /// BLAKE2b-256 hash.
    pub hash: [u8; 32],
    /// Total payload bytes of the blocks under this node.
    pub size: u64,
}

impl Node {
    /// A node from its parts.
    pub fn new(index: u64, hash: [u8; 32], size: u64) -> Self {
        Node { index, hash, size }
    }

    /// The 40-byte record: hash, then size as `u64be`.
    pub fn to_record(&self) -> [u8; NODE_RECORD] {
        let mut out = [0u8; NODE_RECORD];
        out[..32].copy_from_slice(&self.hash);
        out[32..].copy_from_slice(&self.size.to_be_bytes()); // u64be
        out
    }

    /// Sum of the nodes' sizes; `None` when it overflows, which only a corrupt `tree` file or a
    /// hostile peer can make happen.
    pub(crate) fn total_size(nodes: &[Node]) -> Option<u64> {
        nodes
            .iter()
            .try_fold(0u64, |sum, n| sum.checked_add(n.size))
    }

    /// Decodes a record; `None` for the all-zero record that means "no node here".
    pub fn from_record(index: u64, record: &[u8]) -> Option<Self> {
        if record.len() < NODE_RECORD || record[..NODE_RECORD].iter().all(|b| *b == 0) {
            return None;
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&record[..32]);
        let mut size = [0u8; 8];
        size.copy_from_slice(&record[32..40]);
        Some(Node {
            index,
            hash,
            size: u64::from_be_bytes(size),
        }) // u64be
    }
}
