//! The dht-rpc 4 datagram: `Message` and `Holepunch` from `dht-rpc/schema.proto`.
//!
//! Fields are written in declaration order, which puts `version` (field 11)
//! first, then `type, rid, to, id, target, closerNodes, roundtripToken,
//! command, error, value`. A field is written exactly when it is `Some`, so an
//! empty `value` or `error` survives a round trip (`4a 00`, `42 00`).

use crate::error::DecodeError;
use crate::pb;

/// The only protocol version dht-rpc 4 speaks.
pub const VERSION: u64 = 1;

/// Datagrams larger than this are dropped unread. The largest legitimate
/// dht-rpc 4 message (20 closer nodes, a full `peers` reply or a 1000-byte
/// mutable record plus headers) is about 2 KiB.
pub const MAX_DATAGRAM: usize = 4096;

/// `TYPE` in the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A read-only request (1).
    Query,
    /// A request that changes state; needs a round-trip token (2).
    Update,
    /// A reply, matched to its request by `rid` (3).
    Response,
}

impl MessageType {
    fn code(self) -> u64 {
        match self {
            MessageType::Query => 1,
            MessageType::Update => 2,
            MessageType::Response => 3,
        }
    }

    fn from_code(code: u64) -> Result<Self, DecodeError> {
        match code {
            1 => Ok(MessageType::Query),
            2 => Ok(MessageType::Update),
            3 => Ok(MessageType::Response),
            other => Err(DecodeError::UnknownType(other)),
        }
    }
}

/// One dht-rpc datagram. Byte fields are kept raw: validation (32-byte ids,
/// 6-byte addresses) is the RPC layer's job, as in Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `version` (11); `Some(1)` from every dht-rpc 4 sender.
    pub version: Option<u64>,
    /// `type` (1, required).
    pub kind: MessageType,
    /// `rid` (2, required): the request id, echoed by the response.
    pub rid: u64,
    /// `to` (10): the destination's address as the sender sees it.
    pub to: Option<Vec<u8>>,
    /// `id` (3): the sender's node id; absent from ephemeral nodes.
    pub id: Option<Vec<u8>>,
    /// `target` (4).
    pub target: Option<Vec<u8>>,
    /// `closerNodes` (5): n × 38 bytes.
    pub closer_nodes: Option<Vec<u8>>,
    /// `roundtripToken` (6).
    pub roundtrip_token: Option<Vec<u8>>,
    /// `command` (7).
    pub command: Option<String>,
    /// `error` (8).
    pub error: Option<String>,
    /// `value` (9): command specific.
    pub value: Option<Vec<u8>>,
}

impl Message {
    /// A message of `kind` and `rid` with every optional field absent.
    pub fn new(kind: MessageType, rid: u64) -> Self {
        Message {
            version: Some(VERSION),
            kind,
            rid,
            to: None,
            id: None,
            target: None,
            closer_nodes: None,
            roundtrip_token: None,
            command: None,
            error: None,
            value: None,
        }
    }

    /// Encodes in the field order dht-rpc writes (version first).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        if let Some(v) = self.version {
            pb::put_varint_field(&mut out, 11, v);
        }
        pb::put_varint_field(&mut out, 1, self.kind.code());
        pb::put_varint_field(&mut out, 2, self.rid);
        let bytes_fields: [(u8, Option<&[u8]>); 8] = [
            (10, self.to.as_deref()),
            (3, self.id.as_deref()),
            (4, self.target.as_deref()),
            (5, self.closer_nodes.as_deref()),
            (6, self.roundtrip_token.as_deref()),
            (7, self.command.as_deref().map(str::as_bytes)),
            (8, self.error.as_deref().map(str::as_bytes)),
            (9, self.value.as_deref()),
        ];
        for (field, bytes) in bytes_fields {
            if let Some(b) = bytes {
                pb::put_bytes_field(&mut out, field, b);
            }
        }
        out
    }

    /// Decodes one datagram. Unknown fields are skipped; the last occurrence
    /// of a repeated field wins; strings are decoded lossily like Node's.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        if buf.len() > MAX_DATAGRAM {
            return Err(DecodeError::TooLarge(buf.len()));
        }
        let mut kind = None;
        let mut rid = None;
        let mut m = Message::new(MessageType::Query, 0);
        m.version = None;
        for field in pb::fields(buf) {
            let (field, value) = field?;
            match field {
                11 | 1 | 2 => {
                    let v = pb::varint(value)?;
                    match field {
                        11 => m.version = Some(v),
                        1 => kind = Some(MessageType::from_code(v)?),
                        _ => rid = Some(v),
                    }
                }
                3..=10 => {
                    let b = pb::bytes(value)?;
                    match field {
                        10 => m.to = Some(b.to_vec()),
                        3 => m.id = Some(b.to_vec()),
                        4 => m.target = Some(b.to_vec()),
                        5 => m.closer_nodes = Some(b.to_vec()),
                        6 => m.roundtrip_token = Some(b.to_vec()),
                        7 => m.command = Some(String::from_utf8_lossy(b).into_owned()),
                        8 => m.error = Some(String::from_utf8_lossy(b).into_owned()),
                        _ => m.value = Some(b.to_vec()),
                    }
                }
                _ => {}
            }
        }
        m.kind = kind.ok_or(DecodeError::MissingField("type"))?;
        m.rid = rid.ok_or(DecodeError::MissingField("rid"))?;
        Ok(m)
    }

    /// The `error` string, with an empty one meaning "no error" (relayed
    /// holepunches carry `42 00`).
    pub fn error_text(&self) -> Option<&str> {
        self.error.as_deref().filter(|e| !e.is_empty())
    }
}

/// `Holepunch { optional bytes from = 2; optional bytes to = 3; }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holepunch {
    /// The original requester, as the relay saw it (relay → target).
    pub from: Option<Vec<u8>>,
    /// The node to punch through to (requester → relay).
    pub to: Option<Vec<u8>>,
}

impl Holepunch {
    /// Encodes `from` then `to`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        if let Some(f) = &self.from {
            pb::put_bytes_field(&mut out, 2, f);
        }
        if let Some(t) = &self.to {
            pb::put_bytes_field(&mut out, 3, t);
        }
        out
    }

    /// Decodes; unknown fields are skipped.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut h = Holepunch::default();
        for field in pb::fields(buf) {
            let (field, value) = field?;
            match field {
                2 | 3 => {
                    let b = pb::bytes(value)?.to_vec();
                    if field == 2 {
                        h.from = Some(b);
                    } else {
                        h.to = Some(b);
                    }
                }
                _ => {}
            }
        }
        Ok(h)
    }
}
