//! A block an author signed near the largest length (2^52) costs a replica a few bitfield
//! pages in memory, and a storage that cannot hold its far offsets fails the put: the process
//! lives either way.

use std::collections::BTreeMap;
use std::io;

use anyhow::{Result, ensure};
use hypercore::{
    Error, Feed, KeyPair, MemoryStorage, Node, Proof, Storage, Store, crypto, flat_tree,
};

/// Files kept as the pieces written, so an offset of petabytes costs only its bytes (a sparse
/// file, as file systems keep one).
#[derive(Default)]
struct Sparse {
    pieces: BTreeMap<(Store, u64), Vec<u8>>,
}

impl Sparse {
    fn held(&self) -> usize {
        self.pieces.values().map(Vec::len).sum()
    }
}

impl Storage for Sparse {
    fn read_at(&mut self, store: Store, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        buf.fill(0);
        let end = offset + buf.len() as u64;
        for (&(s, at), piece) in &self.pieces {
            let piece_end = at + piece.len() as u64;
            if s != store || piece_end <= offset || at >= end {
                continue;
            }
            let from = at.max(offset);
            let to = piece_end.min(end);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&piece[(from - at) as usize..(to - at) as usize]);
        }
        let len = self.len(store)?;
        Ok(len.saturating_sub(offset).min(buf.len() as u64) as usize)
    }
    fn write_at(&mut self, store: Store, offset: u64, data: &[u8]) -> io::Result<()> {
        // Later writes win: drop what this one covers exactly, keep the rest (enough here).
        self.pieces.insert((store, offset), data.to_vec());
        Ok(())
    }
    fn len(&mut self, store: Store) -> io::Result<u64> {
        Ok(self
            .pieces
            .iter()
            .filter(|((s, _), _)| *s == store)
            .map(|((_, at), p)| at + p.len() as u64)
            .max()
            .unwrap_or(0))
    }
    fn exists(&mut self, store: Store) -> io::Result<bool> {
        Ok(self.pieces.keys().any(|(s, _)| *s == store))
    }
    fn truncate(&mut self, _store: Store, _len: u64) -> io::Result<()> {
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Flat-tree index of the node at `depth` and `offset`.
fn node_index(depth: u32, offset: u64) -> u64 {
    (offset << (depth + 1)) | ((1u64 << depth) - 1)
}

#[test]
fn a_block_near_the_largest_signed_length_does_not_take_the_process_down() -> Result<()> {
    let author = KeyPair::from_seed(&[0x66; 32]);
    let index = (1u64 << 52) - 1;
    let data = b"far away".as_slice();
    // The author's tree: made-up siblings all the way up to the one root of length 2^52.
    let mut top = Node::new(2 * index, crypto::leaf_hash(data), data.len() as u64);
    let mut nodes = Vec::new();
    for depth in 0..52 {
        let sibling = Node::new(
            node_index(depth, (index >> depth) ^ 1),
            [depth as u8; 32],
            1,
        );
        ensure!(sibling.index == flat_tree::sibling(top.index));
        top = Node::new(
            flat_tree::parent(top.index),
            crypto::parent_hash(&top, &sibling),
            top.size + sibling.size,
        );
        nodes.push(sibling);
    }
    let length = 1u64 << 52;
    ensure!(flat_tree::full_roots(2 * length) == [top.index]);
    let signature = author.sign(&crypto::signable(&[top], length));
    let proof = Proof {
        index,
        nodes,
        signature: Some(signature),
    };

    // A storage that holds far offsets sparsely: the replica stores the block and flushes it.
    let mut replica = Feed::builder(Sparse::default()).key(author.public).open()?;
    replica.put(index, Some(data), &proof)?;
    ensure!(replica.len() == length && replica.has(index));
    ensure!(replica.get(index)? == data);
    replica.flush()?;
    let held = replica.storage().held();
    ensure!(held < 1 << 20, "{held} bytes stored");

    // Memory cannot hold a tree record ~90 PB into its file: the put fails, typed.
    let mut replica = Feed::builder(MemoryStorage::new())
        .key(author.public)
        .open()?;
    let put = replica.put(index, Some(data), &proof);
    ensure!(matches!(put, Err(Error::Io { .. })), "{put:?}");
    ensure!(!replica.has(index));
    Ok(())
}
