//! The `name` file of a name-derived core: `varint(len) || name` (derived-key-storage 2.1).

/// Largest `name` file we read; names are short strings, so anything bigger is not one.
pub(crate) const MAX_NAME_FILE: u64 = 64 * 1024;

/// `varint(len(name)) || name`, the varint unsigned LEB128.
pub(crate) fn encode(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 3);
    let mut len = name.len() as u64;
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
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
    let mut len = 0u64;
    let mut shift = 0u32;
    let mut offset = 0usize;
    loop {
        let byte = *bytes.get(offset)?;
        offset += 1;
        // JS `varint` gives up past 7 groups (49 bits); so do we.
        if shift > 49 {
            return None;
        }
        len |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
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
    }
}
