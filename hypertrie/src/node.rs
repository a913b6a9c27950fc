//! [`Node`]: one decoded trie block.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key::KeyPath;
use crate::message::NodeMessage;
use crate::trie_field::Trie;

/// Raw flag bit 0: the key lives in the hidden subtree.
pub(crate) const HIDDEN: u64 = 1;
/// User flags sit above the 8 internal bits.
const USER_SHIFT: u32 = 8;

/// One key/value entry of the trie, as stored in block [`Node::seq`].
///
/// Cloning is cheap (the node is shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Node(Arc<Inner>);

#[derive(PartialEq, Eq)]
struct Inner {
    path: KeyPath,
    value: Option<Vec<u8>>,
    raw_flags: u64,
    seq: u64,
    trie: Trie,
}

impl Node {
    pub(crate) fn new(
        path: KeyPath,
        value: Option<Vec<u8>>,
        raw_flags: u64,
        seq: u64,
        trie: Trie,
    ) -> Self {
        Node(Arc::new(Inner {
            path,
            value,
            raw_flags,
            seq,
            trie,
        }))
    }

    /// Decodes block `seq`. The stored `seq` field is ignored, as JS readers do.
    pub(crate) fn decode(buf: &[u8], seq: u64) -> Result<Self> {
        let corrupt = |reason| Error::CorruptNode { seq, reason };
        let msg = NodeMessage::decode(buf).map_err(corrupt)?;
        let trie = Trie::decode(&msg.trie).map_err(corrupt)?;
        let hidden = msg.flags & HIDDEN != 0;
        // Stored keys are normalised already; JS normalises again on decode.
        let key = match msg.key.strip_prefix('/') {
            Some(rest) => rest.to_owned(),
            None => msg.key,
        };
        Ok(Node::new(
            KeyPath::from_normalized(key, hidden),
            msg.value,
            msg.flags,
            seq,
            trie,
        ))
    }

    /// The normalised key (no leading `/`).
    pub fn key(&self) -> &str {
        self.0.path.key()
    }

    /// The value, or `None` for a node put with no value.
    pub fn value(&self) -> Option<&[u8]> {
        self.0.value.as_deref()
    }

    /// The block index holding this node.
    pub fn seq(&self) -> u64 {
        self.0.seq
    }

    /// The caller's flags (JS `node.flags`: the stored flags shifted right by 8).
    pub fn flags(&self) -> u64 {
        self.0.raw_flags >> USER_SHIFT
    }

    /// Whether the key lives in the hidden subtree.
    pub fn hidden(&self) -> bool {
        self.0.path.hidden()
    }

    /// The stored flags: bit 0 hidden, user flags from bit 8.
    pub fn raw_flags(&self) -> u64 {
        self.0.raw_flags
    }

    /// The 8-byte SipHash of each key segment, concatenated.
    pub fn key_hash(&self) -> &[u8] {
        self.0.path.hash()
    }

    /// Whether this is the key-`''` node a delete of the last key writes; JS reads it as "no
    /// node" and so does every walk here.
    pub(crate) fn is_reset(&self) -> bool {
        self.key().is_empty()
    }

    pub(crate) fn path_info(&self) -> &KeyPath {
        &self.0.path
    }

    pub(crate) fn len(&self) -> usize {
        self.0.path.len()
    }

    pub(crate) fn path(&self, i: usize) -> u8 {
        self.0.path.path(i)
    }

    pub(crate) fn bucket(&self, i: usize) -> &[u64] {
        self.0.trie.bucket(i)
    }

    pub(crate) fn collides(&self, other: &KeyPath, i: usize) -> bool {
        self.0.path.collides(other, i)
    }

    /// Approximate bytes held, for the cache's budget.
    pub(crate) fn heap_size(&self) -> usize {
        std::mem::size_of::<Inner>()
            + self.key().len()
            + self.key_hash().len() * 2
            + self.value().map_or(0, <[u8]>::len)
            + self.0.trie.heap_size()
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("seq", &self.seq())
            .field("key", &self.key())
            .field("value_len", &self.value().map(<[u8]>::len))
            .field("flags", &self.raw_flags())
            .finish()
    }
}
