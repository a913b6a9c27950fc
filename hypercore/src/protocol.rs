//! The hypercore-protocol 8 session layer, wire-compatible with Node's `hypercore-protocol@8.0.7`
//! (`simple-hypercore-protocol` 2, `noise-protocol` 3.0.1).
//!
//! A session is one byte stream (TCP or uTP) between two peers carrying any number of feeds:
//! 1. a Noise `XX` handshake (X25519, ChaCha20-Poly1305, BLAKE2b; [`noise`]) whose payloads carry
//!    each side's 24-byte transport nonce;
//! 2. then one XSalsa20 keystream per direction over everything else ([`TransportCipher`], a
//!    lane-parallel XSalsa20 of its own, as no vetted crate has a SIMD Salsa20);
//! 3. inside it, frames `varint(len) ‖ varint(channel << 4 | type) ‖ body` ([`frame`]) holding
//!    twelve protobuf messages ([`message`]);
//! 4. channels, one per feed, named by discovery key and opened with a capability that proves
//!    knowledge of the feed key ([`capability`]); extensions at stream and channel level
//!    ([`Extensions`]); keep-alives and an idle timeout.
//!
//! [`Session`] is sans-IO, in the style of `quinn-proto`: bytes in through
//! [`Session::handle_input`], bytes out through [`Session::poll_transmit`], [`Event`]s through
//! [`Session::poll_event`], time through [`Session::poll_timeout`] /
//! [`Session::handle_timeout`]. With the `tokio` feature, [`io::SessionStream`] drives one over
//! any `AsyncRead + AsyncWrite`.
//!
//! ```
//! use std::time::Instant;
//! use hypercore::KeyPair;
//! use hypercore::protocol::{Event, Message, Session, SessionConfig, Status};
//!
//! let now = Instant::now();
//! let mut a = Session::new(SessionConfig::new(true), now);
//! let mut b = Session::new(SessionConfig::new(false), now);
//! let feed = KeyPair::generate().public;
//! a.open(&feed)?; // queued until the handshake is done
//! b.open(&feed)?;
//! // Shuttle bytes until both sides are quiet.
//! loop {
//!     let mut moved = false;
//!     while let Some(bytes) = a.poll_transmit(now) { b.handle_input(now, &bytes)?; moved = true; }
//!     while let Some(bytes) = b.poll_transmit(now) { a.handle_input(now, &bytes)?; moved = true; }
//!     if !moved { break; }
//! }
//! let dk = feed.discovery_key();
//! assert!(a.is_remote_open(&dk) && b.is_remote_open(&dk));
//! a.send(&dk, Message::Status(Status::new(true, false)))?;
//! b.handle_input(now, &a.poll_transmit(now).unwrap())?;
//! let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
//! assert!(events.contains(&Event::Message {
//!     discovery_key: dk,
//!     message: Message::Status(Status::new(true, false)),
//! }));
//! # Ok::<(), hypercore::protocol::Error>(())
//! ```
//!
//! # What works
//! Every codec is byte-exact against the frames, handshakes and keystreams captured from JS
//! peers (`tests/traces/hypercore-replication.json`; the format is in docs/wire.md); two
//! sessions replicate every message type back to back; malformed input (garbage before or after
//! the handshake, truncated handshakes, wrong capabilities or ones that are not 32 bytes, channel
//! ids reused while open, more than [`MAX_CHANNELS`] channels, frames over 8 MiB, unknown types)
//! ends the session with a typed [`Error`] and bounded memory; a channel we refuse leaves the
//! table at once, so a peer opening feeds we lack, over and over, leaves nothing behind; `Debug`
//! shows no key; with the `interop` feature the tests run the handshake and a message exchange
//! against a real Node `hypercore-protocol` peer over TCP in both roles.
//!
//! Tests: `cargo test -p hypercore --lib protocol` (codecs, Noise, RLE, extensions),
//! `--test protocol_session` (two sessions, bad input), `--test protocol_trace` (JS captures),
//! `--features tokio --test protocol_io` (the glue), `--features interop --test protocol_interop`
//! (a Node peer; needs `node` and `<workspace>/tests/js/node_modules`).
//!
//! # What is left
//! Feed replication (Want/Have bookkeeping, request scheduling, proofs through
//! [`Feed::proof`](crate::Feed::proof) / [`Feed::put`](crate::Feed::put), sparse/live modes) is
//! the next layer and uses this session. Not implemented here: the unencrypted modes
//! (`encrypted: false` / `noise: false`, unused by Hyperdrive), `onauthenticate` as a hook (the
//! remote key arrives in [`Event::Handshake`]; call [`Session::destroy`] to refuse it), and uTP's
//! `onmissing` content-size hint.

pub mod bitfield_rle;
mod channel;
mod cipher;
mod error;
mod extensions;
pub mod frame;
#[cfg(feature = "tokio")]
pub mod io;
pub mod message;
pub mod noise;
mod pb;
mod send_buffer;
mod session;
mod varint;
mod xsalsa20;

pub use self::{
    cipher::{TransportCipher, capability},
    error::Error,
    extensions::Extensions,
    frame::{Frame, FrameError, FrameReader, MAX_BODY},
    message::{
        Cancel, Close, Data, DataNode, Extension, Have, MAX_EXTENSIONS, MAX_PROOF_NODES, Message,
        NoisePayload, Open, Options, Request, Status, Unhave, Unwant, Want,
    },
    noise::{Handshake, HandshakeOutcome, NoiseError, NoiseKeyPair},
    pb::DecodeError,
    session::{DEFAULT_TIMEOUT, Event, MAX_CHANNELS, Session, SessionConfig},
};
