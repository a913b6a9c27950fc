//! Unsigned LEB128 varints, as the `varint` npm module writes them (docs/formats.md §0.2).

/// Appends `n` as a varint: 7 bits per byte, least significant group first.
pub(crate) fn encode(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Bytes `encode(n)` writes.
pub(crate) fn encoded_len(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a varint at `*pos`, advancing it; `None` when truncated or over 64 bits.
pub(crate) fn decode(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        let part = u64::from(b & 0x7f);
        if shift == 63 && part > 1 || shift > 63 {
            return None;
        }
        n |= part << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let mut out = Vec::new();
        encode(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(encoded_len(0), 1);
        assert_eq!(encoded_len(127), 1);
        assert_eq!(encoded_len(128), 2);
        assert_eq!(encoded_len(u64::MAX), 10);
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        assert_eq!(decode(&[0x80], &mut 0), None);
        assert_eq!(decode(&[0xff; 10], &mut 0), None);
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(decode(&over, &mut 0), None);
    }

    proptest! {
        #[test]
        fn round_trip(n: u64) {
            let mut out = Vec::new();
            encode(n, &mut out);
            prop_assert_eq!(out.len(), encoded_len(n));
            let mut pos = 0;
            prop_assert_eq!(decode(&out, &mut pos), Some(n));
            prop_assert_eq!(pos, out.len());
        }
    }
}
