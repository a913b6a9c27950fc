//! The `name` file of a name-derived core: `varint(len) || name` (derived-key-storage 2.1).

/// Largest `name` file we read; names are short strings, so anything bigger is not one.
pub(crate) const MAX_NAME_FILE: u64 = 64 * 1024;

/// `varint(len(name)) || name`, the varint unsigned LEB128.
pub(crate) fn encode(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 3);
    protowire::encode_varint(name.len() as u64, &mut out);
    out.extend_from_slice(name);
    out
}

/// The name in a `name` file, or `None` where derived-key-storage sees no name: fewer than two
/// bytes, a varint that does not decode, or a length that does not end exactly at the file's
/// end.
pub(crate) fn decode(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < 2 {
        return None;
    }
    // JS `varint@5` reads any number of continuation bytes; protobuf's ten-byte rule differs
    // from it only for a length padded with zero groups past ten bytes, which no writer makes.
    let (len, offset) = protowire::decode_varint(bytes).ok()?;
    let rest = &bytes[offset..];
    (rest.len() as u64 == len).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_js() {
        assert_eq!(encode(b"default"), b"\x07default");
        let long = vec![b'x'; 72];
        assert_eq!(encode(&long)[0], 0x48);
        let longer = vec![b'y'; 300];
        let enc = encode(&longer);
        assert_eq!(&enc[..2], &[0xac, 0x02]); // 300 = 0b10_0101100
        assert_eq!(decode(&enc), Some(longer.as_slice()));
    }

    #[test]
    fn rejects_what_derived_key_storage_rejects() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"\x01"), None); // under 2 bytes
        assert_eq!(decode(b"\x01ab"), None); // length short of the end
        assert_eq!(decode(b"\x03ab"), None); // length past the end
        assert_eq!(decode(b"\x80\x80"), None); // varint never ends
        assert_eq!(decode(&[0xff; 12]), None);
        assert_eq!(decode(b"\x01a"), Some(b"a".as_slice()));
        // A non-minimal varint decodes as JS decodes it.
        assert_eq!(decode(b"\x81\x00a"), Some(b"a".as_slice()));
        // Padded to ten bytes, as JS still reads it.
        assert_eq!(
            decode(b"\x81\x80\x80\x80\x80\x80\x80\x80\x80\x00a"),
            Some(b"a".as_slice())
        );
    }
}
