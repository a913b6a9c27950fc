//! The few protobuf (proto2, `protocol-buffers` 4.x) primitives the DHT schemas need, over the
//! stack's one varint codec and field walker (`protowire`, a leaf crate: this crate knows none
//! of the other stack crates).

use crate::error::DecodeError;
use protowire::{FieldError, Value, VarintError};

/// Appends a varint field: key byte, then the varint value.
pub(crate) fn put_varint_field(out: &mut Vec<u8>, field: u8, v: u64) {
    protowire::put_varint_field(out, u64::from(field), v);
}

/// Appends a length-delimited field: key byte, varint length, bytes.
pub(crate) fn put_bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    protowire::put_bytes_field(out, u64::from(field), bytes);
}

/// The fields of one encoded message, `(field number, value)`; unknown ones are for the caller
/// to ignore.
pub(crate) fn fields(buf: &[u8]) -> impl Iterator<Item = Result<(u64, Value<'_>), DecodeError>> {
    protowire::Fields::new(buf).map(|field| {
        field.map_err(|e| match e {
            FieldError::Varint(VarintError::Incomplete) | FieldError::Truncated => {
                DecodeError::Truncated
            }
            FieldError::Varint(VarintError::Overflow) => DecodeError::VarintOverflow,
            FieldError::WireType(t) => DecodeError::WireType(t),
        })
    })
}

/// A field the schema declares a varint; another wire type is a malformed message.
pub(crate) fn varint(value: Value<'_>) -> Result<u64, DecodeError> {
    match value {
        Value::Varint(v) => Ok(v),
        other => Err(DecodeError::WireType(wire_type(other))),
    }
}

/// A field the schema declares length-delimited; another wire type is a malformed message.
pub(crate) fn bytes(value: Value<'_>) -> Result<&[u8], DecodeError> {
    match value {
        Value::Bytes(b) => Ok(b),
        other => Err(DecodeError::WireType(wire_type(other))),
    }
}

fn wire_type(value: Value<'_>) -> u8 {
    match value {
        Value::Varint(_) => 0,
        Value::Fixed64(_) => 1,
        Value::Bytes(_) => 2,
        Value::Fixed32(_) => 5,
    }
}
