//! multi-hyperdrive's tombstones: a protobuf record at the hidden trie key
//! `.tombstones/<path>` of the writer, saying a path was deleted (or un-deleted) at a time.

use crate::varint;

/// Folder of the hidden trie namespace tombstones live in (multi-hyperdrive's `THE_TOMB`).
pub const TOMBSTONE_PREFIX: &str = ".tombstones";

/// A deletion record (multi-hyperdrive's `Tombstone {required bool active = 1; optional uint32
/// timestamp = 2}`).
///
/// The schema declares `timestamp` as uint32, but JS stores `Date.now()` (about 41 bits of
/// milliseconds) and its varint codec writes and reads the full value, so the field is a
/// u64 here: a 32-bit decode would truncate every record Node writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// Whether the path is deleted (`false`: a later write erased the deletion).
    pub active: bool,
    /// When, in milliseconds since the Unix epoch.
    pub timestamp: u64,
}

impl Tombstone {
    /// The record bytes, field order and encoding as JS's `protocol-buffers` writes them:
    /// `0x08 active 0x10 varint(timestamp)` (varints little-endian base-128).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12);
        out.push(0x08);
        out.push(u8::from(self.active));
        out.push(0x10);
        varint::put(&mut out, self.timestamp);
        out
    }

    /// Decodes a record; unknown fields are skipped, as JS does. A missing timestamp reads as
    /// 0; a missing `active` (required in the schema) is an error.
    pub fn decode(mut buf: &[u8]) -> Result<Self, &'static str> {
        let mut active = None;
        let mut timestamp = 0;
        while !buf.is_empty() {
            let (tag, n) = varint::get(buf).ok_or("bad tag varint")?;
            buf = &buf[n..];
            match tag & 7 {
                0 => {
                    let (v, n) = varint::get(buf).ok_or("bad varint")?;
                    buf = &buf[n..];
                    match tag >> 3 {
                        1 => active = Some(v != 0),
                        2 => timestamp = v,
                        _ => {}
                    }
                }
                1 => buf = buf.get(8..).ok_or("truncated fixed64")?,
                5 => buf = buf.get(4..).ok_or("truncated fixed32")?,
                2 => {
                    let (len, n) = varint::get(buf).ok_or("bad length")?;
                    let len = usize::try_from(len).map_err(|_| "length too large")?;
                    buf = buf
                        .get(n..)
                        .and_then(|b| b.get(len..))
                        .ok_or("truncated field")?;
                }
                _ => return Err("unknown wire type"),
            }
        }
        Ok(Tombstone {
            active: active.ok_or("tombstone without `active`")?,
            timestamp,
        })
    }
}

/// The hidden trie key of `path`'s tombstone: Node's `path.posix.join('.tombstones', path)`
/// for a normalised absolute path (the root gives `.tombstones/`).
pub fn tombstone_key(path: &str) -> String {
    format!("{TOMBSTONE_PREFIX}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_millisecond_timestamp_round_trips_in_nine_bytes() {
        let t = Tombstone {
            active: true,
            timestamp: 1_795_235_069_427,
        };
        let bytes = t.encode();
        assert_eq!(bytes.len(), 9);
        assert_eq!(&bytes[..3], &[0x08, 0x01, 0x10]);
        assert_eq!(Tombstone::decode(&bytes), Ok(t));
    }

    #[test]
    fn decode_skips_unknown_fields_and_needs_active() {
        assert_eq!(
            Tombstone::decode(&[0x1a, 0x01, 0xff, 0x08, 0x00]),
            Ok(Tombstone {
                active: false,
                timestamp: 0
            })
        );
        assert!(Tombstone::decode(&[0x10, 0x05]).is_err());
        assert!(Tombstone::decode(&[0x08]).is_err());
    }

    #[test]
    fn keys_join_like_node() {
        assert_eq!(tombstone_key("/"), ".tombstones/");
        assert_eq!(tombstone_key("/a/b"), ".tombstones/a/b");
    }
}
