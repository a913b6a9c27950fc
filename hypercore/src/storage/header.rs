//! The 32-byte header of the `tree`, `signatures` and `bitfield` files (docs/formats.md §2.1).

/// Bytes in every header.
pub(crate) const HEADER_LEN: u64 = 32;
const MAGIC: [u8; 3] = [0x05, 0x02, 0x57];

/// The header JS writes on every open: magic, file type, version 0, `u16be` entry size, then the
/// length-prefixed algorithm name, zero-padded.
pub(crate) fn encode(file_type: u8, entry_size: u16, algorithm: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..3].copy_from_slice(&MAGIC);
    out[3] = file_type;
    out[4] = 0; // version
    out[5..7].copy_from_slice(&entry_size.to_be_bytes()); // u16be
    out[7] = algorithm.len() as u8;
    out[8..8 + algorithm.len()].copy_from_slice(algorithm.as_bytes());
    out
}

/// The `bitfield` header for a page size.
pub(crate) fn bitfield(page_size: u16) -> [u8; 32] {
    encode(0, page_size, "")
}

/// The `signatures` header.
pub(crate) fn signatures() -> [u8; 32] {
    encode(1, 64, "Ed25519")
}

/// The `tree` header.
pub(crate) fn tree() -> [u8; 32] {
    encode(2, 40, "BLAKE2b")
}

/// The page size stored in a `bitfield` header, as JS reads it (`readUInt16BE(5)`, no magic
/// check). `None` when the header is too short to hold one.
pub(crate) fn page_size(header: &[u8]) -> Option<u16> {
    (header.len() >= 7).then(|| u16::from_be_bytes([header[5], header[6]])) // u16be
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_js() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert!(hex(&tree()).starts_with("0502570200002807424c414b453262"));
        assert!(hex(&signatures()).starts_with("050257010000400745643235353139"));
        assert!(hex(&bitfield(3584)).starts_with("05025700000e0000"));
    }
}
