//! Walking and writing the fields of a message: `varint(number << 3 | wire type) ‖ value`.

use crate::varint::{VarintError, decode_varint, encode_varint};

/// The wire types a proto2 message can hold (3 and 4, groups, are long deprecated and no schema
/// of the stack uses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// 0: a varint.
    Varint = 0,
    /// 1: eight bytes.
    Fixed64 = 1,
    /// 2: `varint(len) ‖ len bytes`.
    Bytes = 2,
    /// 5: four bytes.
    Fixed32 = 5,
}

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1, read little-endian.
    Fixed64(u64),
    /// Wire type 2, borrowed from the message.
    Bytes(&'a [u8]),
    /// Wire type 5, read little-endian.
    Fixed32(u32),
}

/// Why a message's fields could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldError {
    /// A key, varint value or length that does not decode.
    Varint(VarintError),
    /// A length-delimited or fixed-width value that runs past the message's end.
    Truncated,
    /// A wire type other than 0, 1, 2 and 5.
    WireType(u8),
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldError::Varint(e) => e.fmt(f),
            FieldError::Truncated => f.write_str("field runs past the end of the message"),
            FieldError::WireType(t) => write!(f, "unsupported wire type {t}"),
        }
    }
}

impl std::error::Error for FieldError {}

impl From<VarintError> for FieldError {
    fn from(e: VarintError) -> Self {
        FieldError::Varint(e)
    }
}

/// Appends a field key.
pub fn put_key(out: &mut Vec<u8>, field: u64, wire_type: WireType) {
    encode_varint(field << 3 | wire_type as u64, out);
}

/// Appends a varint field (`uint64`, `uint32`, `bool`, enums).
pub fn put_varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    put_key(out, field, WireType::Varint);
    encode_varint(value, out);
}

/// Appends a length-delimited field (`bytes`, `string`, an embedded message).
pub fn put_bytes_field(out: &mut Vec<u8>, field: u64, value: &[u8]) {
    put_bytes_prefix(out, field, value.len());
    out.extend_from_slice(value);
}

/// Appends the key and length of a length-delimited field whose `len` bytes the caller writes
/// next.
pub fn put_bytes_prefix(out: &mut Vec<u8>, field: u64, len: usize) {
    put_key(out, field, WireType::Bytes);
    encode_varint(len as u64, out);
}

/// The fields of one message in the order they appear: `(field number, value)`. Repeated and
/// unknown fields come out like any other; the first error ends the walk, as nothing after a
/// malformed field can be framed.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Walks `message`.
    pub fn new(message: &'a [u8]) -> Self {
        Fields { buf: message }
    }

    fn varint(&mut self) -> Result<u64, FieldError> {
        let (value, used) = decode_varint(self.buf)?;
        self.buf = &self.buf[used..];
        Ok(value)
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], FieldError> {
        let len = usize::try_from(len).map_err(|_| FieldError::Truncated)?;
        if len > self.buf.len() {
            return Err(FieldError::Truncated);
        }
        let (value, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(value)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), FieldError> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let mut le = [0u8; 8];
                le.copy_from_slice(self.take(8)?);
                Value::Fixed64(u64::from_le_bytes(le)) // little-endian
            }
            2 => {
                let len = self.varint()?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let mut le = [0u8; 4];
                le.copy_from_slice(self.take(4)?);
                Value::Fixed32(u32::from_le_bytes(le)) // little-endian
            }
            other => return Err(FieldError::WireType(other as u8)),
        };
        Ok((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), FieldError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            self.buf = &[];
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn walk(buf: &[u8]) -> Result<Vec<(u64, Value<'_>)>, FieldError> {
        Fields::new(buf).collect()
    }

    #[test]
    fn every_wire_type() {
        let mut msg = Vec::new();
        put_varint_field(&mut msg, 1, 7);
        put_key(&mut msg, 2, WireType::Fixed64);
        msg.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        put_bytes_field(&mut msg, 3, b"abc");
        put_key(&mut msg, 4, WireType::Fixed32);
        msg.extend_from_slice(&0x0a0b_0c0du32.to_le_bytes());
        put_varint_field(&mut msg, 1, 8); // repeated
        assert_eq!(
            walk(&msg),
            Ok(vec![
                (1, Value::Varint(7)),
                (2, Value::Fixed64(0x0102_0304_0506_0708)),
                (3, Value::Bytes(b"abc")),
                (4, Value::Fixed32(0x0a0b_0c0d)),
                (1, Value::Varint(8)),
            ])
        );
        assert_eq!(msg[0], 0x08);
        assert_eq!(msg[1], 0x07);
    }

    #[test]
    fn malformed() {
        assert_eq!(walk(&[]), Ok(vec![]));
        assert_eq!(walk(&[0x12, 0x05, 1, 2]), Err(FieldError::Truncated));
        assert_eq!(walk(&[0x09, 1, 2]), Err(FieldError::Truncated));
        assert_eq!(walk(&[0x0d, 1, 2, 3]), Err(FieldError::Truncated));
        assert_eq!(walk(&[0x0b]), Err(FieldError::WireType(3)));
        assert_eq!(walk(&[0x0f]), Err(FieldError::WireType(7)));
        assert_eq!(
            walk(&[0x08]),
            Err(FieldError::Varint(VarintError::Incomplete))
        );
        assert_eq!(
            walk(&[0x80]),
            Err(FieldError::Varint(VarintError::Incomplete))
        );
        let mut huge_len = vec![0x12];
        huge_len.extend_from_slice(&[0xff; 9]);
        huge_len.push(0x01);
        assert_eq!(walk(&huge_len), Err(FieldError::Truncated));
        // The walk stops at the first error.
        let mut it = Fields::new(&[0x0b, 0x08, 0x01]);
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
    }

    proptest! {
        #[test]
        fn round_trip(fields in proptest::collection::vec(
            (1u64..1 << 29, any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40), any::<bool>()),
            0..8,
        )) {
            let mut msg = Vec::new();
            for (n, v, b, is_bytes) in &fields {
                if *is_bytes {
                    put_bytes_field(&mut msg, *n, b);
                } else {
                    put_varint_field(&mut msg, *n, *v);
                }
            }
            let walked = walk(&msg).expect("what we wrote walks");
            prop_assert_eq!(walked.len(), fields.len());
            for ((n, v, b, is_bytes), (wn, wv)) in fields.iter().zip(walked) {
                prop_assert_eq!(*n, wn);
                if *is_bytes {
                    prop_assert_eq!(wv, Value::Bytes(b));
                } else {
                    prop_assert_eq!(wv, Value::Varint(*v));
                }
            }
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = walk(&bytes);
        }
    }
}
