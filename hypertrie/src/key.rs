//! Keys and their paths (formats.md §3.4): normalising, splitting into segments, and the 2-bit
//! path values taken from each segment's SipHash-2-4.

use siphasher::sip::SipHasher24;

/// Path value of the end-of-key position.
pub(crate) const END: u8 = 4;

/// Drops exactly one leading `/`; nothing else changes.
pub(crate) fn normalize(key: &str) -> &str {
    key.strip_prefix('/').unwrap_or(key)
}

/// SipHash-2-4 of one segment with the 16 zero-byte key hypertrie uses.
pub(crate) fn siphash(segment: &[u8]) -> [u8; 8] {
    // u64le: libsodium writes the 64-bit result little-endian.
    SipHasher24::new_with_keys(0, 0).hash(segment).to_le_bytes()
}

/// Whether position `i` is the last chunk of a segment, where equal path bits may still be
/// different segments (a 64-bit hash collision).
pub(crate) fn terminator(i: usize) -> bool {
    i > 0 && i & 31 == 0
}

/// A normalised key with its segment hashes and hidden bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyPath {
    key: String,
    /// Byte ranges of the segments within `key`.
    segments: Vec<(u32, u32)>,
    /// 8 bytes of SipHash per segment.
    hash: Vec<u8>,
    hidden: bool,
}

impl KeyPath {
    /// Normalises `key` and hashes its segments.
    pub(crate) fn new(key: &str, hidden: bool) -> Self {
        Self::from_normalized(normalize(key).to_owned(), hidden)
    }

    /// Hashes an already-normalised key (as stored in a node).
    pub(crate) fn from_normalized(key: String, hidden: bool) -> Self {
        let mut segments = Vec::new();
        let mut start = 0usize;
        for part in key.split('/') {
            let end = start + part.len();
            segments.push((start as u32, end as u32));
            start = end + 1;
        }
        // JS: drop the first piece if empty, then the last piece if empty (once each).
        if segments.first().is_some_and(|&(s, e)| s == e) {
            segments.remove(0);
        }
        if segments.last().is_some_and(|&(s, e)| s == e) {
            segments.pop();
        }
        let mut hash = Vec::with_capacity(8 * segments.len());
        for &(s, e) in &segments {
            hash.extend_from_slice(&siphash(&key.as_bytes()[s as usize..e as usize]));
        }
        KeyPath {
            key,
            segments,
            hash,
            hidden,
        }
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn hidden(&self) -> bool {
        self.hidden
    }

    pub(crate) fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// Number of path positions: hidden bit, 32 per segment, end marker.
    pub(crate) fn len(&self) -> usize {
        self.hash.len() * 4 + 2
    }

    /// Path value at position `i`: 0..=3, or [`END`] at and past the end marker.
    pub(crate) fn path(&self, i: usize) -> u8 {
        if i == 0 {
            return u8::from(self.hidden);
        }
        let j = i - 1;
        match self.hash.get(j >> 2) {
            Some(b) => (b >> (2 * (j & 3))) & 3,
            None => END,
        }
    }

    fn segment(&self, j: usize) -> Option<&str> {
        self.segments
            .get(j)
            .map(|&(s, e)| &self.key[s as usize..e as usize])
    }

    /// Whether `other` has the same path bits here but is a different key (JS `collides`).
    pub(crate) fn collides(&self, other: &KeyPath, i: usize) -> bool {
        if i == 0 {
            return false;
        }
        if i == self.len() - 1 {
            return self.key != other.key;
        }
        let j = (i - 1) / 32;
        self.segment(j) != other.segment(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_libsodium() {
        assert_eq!(hex::encode(siphash(b"a")), "49a293cd6008c296");
        assert_eq!(hex::encode(siphash(b"")), "d70077739d4b921e");
    }

    #[test]
    fn normalises_and_splits_like_js() {
        let segs = |k: &str| {
            let p = KeyPath::new(k, false);
            (0..p.segments.len())
                .map(|j| p.segment(j).unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(KeyPath::new("/a", false).key(), "a");
        assert_eq!(KeyPath::new("//a", false).key(), "/a");
        assert_eq!(segs("//a"), ["a"]);
        assert_eq!(segs("a/"), ["a"]);
        assert_eq!(segs("a//b"), ["a", "", "b"]);
        assert_eq!(segs(""), Vec::<String>::new());
        assert_eq!(segs("/"), Vec::<String>::new());
        assert_eq!(segs("//"), Vec::<String>::new());
        assert_eq!(segs("a/b/"), ["a", "b"]);
    }

    #[test]
    fn path_values() {
        // formats.md §3.4: 'a' → 0,1,2,0,1,2,0,2,2,…,4
        let p = KeyPath::new("a", false);
        assert_eq!(p.len(), 34);
        let head: Vec<u8> = (0..9).map(|i| p.path(i)).collect();
        assert_eq!(head, [0, 1, 2, 0, 1, 2, 0, 2, 2]);
        assert_eq!(p.path(33), END);
        assert_eq!(p.path(1000), END);
        assert_eq!(KeyPath::new("a", true).path(0), 1);
        assert_eq!(KeyPath::new("", false).len(), 2);
    }

    #[test]
    fn collisions_compare_segments() {
        let a = KeyPath::new("x/a", false);
        let b = KeyPath::new("x/b", false);
        assert!(!a.collides(&b, 32));
        assert!(a.collides(&b, 64));
        assert!(!a.collides(&b, 0));
        assert!(a.collides(&b, a.len() - 1));
    }
}
