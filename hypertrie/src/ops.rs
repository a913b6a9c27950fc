//! One step machine per trie operation, as hypertrie has one file per operation.

pub(crate) mod batch;
pub(crate) mod del;
pub(crate) mod diff;
pub(crate) mod get;
pub(crate) mod history;
pub(crate) mod iterator;
pub(crate) mod put;

use crate::node::Node;

/// Where an operation starts: a head to load, or one already in hand (inside a batch).
#[derive(Clone, Debug)]
pub(crate) enum Head {
    /// Load this seq; 0 means the trie is empty.
    Seq(u64),
    /// Use this node.
    Node(Option<Node>),
}

impl Head {
    /// The head seq of a trie read at `version` (JS `headSeq`): none below 2 blocks.
    pub(crate) fn at_version(version: u64) -> Self {
        Head::Seq(head_seq(version))
    }
}

/// Seq of the head at `version`: 0 (none) while only the header is there.
pub(crate) fn head_seq(version: u64) -> u64 {
    if version < 2 { 0 } else { version - 1 }
}
