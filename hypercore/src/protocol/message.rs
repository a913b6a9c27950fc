//! The twelve session messages (`simple-hypercore-protocol/schema.proto`) and their protobuf
//! bodies, written field by field in declaration order as the `protocol-buffers` JS compiler
//! does.
//!
//! Optional fields are `Option`s so that a decoded message re-encodes to the same bytes: JS writes
//! a field whenever the sender set it (even `false` or `0`) and omits it otherwise. Accessor
//! methods give the value JS's decoder assumes when a field is absent.

use super::pb::{self, DecodeError, Fields};
use super::varint;

/// Most extension names one `Options` may carry. JS sets no limit, but every name is an
/// extension the application registered by hand (a handful in practice); without a cap an
/// 8 MiB frame of one-byte names would decode into millions of `String`s.
pub const MAX_EXTENSIONS: usize = 128;

/// Most proof nodes one `Data` may carry. A proof holds the block's siblings up to its root,
/// then the other roots: under 53 of each for the 2^52 blocks a feed can hold (the flat-tree
/// indices JS can count), so 128 leaves room and still stops an 8 MiB frame from decoding into
/// a million nodes.
pub const MAX_PROOF_NODES: usize = 128;

/// `Open` (type 0): announces a feed on the sender's channel id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Open {
    /// The feed's discovery key (32 bytes from every real peer).
    pub discovery_key: Vec<u8>,
    /// Proof that the sender knows the feed key, bound to this session (see [`capability`]).
    ///
    /// [`capability`]: super::capability
    pub capability: Option<Vec<u8>>,
}

/// `Options` (type 1): extension names (sorted) and the ack mode of a channel, or on channel 0
/// the stream-level extension names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// Extension names, sorted the way JS sorts strings.
    pub extensions: Vec<String>,
    /// Ask the remote to acknowledge every stored block with `Have{ack: true}`.
    pub ack: Option<bool>,
}

/// `Status` (type 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// Whether the sender answers requests.
    pub uploading: Option<bool>,
    /// Whether the sender wants data.
    pub downloading: Option<bool>,
}

/// `Have` (type 3): blocks the sender has, as a range or an RLE bitfield starting at `start`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Have {
    /// First block.
    pub start: u64,
    /// Number of blocks (JS default 1).
    pub length: Option<u64>,
    /// bitfield-rle encoded bitfield of the range.
    pub bitfield: Option<Vec<u8>>,
    /// This Have acknowledges a stored block.
    pub ack: Option<bool>,
}

/// `Unhave` (type 4): blocks the sender lost or refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unhave {
    /// First block.
    pub start: u64,
    /// Number of blocks (JS default 1).
    pub length: Option<u64>,
}

/// `Want` (type 5): ask the remote to announce what it has in a range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Want {
    /// First block.
    pub start: u64,
    /// Number of blocks (JS default 0, read by hypercore as "everything").
    pub length: Option<u64>,
}

/// `Unwant` (type 6); hypercore 9 never sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unwant {
    /// First block.
    pub start: u64,
    /// Number of blocks (JS default 0).
    pub length: Option<u64>,
}

/// `Request` (type 7): ask for one block and its proof.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// Block index.
    pub index: u64,
    /// Byte offset to seek instead of `index`, when non-zero.
    pub bytes: Option<u64>,
    /// Only the block's hash and proof, not its value.
    pub hash: Option<bool>,
    /// Digest of the proof nodes the requester already has (0 = none).
    pub nodes: Option<u64>,
}

/// `Cancel` (type 8); hypercore 9 never sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cancel {
    /// Block index.
    pub index: u64,
    /// Byte offset.
    pub bytes: Option<u64>,
    /// Hash-only request.
    pub hash: Option<bool>,
}

/// One Merkle tree node of a [`Data`] proof.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataNode {
    /// Flat-tree index.
    pub index: u64,
    /// BLAKE2b-256 hash.
    pub hash: Vec<u8>,
    /// Bytes under the node.
    pub size: u64,
}

/// `Data` (type 9): a block (or only its hash) with its proof.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Data {
    /// Block index.
    pub index: u64,
    /// The block, absent for hash-only answers.
    pub value: Option<Vec<u8>>,
    /// Proof nodes: siblings bottom-up, then the other roots in ascending index.
    pub nodes: Vec<DataNode>,
    /// Ed25519 signature of the roots, when the proof reaches them.
    pub signature: Option<Vec<u8>>,
}

impl Data {
    /// The body of this `Data` around a `value_len`-byte value written separately (straight into
    /// the outgoing frame): `head` goes before the value, `tail` after it. `self.value` is not
    /// looked at.
    pub(crate) fn encode_around_value(
        &self,
        value_len: usize,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) {
        pb::put_u64(head, 1, self.index);
        pb::put_bytes_prefix(head, 2, value_len);
        self.encode_proof(tail);
    }

    /// The fields after the value: proof nodes, then the signature.
    fn encode_proof(&self, out: &mut Vec<u8>) {
        let mut node_buf = Vec::new();
        for node in &self.nodes {
            node_buf.clear();
            pb::put_u64(&mut node_buf, 1, node.index);
            pb::put_bytes(&mut node_buf, 2, &node.hash);
            pb::put_u64(&mut node_buf, 3, node.size);
            pb::put_bytes(out, 3, &node_buf);
        }
        if let Some(s) = &self.signature {
            pb::put_bytes(out, 4, s);
        }
    }
}

/// `Close` (type 10): closes the sender's channel, or (with a discovery key) refuses a feed the
/// sender never opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Close {
    /// Only set by a sender that never opened the channel.
    pub discovery_key: Option<Vec<u8>>,
}

/// Type 15: an extension message, `varint(id) ‖ payload`, where `id` indexes the sender's sorted
/// extension names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extension {
    /// Index in the sender's sorted extension list.
    pub id: u64,
    /// Extension-defined payload.
    pub payload: Vec<u8>,
}

/// A session message of any type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is its type's struct
pub enum Message {
    Open(Open),
    Options(Options),
    Status(Status),
    Have(Have),
    Unhave(Unhave),
    Want(Want),
    Unwant(Unwant),
    Request(Request),
    Cancel(Cancel),
    Data(Data),
    Close(Close),
    Extension(Extension),
}

/// The 24-byte XSalsa20 nonce each side sends in its Noise handshake payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoisePayload {
    /// The sender's transport nonce (24 bytes from every valid peer).
    pub nonce: Vec<u8>,
}

impl Options {
    /// Whether the remote asked for acks (JS default false).
    pub fn ack(&self) -> bool {
        self.ack.unwrap_or(false)
    }
}

impl Status {
    /// Both fields written, as hypercore always does.
    pub fn new(uploading: bool, downloading: bool) -> Self {
        Status {
            uploading: Some(uploading),
            downloading: Some(downloading),
        }
    }

    /// Whether the sender uploads (JS decodes an absent field as false).
    pub fn uploading(&self) -> bool {
        self.uploading.unwrap_or(false)
    }

    /// Whether the sender downloads (JS decodes an absent field as false).
    pub fn downloading(&self) -> bool {
        self.downloading.unwrap_or(false)
    }
}

impl Have {
    /// Number of blocks (JS default 1).
    pub fn length(&self) -> u64 {
        self.length.unwrap_or(1)
    }

    /// Whether this is an acknowledgement.
    pub fn ack(&self) -> bool {
        self.ack.unwrap_or(false)
    }
}

impl Unhave {
    /// Number of blocks (JS default 1).
    pub fn length(&self) -> u64 {
        self.length.unwrap_or(1)
    }
}

impl Want {
    /// Number of blocks (JS default 0).
    pub fn length(&self) -> u64 {
        self.length.unwrap_or(0)
    }
}

impl Unwant {
    /// Number of blocks (JS default 0).
    pub fn length(&self) -> u64 {
        self.length.unwrap_or(0)
    }
}

impl Request {
    /// All four fields written, as hypercore always does.
    pub fn new(index: u64, hash: bool, nodes: u64) -> Self {
        Request {
            index,
            bytes: Some(0),
            hash: Some(hash),
            nodes: Some(nodes),
        }
    }

    /// Byte offset (JS default 0).
    pub fn bytes(&self) -> u64 {
        self.bytes.unwrap_or(0)
    }

    /// Hash-only request (JS default false).
    pub fn hash(&self) -> bool {
        self.hash.unwrap_or(false)
    }

    /// Proof digest (JS default 0).
    pub fn nodes(&self) -> u64 {
        self.nodes.unwrap_or(0)
    }
}

impl Message {
    /// The type number of `Data`.
    pub(crate) const DATA: u8 = 9;

    /// The 4-bit type number in the frame header.
    pub fn type_id(&self) -> u8 {
        match self {
            Message::Open(_) => 0,
            Message::Options(_) => 1,
            Message::Status(_) => 2,
            Message::Have(_) => 3,
            Message::Unhave(_) => 4,
            Message::Want(_) => 5,
            Message::Unwant(_) => 6,
            Message::Request(_) => 7,
            Message::Cancel(_) => 8,
            Message::Data(_) => Self::DATA,
            Message::Close(_) => 10,
            Message::Extension(_) => 15,
        }
    }

    /// The type's name as the schema spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Open(_) => "Open",
            Message::Options(_) => "Options",
            Message::Status(_) => "Status",
            Message::Have(_) => "Have",
            Message::Unhave(_) => "Unhave",
            Message::Want(_) => "Want",
            Message::Unwant(_) => "Unwant",
            Message::Request(_) => "Request",
            Message::Cancel(_) => "Cancel",
            Message::Data(_) => "Data",
            Message::Close(_) => "Close",
            Message::Extension(_) => "Extension",
        }
    }

    /// Appends the message body (no frame header).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Message::Open(m) => {
                pb::put_bytes(out, 1, &m.discovery_key);
                if let Some(c) = &m.capability {
                    pb::put_bytes(out, 2, c);
                }
            }
            Message::Options(m) => {
                for name in &m.extensions {
                    pb::put_bytes(out, 1, name.as_bytes());
                }
                put_opt_bool(out, 2, m.ack);
            }
            Message::Status(m) => {
                put_opt_bool(out, 1, m.uploading);
                put_opt_bool(out, 2, m.downloading);
            }
            Message::Have(m) => {
                pb::put_u64(out, 1, m.start);
                put_opt_u64(out, 2, m.length);
                if let Some(b) = &m.bitfield {
                    pb::put_bytes(out, 3, b);
                }
                put_opt_bool(out, 4, m.ack);
            }
            Message::Unhave(Unhave { start, length })
            | Message::Want(Want { start, length })
            | Message::Unwant(Unwant { start, length }) => {
                pb::put_u64(out, 1, *start);
                put_opt_u64(out, 2, *length);
            }
            Message::Request(m) => {
                pb::put_u64(out, 1, m.index);
                put_opt_u64(out, 2, m.bytes);
                put_opt_bool(out, 3, m.hash);
                put_opt_u64(out, 4, m.nodes);
            }
            Message::Cancel(m) => {
                pb::put_u64(out, 1, m.index);
                put_opt_u64(out, 2, m.bytes);
                put_opt_bool(out, 3, m.hash);
            }
            Message::Data(m) => {
                pb::put_u64(out, 1, m.index);
                if let Some(v) = &m.value {
                    pb::put_bytes(out, 2, v);
                }
                m.encode_proof(out);
            }
            Message::Close(m) => {
                if let Some(dk) = &m.discovery_key {
                    pb::put_bytes(out, 1, dk);
                }
            }
            Message::Extension(m) => {
                varint::encode(m.id, out);
                out.extend_from_slice(&m.payload);
            }
        }
    }

    /// Decodes the body of a frame of type `type_id`. Types 11–14 are unassigned and yield
    /// `Ok(None)` (JS ignores them); a missing required field or a malformed body is an error,
    /// as it is for JS's decoder.
    pub fn decode(type_id: u8, body: &[u8]) -> Result<Option<Message>, DecodeError> {
        let message = match type_id {
            0 => {
                let mut m = Open::default();
                let mut seen = false;
                for field in Fields::new(body) {
                    match field? {
                        (1, v) => {
                            m.discovery_key = v.bytes()?.to_vec();
                            seen = true;
                        }
                        (2, v) => m.capability = Some(v.bytes()?.to_vec()),
                        _ => {}
                    }
                }
                required(seen)?;
                Message::Open(m)
            }
            1 => {
                let mut m = Options::default();
                for field in Fields::new(body) {
                    match field? {
                        (1, v) => {
                            if m.extensions.len() == MAX_EXTENSIONS {
                                return Err(DecodeError("too many extension names"));
                            }
                            // JS decodes strings lossily rather than failing.
                            m.extensions
                                .push(String::from_utf8_lossy(v.bytes()?).into_owned());
                        }
                        (2, v) => m.ack = Some(v.bool()?),
                        _ => {}
                    }
                }
                Message::Options(m)
            }
            2 => {
                let mut m = Status::default();
                for field in Fields::new(body) {
                    match field? {
                        (1, v) => m.uploading = Some(v.bool()?),
                        (2, v) => m.downloading = Some(v.bool()?),
                        _ => {}
                    }
                }
                Message::Status(m)
            }
            3 => {
                let mut m = Have::default();
                let mut seen = false;
                for field in Fields::new(body) {
                    match field? {
                        (1, v) => {
                            m.start = v.u64()?;
                            seen = true;
                        }
                        (2, v) => m.length = Some(v.u64()?),
                        (3, v) => m.bitfield = Some(v.bytes()?.to_vec()),
                        (4, v) => m.ack = Some(v.bool()?),
                        _ => {}
                    }
                }
                required(seen)?;
                Message::Have(m)
            }
            4..=6 => {
                let (start, length) = decode_range(body)?;
                match type_id {
                    4 => Message::Unhave(Unhave { start, length }),
                    5 => Message::Want(Want { start, length }),
                    _ => Message::Unwant(Unwant { start, length }),
                }
            }
            7 => {
                let mut m = Request::default();
                let mut seen = false;
                for field in Fields::new(body) {
                    match field? {
                        (1, v) => {
                            m.index = v.u64()?;
                            seen = true;
                        }
                        (2, v) => m.bytes = Some(v.u64()?),
                        (3, v) => m.hash = Some(v.bool()?),
                        (4, v) => m.nodes = Some(v.u64()?),
                        _ => {}
                    }
                }
                required(seen)?;
                Message::Request(m)
            }
            8 => {
                let mut m = Cancel::default();
                let mut seen = false;
                for field in Fields::new(body) {
                    match field? {
                        (1, v) => {
                            m.index = v.u64()?;
                            seen = true;
                        }
                        (2, v) => m.bytes = Some(v.u64()?),
                        (3, v) => m.hash = Some(v.bool()?),
                        _ => {}
                    }
                }
                required(seen)?;
                Message::Cancel(m)
            }
            9 => Message::Data(decode_data(body)?),
            10 => {
                let mut m = Close::default();
                for field in Fields::new(body) {
                    if let (1, v) = field? {
                        m.discovery_key = Some(v.bytes()?.to_vec());
                    }
                }
                Message::Close(m)
            }
            15 => {
                let (id, used) =
                    varint::decode(body, 10).map_err(|_| DecodeError("invalid extension id"))?;
                Message::Extension(Extension {
                    id,
                    payload: body[used..].to_vec(),
                })
            }
            _ => return Ok(None),
        };
        Ok(Some(message))
    }
}

impl NoisePayload {
    /// The protobuf bytes: `0a 18 <nonce>` for a 24-byte nonce.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.nonce.len());
        pb::put_bytes(&mut out, 1, &self.nonce);
        out
    }

    /// Parses a handshake payload; `nonce` is required.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut nonce = None;
        for field in Fields::new(buf) {
            if let (1, v) = field? {
                nonce = Some(v.bytes()?.to_vec());
            }
        }
        nonce
            .map(|nonce| NoisePayload { nonce })
            .ok_or(DecodeError("missing required field"))
    }
}

fn required(seen: bool) -> Result<(), DecodeError> {
    if seen {
        Ok(())
    } else {
        Err(DecodeError("missing required field"))
    }
}

fn put_opt_u64(out: &mut Vec<u8>, field: u64, value: Option<u64>) {
    if let Some(v) = value {
        pb::put_u64(out, field, v);
    }
}

fn put_opt_bool(out: &mut Vec<u8>, field: u64, value: Option<bool>) {
    if let Some(v) = value {
        pb::put_bool(out, field, v);
    }
}

fn decode_range(body: &[u8]) -> Result<(u64, Option<u64>), DecodeError> {
    let mut start = None;
    let mut length = None;
    for field in Fields::new(body) {
        match field? {
            (1, v) => start = Some(v.u64()?),
            (2, v) => length = Some(v.u64()?),
            _ => {}
        }
    }
    Ok((start.ok_or(DecodeError("missing required field"))?, length))
}

fn decode_data(body: &[u8]) -> Result<Data, DecodeError> {
    let mut m = Data::default();
    let mut seen = false;
    for field in Fields::new(body) {
        match field? {
            (1, v) => {
                m.index = v.u64()?;
                seen = true;
            }
            (2, v) => m.value = Some(v.bytes()?.to_vec()),
            (3, v) => {
                if m.nodes.len() == MAX_PROOF_NODES {
                    return Err(DecodeError("too many proof nodes"));
                }
                m.nodes.push(decode_node(v.bytes()?)?);
            }
            (4, v) => m.signature = Some(v.bytes()?.to_vec()),
            _ => {}
        }
    }
    required(seen)?;
    Ok(m)
}

fn decode_node(body: &[u8]) -> Result<DataNode, DecodeError> {
    let (mut index, mut hash, mut size) = (None, None, None);
    for field in Fields::new(body) {
        match field? {
            (1, v) => index = Some(v.u64()?),
            (2, v) => hash = Some(v.bytes()?.to_vec()),
            (3, v) => size = Some(v.u64()?),
            _ => {}
        }
    }
    match (index, hash, size) {
        (Some(index), Some(hash), Some(size)) => Ok(DataNode { index, hash, size }),
        _ => Err(DecodeError("missing required field")),
    }
}
