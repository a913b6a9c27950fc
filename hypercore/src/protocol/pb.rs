//! The little of protobuf (proto2, as the `protocol-buffers` JS compiler writes it) that the
//! session messages need: varint, bool and length-delimited fields, unknown fields skipped.

use super::varint;

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const BYTES: u64 = 2;
const FIXED32: u64 = 5;

/// A protobuf body that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(crate) &'static str);

/// Appends a varint field (`uint64`).
pub(crate) fn put_u64(out: &mut Vec<u8>, field: u64, value: u64) {
    varint::encode(field << 3 | VARINT, out);
    varint::encode(value, out);
}

/// Appends a bool field: one byte, 0 or 1, as JS writes it.
pub(crate) fn put_bool(out: &mut Vec<u8>, field: u64, value: bool) {
    varint::encode(field << 3 | VARINT, out);
    out.push(u8::from(value));
}

/// Appends a length-delimited field (`bytes`, `string`, embedded message).
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u64, value: &[u8]) {
    put_bytes_prefix(out, field, value.len());
    out.extend_from_slice(value);
}

/// Appends the key and length of a length-delimited field whose `len` bytes follow separately.
pub(crate) fn put_bytes_prefix(out: &mut Vec<u8>, field: u64, len: usize) {
    varint::encode(field << 3 | BYTES, out);
    varint::encode(len as u64, out);
}

/// One decoded field value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// A varint (wire type 0).
    Varint(u64),
    /// A length-delimited value (wire type 2).
    Bytes(&'a [u8]),
    /// A fixed-width value (wire types 1 and 5): no session field uses one, so it is skipped.
    Fixed,
}

impl<'a> Value<'a> {
    /// The field as `uint64`.
    pub(crate) fn u64(self) -> Result<u64, DecodeError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(DecodeError("wrong wire type for an integer field")),
        }
    }

    /// The field as `bool` (any non-zero varint is true).
    pub(crate) fn bool(self) -> Result<bool, DecodeError> {
        self.u64().map(|v| v != 0)
    }

    /// The field as `bytes`.
    pub(crate) fn bytes(self) -> Result<&'a [u8], DecodeError> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(DecodeError("wrong wire type for a bytes field")),
        }
    }
}

/// Iterates the fields of a message body: `(field number, value)`.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let (value, used) =
            varint::decode(self.buf, 10).map_err(|_| DecodeError("invalid varint"))?;
        self.buf = &self.buf[used..];
        Ok(value)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(n).map_err(|_| DecodeError("field runs past the message"))?;
        if n > self.buf.len() {
            return Err(DecodeError("field runs past the message"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), DecodeError> {
        let key = self.varint()?;
        let value = match key & 7 {
            VARINT => Value::Varint(self.varint()?),
            BYTES => {
                let len = self.varint()?;
                Value::Bytes(self.take(len)?)
            }
            FIXED64 => {
                self.take(8)?;
                Value::Fixed
            }
            FIXED32 => {
                self.take(4)?;
                Value::Fixed
            }
            _ => return Err(DecodeError("unsupported wire type")),
        };
        Ok((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            // Stop after the first error: the rest of the buffer has no known framing.
            self.buf = &[];
        }
        Some(item)
    }
}
