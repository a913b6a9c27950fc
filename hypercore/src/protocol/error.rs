//! Why a session failed, or why a call was refused.

use super::frame::FrameError;
use super::noise::NoiseError;

/// A session error.
///
/// Errors returned by [`Session::handle_input`], [`Session::handle_timeout`] and
/// [`Session::handle_eof`] are fatal: the session is closed (JS destroys the stream) and every
/// later call returns [`Error::Closed`]. Errors from the sending calls ([`Session::send`],
/// [`Session::open`], ...) only refuse that call.
///
/// [`Session::handle_input`]: super::Session::handle_input
/// [`Session::handle_timeout`]: super::Session::handle_timeout
/// [`Session::handle_eof`]: super::Session::handle_eof
/// [`Session::send`]: super::Session::send
/// [`Session::open`]: super::Session::open
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Noise handshake failed.
    #[error("Noise handshake error: {0}")]
    Handshake(#[from] NoiseError),
    /// The varint length before a handshake message is invalid or over 65535.
    #[error("invalid handshake framing: {0}")]
    HandshakeFraming(&'static str),
    /// No handshake message of the remote carried a payload.
    #[error("remote did not include a handshake payload")]
    MissingPayload,
    /// The remote's handshake payload is not a `NoisePayload` with a 24-byte nonce.
    #[error("could not parse remote payload")]
    BadPayload,
    /// The decrypted stream does not parse as frames and messages.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The remote opened a channel we had opened with a capability that does not match.
    #[error("invalid remote channel capability")]
    InvalidCapability,
    /// An `Open` whose discovery key is not 32 bytes.
    #[error("remote sent an Open with a {0}-byte discovery key")]
    BadDiscoveryKey(usize),
    /// An `Open` whose capability is not 32 bytes (a BLAKE2b-256 MAC, or absent).
    #[error("remote sent an Open with a {0}-byte capability")]
    BadCapability(usize),
    /// The remote opened a channel on an id that still names another of its open channels.
    #[error("remote reused channel id {0} before closing it")]
    ChannelIdReused(u64),
    /// The remote opened more channels than [`MAX_CHANNELS`](super::MAX_CHANNELS).
    #[error("remote opened more than {0} channels")]
    TooManyChannels(usize),
    /// Nothing was received for the configured timeout (JS: `ETIMEDOUT`).
    #[error("ETIMEDOUT: nothing received for {0} ms")]
    Timeout(u128),
    /// The transport ended in the middle of the handshake or of a frame.
    #[error("connection ended during {0}")]
    UnexpectedEof(&'static str),
    /// The session already failed or was closed.
    #[error("the session is closed")]
    Closed,
    /// The channel is not open on our side.
    #[error("no channel of ours is open for this discovery key")]
    ChannelNotOpen,
    /// `Open` and `Close` are sent through [`Session::open`](super::Session::open) and
    /// [`Session::close`](super::Session::close), which keep the channel table right.
    #[error("{0} messages are sent with Session::open / Session::close")]
    UseOpenClose(&'static str),
    /// The extension name was not registered on this side.
    #[error("extension {0:?} is not registered")]
    UnknownExtension(String),
    /// An I/O error of the transport (tokio glue only).
    #[error("transport: {0}")]
    Io(String),
}
