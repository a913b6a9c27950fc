//! The `trie` field: each node's compressed pointers to older nodes (docs/formats.md §3.5).
//!
//! Position `i` holds a bucket of seqs indexed by path value `v` (0..=4), with collision
//! overflow at `v+5`, `v+10`, …; seq 0 means empty. Encoded as
//! `varint(length) (varint(i) varint(bitmask) varint(seq)*)*`.

use crate::varint;

/// JS encodes the field into a fixed 64 KiB scratch buffer.
pub(crate) const MAX_ENCODED: usize = 65536;
/// Slots a bucket may have: JS builds the bitmask with 32-bit `|=`.
const MAX_SLOTS: usize = 31;

/// One bucket of a stored trie field: which slots are set, and their seqs as the varints the
/// field holds (already checked by [`scan`]). Nodes keep the field bytes as written, so a
/// cached node costs about what its block does.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bucket<'a> {
    mask: u64,
    /// The seq varints of the set slots, in slot order (the field may go on after them).
    seqs: &'a [u8],
}

impl<'a> Bucket<'a> {
    /// The bucket whose bitmask starts at `at` in the field `buf`.
    pub(crate) fn at(buf: &'a [u8], at: usize) -> Self {
        let mut pos = at;
        match varint::decode(buf, &mut pos) {
            Some(mask) => Bucket {
                mask,
                seqs: buf.get(pos..).unwrap_or_default(),
            },
            None => Bucket::default(),
        }
    }

    /// Slots, up to the highest set one.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        64 - self.mask.leading_zeros() as usize
    }

    /// The seq in slot `v`, `0` for an empty slot.
    pub(crate) fn get(&self, v: usize) -> u64 {
        if v >= 64 || self.mask >> v & 1 == 0 {
            return 0;
        }
        let mut pos = 0;
        for _ in 0..(self.mask & ((1 << v) - 1)).count_ones() {
            skip_varint(self.seqs, &mut pos);
        }
        varint::decode(self.seqs, &mut pos).unwrap_or(0)
    }

    /// Every slot's seq in slot order, `0` for empty ones.
    pub(crate) fn iter(&self) -> BucketIter<'a> {
        BucketIter {
            mask: self.mask,
            seqs: self.seqs,
            pos: 0,
        }
    }
}

/// Iterator of [`Bucket::iter`].
#[derive(Clone, Debug)]
pub(crate) struct BucketIter<'a> {
    /// Slots not yet yielded, shifted down to bit 0.
    mask: u64,
    seqs: &'a [u8],
    pos: usize,
}

impl Iterator for BucketIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.mask == 0 {
            return None;
        }
        let set = self.mask & 1 == 1;
        self.mask >>= 1;
        if !set {
            return Some(0);
        }
        Some(varint::decode(self.seqs, &mut self.pos).unwrap_or(0))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = 64 - self.mask.leading_zeros() as usize;
        (n, Some(n))
    }
}

fn skip_varint(buf: &[u8], pos: &mut usize) {
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        if b & 0x80 == 0 {
            return;
        }
    }
}

/// Checks a stored field and calls `bucket(position, offset of its bitmask)` for each bucket,
/// in ascending position order; `Err` names what is wrong. An empty field is an empty trie, as
/// JS decodes a missing field.
pub(crate) fn scan(buf: &[u8], mut bucket: impl FnMut(u32, usize)) -> Result<(), &'static str> {
    if buf.is_empty() {
        return Ok(());
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
        bucket(i as u32, pos);
        let mask = varint::decode(buf, &mut pos).ok_or("truncated trie bitmask")?;
        for _ in 0..mask.count_ones() {
            varint::decode(buf, &mut pos).ok_or("truncated trie seq")?;
        }
    }
    Ok(())
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
        let out = self.encode_unbounded();
        (out.len() <= MAX_ENCODED).then_some(out)
    }

    /// The field bytes, however long.
    pub(crate) fn encode_unbounded(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 8 * self.buckets.len());
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
        out
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

    /// Every bucket of a stored field, as `(position, slots)`.
    fn buckets(buf: &[u8]) -> Result<Vec<(u32, Vec<u64>)>, &'static str> {
        let mut out = Vec::new();
        scan(buf, |i, at| {
            out.push((i, Bucket::at(buf, at).iter().collect()))
        })?;
        Ok(out)
    }

    #[test]
    fn decode_reads_buckets() {
        let buf = [0x22, 0x01, 0x01, 0x03, 0x21, 0x10, 0x01];
        assert_eq!(
            buckets(&buf).unwrap(),
            [(1, vec![3]), (33, vec![0, 0, 0, 0, 1])]
        );
        let b = Bucket::at(&buf, 5);
        assert_eq!((b.len(), b.get(4), b.get(0), b.get(9)), (5, 1, 0, 0));
        assert_eq!(buckets(&[]).unwrap(), []);
        assert!(buckets(&[0x02, 0x01, 0x01]).is_err());
        assert!(buckets(&[0x05, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01]).is_err());
    }

    #[test]
    fn bucket_get_skips_earlier_seqs() {
        // Slots 0, 2 and 6 set; slot 2's seq takes two varint bytes.
        let buf = [0x08, 0x07, 0x45, 0x05, 0xac, 0x02, 0x09];
        let b = Bucket::at(&buf, 2);
        assert_eq!(b.iter().collect::<Vec<_>>(), [5, 0, 300, 0, 0, 0, 9]);
        let got: Vec<u64> = (0..8).map(|v| b.get(v)).collect();
        assert_eq!(got, [5, 0, 300, 0, 0, 0, 9, 0]);
    }

    proptest! {
        #[test]
        fn builder_round_trips(entries in proptest::collection::vec((0usize..80, 0usize..5, 1u64..100_000), 0..30)) {
            let b = build(&entries);
            let bytes = b.encode().unwrap_or_default();
            let decoded = buckets(&bytes).map_err(TestCaseError::fail)?;
            let want: Vec<(u32, Vec<u64>)> = b
                .buckets
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_empty())
                .map(|(i, s)| (i as u32, s.clone()))
                .collect();
            // The decoder sizes a bucket to its highest set slot, like the builder does.
            prop_assert_eq!(decoded, want);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            if buckets(&bytes).is_ok() {
                scan(&bytes, |_, at| {
                    let b = Bucket::at(&bytes, at);
                    let _ = (0..70).map(|v| b.get(v)).sum::<u64>();
                })
                .map_err(TestCaseError::fail)?;
            }
        }
    }
}
