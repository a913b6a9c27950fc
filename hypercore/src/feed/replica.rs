//! The two halves of replication a feed does itself: proving a block to a peer, and verifying
//! and storing a block a peer proved to us (hypercore 9 `proof`, `_putBuffer`, `_verifyAndWrite`,
//! `_verifyRootsAndWrite`).

use super::{Feed, MAX_BLOCK_SIZE, signature_offset};
use crate::crypto::{self, Signature};
use crate::error::{Error, Result};
use crate::flat_tree;
use crate::node::Node;
use crate::proof::{Proof, ProofRequest};
use crate::storage::{Storage, Store};
use crate::tree::index::{self, Bits};

/// Indices past this cannot come from a real feed (JS numbers stop at 2^53); refusing them keeps
/// every offset computation in range.
const MAX_NODE_INDEX: u64 = 1 << 53;

impl<S: Storage> Feed<S> {
    /// The digest of the tree nodes we hold around block `index`, for a request to a peer.
    pub fn digest(&self, index: u64) -> u64 {
        if index >= MAX_NODE_INDEX / 2 {
            return 0;
        }
        index::digest(&self.bitfield, 2 * index)
    }

    /// Builds the proof for block `index` for a peer that holds what `request` says.
    pub fn proof(&mut self, index: u64, request: ProofRequest) -> Result<Proof> {
        // A peer may ask for any index; past this one it cannot be ours.
        if index >= MAX_NODE_INDEX / 2 {
            return Err(Error::NotStored(index));
        }
        let plan = index::proof(&self.bitfield, 2 * index, request.digest, request.hash)
            .ok_or(Error::NotStored(index))?;
        let nodes = plan
            .nodes
            .iter()
            .map(|&i| self.node(i))
            .collect::<Result<Vec<_>>>()?;
        let signature = if self.live && plan.verified_by > 0 {
            let slot = plan.verified_by / 2 - 1;
            Some(
                self.read_signature(slot)?
                    .ok_or(Error::NoSignature(slot + 1))?,
            )
        } else {
            None
        };
        Ok(Proof {
            index,
            nodes,
            signature,
        })
    }

    /// Verifies a block (or, with `data == None`, a hash-only proof) from a peer against the
    /// writer's signature and our trusted nodes, then stores it. Nothing is written unless the
    /// proof checks out.
    pub fn put(&mut self, index: u64, data: Option<&[u8]>, proof: &Proof) -> Result<()> {
        if index >= MAX_NODE_INDEX / 2 || proof.nodes.iter().any(|n| n.index >= MAX_NODE_INDEX) {
            return Err(Error::BadProof("node index out of range"));
        }
        if let Some(d) = data
            && d.len() as u64 > MAX_BLOCK_SIZE
        {
            return Err(Error::BlockTooLarge {
                size: d.len() as u64,
            });
        }

        // Walk up from the block to the first node we already trust, noting the local siblings
        // the walk needs that the proof leaves out.
        let mut trusted = None;
        let mut missing = Vec::new();
        let mut next = 2 * index;
        let mut i = usize::from(data.is_none());
        loop {
            if self.bitfield.get_tree(next) {
                trusted = Some(next);
                break;
            }
            let sib = flat_tree::sibling(next);
            next = flat_tree::parent(next);
            if i < proof.nodes.len() && proof.nodes[i].index == sib {
                i += 1;
                continue;
            }
            if !self.bitfield.get_tree(sib) {
                break;
            }
            missing.push(sib);
        }
        if trusted.is_none() && self.bitfield.get_tree(next) {
            trusted = Some(next);
        }
        let mut local: std::collections::VecDeque<Node> = missing
            .iter()
            .map(|&m| self.node(m))
            .collect::<Result<_>>()?;
        let trusted = trusted.map(|t| self.node(t)).transpose()?;

        let mut remote: std::collections::VecDeque<Node> = proof.nodes.iter().copied().collect();
        let mut top = match data {
            Some(d) => Node::new(2 * index, crypto::leaf_hash(d), d.len() as u64),
            None => remote
                .pop_front()
                .ok_or(Error::BadProof("hash-only proof has no nodes"))?,
        };
        let mut visited = Vec::new();
        loop {
            if let Some(t) = &trusted
                && *t == top
            {
                return self.store(index, data, &visited, None);
            }
            let sibling = flat_tree::sibling(top.index);
            let node = if remote.front().is_some_and(|n| n.index == sibling) {
                let n = remote.pop_front().ok_or(Error::BadProof("empty proof"))?;
                visited.push(n);
                n
            } else if local.front().is_some_and(|n| n.index == sibling) {
                local.pop_front().ok_or(Error::BadProof("empty proof"))?
            } else {
                // No sibling: `top` must be a root of the signed tree.
                return self.verify_roots_and_store(index, data, top, remote, visited, proof);
            };
            visited.push(top);
            let size = top
                .size
                .checked_add(node.size)
                .ok_or(Error::BadProof("node sizes overflow"))?;
            top = Node::new(
                flat_tree::parent(top.index),
                crypto::parent_hash(&top, &node),
                size,
            );
        }
    }

    fn verify_roots_and_store(
        &mut self,
        index: u64,
        data: Option<&[u8]>,
        top: Node,
        mut remote: std::collections::VecDeque<Node>,
        mut visited: Vec<Node>,
        proof: &Proof,
    ) -> Result<()> {
        let last = remote.back().map_or(top.index, |n| n.index);
        let verified_by = flat_tree::right_span(top.index).max(flat_tree::right_span(last)) + 2;
        let length = verified_by / 2;
        // The node the block hashed up to must itself be one of the signed roots. Otherwise the
        // roots could all come from our own tree (and verify) while the proof's nodes, which
        // would then be stored, were never checked against anything.
        if !flat_tree::full_roots(verified_by).contains(&top.index) {
            return Err(Error::BadProof("proof does not lead to a root"));
        }

        let mut roots = Vec::new();
        for root in flat_tree::full_roots(verified_by) {
            let node = if root == top.index {
                visited.push(top);
                top
            } else if remote.front().is_some_and(|n| n.index == root) {
                let n = remote.pop_front().ok_or(Error::BadProof("empty proof"))?;
                visited.push(n);
                n
            } else if self.bitfield.get_tree(root) {
                self.node(root)?
            } else {
                return Err(Error::BadProof("missing tree roots needed for verify"));
            };
            roots.push(node);
        }

        // A fresh clone proves nearly every block up to the same signed roots: once their
        // signature checked out, equal roots need no second Ed25519 verify (~50 us a block).
        // The proof's own signature is then not stored: its bytes were not checked, and the
        // slot already holds the verified one.
        let already_verified = self
            .signed_roots
            .as_ref()
            .is_some_and(|(l, r)| *l == length && *r == roots);
        let signature = match &proof.signature {
            _ if already_verified => None,
            Some(sig) => {
                if !crypto::verify_roots(&self.key, &roots, length, sig) {
                    return Err(Error::BadProof("remote signature could not be verified"));
                }
                Some((length - 1, *sig))
            }
            None if self.length > 0 && self.live => {
                return Err(Error::BadProof("remote did not include a signature"));
            }
            None => {
                // An unsigned feed is named by its root hash.
                if crypto::tree_hash(&roots) != self.key.0 {
                    return Err(Error::BadProof("remote checksum failed"));
                }
                None
            }
        };

        if !already_verified {
            self.live = signature.is_some();
            if signature.is_some() {
                self.signed_roots = Some((length, roots.clone()));
            }
        }
        if length > self.length {
            self.length = length;
            self.byte_length =
                Node::total_size(&roots).ok_or(Error::BadProof("root sizes overflow"))?;
            if self.writable() {
                self.merkle = None;
            }
        }
        self.store(index, data, &visited, signature)
    }

    /// Writes a verified block, its nodes and signature, then the bits that make them count.
    fn store(
        &mut self,
        index: u64,
        data: Option<&[u8]>,
        nodes: &[Node],
        signature: Option<(u64, Signature)>,
    ) -> Result<()> {
        for node in nodes {
            self.write_node(node)?;
            self.cache(*node);
        }
        if let Some(d) = data.filter(|d| !d.is_empty()) {
            let mut offset = 0u64;
            for root in flat_tree::full_roots(2 * index) {
                let size = match nodes.iter().find(|n| n.index == root) {
                    Some(n) => n.size,
                    None => self.node(root)?.size,
                };
                offset = offset
                    .checked_add(size)
                    .ok_or_else(|| Error::corrupt(Store::Tree, "node sizes overflow"))?;
            }
            self.write(Store::Data, offset, d)?;
        }
        if let Some((slot, sig)) = signature {
            self.write(Store::Signatures, signature_offset(slot), sig.as_bytes())?;
        }
        for node in nodes {
            self.bitfield.set_node(node.index);
        }
        self.bitfield.set_node(2 * index);
        if data.is_some() {
            self.bitfield.set(index, true);
        }
        self.flush_bitfield()
    }
}

impl crate::bitfield::Bitfield {
    fn get_tree(&self, i: u64) -> bool {
        Bits::get(self, i)
    }
}
