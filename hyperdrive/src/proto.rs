//! The few protobuf pieces the drive messages need, written the way the `protocol-buffers` JS
//! compiler writes them (field order by number, zero values kept when the JS object has them).

/// Appends `n` as a protobuf varint (little-endian base-128).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends a length-delimited field: tag, varint length, bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a varint field: tag, value.
pub(crate) fn put_uint(out: &mut Vec<u8>, field: u32, value: u64) {
    put_varint(out, u64::from(field << 3));
    put_varint(out, value);
}

/// Reads a varint at the start of `buf`; returns it and the bytes it took.
pub(crate) fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut n: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// One decoded field.
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed-width field we have no use for.
    Skipped,
}

/// Walks the fields of one message.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u32, Value<'a>), &'static str> {
        let (tag, n) = get_varint(self.buf).ok_or("truncated tag")?;
        self.buf = &self.buf[n..];
        let field = u32::try_from(tag >> 3).map_err(|_| "field number too large")?;
        let value = match tag & 7 {
            0 => {
                let (v, n) = get_varint(self.buf).ok_or("truncated varint")?;
                self.buf = &self.buf[n..];
                Value::Varint(v)
            }
            2 => {
                let (len, n) = get_varint(self.buf).ok_or("truncated length")?;
                let rest = &self.buf[n..];
                let len = usize::try_from(len).map_err(|_| "length too large")?;
                if len > rest.len() {
                    return Err("length past the end");
                }
                self.buf = &rest[len..];
                Value::Bytes(&rest[..len])
            }
            1 => self.skip(8)?,
            5 => self.skip(4)?,
            _ => return Err("unsupported wire type"),
        };
        Ok((field, value))
    }

    fn skip(&mut self, n: usize) -> Result<Value<'a>, &'static str> {
        if self.buf.len() < n {
            return Err("truncated fixed field");
        }
        self.buf = &self.buf[n..];
        Ok(Value::Skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for n in [0, 1, 127, 128, 300, 1_500_000_000_000, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            assert_eq!(get_varint(&out), Some((n, out.len())));
        }
        let mut out = Vec::new();
        put_varint(&mut out, 1_500_000_000_000);
        assert_eq!(hex::encode(&out), "80b0def7d32b");
    }

    #[test]
    fn rejects_truncation() {
        let fields: Result<Vec<_>, _> = Fields::new(&[0x12, 0x05, 1, 2]).collect();
        assert!(fields.is_err());
        assert!(get_varint(&[0x80, 0x80]).is_none());
    }
}
