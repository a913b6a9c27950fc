//! The two halves of replication a feed does itself: proving a block to a peer, and verifying
//! and storing a block a peer proved to us (hypercore 9 `proof`, `_putBuffer`, `_verifyAndWrite`,
//! `_verifyRootsAndWrite`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::{Feed, MAX_BLOCK_SIZE, signature_offset, tree_offset, write_data};
use crate::crypto::{self, Signature};
use crate::error::{Error, Result};
use crate::flat_tree;
use crate::node::Node;
use crate::proof::{Proof, ProofRequest};
use crate::storage::{Storage, Store};
use crate::tree::index::{self, Bits};
use crate::tree::merkle;

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
        let outcome = self.put_batch(&[PutBlock { index, data, proof }]);
        match outcome.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// [`put`](Self::put) for many blocks of one peer at once, in order: each is verified as if
    /// the ones before it were already stored, and every verified block is then written
    /// together (data, tree and signatures in a few writes, each changed bitfield page once)
    /// before the bits that claim them. Verification stops at the first block that fails; the
    /// blocks before it are still stored, it and those after it are not.
    pub fn put_batch(&mut self, blocks: &[PutBlock<'_>]) -> BatchPut {
        self.put_batch_hashed(blocks, &leaf_hashes(blocks))
    }

    /// [`put_batch`](Self::put_batch) with each block's leaf hash made beforehand by
    /// [`leaf_hashes`] from these very blocks (so a caller hashes before it locks the feed).
    pub(crate) fn put_batch_hashed(
        &mut self,
        blocks: &[PutBlock<'_>],
        leaves: &[Option<[u8; 32]>],
    ) -> BatchPut {
        let mut pending = Pending::default();
        let mut error = None;
        for (i, block) in blocks.iter().enumerate() {
            let leaf = leaves.get(i).copied().flatten();
            match self.verify_block(block, leaf, &mut pending) {
                Ok(v) => pending.verified.push(v),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        match self.store(blocks, &pending.verified) {
            Ok(()) => BatchPut {
                stored: pending.verified.len(),
                error,
            },
            Err(e) => BatchPut {
                stored: 0,
                error: Some(e),
            },
        }
    }

    /// Checks one block of a batch against the signed roots, our trusted nodes and what the
    /// batch verified before it; notes what it proved in `pending`.
    fn verify_block(
        &mut self,
        block: &PutBlock<'_>,
        leaf: Option<[u8; 32]>,
        pending: &mut Pending,
    ) -> Result<Verified> {
        let PutBlock { index, data, proof } = *block;
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
            if self.trusts(pending, next) {
                trusted = Some(next);
                break;
            }
            let sib = flat_tree::sibling(next);
            next = flat_tree::parent(next);
            if i < proof.nodes.len() && proof.nodes[i].index == sib {
                i += 1;
                continue;
            }
            if !self.trusts(pending, sib) {
                break;
            }
            missing.push(sib);
        }
        if trusted.is_none() && self.trusts(pending, next) {
            trusted = Some(next);
        }
        let mut local: VecDeque<Node> = missing
            .iter()
            .map(|&m| self.batch_node(pending, m))
            .collect::<Result<_>>()?;
        let trusted = trusted.map(|t| self.batch_node(pending, t)).transpose()?;

        let mut remote: VecDeque<Node> = proof.nodes.iter().copied().collect();
        let mut top = match (data, leaf) {
            (Some(d), Some(hash)) => Node::new(2 * index, hash, d.len() as u64),
            (Some(d), None) => Node::new(2 * index, crypto::leaf_hash(d), d.len() as u64),
            (None, _) => remote
                .pop_front()
                .ok_or(Error::BadProof("hash-only proof has no nodes"))?,
        };
        let mut visited = Vec::new();
        let mut head = None;
        let signature = loop {
            if let Some(t) = &trusted
                && *t == top
            {
                break None;
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
                break self.verify_roots(top, remote, &mut visited, proof, pending, &mut head)?;
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
        };

        let offset = match data {
            Some(d) if !d.is_empty() => {
                let mut offset = 0u64;
                for root in flat_tree::full_roots(2 * index) {
                    let size = match visited.iter().find(|n| n.index == root) {
                        Some(n) => n.size,
                        None => self.batch_node(pending, root)?.size,
                    };
                    offset = offset
                        .checked_add(size)
                        .ok_or_else(|| Error::corrupt(Store::Tree, "node sizes overflow"))?;
                }
                Some(offset)
            }
            _ => None,
        };
        // Later blocks of the batch trust what this one proved, as if it were stored.
        for node in &visited {
            pending.nodes.insert(node.index, *node);
        }
        let mut bits = Overlay {
            bitfield: &self.bitfield,
            bits: &mut pending.bits,
        };
        for node in &visited {
            bits.set_node(node.index);
        }
        bits.set_node(2 * index);
        if head.is_some() {
            pending.head.clone_from(&head);
        }
        Ok(Verified {
            index,
            data: data.map(|d| (offset.unwrap_or(0), d.len())),
            nodes: visited,
            signature,
            head,
        })
    }

    /// Checks the roots `top` leads to against the writer's signature (or the roots we already
    /// verified); returns the signature to store, if any.
    fn verify_roots(
        &mut self,
        top: Node,
        mut remote: VecDeque<Node>,
        visited: &mut Vec<Node>,
        proof: &Proof,
        pending: &Pending,
        head_out: &mut Option<Head>,
    ) -> Result<Option<(u64, Signature)>> {
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
            } else if self.trusts(pending, root) {
                self.batch_node(pending, root)?
            } else {
                return Err(Error::BadProof("missing tree roots needed for verify"));
            };
            roots.push(node);
        }

        // A fresh clone proves nearly every block up to the same signed roots: once their
        // signature checked out, equal roots need no second Ed25519 verify (~50 us a block).
        // The proof's own signature is then not stored: its bytes were not checked, and the
        // slot already holds the verified one.
        let signed_roots = pending
            .head
            .as_ref()
            .map_or(&self.signed_roots, |h| &h.signed_roots);
        let already_verified = signed_roots
            .as_ref()
            .is_some_and(|(l, r)| *l == length && *r == roots);
        let (known_length, live) = pending
            .head
            .as_ref()
            .map_or((self.length, self.live), |h| (h.length, h.live));
        let signature = match &proof.signature {
            _ if already_verified => None,
            Some(sig) => {
                if !crypto::verify_roots(&self.key, &roots, length, sig) {
                    return Err(Error::BadProof("remote signature could not be verified"));
                }
                Some((length - 1, *sig))
            }
            None if known_length > 0 && live => {
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

        // What the feed learns here (its length, that it is signed) is applied by `store`,
        // once the batch's writes landed: a failed write leaves the feed as it was.
        if !already_verified || length > known_length {
            let mut head = pending.head.clone().unwrap_or_else(|| Head {
                length: self.length,
                byte_length: self.byte_length,
                live: self.live,
                signed_roots: self.signed_roots.clone(),
            });
            if !already_verified {
                head.live = signature.is_some();
                if signature.is_some() {
                    head.signed_roots = Some((length, roots.clone()));
                }
            }
            if length > head.length {
                head.length = length;
                head.byte_length =
                    Node::total_size(&roots).ok_or(Error::BadProof("root sizes overflow"))?;
            }
            *head_out = Some(head);
        }
        Ok(signature)
    }

    /// Writes verified blocks, their nodes and signatures (tree, then data, then signatures,
    /// each in as few writes as the offsets allow), then sets the bits that make them count
    /// (written at the next flush).
    fn store(&mut self, blocks: &[PutBlock<'_>], verified: &[Verified]) -> Result<()> {
        if verified.is_empty() {
            return Ok(());
        }
        let nodes: BTreeMap<u64, Node> = verified
            .iter()
            .flat_map(|v| v.nodes.iter().map(|n| (n.index, *n)))
            .collect();
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = 0u64;
        let mut run_end = 0u64;
        for (&index, node) in &nodes {
            if !run.is_empty() && index != run_end {
                self.write(Store::Tree, tree_offset(run_start), &run)?;
                run.clear();
            }
            if run.is_empty() {
                run_start = index;
            }
            run.extend_from_slice(&node.to_record());
            run_end = index + 1;
        }
        if !run.is_empty() {
            self.write(Store::Tree, tree_offset(run_start), &run)?;
        }

        let mut data: Vec<(u64, &[u8])> = verified
            .iter()
            .zip(blocks)
            .filter_map(|(v, b)| Some((v.data?.0, b.data?)))
            .filter(|(_, d)| !d.is_empty())
            .collect();
        data.sort_by_key(|(offset, _)| *offset);
        let mut at = 0;
        while at < data.len() {
            let (start, first) = data[at];
            let mut end = start + first.len() as u64;
            let mut bufs = vec![first];
            at += 1;
            while let Some(&(offset, d)) = data.get(at)
                && offset == end
            {
                bufs.push(d);
                end += d.len() as u64;
                at += 1;
            }
            write_data(&mut self.storage, start, &bufs)?;
        }

        let signatures: BTreeMap<u64, Signature> =
            verified.iter().filter_map(|v| v.signature).collect();
        for (slot, sig) in &signatures {
            self.write(Store::Signatures, signature_offset(*slot), sig.as_bytes())?;
        }

        // Every write landed: now the feed may grow to what the proofs showed.
        if let Some(head) = verified.iter().rev().find_map(|v| v.head.as_ref()) {
            self.live = head.live;
            self.signed_roots.clone_from(&head.signed_roots);
            if head.length > self.length {
                self.length = head.length;
                self.byte_length = head.byte_length;
                if self.writable() {
                    self.merkle = None;
                }
            }
        }
        for v in verified {
            for node in &v.nodes {
                self.bitfield.set_node(node.index);
                self.cache(*node);
            }
            self.bitfield.set_node(2 * v.index);
            if v.data.is_some() {
                self.bitfield.set(v.index, true);
            }
        }
        // The bits reach the disk at the next flush, after what they claim.
        Ok(())
    }

    /// Whether tree node `i` is stored or was proved earlier in the batch.
    fn trusts(&self, pending: &Pending, i: u64) -> bool {
        self.bitfield.get_tree(i) || pending.bits.contains(&i)
    }

    /// Tree node `i`, from what the batch proved or from the tree.
    fn batch_node(&mut self, pending: &Pending, i: u64) -> Result<Node> {
        match pending.nodes.get(&i) {
            Some(n) => Ok(*n),
            None => self.node(i),
        }
    }
}

/// The leaf hash of each block with data within the size limit, several per SIMD pass: what
/// [`Feed::put_batch_hashed`] takes, in the same order. A block over the limit gets none; it is
/// refused before its hash is needed.
pub(crate) fn leaf_hashes(blocks: &[PutBlock<'_>]) -> Vec<Option<[u8; 32]>> {
    let hashable: Vec<&[u8]> = blocks
        .iter()
        .filter_map(|b| b.data)
        .filter(|d| d.len() as u64 <= MAX_BLOCK_SIZE)
        .collect();
    let mut hashes = merkle::leaf_hashes(&hashable).into_iter();
    blocks
        .iter()
        .map(|b| match b.data {
            Some(d) if d.len() as u64 <= MAX_BLOCK_SIZE => hashes.next(),
            _ => None,
        })
        .collect()
}

/// One block from a peer for [`Feed::put_batch`].
#[derive(Clone, Copy, Debug)]
pub struct PutBlock<'a> {
    /// The block's index.
    pub index: u64,
    /// Its bytes; `None` for a hash-only proof.
    pub data: Option<&'a [u8]>,
    /// The proof the peer sent with it.
    pub proof: &'a Proof,
}

/// What [`Feed::put_batch`] did.
#[derive(Debug)]
#[must_use]
pub struct BatchPut {
    /// How many blocks, from the first, were verified and stored.
    pub stored: usize,
    /// Why the batch stopped short: block `stored` failed to verify, or (with nothing stored)
    /// a write failed.
    pub error: Option<Error>,
}

/// A block that verified, waiting to be written.
struct Verified {
    index: u64,
    /// Where its bytes go in `data`, and how many.
    data: Option<(u64, usize)>,
    nodes: Vec<Node>,
    signature: Option<(u64, Signature)>,
    /// What the feed knows once this block is stored, when its proof taught it something.
    head: Option<Head>,
}

/// The feed's length and signing state as a batch's proofs leave them, applied only once the
/// batch is written.
#[derive(Clone)]
struct Head {
    length: u64,
    byte_length: u64,
    live: bool,
    signed_roots: Option<(u64, Vec<Node>)>,
}

/// What a batch proved but has not written yet.
#[derive(Default)]
struct Pending {
    verified: Vec<Verified>,
    /// Tree bits as `set_node` on the bitfield will leave them once the batch is stored.
    bits: HashSet<u64>,
    nodes: HashMap<u64, Node>,
    /// The feed's head after the blocks verified so far.
    head: Option<Head>,
}

/// The bitfield's tree bits plus a batch's pending ones, so `set_node` runs as it will on the
/// bitfield.
struct Overlay<'a> {
    bitfield: &'a crate::bitfield::Bitfield,
    bits: &'a mut HashSet<u64>,
}

impl Bits for Overlay<'_> {
    fn get(&self, i: u64) -> bool {
        self.bitfield.get_tree(i) || self.bits.contains(&i)
    }
    fn put(&mut self, i: u64, value: bool) -> bool {
        // Only ever set: a batch clears nothing.
        value && !self.bitfield.get_tree(i) && self.bits.insert(i)
    }
    fn bit_len(&self) -> u64 {
        self.bitfield.tree_len()
    }
}

impl crate::bitfield::Bitfield {
    fn get_tree(&self, i: u64) -> bool {
        Bits::get(self, i)
    }
}
