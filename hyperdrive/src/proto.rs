//! The few protobuf pieces the drive messages need, written the way the `protocol-buffers` JS
//! compiler writes them (field order by number, zero values kept when the JS object has them),
//! over the stack's one varint codec and field walker (`protowire`).

/// Appends `n` as a protobuf varint (little-endian base-128).
pub(crate) fn put_varint(out: &mut Vec<u8>, n: u64) {
    protowire::encode_varint(n, out);
}

/// Appends a length-delimited field: tag, varint length, bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    protowire::put_bytes_field(out, u64::from(field), bytes);
}

/// Appends a varint field: tag, value.
pub(crate) fn put_uint(out: &mut Vec<u8>, field: u32, value: u64) {
    protowire::put_varint_field(out, u64::from(field), value);
}

/// Reads a varint at the start of `buf`; returns it and the bytes it took. `None` when
/// truncated or over 64 bits.
pub(crate) fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    protowire::decode_varint(buf).ok()
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
    type Item = Result<(u32, Value<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let field = self.inner.next()?;
        Some(match field {
            Ok((number, value)) => u32::try_from(number)
                .map_err(|_| "field number too large")
                .map(|number| {
                    let value = match value {
                        protowire::Value::Varint(v) => Value::Varint(v),
                        protowire::Value::Bytes(b) => Value::Bytes(b),
                        _ => Value::Skipped,
                    };
                    (number, value)
                }),
            Err(protowire::FieldError::Varint(_)) => Err("truncated or overlong varint"),
            Err(protowire::FieldError::Truncated) => Err("length past the end"),
            Err(protowire::FieldError::WireType(_)) => Err("unsupported wire type"),
        })
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
        // Bits past 64 are refused rather than dropped.
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert!(get_varint(&over).is_none());
    }
}
