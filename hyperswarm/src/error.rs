//! Error types.

use thiserror::Error;

/// Why bytes from the network could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated input")]
    Truncated,
    /// A varint was longer than 10 bytes or overflowed 64 bits.
    #[error("varint overflow")]
    VarintOverflow,
    /// A protobuf wire type this schema never uses (groups, or > 5).
    #[error("unsupported protobuf wire type {0}")]
    WireType(u8),
    /// A `required` field of the schema was absent.
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// The message type is not QUERY, UPDATE or RESPONSE.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// A fixed-size field had the wrong length.
    #[error("bad length for {0}")]
    Length(&'static str),
    /// An address carried port 0 (ipv4-peers rejects it).
    #[error("port 0 in an address")]
    ZeroPort,
    /// An address was 0.0.0.0 where @hyperswarm/dht rejects it.
    #[error("unspecified address 0.0.0.0")]
    UnspecifiedHost,
    /// The datagram is larger than any legitimate dht-rpc message.
    #[error("datagram of {0} bytes is too large")]
    TooLarge(usize),
}

/// Why a request or query failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RpcError {
    /// No response after all retries (Node: `ETIMEDOUT`).
    #[error("request timed out")]
    Timeout,
    /// The request was cancelled (node shut down or queue full).
    #[error("request cancelled")]
    Cancelled,
    /// The remote answered with an `error` string.
    #[error("remote error: {0}")]
    Remote(String),
    /// A query finished without a single response (Node: "No nodes responded").
    #[error("No nodes responded")]
    NoNodesResponded,
    /// An update query found no close node that accepted the update
    /// (Node: "No close nodes responded").
    #[error("No close nodes responded")]
    NoCloseNodesResponded,
    /// A pong did not carry a decodable address.
    #[error("Invalid pong")]
    InvalidPong,
}
