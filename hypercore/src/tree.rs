//! The merkle tree: node generation and the tree-index logic over the tree bits.

pub(crate) mod index;
pub(crate) mod merkle;
pub(crate) mod node_cache;
