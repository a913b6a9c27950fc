//! The little of protobuf (proto2, as the `protocol-buffers` JS compiler writes it) that the
//! session messages need: varint, bool and length-delimited fields, unknown fields skipped.

/// A protobuf body that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(crate) &'static str);

pub(crate) use protowire::{
    put_bytes_field as put_bytes, put_bytes_prefix, put_varint_field as put_u64,
};

/// Appends a bool field: one byte, 0 or 1, as JS writes it.
pub(crate) fn put_bool(out: &mut Vec<u8>, field: u64, value: bool) {
    put_u64(out, field, u64::from(value));
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
    inner: protowire::Fields<'a>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Fields {
            inner: protowire::Fields::new(buf),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        // The walker stops after its first error: the rest has no known framing.
        let item = self.inner.next()?;
        Some(match item {
            Ok((number, protowire::Value::Varint(v))) => Ok((number, Value::Varint(v))),
            Ok((number, protowire::Value::Bytes(b))) => Ok((number, Value::Bytes(b))),
            Ok((number, _)) => Ok((number, Value::Fixed)),
            Err(protowire::FieldError::Varint(_)) => Err(DecodeError("invalid varint")),
            Err(protowire::FieldError::Truncated) => {
                Err(DecodeError("field runs past the message"))
            }
            Err(protowire::FieldError::WireType(_)) => Err(DecodeError("unsupported wire type")),
        })
    }
}
