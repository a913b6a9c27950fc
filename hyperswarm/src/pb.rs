//! The few protobuf (proto2, `protocol-buffers` 4.x) primitives the DHT schemas need.

use crate::error::DecodeError;

/// Wire type 0 (varint).
pub(crate) const VARINT: u8 = 0;
/// Wire type 2 (length-delimited).
pub(crate) const BYTES: u8 = 2;

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint field: key byte, then the varint value.
pub(crate) fn put_varint_field(out: &mut Vec<u8>, field: u8, v: u64) {
    out.push(field << 3 | VARINT);
    put_varint(out, v);
}

/// Appends a length-delimited field: key byte, varint length, bytes.
pub(crate) fn put_bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | BYTES);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A forward-only reader over one encoded message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        let end = self.pos.checked_add(len).ok_or(DecodeError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// The next field key as (field number, wire type), or `None` at the end.
    pub(crate) fn key(&mut self) -> Result<Option<(u64, u8)>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        Ok(Some((key >> 3, (key & 7) as u8)))
    }

    /// Skips a field the schema does not know (unknown fields are ignored).
    pub(crate) fn skip(&mut self, wire_type: u8) -> Result<(), DecodeError> {
        let n = match wire_type {
            0 => return self.varint().map(drop),
            1 => 8,
            2 => return self.bytes().map(drop),
            5 => 4,
            other => return Err(DecodeError::WireType(other)),
        };
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        if end > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        self.pos = end;
        Ok(())
    }

    /// Reads a field value of the wire type the schema declares; a field sent
    /// with another wire type is a malformed message.
    pub(crate) fn expect(&mut self, got: u8, want: u8) -> Result<(), DecodeError> {
        if got == want {
            Ok(())
        } else {
            Err(DecodeError::WireType(got))
        }
    }
}
