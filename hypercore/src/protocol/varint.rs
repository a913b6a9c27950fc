//! Unsigned LEB128 varints, the length and header prefix of every frame and every protobuf field.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The buffer ended before the last byte (high bit clear).
    Incomplete,
    /// More than `max_bytes` bytes, or a value beyond `u64`.
    TooLong,
}

/// Appends `n` as a varint (7 bits per byte, least significant group first).
pub(crate) fn encode(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// How many bytes [`encode`] writes for `n`.
pub(crate) fn encoding_length(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads one varint of at most `max_bytes` bytes from the start of `buf`: `(value, bytes read)`.
pub(crate) fn decode(buf: &[u8], max_bytes: usize) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate() {
        if i >= max_bytes || i >= 10 {
            return Err(VarintError::TooLong);
        }
        let group = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        // The tenth byte may only carry the single top bit of a u64.
        if shift == 63 && group > 1 {
            return Err(VarintError::TooLong);
        }
        value |= group << shift;
        if byte < 0x80 {
            return Ok((value, i + 1));
        }
    }
    if buf.len() >= max_bytes.min(10) {
        return Err(VarintError::TooLong);
    }
    Err(VarintError::Incomplete)
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
