//! What one peer sends another so a block (or a tree node) can be verified against the writer's
//! signature before it is stored (docs/wire.md §3: the `Data` message).

use crate::crypto::Signature;
use crate::node::Node;

/// The nodes and signature that prove block `index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The block the proof is for.
    pub index: u64,
    /// Sibling and root nodes, in the order the prover emits them.
    pub nodes: Vec<Node>,
    /// The signature of the tree the nodes lead to, when the receiver needs it.
    pub signature: Option<Signature>,
}

/// What the receiver already holds, so the prover can leave it out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProofRequest {
    /// The receiver's digest of the nodes it holds around the block (`Request.nodes` on the wire);
    /// 0 when it holds nothing.
    pub digest: u64,
    /// Also send the block's own leaf node (a hash-only request).
    pub hash: bool,
}
