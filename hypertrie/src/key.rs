//! Keys and their paths (docs/formats.md §3.4): normalising, splitting into segments, and the 2-bit
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

/// The segments of a normalised key, as JS splits it: on `/`, dropping an empty first piece,
/// then an empty last piece.
pub(crate) fn segments(key: &str) -> impl Iterator<Item = &str> {
    // Dropping the empty first piece is dropping a leading `/`; what is left is empty only if
    // its single piece is the empty last piece, else a trailing `/` makes that piece.
    let rest = key.strip_prefix('/').unwrap_or(key);
    let rest = (!rest.is_empty()).then(|| rest.strip_suffix('/').unwrap_or(rest));
    rest.into_iter().flat_map(|r| r.split('/'))
}

/// Appends the 8-byte SipHash of each segment of a normalised key.
pub(crate) fn push_hash(key: &str, out: &mut Vec<u8>) {
    for segment in segments(key) {
        out.extend_from_slice(&siphash(segment.as_bytes()));
    }
}

/// JS `collides(a, b, i)`: whether key `a`, whose path has `a_len` positions, differs from
/// key `b` at position `i` although their path bits there are equal.
pub(crate) fn collides(a: &str, a_len: usize, b: &str, i: usize) -> bool {
    if i == 0 {
        return false;
    }
    if i == a_len - 1 {
        return a != b;
    }
    let j = (i - 1) / 32;
    segments(a).nth(j) != segments(b).nth(j)
}

/// Path value at position `i` of a key with segment hashes `hash`: 0..=3, or [`END`] at and
/// past the end marker.
pub(crate) fn path(hash: &[u8], hidden: bool, i: usize) -> u8 {
    if i == 0 {
        return u8::from(hidden);
    }
    let j = i - 1;
    match hash.get(j >> 2) {
        Some(b) => (b >> (2 * (j & 3))) & 3,
        None => END,
    }
}

/// Number of path positions of a key with segment hashes `hash`: hidden bit, 32 per segment,
/// end marker.
pub(crate) fn path_len(hash: &[u8]) -> usize {
    hash.len() * 4 + 2
}

/// A normalised key with its segment hashes and hidden bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyPath {
    key: String,
    /// 8 bytes of SipHash per segment.
    hash: Vec<u8>,
    hidden: bool,
}

impl KeyPath {
    /// Normalises `key` and hashes its segments.
    pub(crate) fn new(key: &str, hidden: bool) -> Self {
        let key = normalize(key).to_owned();
        let mut hash = Vec::with_capacity(8 * (1 + key.matches('/').count()));
        push_hash(&key, &mut hash);
        KeyPath { key, hash, hidden }
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// Number of path positions: hidden bit, 32 per segment, end marker.
    pub(crate) fn len(&self) -> usize {
        path_len(&self.hash)
    }

    /// Path value at position `i`: 0..=3, or [`END`] at and past the end marker.
    pub(crate) fn path(&self, i: usize) -> u8 {
        path(&self.hash, self.hidden, i)
    }

    /// Whether key `other` has the same path bits here but is a different key (JS `collides`).
    pub(crate) fn collides(&self, other: &str, i: usize) -> bool {
        collides(&self.key, self.len(), other, i)
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
        fn segs(k: &str) -> Vec<&str> {
            segments(normalize(k)).collect()
        }
        assert_eq!(KeyPath::new("/a", false).key(), "a");
        assert_eq!(KeyPath::new("//a", false).key(), "/a");
        assert_eq!(segs("//a"), ["a"]);
        assert_eq!(segs("a/"), ["a"]);
        assert_eq!(segs("a//b"), ["a", "", "b"]);
        assert_eq!(segs(""), Vec::<String>::new());
        assert_eq!(segs("/"), Vec::<String>::new());
        assert_eq!(segs("//"), Vec::<String>::new());
        assert_eq!(segs("a/b/"), ["a", "b"]);
        assert_eq!(segs("///"), [""]);
        assert_eq!(segs("/a//"), ["a", ""]);
        assert_eq!(KeyPath::new("///", false).len(), 34);
    }

    #[test]
    fn path_values() {
        // docs/formats.md §3.4: 'a' → 0,1,2,0,1,2,0,2,2,…,4
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
        assert!(!a.collides(b.key(), 32));
        assert!(a.collides(b.key(), 64));
        assert!(!a.collides(b.key(), 0));
        assert!(a.collides(b.key(), a.len() - 1));
        assert!(!a.collides(a.key(), a.len() - 1));
    }
}
