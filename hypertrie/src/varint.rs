//! Unsigned LEB128 varints, as the `varint` npm module writes them (docs/formats.md §0.2): the
//! stack's one codec (`protowire`), read at a cursor.

pub(crate) use protowire::{encode_varint as encode, varint_len as encoded_len};

/// Reads a varint at `*pos`, advancing it; `None` when truncated or over 64 bits.
pub(crate) fn decode(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let (n, used) = protowire::decode_varint(buf.get(*pos..)?).ok()?;
    *pos += used;
    Some(n)
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
