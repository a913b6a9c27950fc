//! Unsigned LEB128 varints: 7 bits per byte, least significant group first, high bit set on
//! every byte but the last.

/// Most bytes a varint may have: enough for 64 bits.
pub const MAX_VARINT_LEN: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The buffer ended before the varint's last byte (fewer than 10 bytes, all continued).
    Incomplete,
    /// Ten bytes without an end, or a tenth byte carrying more than the top bit of a `u64`.
    Overflow,
}

impl std::fmt::Display for VarintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VarintError::Incomplete => "truncated varint",
            VarintError::Overflow => "varint overflows 64 bits",
        })
    }
}

impl std::error::Error for VarintError {}

/// Appends `n` as a varint (7 bits per byte, least significant group first).
pub fn encode_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// How many bytes [`encode_varint`] writes for `n` (1 to 10).
pub fn varint_len(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads the varint at the start of `buf`: `(value, bytes read)`. Bytes after it are not looked
/// at.
pub fn decode_varint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().take(MAX_VARINT_LEN).enumerate() {
        let group = u64::from(byte & 0x7f);
        // The tenth byte starts at bit 63: only its lowest bit fits in a u64.
        if i == MAX_VARINT_LEN - 1 && group > 1 {
            return Err(VarintError::Overflow);
        }
        value |= group << (7 * i);
        if byte < 0x80 {
            return Ok((value, i + 1));
        }
    }
    if buf.len() >= MAX_VARINT_LEN {
        Err(VarintError::Overflow)
    } else {
        Err(VarintError::Incomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_varint(n, &mut out);
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(encoded(0), [0x00]);
        assert_eq!(encoded(127), [0x7f]);
        assert_eq!(encoded(128), [0x80, 0x01]);
        assert_eq!(encoded(300), [0xac, 0x02]);
        assert_eq!(encoded(1_048_576), [0x80, 0x80, 0x40]);
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(encoded(u64::MAX), max);
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn edges() {
        assert_eq!(decode_varint(&[]), Err(VarintError::Incomplete));
        assert_eq!(decode_varint(&[0x80]), Err(VarintError::Incomplete));
        assert_eq!(decode_varint(&[0xff; 9]), Err(VarintError::Incomplete));
        // Ten continued bytes can never end within a u64.
        assert_eq!(decode_varint(&[0xff; 10]), Err(VarintError::Overflow));
        assert_eq!(decode_varint(&[0xff; 11]), Err(VarintError::Overflow));
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(decode_varint(&max), Ok((u64::MAX, 10)));
        // Bit 64 and up: rejected rather than dropped.
        max[9] = 0x02;
        assert_eq!(decode_varint(&max), Err(VarintError::Overflow));
        max[9] = 0x7f;
        assert_eq!(decode_varint(&max), Err(VarintError::Overflow));
        // A non-minimal encoding of 0 in all ten bytes is still a u64.
        let mut zero = vec![0x80; 9];
        zero.push(0x00);
        assert_eq!(decode_varint(&zero), Ok((0, 10)));
        // Non-minimal, as JS accepts it; trailing bytes are left alone.
        assert_eq!(decode_varint(&[0x81, 0x00, 0xff]), Ok((1, 2)));
        assert_eq!(decode_varint(&[0x00, 0x80]), Ok((0, 1)));
    }

    proptest! {
        #[test]
        fn round_trip(n: u64, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = encoded(n);
            prop_assert_eq!(out.len(), varint_len(n));
            let len = out.len();
            out.extend_from_slice(&tail);
            prop_assert_eq!(decode_varint(&out), Ok((n, len)));
        }

        #[test]
        fn every_prefix_is_incomplete(n in 128u64..) {
            let out = encoded(n);
            for cut in 0..out.len() {
                prop_assert_eq!(decode_varint(&out[..cut]), Err(VarintError::Incomplete));
            }
        }

        #[test]
        fn never_reads_past_ten_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            match decode_varint(&bytes) {
                Ok((value, used)) => {
                    prop_assert!(used <= MAX_VARINT_LEN && used <= bytes.len());
                    // Whatever decodes re-encodes minimally to no more bytes.
                    prop_assert!(varint_len(value) <= used);
                }
                Err(VarintError::Incomplete) => prop_assert!(bytes.len() < MAX_VARINT_LEN),
                Err(VarintError::Overflow) => prop_assert!(bytes.len() >= MAX_VARINT_LEN),
            }
        }
    }
}
