//! The two protobuf messages of a hypertrie feed, written exactly as `protocol-buffers@4` does
//! (docs/formats.md §0.3, §3.2, §3.3): fields in tag order, and the numeric fields JS always
//! carries (`seq`, `flags`) written even when zero. prost drops zero-valued fields, hence a hand
//! codec.

use crate::varint;
use protowire::{put_bytes_field as put_bytes, put_varint_field as put_varint};

/// Block 0 of a hypertrie feed (DEP-0007 header).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Always `"hypertrie"` for a trie.
    pub kind: String,
    /// Bytes fixed at creation (hyperdrive keeps its content feed key here).
    pub metadata: Option<Vec<u8>>,
    /// `"hyperdrive"`, `"mountable-hypertrie"`, or none for a plain trie.
    pub subtype: Option<String>,
}

/// The `type` every hypertrie header carries.
pub(crate) const HEADER_TYPE: &str = "hypertrie";

impl Header {
    /// A plain trie's header with optional metadata and subtype.
    pub fn new(metadata: Option<Vec<u8>>, subtype: Option<String>) -> Self {
        Header {
            kind: HEADER_TYPE.to_owned(),
            metadata,
            subtype,
        }
    }

    /// The message bytes: `0a <type>`, then `12 <metadata>` and `1a <subtype>` when set.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.metadata.as_ref().map_or(0, Vec::len));
        put_bytes(&mut out, 1, self.kind.as_bytes());
        if let Some(m) = &self.metadata {
            put_bytes(&mut out, 2, m);
        }
        if let Some(s) = &self.subtype {
            put_bytes(&mut out, 3, s.as_bytes());
        }
        out
    }

    /// Parses a header; `Err` names what is wrong. An empty subtype reads as none, as JS's
    /// decoder defaults it to `""`.
    pub fn decode(buf: &[u8]) -> Result<Self, &'static str> {
        let mut header = Header::default();
        let mut found_type = false;
        let mut fields = Fields::new(buf);
        while let Some(field) = fields.next_field()? {
            match field {
                (1, Value::Bytes(b)) => {
                    header.kind = utf8(b)?;
                    found_type = true;
                }
                (2, Value::Bytes(b)) => header.metadata = Some(b.to_vec()),
                (3, Value::Bytes(b)) => {
                    let s = utf8(b)?;
                    header.subtype = (!s.is_empty()).then_some(s);
                }
                (1..=3, _) => return Err("field has the wrong wire type"),
                _ => {}
            }
        }
        if !found_type {
            return Err("missing required field type");
        }
        Ok(header)
    }
}

/// One trie node as stored: the raw message fields, borrowed from the block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeMessage<'a> {
    pub key: &'a str,
    pub value: Option<&'a [u8]>,
    pub trie: &'a [u8],
    pub seq: u64,
    pub flags: u64,
}

impl<'a> NodeMessage<'a> {
    pub(crate) fn decode(buf: &'a [u8]) -> Result<Self, &'static str> {
        let mut msg = NodeMessage::default();
        let mut found_key = false;
        let mut fields = Fields::new(buf);
        while let Some(field) = fields.next_field()? {
            match field {
                (1, Value::Bytes(b)) => {
                    msg.key = std::str::from_utf8(b).map_err(|_| "string field is not UTF-8")?;
                    found_key = true;
                }
                (2, Value::Bytes(b)) => msg.value = Some(b),
                (3, Value::Bytes(b)) => msg.trie = b,
                (4, Value::Varint(n)) => msg.seq = n,
                (5, Value::Varint(n)) => msg.flags = n,
                (1..=5, _) => return Err("field has the wrong wire type"),
                _ => {}
            }
        }
        if !found_key {
            return Err("missing required field key");
        }
        Ok(msg)
    }
}

/// Encodes a node message from its parts without copying them first.
pub(crate) fn encode_node(
    key: &str,
    value: Option<&[u8]>,
    trie: &[u8],
    seq: u64,
    flags: u64,
) -> Vec<u8> {
    let len = 2 * 5
        + key.len()
        + value.map_or(0, |v| v.len() + 5)
        + trie.len()
        + 2 * varint::encoded_len(u64::MAX);
    let mut out = Vec::with_capacity(len);
    put_bytes(&mut out, 1, key.as_bytes());
    if let Some(v) = value {
        put_bytes(&mut out, 2, v);
    }
    put_bytes(&mut out, 3, trie);
    put_varint(&mut out, 4, seq);
    put_varint(&mut out, 5, flags);
    out
}

fn utf8(b: &[u8]) -> Result<String, &'static str> {
    String::from_utf8(b.to_vec()).map_err(|_| "string field is not UTF-8")
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Walks a message's fields, skipping the payload of wire types it does not keep.
struct Fields<'a> {
    inner: protowire::Fields<'a>,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields {
            inner: protowire::Fields::new(buf),
        }
    }

    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, &'static str> {
        let Some(field) = self.inner.next() else {
            return Ok(None);
        };
        Ok(Some(match field {
            Ok((tag, protowire::Value::Varint(n))) => (tag, Value::Varint(n)),
            Ok((tag, protowire::Value::Bytes(b))) => (tag, Value::Bytes(b)),
            Ok((tag, _)) => (tag, Value::Fixed),
            Err(protowire::FieldError::Varint(_)) => return Err("truncated or overlong varint"),
            Err(protowire::FieldError::Truncated) => return Err("field runs past the end"),
            Err(protowire::FieldError::WireType(_)) => return Err("unknown wire type"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_bytes_match_js() {
        assert_eq!(
            hex::encode(Header::new(None, None).encode()),
            "0a09687970657274726965"
        );
        let h = Header::new(Some(b"meta".to_vec()), Some("hyperdrive".into()));
        let bytes = h.encode();
        assert_eq!(
            hex::encode(&bytes),
            "0a0968797065727472696512046d6574611a0a68797065726472697665"
        );
        assert_eq!(Header::decode(&bytes), Ok(h));
    }

    #[test]
    fn node_bytes_match_js() {
        // docs/formats.md §7.1: block 1 of the main vector, `put('a', 'v0:a')`.
        let bytes = encode_node("a", Some(b"v0:a"), &[0], 1, 0);
        assert_eq!(hex::encode(&bytes), "0a0161120476303a611a010020012800");
        // The reset node: no value field at all.
        assert_eq!(
            hex::encode(encode_node("", None, &[0], 2, 0)),
            "0a001a010020022800"
        );
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(NodeMessage::decode(&[]).is_err(), "key is required");
        assert!(NodeMessage::decode(&[0x0a, 0x05, b'a']).is_err());
        assert!(NodeMessage::decode(&[0x0a, 0x01, 0xff]).is_err());
        assert!(NodeMessage::decode(&[0x08, 0x01]).is_err(), "key as varint");
        assert!(NodeMessage::decode(&[0x0b]).is_err(), "group wire type");
        assert!(Header::decode(&[0x12, 0x00]).is_err());
        // Unknown fields are skipped, as JS does.
        let mut b = encode_node("k", None, &[0], 3, 0);
        b.extend_from_slice(&[0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x38, 0x05]);
        assert_eq!(NodeMessage::decode(&b).map(|m| m.seq), Ok(3));
    }

    proptest! {
        #[test]
        fn node_round_trip(
            key in "\\PC{0,12}",
            value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            trie in proptest::collection::vec(any::<u8>(), 0..20),
            seq in any::<u64>(),
            flags in any::<u64>(),
        ) {
            let bytes = encode_node(&key, value.as_deref(), &trie, seq, flags);
            let msg = NodeMessage::decode(&bytes).map_err(TestCaseError::fail)?;
            let want = NodeMessage { key: &key, value: value.as_deref(), trie: &trie, seq, flags };
            prop_assert_eq!(msg, want);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = NodeMessage::decode(&bytes);
            let _ = Header::decode(&bytes);
        }
    }
}
