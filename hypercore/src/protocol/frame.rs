//! Framing of the (decrypted) transport stream: `varint(L) ‖ varint(channel << 4 | type) ‖ body`,
//! `L` counting header and body; `L = 0` is a keep-alive.

use super::message::Message;
use super::pb::DecodeError;
use super::varint::{self, VarintError};

/// Largest frame body JS accepts (`simple-message-channels` `maxSize`): 8 MiB.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// JS gives up on a varint after 8 bytes (56 bits), more than any valid frame needs.
const MAX_VARINT: usize = 8;

/// Why the frame stream cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A length or header varint longer than 8 bytes.
    #[error("invalid varint in a frame prefix")]
    InvalidVarint,
    /// A frame whose body would exceed [`MAX_BODY`].
    #[error("frame body of {0} bytes is over the 8 MiB limit")]
    TooLarge(u64),
    /// The header varint is longer than the frame length allows.
    #[error("frame header does not fit in the frame")]
    HeaderOverrun,
    /// The body does not decode as its type's schema.
    #[error("malformed {type_name} message on channel {channel}: {source}")]
    Malformed {
        /// Channel of the frame.
        channel: u64,
        /// Message type name.
        type_name: &'static str,
        /// What the decoder found.
        source: DecodeError,
    },
}

/// One parsed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A keep-alive (the single byte `00`).
    KeepAlive,
    /// A message on a channel.
    Message {
        /// Channel id (the sender's local id; 0 for stream-level messages).
        channel: u64,
        /// The decoded message.
        message: Message,
    },
    /// A frame of an unassigned type (11–14), skipped as JS does.
    Ignored {
        /// Channel id.
        channel: u64,
        /// The type number.
        type_id: u8,
    },
}

/// Appends one frame carrying `message` on `channel`.
pub fn encode(channel: u64, message: &Message, out: &mut Vec<u8>) {
    let mut body = Vec::new();
    message.encode_body(&mut body);
    encode_raw(channel, message.type_id(), &body, out);
}

/// Appends one frame with an already encoded body.
pub fn encode_raw(channel: u64, type_id: u8, body: &[u8], out: &mut Vec<u8>) {
    encode_prefix(channel, type_id, body.len(), out);
    out.extend_from_slice(body);
}

/// Appends the length and header of a frame whose `body_len`-byte body follows separately.
pub(crate) fn encode_prefix(channel: u64, type_id: u8, body_len: usize, out: &mut Vec<u8>) {
    let header = channel << 4 | u64::from(type_id & 0x0f);
    let len = varint::encoding_length(header) + body_len;
    varint::encode(len as u64, out); // varint length of header + body
    varint::encode(header, out);
}

/// Incremental frame parser over the decrypted byte stream.
///
/// Memory is bounded by one frame: a length over the limit is refused as soon as its varint is
/// complete, before any of the body is buffered.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    pos: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers more stream bytes; call [`FrameReader::next_frame`] until it returns `Ok(None)`.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes of an incomplete frame still buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let rest = &self.buf[self.pos..];
        let (len, len_bytes) = match varint::decode(rest, MAX_VARINT) {
            Ok(v) => v,
            Err(VarintError::Incomplete) => return Ok(None),
            Err(VarintError::TooLong) => return Err(FrameError::InvalidVarint),
        };
        if len == 0 {
            self.pos += len_bytes;
            return Ok(Some(Frame::KeepAlive));
        }
        // The header takes at least one byte, so a longer L can only carry a body over the limit.
        if len > (MAX_BODY + MAX_VARINT) as u64 {
            return Err(FrameError::TooLarge(len.saturating_sub(1)));
        }
        let len = len as usize;
        let after_len = &rest[len_bytes..];
        let (header, header_bytes) = match varint::decode(after_len, MAX_VARINT) {
            Ok(v) => v,
            Err(VarintError::Incomplete) if after_len.len() < len => return Ok(None),
            Err(VarintError::Incomplete) => return Err(FrameError::HeaderOverrun),
            Err(VarintError::TooLong) => return Err(FrameError::InvalidVarint),
        };
        if header_bytes > len {
            return Err(FrameError::HeaderOverrun);
        }
        let body_len = len - header_bytes;
        if body_len > MAX_BODY {
            return Err(FrameError::TooLarge(body_len as u64));
        }
        if after_len.len() < len {
            return Ok(None);
        }
        let body = &after_len[header_bytes..len];
        self.pos += len_bytes + len;
        let channel = header >> 4;
        let type_id = (header & 0x0f) as u8;
        match Message::decode(type_id, body) {
            Ok(Some(message)) => Ok(Some(Frame::Message { channel, message })),
            Ok(None) => Ok(Some(Frame::Ignored { channel, type_id })),
            Err(source) => Err(FrameError::Malformed {
                channel,
                type_name: type_name(type_id),
                source,
            }),
        }
    }
}

fn type_name(type_id: u8) -> &'static str {
    const NAMES: [&str; 16] = [
        "Open",
        "Options",
        "Status",
        "Have",
        "Unhave",
        "Want",
        "Unwant",
        "Request",
        "Cancel",
        "Data",
        "Close",
        "type 11",
        "type 12",
        "type 13",
        "type 14",
        "Extension",
    ];
    NAMES[usize::from(type_id & 0x0f)]
}
