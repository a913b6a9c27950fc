//! bitfield-rle 2.2: the run-length encoding of the bitfields in `Have` messages.
//!
//! The encoding is a sequence of varints until the end of the buffer: an odd `n` is a run of
//! `n >> 2` bytes, all `0xff` if `n & 2` else `0x00`; an even `n` is followed by `n >> 1` literal
//! bytes. The encoder trims trailing zero bytes and uses a run only where it is cheaper than
//! leaving the bytes literal, exactly as the JS encoder decides, so the output is byte-identical.

use super::varint;

/// A `Have.bitfield` that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RleError {
    /// An item's varint or literal bytes run past the buffer.
    #[error("invalid RLE bitfield")]
    Invalid,
    /// The decoded bitfield would be longer than the caller allows.
    #[error("RLE bitfield decodes to more than {0} bytes")]
    TooLong(usize),
}

/// Encodes a bitfield (bytes, block `i` at bit `0x80 >> (i & 7)` of byte `i >> 3`).
pub fn encode(bitfield: &[u8]) -> Vec<u8> {
    let mut input_len = bitfield.len();
    while input_len > 0 && bitfield[input_len - 1] == 0 {
        input_len -= 1;
    }
    let mut enc = Encoder {
        input: &bitfield[..input_len],
        input_offset: 0,
        out: Vec::new(),
    };
    let mut len = 0usize;
    let mut bits = 0u8;
    for (i, &byte) in bitfield[..input_len].iter().enumerate() {
        if byte == bits {
            len += 1;
            continue;
        }
        if len > 0 {
            enc.update(i, len, bits);
        }
        if byte == 0 || byte == 0xff {
            bits = byte;
            len = 1;
        } else {
            len = 0;
        }
    }
    if len > 0 {
        enc.update(input_len, len, bits);
    }
    enc.finish();
    enc.out
}

struct Encoder<'a> {
    input: &'a [u8],
    input_offset: usize,
    out: Vec<u8>,
}

impl Encoder<'_> {
    fn literal(&mut self, end: usize) {
        let head = end - self.input_offset;
        varint::encode(2 * head as u64, &mut self.out);
        self.out
            .extend_from_slice(&self.input[self.input_offset..end]);
    }

    /// A run of `len` bytes of `bit` ends before `i`: emit it if that beats keeping it literal.
    fn update(&mut self, i: usize, len: usize, bit: u8) {
        let head = i - len - self.input_offset;
        let head_cost = if head > 0 {
            varint::encoding_length(2 * head as u64) + head
        } else {
            0
        };
        let run = 4 * len as u64 + if bit != 0 { 2 } else { 0 } + 1;
        let run_cost = head_cost + varint::encoding_length(run);
        let literal_cost =
            varint::encoding_length(2 * (i - self.input_offset) as u64) + (i - self.input_offset);
        if run_cost >= literal_cost {
            return;
        }
        if head > 0 {
            self.literal(i - len);
        }
        varint::encode(run, &mut self.out);
        self.input_offset = i;
    }

    fn finish(&mut self) {
        if self.input.len() > self.input_offset {
            self.literal(self.input.len());
            self.input_offset = self.input.len();
        }
    }
}

/// Decodes an RLE bitfield, refusing one that expands past `max_len` bytes (a remote could
/// otherwise claim a run of 2^54 bytes in a few bytes).
pub fn decode(buf: &[u8], max_len: usize) -> Result<Vec<u8>, RleError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let (n, used) = varint::decode(&buf[pos..], 10).map_err(|_| RleError::Invalid)?;
        pos += used;
        let len = usize::try_from(n >> if n & 1 == 1 { 2 } else { 1 })
            .map_err(|_| RleError::TooLong(max_len))?;
        if len > max_len - out.len() {
            return Err(RleError::TooLong(max_len));
        }
        if n & 1 == 1 {
            let fill = if n & 2 != 0 { 0xff } else { 0 };
            out.resize(out.len() + len, fill);
        } else {
            let literal = buf.get(pos..pos + len).ok_or(RleError::Invalid)?;
            out.extend_from_slice(literal);
            pos += len;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trace_examples() {
        // `02 f8`: one literal byte, blocks 0..=4 (sparse-live trace).
        assert_eq!(encode(&[0xf8]), [0x02, 0xf8]);
        assert_eq!(decode(&[0x02, 0xf8], 16).unwrap(), [0xf8]);
        // `8b 27`: varint 5003, a run of 1250 bytes of 0xff: blocks 0..=9999.
        let mut ten_thousand = vec![0xff; 1250];
        ten_thousand.extend_from_slice(&[0; 6]);
        assert_eq!(encode(&ten_thousand), [0x8b, 0x27]);
        assert_eq!(decode(&[0x8b, 0x27], 4096).unwrap(), vec![0xff; 1250]);
    }

    #[test]
    fn js_choices() {
        // Values checked against bitfield-rle 2.2.1.
        assert_eq!(encode(&[]), Vec::<u8>::new());
        assert_eq!(encode(&[0, 0, 0]), Vec::<u8>::new());
        assert_eq!(encode(&[0xff]), [0x07]);
        assert_eq!(encode(&[0xff, 0xff]), [0x0b]);
        assert_eq!(encode(&[1, 0, 0, 0, 1]), [0x02, 0x01, 0x0d, 0x02, 0x01]);
        let mixed = [
            255, 255, 255, 0, 0, 0, 0, 0, 1, 2, 255, 255, 255, 255, 0, 128,
        ];
        assert_eq!(
            encode(&mixed),
            [0x0f, 0x15, 0x04, 0x01, 0x02, 0x13, 0x05, 0x02, 0x80]
        );
    }

    #[test]
    fn bounded() {
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0x7f], 1 << 20),
            Err(RleError::TooLong(1 << 20))
        );
        assert_eq!(decode(&[0x04, 0x01], 16), Err(RleError::Invalid));
        assert_eq!(decode(&[0x80], 16), Err(RleError::Invalid));
    }

    proptest! {
        #[test]
        fn round_trip(bits in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(0xffu8), any::<u8>()], 0..300)) {
            let encoded = encode(&bits);
            let mut decoded = decode(&encoded, 1024).unwrap();
            let mut trimmed = bits.clone();
            while trimmed.last() == Some(&0) { trimmed.pop(); }
            decoded.resize(trimmed.len().max(decoded.len()), 0);
            trimmed.resize(decoded.len(), 0);
            prop_assert_eq!(decoded, trimmed);
        }
    }
}
