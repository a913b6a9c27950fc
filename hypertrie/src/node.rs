//! [`Node`]: one decoded trie block, packed into a single shared allocation.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key::{self, KeyPath};
use crate::message::NodeMessage;
use crate::trie_field::{self, Bucket};

/// Raw flag bit 0: the key lives in the hidden subtree.
pub(crate) const HIDDEN: u64 = 1;
/// User flags sit above the 8 internal bits.
const USER_SHIFT: u32 = 8;

// The packed layout. A cache holds many nodes, and a `String`, two `Vec`s and a decoded trie
// each cost an allocation and their headers: one buffer holding the header, then the segment
// hashes, the key, the bucket index, the trie field as stored and the value costs little more
// than the block itself. A walk reads everything but the value, so that goes last: a node
// deep in a large trie is a cache miss per 64 bytes touched.
/// u64le: the block index.
const SEQ: usize = 0;
/// u64le: the stored flags.
const FLAGS: usize = 8;
/// u32le: key bytes.
const KEY_LEN: usize = 16;
/// u32le: trie field bytes.
const TRIE_LEN: usize = 20;
/// u32le: segment hash bytes.
const HASH_LEN: usize = 24;
/// u32le: bucket count, with [`WIDE`] and [`HAS_VALUE`].
const BUCKETS: usize = 28;
/// Where the segment hashes start.
const BODY: usize = 32;
/// The bucket index holds u32le positions then u32le offsets, not bytes.
const WIDE: u32 = 1 << 31;
/// The node has a value (it runs to the end of the buffer).
const HAS_VALUE: u32 = 1 << 30;
const COUNT_MASK: u32 = HAS_VALUE - 1;
/// A narrow index (one byte per position and per offset) fits positions and offsets below 256.
const NARROW_LIMIT: usize = 256;

/// One key/value entry of the trie, as stored in block [`Node::seq`].
///
/// Cloning is cheap (the node is shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Node(Arc<[u8]>);

fn u32_at(d: &[u8], at: usize) -> u32 {
    d.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_at(d: &[u8], at: usize) -> u64 {
    d.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn len_u32(n: usize) -> Result<u32, &'static str> {
    u32::try_from(n)
        .ok()
        .filter(|&n| n <= COUNT_MASK)
        .ok_or("node too large")
}

impl Node {
    /// Packs a node. `key` is stored as given (normalised); `hash` is its segment hashes when
    /// the caller has them. Fails if `trie` is not a valid trie field.
    pub(crate) fn build(
        key: &str,
        hash: Option<&[u8]>,
        value: Option<&[u8]>,
        trie: &[u8],
        raw_flags: u64,
        seq: u64,
    ) -> Result<Self, &'static str> {
        let mut count = 0usize;
        let mut wide = trie.len() > NARROW_LIMIT;
        trie_field::scan(trie, |i, _| {
            count += 1;
            wide |= i as usize >= NARROW_LIMIT;
        })?;
        let entry = if wide { 8 } else { 2 };
        let hash_guess = hash.map_or(8 * (1 + key.matches('/').count()), <[u8]>::len);
        let mut d = Vec::with_capacity(
            BODY + hash_guess
                + count * entry
                + trie.len()
                + key.len()
                + value.map_or(0, <[u8]>::len),
        );
        let mut buckets = len_u32(count)?;
        if wide {
            buckets |= WIDE;
        }
        if value.is_some() {
            buckets |= HAS_VALUE;
        }
        d.extend_from_slice(&seq.to_le_bytes()); // u64le
        d.extend_from_slice(&raw_flags.to_le_bytes()); // u64le
        d.extend_from_slice(&len_u32(key.len())?.to_le_bytes()); // u32le
        d.extend_from_slice(&len_u32(trie.len())?.to_le_bytes()); // u32le
        d.extend_from_slice(&[0; 4]); // hash length, set below
        d.extend_from_slice(&buckets.to_le_bytes()); // u32le
        match hash {
            Some(h) => d.extend_from_slice(h),
            None => key::push_hash(key, &mut d),
        }
        let hash_len = len_u32(d.len() - BODY)?;
        d[HASH_LEN..HASH_LEN + 4].copy_from_slice(&hash_len.to_le_bytes()); // u32le
        d.extend_from_slice(key.as_bytes());
        let index = d.len();
        d.resize(index + count * entry, 0);
        let mut k = 0;
        trie_field::scan(trie, |i, at| {
            if wide {
                // u32le positions, then u32le offsets.
                let p = index + 4 * k;
                d[p..p + 4].copy_from_slice(&i.to_le_bytes());
                let o = index + 4 * (count + k);
                d[o..o + 4].copy_from_slice(&(at as u32).to_le_bytes());
            } else {
                d[index + k] = i as u8;
                d[index + count + k] = at as u8;
            }
            k += 1;
        })?;
        d.extend_from_slice(trie);
        if let Some(v) = value {
            d.extend_from_slice(v);
        }
        Ok(Node(Arc::from(d)))
    }

    /// Decodes block `seq`. The stored `seq` field is ignored, as JS readers do.
    pub(crate) fn decode(buf: &[u8], seq: u64) -> Result<Self> {
        let corrupt = |reason| Error::CorruptNode { seq, reason };
        let msg = NodeMessage::decode(buf).map_err(corrupt)?;
        // Stored keys are normalised already; JS normalises again on decode.
        let key = key::normalize(msg.key);
        Node::build(key, None, msg.value, msg.trie, msg.flags, seq).map_err(corrupt)
    }

    fn hash_len(&self) -> usize {
        u32_at(&self.0, HASH_LEN) as usize
    }

    fn buckets(&self) -> (usize, bool) {
        let b = u32_at(&self.0, BUCKETS);
        ((b & COUNT_MASK) as usize, b & WIDE != 0)
    }

    /// Where the key, the index, the trie field and the value start.
    fn offsets(&self) -> [usize; 4] {
        let key = BODY + self.hash_len();
        let index = key + u32_at(&self.0, KEY_LEN) as usize;
        let (count, wide) = self.buckets();
        let trie = index + count * if wide { 8 } else { 2 };
        let value = trie + u32_at(&self.0, TRIE_LEN) as usize;
        [key, index, trie, value]
    }

    /// The normalised key (no leading `/`).
    pub fn key(&self) -> &str {
        let [key, index, _, _] = self.offsets();
        // Checked when the node was built.
        std::str::from_utf8(self.0.get(key..index).unwrap_or_default()).unwrap_or_default()
    }

    /// The value, or `None` for a node put with no value.
    pub fn value(&self) -> Option<&[u8]> {
        if u32_at(&self.0, BUCKETS) & HAS_VALUE == 0 {
            return None;
        }
        self.0.get(self.offsets()[3]..)
    }

    /// The block index holding this node.
    pub fn seq(&self) -> u64 {
        u64_at(&self.0, SEQ)
    }

    /// The caller's flags (JS `node.flags`: the stored flags shifted right by 8).
    pub fn flags(&self) -> u64 {
        self.raw_flags() >> USER_SHIFT
    }

    /// Whether the key lives in the hidden subtree.
    pub fn hidden(&self) -> bool {
        self.raw_flags() & HIDDEN != 0
    }

    /// The stored flags: bit 0 hidden, user flags from bit 8.
    pub fn raw_flags(&self) -> u64 {
        u64_at(&self.0, FLAGS)
    }

    /// The 8-byte SipHash of each key segment, concatenated.
    pub fn key_hash(&self) -> &[u8] {
        self.0.get(BODY..BODY + self.hash_len()).unwrap_or_default()
    }

    /// Whether this is the key-`''` node a delete of the last key writes; JS reads it as "no
    /// node" and so does every walk here.
    pub(crate) fn is_reset(&self) -> bool {
        u32_at(&self.0, KEY_LEN) == 0
    }

    pub(crate) fn len(&self) -> usize {
        key::path_len(self.key_hash())
    }

    pub(crate) fn path(&self, i: usize) -> u8 {
        key::path(self.key_hash(), self.hidden(), i)
    }

    /// The bucket of pointers at position `i` (empty if there is none).
    pub(crate) fn bucket(&self, i: usize) -> Bucket<'_> {
        let [_, index, trie, value] = self.offsets();
        let d = &self.0;
        let (count, wide) = self.buckets();
        let found = if wide {
            let pos = |k: usize| u32_at(d, index + 4 * k) as usize;
            let (mut lo, mut hi, mut at) = (0, count, None);
            while lo < hi {
                let mid = (lo + hi) / 2;
                match pos(mid).cmp(&i) {
                    std::cmp::Ordering::Less => lo = mid + 1,
                    std::cmp::Ordering::Greater => hi = mid,
                    std::cmp::Ordering::Equal => {
                        at = Some(u32_at(d, index + 4 * (count + mid)) as usize);
                        break;
                    }
                }
            }
            at
        } else {
            let positions = d.get(index..index + count).unwrap_or_default();
            match u8::try_from(i).map(|i| positions.binary_search(&i)) {
                Ok(Ok(k)) => d.get(index + count + k).map(|&o| usize::from(o)),
                _ => None,
            }
        };
        match found {
            Some(at) => Bucket::at(d.get(trie..value).unwrap_or_default(), at),
            None => Bucket::default(),
        }
    }

    /// Whether this key differs from `other` at position `i` although the path bits there
    /// are equal (JS `collides`).
    pub(crate) fn collides(&self, other: &KeyPath, i: usize) -> bool {
        key::collides(self.key(), self.len(), other.key(), i)
    }

    /// Bytes held, for the cache's budget: the buffer, the reference counts and the allocator's
    /// rounding.
    pub(crate) fn heap_size(&self) -> usize {
        (self.0.len() + 16 + 8).next_multiple_of(16)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trie_field::TrieBuilder;

    fn field(entries: &[(usize, usize, u64)]) -> Vec<u8> {
        let mut b = TrieBuilder::default();
        for &(i, v, s) in entries {
            b.push(i, v, s);
        }
        b.encode().unwrap_or_default()
    }

    #[test]
    fn packs_and_reads_back() {
        let trie = field(&[(1, 2, 7), (33, 4, 1), (33, 0, 300)]);
        let hidden = KeyPath::new("a/b", true);
        let n = Node::build("a/b", None, Some(b"val"), &trie, 0x301, 9).unwrap();
        assert_eq!((n.key(), n.value(), n.seq()), ("a/b", Some(&b"val"[..]), 9));
        assert_eq!((n.flags(), n.raw_flags(), n.hidden()), (3, 0x301, true));
        assert_eq!(n.key_hash(), hidden.hash());
        assert_eq!(n.len(), hidden.len());
        let paths: Vec<u8> = (0..n.len() + 1).map(|i| n.path(i)).collect();
        let want: Vec<u8> = (0..n.len() + 1).map(|i| hidden.path(i)).collect();
        assert_eq!(paths, want);
        assert_eq!(n.bucket(1).iter().collect::<Vec<_>>(), [0, 0, 7]);
        assert_eq!(n.bucket(33).iter().collect::<Vec<_>>(), [300, 0, 0, 0, 1]);
        assert_eq!(n.bucket(2).len(), 0);
        assert_eq!(n.bucket(1000).len(), 0);
        let none = Node::build("", None, None, &[], 0, 2).unwrap();
        assert!(none.is_reset() && none.value().is_none() && none.bucket(0).len() == 0);
        let empty = Node::build("k", None, Some(b""), &[], 0, 3).unwrap();
        assert_eq!(empty.value(), Some(&b""[..]));
    }

    #[test]
    fn wide_index_for_far_positions() {
        let trie = field(&[(5, 1, 2), (300, 3, 4), (70_000, 0, 6)]);
        let n = Node::build("k", None, None, &trie, 0, 8).unwrap();
        assert!(n.buckets().1, "positions past 255 need the wide index");
        for (i, want) in [(5, vec![0, 2]), (300, vec![0, 0, 0, 4]), (70_000, vec![6])] {
            assert_eq!(n.bucket(i).iter().collect::<Vec<_>>(), want);
        }
        assert_eq!(n.bucket(6).len(), 0);
        assert_eq!(n.bucket(70_001).len(), 0);
        assert_eq!(n.bucket(0).len(), 0);
    }

    #[test]
    fn decode_matches_build_and_rejects_bad_tries() {
        let trie = field(&[(1, 1, 3)]);
        let bytes = crate::message::encode_node("/x/y", Some(b"v"), &trie, 4, 1);
        let n = Node::decode(&bytes, 5).unwrap();
        assert_eq!(
            n,
            Node::build("x/y", None, Some(b"v"), &trie, 1, 5).unwrap()
        );
        let bad = crate::message::encode_node("x", None, &[0x02, 0x01, 0x01], 4, 0);
        assert!(matches!(
            Node::decode(&bad, 5),
            Err(Error::CorruptNode { seq: 5, .. })
        ));
    }
}
