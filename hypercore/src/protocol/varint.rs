//! Unsigned LEB128 varints, the length and header prefix of every frame and every protobuf
//! field: the stack's one codec (`protowire`), with a per-use byte limit on top.

use protowire::{MAX_VARINT_LEN, decode_varint};

pub(crate) use protowire::{encode_varint as encode, varint_len as encoding_length};

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The buffer ended before the last byte (high bit clear).
    Incomplete,
    /// More than `max_bytes` bytes, or a value beyond `u64`.
    TooLong,
}

/// Reads one varint of at most `max_bytes` bytes (and at most protobuf's 10) from the start of
/// `buf`: `(value, bytes read)`.
pub(crate) fn decode(buf: &[u8], max_bytes: usize) -> Result<(u64, usize), VarintError> {
    let limit = max_bytes.min(MAX_VARINT_LEN);
    match decode_varint(&buf[..buf.len().min(limit)]) {
        Ok(read) => Ok(read),
        Err(_) if buf.len() >= limit => Err(VarintError::TooLong),
        Err(_) => Err(VarintError::Incomplete),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let mut out = Vec::new();
        encode(1_048_576, &mut out);
        assert_eq!(out, [0x80, 0x80, 0x40]);
        assert_eq!(encoding_length(0), 1);
        assert_eq!(encoding_length(127), 1);
        assert_eq!(encoding_length(128), 2);
        assert_eq!(encoding_length(u64::MAX), 10);
    }

    #[test]
    fn limits() {
        assert_eq!(decode(&[0x80, 0x80], 10), Err(VarintError::Incomplete));
        assert_eq!(decode(&[0xff; 4], 3), Err(VarintError::TooLong));
        assert_eq!(decode(&[0xff, 0xff, 0x01], 3), Ok((0x3fff | 1 << 14, 3)));
        assert_eq!(decode(&[0xff; 11], 20), Err(VarintError::TooLong));
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(decode(&max, 10), Ok((u64::MAX, 10)));
        max[9] = 0x02;
        assert_eq!(decode(&max, 10), Err(VarintError::TooLong));
    }

    proptest! {
        #[test]
        fn round_trip(n: u64) {
            let mut out = Vec::new();
            encode(n, &mut out);
            prop_assert_eq!(out.len(), encoding_length(n));
            prop_assert_eq!(decode(&out, 10), Ok((n, out.len())));
        }
    }
}
