//! [`Feed`]: one hypercore, its files and its in-memory indexes.

mod open;
mod replica;
mod tracked;

use crate::bitfield::Bitfield;
use crate::crypto::{self, KeyPair, PublicKey, Signature};
use crate::error::{Error, Result};
use crate::flat_tree;
use crate::node::{NODE_RECORD, Node};
use crate::storage::{Storage, Store, header::HEADER_LEN};
use crate::tree::index;
use crate::tree::merkle::{self, MerkleGenerator};
use crate::tree::node_cache::NodeCache;

use tracked::Tracked;

pub use open::FeedBuilder;
#[cfg(feature = "protocol")]
pub(crate) use replica::leaf_hashes;
pub use replica::{BatchPut, PutBlock};

/// Largest block any peer accepts: 8 MiB (hypercore 9 refuses larger appends).
pub const MAX_BLOCK_SIZE: u64 = 8 * 1024 * 1024;
/// Bytes of one signature slot.
const SIGNATURE_SLOT: u64 = 64;

/// What [`Feed::audit`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Stored blocks whose bytes hash to their leaf node.
    pub valid: u64,
    /// Stored blocks that did not; they are marked missing.
    pub invalid: u64,
}

/// A signed append-only log: hypercore 9, over any [`Storage`].
///
/// Blocks, tree nodes and signatures reach the storage before a call returns; the bitfield
/// pages that claim them wait for [`Feed::flush`] (or [`Feed::close`], or dropping the feed),
/// which first syncs what they claim. So the bitfield on disk never claims a byte that a power
/// cut could still take away, whatever order the disk wrote things in, and recovery needs no
/// re-hashing. Every method is synchronous; async code keeps the feed in one task and sends it
/// work.
pub struct Feed<S: Storage> {
    storage: Tracked<S>,
    key: PublicKey,
    key_pair: Option<KeyPair>,
    length: u64,
    byte_length: u64,
    /// Whether the feed is signed (every hypercore 9 writer is); unsigned feeds are not written.
    live: bool,
    bitfield: Bitfield,
    /// Roots for the next append; `None` after a remote put moved the length.
    merkle: Option<MerkleGenerator>,
    nodes: NodeCache,
    /// The last roots whose signature a remote proof carried and we verified, with their length.
    signed_roots: Option<(u64, Vec<Node>)>,
}

impl<S: Storage> std::fmt::Debug for Feed<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("key", &self.key)
            .field("writable", &self.writable())
            .field("length", &self.length)
            .field("byte_length", &self.byte_length)
            .finish_non_exhaustive()
    }
}

/// Dropping a feed commits its pending claims as [`Feed::into_storage`] does, so blocks
/// appended or stored without a flush survive the end of the process (not a power cut).
impl<S: Storage> Drop for Feed<S> {
    fn drop(&mut self) {
        if self.storage.get().is_some()
            && let Err(e) = self.commit_claims()
        {
            tracing::warn!(error = %e, "writing the bitfield when dropping a feed");
        }
    }
}

impl<S: Storage> Feed<S> {
    /// Opens the feed stored in `storage`, creating a new writable one with a fresh key pair if
    /// nothing is stored there.
    pub fn open(storage: S) -> Result<Self> {
        FeedBuilder::new(storage).open()
    }

    /// A builder for the other ways to open: a given key pair, a read-only key, no create.
    pub fn builder(storage: S) -> FeedBuilder<S> {
        FeedBuilder::new(storage)
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The discovery key peers announce instead of the public key.
    pub fn discovery_key(&self) -> [u8; 32] {
        self.key.discovery_key()
    }

    /// The key pair, when the feed is ours to write.
    pub fn key_pair(&self) -> Option<&KeyPair> {
        self.key_pair.as_ref()
    }

    /// Whether we hold the secret key.
    pub fn writable(&self) -> bool {
        self.key_pair.is_some()
    }

    /// Number of blocks.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// Whether the feed has no blocks.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Total bytes of all blocks.
    pub fn byte_len(&self) -> u64 {
        self.byte_length
    }

    /// The storage, for callers that need its files.
    pub fn storage(&self) -> &S {
        self.storage
            .get()
            .expect("the storage is only taken by methods that consume the feed")
    }

    /// Gives the storage back, with the bitfield written after a sync of what it claims (but
    /// not itself synced: [`close`](Self::close) does that).
    pub fn into_storage(mut self) -> S {
        if let Err(e) = self.commit_claims() {
            tracing::warn!(error = %e, "writing the bitfield when giving the storage back");
        }
        self.storage
            .take()
            .expect("the storage is only taken by methods that consume the feed")
    }

    /// Whether block `index` is stored locally.
    pub fn has(&self, index: u64) -> bool {
        self.bitfield.get(index)
    }

    /// How many blocks of `[start, end)` are stored locally.
    pub fn downloaded(&self, start: u64, end: u64) -> u64 {
        self.bitfield.total(start, end)
    }

    /// Which of blocks `[8 * first, 8 * (first + out.len()))` are stored, as bitfield bytes in
    /// wire order (block `8b` at bit `0x80` of byte `b`): a page copy per 8192 blocks, for the
    /// replicator's answers and bookkeeping.
    #[cfg(feature = "protocol")]
    pub(crate) fn bitfield_bytes(&self, first: u64, out: &mut [u8]) {
        self.bitfield.data_bytes(first, out);
    }

    /// Appends one block; returns its index.
    pub fn append(&mut self, block: &[u8]) -> Result<u64> {
        self.append_batch(&[block])
    }

    /// Appends blocks with one signature for the whole batch (as one JS `append(array)` call);
    /// returns the index of the first.
    pub fn append_batch<B: AsRef<[u8]> + Sync>(&mut self, blocks: &[B]) -> Result<u64> {
        if self.key_pair.is_none() {
            return Err(Error::NotWritable);
        }
        let start = self.length;
        if blocks.is_empty() {
            return Ok(start);
        }
        for b in blocks {
            let size = b.as_ref().len() as u64;
            if size > MAX_BLOCK_SIZE {
                return Err(Error::BlockTooLarge { size });
            }
        }
        let mut merkle = match &self.merkle {
            Some(m) => m.clone(),
            None => MerkleGenerator::new(self.roots_of(self.length)?),
        };

        // Hash first; the generator stays a copy until every write has succeeded.
        let m = blocks.len() as u64;
        let node_offset = 2 * start;
        let mut batch = vec![0u8; (2 * m as usize - 1) * NODE_RECORD];
        let mut outside = Vec::new();
        let added: u64 = blocks.iter().map(|b| b.as_ref().len() as u64).sum();

        // Data, tree and signature now; the bitfield that makes them count only at the next
        // flush, after a sync of these, so a crash leaves the last flushed length intact
        // whatever the disk kept of this (see `open` for the recovery). The data does not
        // depend on the hashes, so a large batch is written while another thread hashes it:
        // the page-cache copy and BLAKE2b each take about half the time.
        let offset = self.byte_length;
        let hashes = if added >= PARALLEL_WRITE_BYTES {
            let storage = &mut self.storage;
            std::thread::scope(|scope| {
                let hasher = scope.spawn(|| merkle::leaf_hashes(blocks));
                let written = write_data(storage, offset, blocks);
                // A panic in a pure hash loop cannot happen short of a bug; hash here then.
                let hashes = hasher
                    .join()
                    .unwrap_or_else(|_| merkle::leaf_hashes(blocks));
                written.map(|()| hashes)
            })?
        } else {
            let hashes = merkle::leaf_hashes(blocks);
            write_data(&mut self.storage, offset, blocks)?;
            hashes
        };
        let leaves: Vec<([u8; 32], u64)> = hashes
            .into_iter()
            .zip(blocks)
            .map(|(hash, block)| (hash, block.as_ref().len() as u64))
            .collect();
        let mut nodes = Vec::with_capacity(2 * blocks.len());
        merkle.next_batch(&leaves, &mut nodes);
        for node in &nodes {
            if node.index >= node_offset && node.index - node_offset < 2 * m - 1 {
                let at = (node.index - node_offset) as usize * NODE_RECORD;
                batch[at..at + NODE_RECORD].copy_from_slice(&node.to_record());
            } else {
                outside.push(*node);
            }
            if node.index & 1 == 1 {
                self.cache(*node);
            }
        }
        let signature = match &self.key_pair {
            Some(pair) if self.live => {
                Some(pair.sign(&crypto::signable(merkle.roots(), start + m)))
            }
            _ => None,
        };

        self.write(Store::Tree, tree_offset(node_offset), &batch)?;
        for node in &outside {
            self.write_node(node)?;
        }
        if let Some(sig) = signature {
            self.write(
                Store::Signatures,
                signature_offset(start + m - 1),
                sig.as_bytes(),
            )?;
        }

        self.merkle = Some(merkle);
        self.byte_length += added;
        for _ in 0..m {
            self.bitfield.set(self.length, true);
            index::Bits::set_node(&mut self.bitfield, 2 * self.length);
            self.length += 1;
        }
        Ok(start)
    }

    /// Reads block `index`.
    pub fn get(&mut self, index: u64) -> Result<Vec<u8>> {
        let (offset, size) = self.stored_range(index)?;
        let mut buf = vec![0u8; size];
        self.read_data(index, offset, &mut buf)?;
        Ok(buf)
    }

    /// The size of block `index`, which must be stored.
    pub fn block_size(&mut self, index: u64) -> Result<usize> {
        Ok(self.stored_range(index)?.1)
    }

    /// Reads block `index` into `buf`, which must be exactly [`block_size`](Self::block_size)
    /// long: lets a caller read into memory it reuses (or into an outgoing frame).
    pub fn get_into(&mut self, index: u64, buf: &mut [u8]) -> Result<()> {
        let (offset, size) = self.stored_range(index)?;
        if size != buf.len() {
            return Err(Error::BlockSize {
                index,
                size,
                buf: buf.len(),
            });
        }
        self.read_data(index, offset, buf)
    }

    /// Where stored block `index` lies in the data file: `(offset, size)`.
    fn stored_range(&mut self, index: u64) -> Result<(u64, usize)> {
        if index >= self.length {
            return Err(Error::OutOfRange {
                index,
                length: self.length,
            });
        }
        if !self.bitfield.get(index) {
            return Err(Error::NotStored(index));
        }
        let (offset, size) = self.data_range(index)?;
        if size > MAX_BLOCK_SIZE {
            return Err(Error::corrupt(
                Store::Tree,
                format!("block {index} claims {size} bytes"),
            ));
        }
        Ok((offset, size as usize))
    }

    fn read_data(&mut self, index: u64, offset: u64, buf: &mut [u8]) -> Result<()> {
        let n = self
            .storage
            .read_at(Store::Data, offset, buf)
            .map_err(Error::io(Store::Data))?;
        if n != buf.len() {
            return Err(Error::corrupt(
                Store::Data,
                format!("block {index} is cut short"),
            ));
        }
        Ok(())
    }

    /// The last block, if any.
    pub fn head(&mut self) -> Result<Option<Vec<u8>>> {
        if self.length == 0 {
            return Ok(None);
        }
        self.get(self.length - 1).map(Some)
    }

    /// The block holding byte `offset` of the feed, and the offset inside that block.
    pub fn seek(&mut self, offset: u64) -> Result<(u64, u64)> {
        if offset == self.byte_length {
            return Ok((self.length, 0));
        }
        if offset > self.byte_length {
            return Err(Error::SeekOutOfRange {
                offset,
                byte_length: self.byte_length,
            });
        }
        let mut rest = offset;
        let mut top = None;
        for root in flat_tree::full_roots(2 * self.length) {
            let node = self.node(root)?;
            if node.size > rest {
                top = Some(root);
                break;
            }
            rest -= node.size;
        }
        let Some(mut top) = top else {
            return Err(Error::SeekOutOfRange {
                offset,
                byte_length: self.byte_length,
            });
        };
        // Descend, always into the child that holds the remaining offset. A sparse replica may
        // lack the nodes below a root: then the block is simply not here yet.
        let mut size = self.node(top)?.size;
        while let Some(left) = flat_tree::left_child(top) {
            if !self.bitfield.tree_get(left) {
                return Err(Error::NotStored(interpolate(top, size, rest)));
            }
            let node = self.node(left)?;
            if node.size > rest {
                top = left;
                size = node.size;
            } else {
                rest -= node.size;
                top = flat_tree::sibling(left);
                size -= node.size;
            }
        }
        Ok((top / 2, rest))
    }

    /// The roots of the tree at the current length, ascending.
    pub fn roots(&mut self) -> Result<Vec<Node>> {
        self.roots_of(self.length)
    }

    /// The tree node with flat index `index`.
    pub fn tree_node(&mut self, index: u64) -> Result<Node> {
        self.node(index)
    }

    /// The signature that covers block `index`: the first signed slot at or after it, with the
    /// length it signs (`slot + 1`).
    pub fn signature(&mut self, index: u64) -> Result<(u64, Signature)> {
        if index >= self.length {
            return Err(Error::OutOfRange {
                index,
                length: self.length,
            });
        }
        let mut slot = index;
        while slot < self.length {
            if let Some(sig) = self.read_signature(slot)? {
                return Ok((slot + 1, sig));
            }
            slot += 1;
        }
        Err(Error::NoSignature(index + 1))
    }

    /// Checks `signature` against the roots of length `index + 1`.
    pub fn verify(&mut self, index: u64, signature: &Signature) -> Result<()> {
        if index >= self.length {
            return Err(Error::OutOfRange {
                index,
                length: self.length,
            });
        }
        let roots = self.roots_of(index + 1)?;
        if crypto::verify_roots(&self.key, &roots, index + 1, signature) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }

    /// Re-hashes every stored block against its leaf node; blocks that fail are marked missing.
    pub fn audit(&mut self) -> Result<AuditReport> {
        let mut report = AuditReport::default();
        for block in 0..self.length {
            if !self.bitfield.get(block) {
                continue;
            }
            let ok = match self.node(2 * block) {
                Ok(leaf) => {
                    let data = self.get(block);
                    matches!(&data, Ok(d) if crypto::leaf_hash(d) == leaf.hash)
                }
                Err(_) => false,
            };
            if ok {
                report.valid += 1;
            } else {
                report.invalid += 1;
                self.bitfield.set(block, false);
            }
        }
        self.flush()?;
        Ok(report)
    }

    /// Shortens the feed to `new_length` blocks (as JS, stale bytes stay in `data` and `tree`).
    pub fn truncate(&mut self, new_length: u64) -> Result<()> {
        if !self.writable() {
            return Err(Error::NotWritable);
        }
        if new_length >= self.length {
            return Ok(());
        }
        let roots = self.roots_of(new_length)?;
        let old = self.length;
        self.byte_length = sizes_of(&roots)?;
        self.length = new_length;
        index::truncate(&mut self.bitfield, 2 * new_length);
        self.merkle = Some(MerkleGenerator::new(roots));
        self.nodes.clear();
        self.signed_roots = None;
        // The cleared bits are durable before anything can overwrite what they claimed.
        self.flush()?;
        // JS deletes the signature range, which only shrinks the file when it reaches the end.
        let end = signature_offset(old);
        if self
            .storage
            .len(Store::Signatures)
            .map_err(Error::io(Store::Signatures))?
            <= end
        {
            self.storage
                .truncate(Store::Signatures, signature_offset(new_length))
                .map_err(Error::io(Store::Signatures))?;
        }
        Ok(())
    }

    /// Marks blocks `[start, end)` as not stored and frees their bytes where they end the file,
    /// as Node's hypercore does: a range before the data file's end keeps its bytes, so the
    /// files stay byte-identical to Node's. [`Feed::clear_and_reclaim`] punches a hole there.
    pub fn clear(&mut self, start: u64, end: u64) -> Result<()> {
        self.clear_range(start, end, false)
    }

    /// [`Feed::clear`] that also gives back the disk space of a range before the data file's
    /// end, by punching a hole (see [`Storage::punch_hole`]): the bytes read as zeros, where
    /// Node's files keep them.
    pub fn clear_and_reclaim(&mut self, start: u64, end: u64) -> Result<()> {
        self.clear_range(start, end, true)
    }

    fn clear_range(&mut self, start: u64, end: u64, punch: bool) -> Result<()> {
        let end = end.min(self.length);
        let mut modified = false;
        for i in start..end {
            if self.bitfield.get(i) {
                modified |= self.bitfield.set(i, false);
            }
        }
        if !modified {
            return Ok(());
        }
        // The cleared bits are durable before the bytes they claimed are cut.
        self.flush()?;
        let from = self.data_range(start)?.0;
        let to = if end == self.length {
            self.byte_length
        } else {
            self.data_range(end)?.0
        };
        if to
            >= self
                .storage
                .len(Store::Data)
                .map_err(Error::io(Store::Data))?
        {
            self.storage
                .truncate(Store::Data, from)
                .map_err(Error::io(Store::Data))?;
        } else if punch {
            self.storage
                .punch_hole(Store::Data, from, to - from)
                .map_err(Error::io(Store::Data))?;
        }
        Ok(())
    }

    /// Makes every change so far durable: syncs the blocks, nodes and signatures written since
    /// the last flush, then writes the bitfield pages that claim them and syncs those. A flush
    /// with nothing new does no sync at all.
    pub fn flush(&mut self) -> Result<()> {
        self.commit_claims()?;
        self.storage.sync().map_err(Error::io(Store::Bitfield))
    }

    /// Flushes and gives the storage back.
    pub fn close(mut self) -> Result<S> {
        self.flush()?;
        self.storage
            .take()
            .ok_or_else(|| Error::io(Store::Data)(std::io::Error::other("storage already taken")))
    }

    /// Whether [`flush`](Self::flush) has anything to do.
    pub fn needs_flush(&self) -> bool {
        self.storage.written() || self.bitfield.pager.has_dirty()
    }

    // ----- internals shared with open.rs and replica.rs -----

    fn write(&mut self, store: Store, offset: u64, data: &[u8]) -> Result<()> {
        self.storage
            .write_at(store, offset, data)
            .map_err(Error::io(store))
    }

    fn write_node(&mut self, node: &Node) -> Result<()> {
        self.write(Store::Tree, tree_offset(node.index), &node.to_record())
    }

    fn cache(&mut self, node: Node) {
        self.nodes.fit(self.length);
        self.nodes.insert(node);
    }

    /// Tree node `index`, from the cache or the `tree` file.
    fn node(&mut self, index: u64) -> Result<Node> {
        if let Some(n) = self.nodes.get(index) {
            return Ok(*n);
        }
        let node = read_node(&mut self.storage, index)?
            .ok_or_else(|| Error::corrupt(Store::Tree, format!("tree node {index} is missing")))?;
        self.cache(node);
        Ok(node)
    }

    fn roots_of(&mut self, length: u64) -> Result<Vec<Node>> {
        flat_tree::full_roots(2 * length)
            .into_iter()
            .map(|r| self.node(r))
            .collect()
    }

    /// Byte offset and size of block `index` in `data`.
    fn data_range(&mut self, index: u64) -> Result<(u64, u64)> {
        let mut offset = 0u64;
        for root in flat_tree::full_roots(2 * index) {
            offset = offset
                .checked_add(self.node(root)?.size)
                .ok_or_else(|| Error::corrupt(Store::Tree, "node sizes overflow"))?;
        }
        let size = if index < self.length {
            self.node(2 * index)?.size
        } else {
            0
        };
        Ok((offset, size))
    }

    fn read_signature(&mut self, slot: u64) -> Result<Option<Signature>> {
        read_signature(&mut self.storage, slot)
    }

    /// Syncs what the changed bitfield pages claim, then writes those pages (unsynced): the
    /// order that keeps a claim from reaching the disk before its bytes.
    fn commit_claims(&mut self) -> Result<()> {
        if !self.bitfield.pager.has_dirty() {
            return Ok(());
        }
        self.storage.sync().map_err(Error::io(Store::Data))?;
        self.write_bitfield()
    }

    /// Writes every bitfield page changed since the last write, whole, as JS does.
    fn write_bitfield(&mut self) -> Result<()> {
        let page_size = self.bitfield.pager.page_size() as u64;
        let dirty: Vec<(usize, Vec<u8>)> = self
            .bitfield
            .take_dirty()
            .into_iter()
            .map(|(i, p)| (i, p.to_vec()))
            .collect();
        for (n, (page, bytes)) in dirty.iter().enumerate() {
            let offset = HEADER_LEN + *page as u64 * page_size;
            if let Err(e) = self.storage.write_at(Store::Bitfield, offset, bytes) {
                // Keep what was not written dirty so a later flush retries it.
                for (page, _) in &dirty[n..] {
                    self.bitfield.pager.mark_dirty(*page);
                }
                return Err(Error::io(Store::Bitfield)(e));
            }
        }
        Ok(())
    }
}

/// Total size of nodes read from `tree`.
fn sizes_of(nodes: &[Node]) -> Result<u64> {
    Node::total_size(nodes).ok_or_else(|| Error::corrupt(Store::Tree, "node sizes overflow"))
}

/// Batches at least this large write their data while another thread hashes them.
const PARALLEL_WRITE_BYTES: u64 = 256 * 1024;

/// Writes a batch's blocks back to back at `offset` of `data`, in one write.
fn write_data<S: Storage, B: AsRef<[u8]>>(
    storage: &mut S,
    offset: u64,
    blocks: &[B],
) -> Result<()> {
    let result = if let [block] = blocks {
        storage.write_at(Store::Data, offset, block.as_ref())
    } else {
        let bufs: Vec<&[u8]> = blocks.iter().map(AsRef::as_ref).collect();
        storage.write_all_vectored_at(Store::Data, offset, &bufs)
    };
    result.map_err(Error::io(Store::Data))
}

fn signature_offset(slot: u64) -> u64 {
    HEADER_LEN + slot * SIGNATURE_SLOT
}

/// Where tree node `index`'s record starts in the `tree` file.
fn tree_offset(index: u64) -> u64 {
    HEADER_LEN + index * NODE_RECORD as u64
}

/// Reads node `index` from `tree`; `None` when the record is absent or blank.
fn read_node<S: Storage>(storage: &mut S, index: u64) -> Result<Option<Node>> {
    let offset = index
        .checked_mul(NODE_RECORD as u64)
        .and_then(|o| o.checked_add(HEADER_LEN))
        .ok_or(Error::OutOfRange { index, length: 0 })?;
    let mut buf = [0u8; NODE_RECORD];
    let n = storage
        .read_at(Store::Tree, offset, &mut buf)
        .map_err(Error::io(Store::Tree))?;
    if n < NODE_RECORD {
        return Ok(None);
    }
    Ok(Node::from_record(index, &buf))
}

/// Reads signature slot `slot`; `None` when blank or past the end of the file.
fn read_signature<S: Storage>(storage: &mut S, slot: u64) -> Result<Option<Signature>> {
    let mut buf = [0u8; 64];
    let n = storage
        .read_at(Store::Signatures, signature_offset(slot), &mut buf)
        .map_err(Error::io(Store::Signatures))?;
    let sig = Signature(buf);
    Ok((n == 64 && !sig.is_blank()).then_some(sig))
}

/// The block a seek that stopped at subtree `top` (`size` bytes, `rest` of them before the
/// target) should fetch next: where the target falls if the subtree's blocks are equally
/// large. Drives write equal blocks, so this is usually the very block, and its proof brings
/// every node the seek walks; a wrong guess still lands inside `top`, so the seek gets further.
fn interpolate(top: u64, size: u64, rest: u64) -> u64 {
    let first = flat_tree::left_span(top) / 2;
    let blocks = flat_tree::right_span(top) / 2 - first + 1;
    if size == 0 {
        return first;
    }
    // u128: blocks * rest may pass u64 for huge feeds; rest < size keeps the result in range.
    let step = u128::from(rest) * u128::from(blocks) / u128::from(size);
    first + u64::try_from(step).unwrap_or(0).min(blocks - 1)
}
