//! The `trie` field: each node's compressed pointers to older nodes (formats.md §3.5).
//!
//! Position `i` holds a bucket of seqs indexed by path value `v` (0..=4), with collision
//! overflow at `v+5`, `v+10`, …; seq 0 means empty. Encoded as
//! `varint(length) (varint(i) varint(bitmask) varint(seq)*)*`.

use crate::varint;

/// JS encodes the field into a fixed 64 KiB scratch buffer.
pub(crate) const MAX_ENCODED: usize = 65536;
/// Slots a bucket may have: JS builds the bitmask with 32-bit `|=`.
const MAX_SLOTS: usize = 31;

/// A decoded trie field, kept compact: node caches hold many of these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Trie {
    /// `(position, start in seqs, slots)`, ascending by position.
    index: Vec<(u32, u32, u8)>,
    /// Every bucket's slots back to back, zeros included.
    seqs: Vec<u64>,
}

impl Trie {
    /// The bucket at position `i`: slots by path value, `0` for empty (empty slice if none).
    pub(crate) fn bucket(&self, i: usize) -> &[u64] {
        let Ok(i) = u32::try_from(i) else { return &[] };
        match self.index.binary_search_by_key(&i, |e| e.0) {
            Ok(k) => {
                let (_, start, n) = self.index[k];
                &self.seqs[start as usize..start as usize + n as usize]
            }
            Err(_) => &[],
        }
    }

    /// Approximate heap bytes, for the cache's budget.
    pub(crate) fn heap_size(&self) -> usize {
        self.index.capacity() * 12 + self.seqs.capacity() * 8
    }

    /// Decodes a field; `Err` names what is wrong.
    pub(crate) fn decode(buf: &[u8]) -> Result<Self, &'static str> {
        let mut trie = Trie::default();
        if buf.is_empty() {
            // JS decodes a missing field as an empty trie.
            return Ok(trie);
        }
        let mut pos = 0;
        varint::decode(buf, &mut pos).ok_or("truncated trie length")?;
        let mut last: Option<u64> = None;
        while pos < buf.len() {
            let i = varint::decode(buf, &mut pos).ok_or("truncated trie position")?;
            if last.is_some_and(|l| i <= l) || i > u64::from(u32::MAX) {
                return Err("trie positions out of order");
            }
            last = Some(i);
            let mut mask = varint::decode(buf, &mut pos).ok_or("truncated trie bitmask")?;
            let slots = 64 - mask.leading_zeros() as usize;
            let start = trie.seqs.len();
            trie.seqs.resize(start + slots, 0);
            let mut v = 0;
            while mask != 0 {
                if mask & 1 == 1 {
                    let s = varint::decode(buf, &mut pos).ok_or("truncated trie seq")?;
                    trie.seqs[start + v] = s;
                }
                mask >>= 1;
                v += 1;
            }
            let start = u32::try_from(start).map_err(|_| "trie too large")?;
            trie.index.push((i as u32, start, slots as u8));
        }
        Ok(trie)
    }
}

/// The pointers of a node being written, filled by the put walk.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrieBuilder {
    /// Dense by position; an empty bucket is one JS never created.
    buckets: Vec<Vec<u64>>,
}

impl TrieBuilder {
    /// JS `push`: the first free slot at `v mod 5`, `+5`, …, unless `seq` is already in the
    /// bucket. The bucket is created even then, as in JS.
    pub(crate) fn push(&mut self, i: usize, v: usize, seq: u64) {
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Vec::new);
        }
        let bucket = &mut self.buckets[i];
        let mut v = v % 5;
        while bucket.get(v).is_some_and(|&s| s != 0) {
            v += 5;
        }
        if bucket.contains(&seq) || v >= MAX_SLOTS {
            return;
        }
        if bucket.len() <= v {
            bucket.resize(v + 1, 0);
        }
        bucket[v] = seq;
    }

    /// The field bytes, or `None` if they would not fit JS's 64 KiB buffer.
    pub(crate) fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(8);
        varint::encode(self.buckets.len() as u64, &mut out);
        for (i, bucket) in self.buckets.iter().enumerate() {
            if bucket.is_empty() {
                continue;
            }
            varint::encode(i as u64, &mut out);
            let mask = bucket
                .iter()
                .enumerate()
                .filter(|(_, s)| **s != 0)
                .fold(0u64, |m, (v, _)| m | 1 << v);
            varint::encode(mask, &mut out);
            for &s in bucket.iter().filter(|s| **s != 0) {
                varint::encode(s, &mut out);
            }
        }
        (out.len() <= MAX_ENCODED).then_some(out)
    }

    /// The compact form, for the node once written.
    pub(crate) fn build(&self) -> Trie {
        let mut trie = Trie::default();
        for (i, bucket) in self.buckets.iter().enumerate() {
            if bucket.is_empty() {
                continue;
            }
            let start = trie.seqs.len() as u32;
            trie.seqs.extend_from_slice(bucket);
            trie.index.push((i as u32, start, bucket.len() as u8));
        }
        trie
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(entries: &[(usize, usize, u64)]) -> TrieBuilder {
        let mut b = TrieBuilder::default();
        for &(i, v, s) in entries {
            b.push(i, v, s);
        }
        b
    }

    #[test]
    fn encodings_match_js() {
        let hex = |b: &TrieBuilder| hex::encode(b.encode().unwrap_or_default());
        assert_eq!(hex(&build(&[])), "00");
        assert_eq!(hex(&build(&[(0, 1, 3)])), "01000203");
        assert_eq!(hex(&build(&[(1, 1, 5), (1, 3, 7)])), "02010a0507");
        assert_eq!(hex(&build(&[(1, 0, 3), (33, 4, 1)])), "22010103211001");
    }

    #[test]
    fn push_overflows_and_dedupes() {
        let b = build(&[(2, 1, 9), (2, 6, 4), (2, 1, 9), (2, 3, 4)]);
        assert_eq!(b.buckets[2], [0, 9, 0, 0, 0, 0, 4]);
    }

    #[test]
    fn decode_reads_buckets() {
        let t = Trie::decode(&[0x22, 0x01, 0x01, 0x03, 0x21, 0x10, 0x01]).unwrap();
        assert_eq!(t.bucket(1), [3]);
        assert_eq!(t.bucket(33), [0, 0, 0, 0, 1]);
        assert!(t.bucket(2).is_empty());
        assert!(Trie::decode(&[0x02, 0x01, 0x01]).is_err());
        assert!(Trie::decode(&[0x05, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01]).is_err());
    }

    proptest! {
        #[test]
        fn builder_round_trips(entries in proptest::collection::vec((0usize..80, 0usize..5, 1u64..100_000), 0..30)) {
            let b = build(&entries);
            let bytes = b.encode().unwrap_or_default();
            let decoded = Trie::decode(&bytes).map_err(TestCaseError::fail)?;
            let built = b.build();
            for i in 0..80 {
                let want: Vec<u64> = built.bucket(i).to_vec();
                // The decoder sizes a bucket to its highest set slot, like the builder does.
                prop_assert_eq!(decoded.bucket(i), want.as_slice());
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = Trie::decode(&bytes);
        }
    }
}
