//! The sans-IO hypercore-protocol 8 session: bytes in, bytes and events out, time passed in.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use super::channel::Channels;
use super::cipher::{TransportCipher, capability};
use super::error::Error;
use super::extensions::Extensions;
use super::frame::{self, Frame, FrameReader};
use super::message::{Close, Data, Extension, Message, NoisePayload, Open, Options};
use super::noise::{Handshake, HandshakeOutcome, MAX_MESSAGE, NoiseKeyPair, random_bytes};
use super::send_buffer::SendBuffer;
use super::varint::{self, VarintError};
use crate::crypto::PublicKey;

/// JS's default stream timeout (`hypercore-protocol`): 20 s without receiving anything.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Most channels a remote may have us track at once; JS has no limit, but every remote `Open`
/// costs memory, so a peer could otherwise grow the table without bound.
pub const MAX_CHANNELS: usize = 65536;

/// Largest message encoding buffer kept between messages.
const MAX_SCRATCH: usize = 64 * 1024;

/// How to start a session.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Whether this side starts the handshake (in hyperswarm: the side that dialed).
    pub initiator: bool,
    /// The Noise static key pair; a fresh random one when `None` (as JS does per stream).
    pub keypair: Option<NoiseKeyPair>,
    /// Destroy the session when nothing arrives for this long, and send a keep-alive after half
    /// of it without sending; `None` disables both (JS `timeout: false`).
    pub timeout: Option<Duration>,
    /// Replication `live`: when false, the session reports [`Event::Finished`] once the last
    /// channel closes (JS then ends the stream).
    pub live: bool,
    /// The 24-byte transport nonce sent in the handshake payload; random when `None`. Fixing it
    /// is only for replaying recorded sessions.
    pub nonce: Option<[u8; 24]>,
    /// A fixed Noise ephemeral key; random when `None`. Only for replaying recorded sessions.
    pub ephemeral: Option<NoiseKeyPair>,
}

impl SessionConfig {
    /// JS defaults: random keys, 20 s timeout, not live.
    pub fn new(initiator: bool) -> Self {
        SessionConfig {
            initiator,
            keypair: None,
            timeout: Some(DEFAULT_TIMEOUT),
            live: false,
            nonce: None,
            ephemeral: None,
        }
    }
}

/// Something the application should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; queued messages are now being sent.
    Handshake {
        /// The remote's Noise static public key (authenticate it here if needed).
        remote_public_key: [u8; 32],
    },
    /// The remote opened a feed we have not opened (JS `discovery-key`): open it with
    /// [`Session::open`] if we have its key, else refuse it with [`Session::close`].
    DiscoveryKey {
        /// The feed's discovery key.
        discovery_key: [u8; 32],
    },
    /// Both sides opened the channel and the remote's capability checked out.
    ChannelOpen {
        /// The feed's discovery key.
        discovery_key: [u8; 32],
    },
    /// We opened a feed the remote had already opened, but its capability does not match the
    /// key; a `Close{discoveryKey}` was sent instead of an `Open` (hypercore's rule).
    ChannelRejected {
        /// The feed's discovery key.
        discovery_key: [u8; 32],
    },
    /// The remote closed the channel (we answered with our own `Close` if we had it open).
    ChannelClosed {
        /// The feed's discovery key.
        discovery_key: [u8; 32],
    },
    /// A feed message (`Options`, `Status`, `Have`, `Unhave`, `Want`, `Unwant`, `Request`,
    /// `Cancel`, `Data`) on a channel open on both sides.
    Message {
        /// The feed's discovery key.
        discovery_key: [u8; 32],
        /// The message.
        message: Message,
    },
    /// A message of a channel-level extension we registered.
    ChannelExtension {
        /// The feed's discovery key.
        discovery_key: [u8; 32],
        /// The extension name.
        name: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// The remote announced its stream-level extension names.
    RemoteExtensions {
        /// The names, as sent.
        names: Vec<String>,
    },
    /// A message of a stream-level extension we registered.
    StreamExtension {
        /// The extension name.
        name: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// Not live and the last channel closed: JS ends its side of the stream now, and so should
    /// the transport (half-close).
    Finished,
}

/// A message queued before the handshake finished; an `Open`'s capability needs the split keys.
#[derive(Debug)]
struct Pending {
    channel: u64,
    message: Message,
    open_key: Option<[u8; 32]>,
}

struct Transport {
    tx: TransportCipher,
    rx: TransportCipher,
    tx_key: [u8; 32],
    rx_key: [u8; 32],
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The split keys decrypt the whole session and prove feed capabilities: never printed.
        f.write_str("Transport { .. }")
    }
}

/// One hypercore-protocol 8 session, sans-IO.
///
/// Feed it what the transport received ([`handle_input`](Self::handle_input)), write out what
/// [`poll_transmit`](Self::poll_transmit) returns, act on [`poll_event`](Self::poll_event), and
/// call [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout).
///
/// `Debug` shows the session's state but no secret: not the transport keys, not the feed keys of
/// its channels, not the plaintext it buffers.
pub struct Session {
    initiator: bool,
    live: bool,
    public_key: [u8; 32],
    nonce: [u8; 24],
    handshake: Option<Box<Handshake>>,
    handshake_buf: Vec<u8>,
    outcome: Option<HandshakeOutcome>,
    transport: Option<Transport>,
    frames: FrameReader,
    out: SendBuffer,
    /// Reused for encoding message bodies.
    scratch: Vec<u8>,
    pending: Vec<Pending>,
    events: VecDeque<Event>,
    channels: Channels,
    extensions: Extensions,
    announced_extensions: u64,
    /// Refusals sent whose answering `Close` has not arrived (their channels are gone already).
    refusals: u64,
    timeout: Option<Duration>,
    last_recv: Instant,
    last_send: Instant,
    closed: bool,
    finished: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("initiator", &self.initiator)
            .field("live", &self.live)
            .field("handshake_complete", &self.transport.is_some())
            .field("transport", &self.transport)
            .field("channels", &self.channels.len())
            .field("transmit_len", &self.out.len())
            .field("closed", &self.closed)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Starts a session at time `now`; an initiator's first handshake message is ready at once.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let nonce = config.nonce.unwrap_or_else(random_bytes);
        let keypair = config.keypair.unwrap_or_else(NoiseKeyPair::generate);
        let public_key = keypair.public;
        let payload = NoisePayload {
            nonce: nonce.to_vec(),
        }
        .encode();
        let handshake = match config.ephemeral {
            Some(e) => Handshake::with_ephemeral(config.initiator, keypair, e, payload),
            None => Handshake::new(config.initiator, keypair, payload),
        };
        let mut session = Session {
            initiator: config.initiator,
            live: config.live,
            public_key,
            nonce,
            handshake: Some(Box::new(handshake)),
            handshake_buf: Vec::new(),
            outcome: None,
            transport: None,
            frames: FrameReader::new(),
            out: SendBuffer::default(),
            scratch: Vec::new(),
            pending: Vec::new(),
            events: VecDeque::new(),
            channels: Channels::default(),
            extensions: Extensions::new(),
            announced_extensions: 0,
            refusals: 0,
            timeout: config.timeout.filter(|t| !t.is_zero()),
            last_recv: now,
            last_send: now,
            closed: false,
            finished: false,
        };
        if session.initiator {
            // A fresh handshake always accepts its first write; a failure would surface at read.
            if let Err(err) = session.write_handshake() {
                tracing::debug!(%err, "writing the first handshake message failed");
                session.closed = true;
            }
        }
        session
    }

    /// Whether this side started the handshake.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// This side's Noise static public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The remote's Noise static public key, once the handshake finished.
    pub fn remote_public_key(&self) -> Option<&[u8; 32]> {
        self.outcome.as_ref().map(|o| &o.remote_static)
    }

    /// The Noise handshake hash, once the handshake finished.
    pub fn handshake_hash(&self) -> Option<&[u8; 64]> {
        self.outcome.as_ref().map(|o| &o.handshake_hash)
    }

    /// Whether the handshake finished.
    pub fn is_handshake_complete(&self) -> bool {
        self.transport.is_some()
    }

    /// Whether the session failed or was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Number of channels known (opened by either side), JS `channelCount`.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Whether we have the feed of `discovery_key` open.
    pub fn is_open(&self, discovery_key: &[u8; 32]) -> bool {
        self.channels
            .get(discovery_key)
            .is_some_and(|c| c.local_id.is_some())
    }

    /// Whether the remote has the feed of `discovery_key` open.
    pub fn is_remote_open(&self, discovery_key: &[u8; 32]) -> bool {
        self.channels
            .get(discovery_key)
            .is_some_and(|c| c.remote_id.is_some())
    }

    // ----- input -----

    /// Processes bytes received from the transport at time `now`.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        self.handle_input_mut(now, &mut data.to_vec())
    }

    /// [`handle_input`](Self::handle_input) that decrypts in place in the caller's read buffer
    /// (leaving garbage there) instead of copying it first.
    pub fn handle_input_mut(&mut self, now: Instant, data: &mut [u8]) -> Result<(), Error> {
        self.check_open()?;
        self.last_recv = now;
        let result = self.input(data);
        self.fail_on(result)
    }

    /// The transport ended (EOF). An error if that cut the handshake or a frame short.
    pub fn handle_eof(&mut self) -> Result<(), Error> {
        self.check_open()?;
        let result = if self.transport.is_none() {
            Err(Error::UnexpectedEof("the handshake"))
        } else if self.frames.buffered() > 0 {
            Err(Error::UnexpectedEof("a frame"))
        } else {
            Ok(())
        };
        self.fail_on(result)
    }

    fn input(&mut self, data: &mut [u8]) -> Result<(), Error> {
        if self.transport.is_none() {
            self.handshake_buf.extend_from_slice(data);
            let overflow = self.drive_handshake()?;
            if let Some(mut rest) = overflow {
                self.transport_input(&mut rest)?;
            }
            return Ok(());
        }
        self.transport_input(data)
    }

    /// Runs handshake messages out of the buffer; once finished, returns the bytes after it.
    fn drive_handshake(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut pos = 0;
        while let Some(hs) = self.handshake.as_mut() {
            if hs.is_finished() {
                break;
            }
            let rest = &self.handshake_buf[pos..];
            let (len, used) = match varint::decode(rest, 3) {
                Ok(v) => v,
                Err(VarintError::Incomplete) => break,
                Err(VarintError::TooLong) => {
                    return Err(Error::HandshakeFraming("message length is over 65535"));
                }
            };
            if len > MAX_MESSAGE as u64 {
                return Err(Error::HandshakeFraming("message length is over 65535"));
            }
            let len = len as usize;
            if rest.len() < used + len {
                break;
            }
            let msg = &rest[used..used + len];
            pos += used + len;
            // JS skips a zero length prefix and reads the next one.
            if len == 0 {
                continue;
            }
            hs.read_message(msg)?;
            if hs.is_write_turn() {
                self.write_handshake()?;
            }
        }
        self.handshake_buf.drain(..pos);
        if self.handshake.as_ref().is_some_and(|h| h.is_finished()) {
            self.finish_handshake()?;
        }
        if self.transport.is_none() {
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut self.handshake_buf)))
    }

    fn write_handshake(&mut self) -> Result<(), Error> {
        let Some(hs) = self.handshake.as_mut() else {
            return Ok(());
        };
        let msg = hs.write_message()?;
        let mut prefix = Vec::with_capacity(3);
        varint::encode(msg.len() as u64, &mut prefix); // varint length, no header
        self.out.extend_from_slice(&prefix);
        self.out.extend_from_slice(&msg);
        if hs.is_finished() {
            // The initiator finishes by writing msg3; anything the responder sent after msg2 is
            // already in the buffer and handled as transport data by the caller.
            self.finish_handshake()?;
        }
        Ok(())
    }

    fn finish_handshake(&mut self) -> Result<(), Error> {
        if self.transport.is_some() {
            return Ok(());
        }
        let Some(outcome) = self.handshake.as_ref().and_then(|h| h.outcome()) else {
            return Ok(());
        };
        let payload = outcome
            .remote_payload
            .as_deref()
            .ok_or(Error::MissingPayload)?;
        let payload = NoisePayload::decode(payload).map_err(|_| Error::BadPayload)?;
        let remote_nonce: [u8; 24] = payload
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| Error::BadPayload)?;
        self.transport = Some(Transport {
            tx: TransportCipher::new(&outcome.tx, &self.nonce),
            rx: TransportCipher::new(&outcome.rx, &remote_nonce),
            tx_key: outcome.tx,
            rx_key: outcome.rx,
        });
        self.events.push_back(Event::Handshake {
            remote_public_key: outcome.remote_static,
        });
        self.outcome = Some(outcome);
        self.handshake = None;
        for p in std::mem::take(&mut self.pending) {
            self.send_now(p.channel, p.message, p.open_key);
        }
        Ok(())
    }

    fn transport_input(&mut self, data: &mut [u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let Some(t) = self.transport.as_mut() else {
            return Ok(());
        };
        t.rx.apply(data);
        self.frames.push(data);
        while let Some(frame) = self.frames.next_frame()? {
            self.handle_frame(frame)?;
        }
        Ok(())
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), Error> {
        let (channel, message) = match frame {
            Frame::KeepAlive | Frame::Ignored { .. } => return Ok(()),
            Frame::Message { channel, message } => (channel, message),
        };
        match message {
            Message::Open(open) => self.on_open(channel, open),
            Message::Close(close) => {
                self.on_close(channel, close);
                Ok(())
            }
            Message::Options(options) if channel == 0 && self.channels.by_remote(0).is_none() => {
                self.extensions.set_remote(options.extensions.clone());
                self.events.push_back(Event::RemoteExtensions {
                    names: options.extensions,
                });
                Ok(())
            }
            Message::Extension(ext) if channel == 0 && self.channels.by_remote(0).is_none() => {
                if let Some(name) = self.extensions.resolve_remote(ext.id) {
                    let name = name.to_owned();
                    self.events.push_back(Event::StreamExtension {
                        name,
                        payload: ext.payload,
                    });
                }
                Ok(())
            }
            message => {
                self.on_channel_message(channel, message);
                Ok(())
            }
        }
    }

    fn on_open(&mut self, remote_id: u64, open: Open) -> Result<(), Error> {
        let dk: [u8; 32] = open
            .discovery_key
            .as_slice()
            .try_into()
            .map_err(|_| Error::BadDiscoveryKey(open.discovery_key.len()))?;
        // A capability is a 32-byte MAC: anything else can never verify, and is not kept.
        let capability = match open.capability {
            Some(c) => Some(
                <[u8; 32]>::try_from(c.as_slice()).map_err(|_| Error::BadCapability(c.len()))?,
            ),
            None => None,
        };
        if self.channels.get(&dk).is_none() && self.channels.len() >= MAX_CHANNELS {
            return Err(Error::TooManyChannels(MAX_CHANNELS));
        }
        if !self.channels.attach_remote(dk, remote_id) {
            return Err(Error::ChannelIdReused(remote_id));
        }
        let Some(ch) = self.channels.get_mut(&dk) else {
            return Ok(());
        };
        ch.remote_capability = capability;
        if ch.local_id.is_none() {
            self.events
                .push_back(Event::DiscoveryKey { discovery_key: dk });
            return Ok(());
        }
        if !self.remote_verified(&dk) {
            return Err(Error::InvalidCapability);
        }
        self.events
            .push_back(Event::ChannelOpen { discovery_key: dk });
        Ok(())
    }

    fn on_close(&mut self, remote_id: u64, close: Close) {
        let known = self.channels.by_remote(remote_id).is_some();
        if !known && close.discovery_key.is_none() && self.refusals > 0 {
            // The remote's answer to a refusal of ours, whose entry went when we refused.
            self.refusals -= 1;
            self.prefinalize();
            return;
        }
        let dk = match self.channels.by_remote(remote_id) {
            Some(dk) => {
                self.channels.forget_remote(remote_id);
                Some(dk)
            }
            None => close
                .discovery_key
                .as_deref()
                .and_then(|dk| <[u8; 32]>::try_from(dk).ok())
                .filter(|dk| self.channels.get(dk).is_some()),
        };
        let Some(dk) = dk else { return };
        if let Some(local_id) = self.channels.get(&dk).and_then(|c| c.local_id) {
            self.send_now(local_id, Message::Close(Close::default()), None);
        }
        self.channels.remove(&dk);
        self.events
            .push_back(Event::ChannelClosed { discovery_key: dk });
        self.prefinalize();
    }

    fn on_channel_message(&mut self, remote_id: u64, message: Message) {
        let Some(dk) = self.channels.by_remote(remote_id) else {
            return;
        };
        let Some(ch) = self.channels.get_mut(&dk) else {
            return;
        };
        // JS delivers feed messages only to a channel we opened (it has handlers).
        if ch.local_id.is_none() {
            return;
        }
        match message {
            Message::Extension(Extension { id, payload }) => {
                if let Some(name) = ch.extensions.resolve_remote(id) {
                    let name = name.to_owned();
                    self.events.push_back(Event::ChannelExtension {
                        discovery_key: dk,
                        name,
                        payload,
                    });
                }
            }
            message => {
                if let Message::Options(options) = &message {
                    ch.extensions.set_remote(options.extensions.clone());
                }
                self.events.push_back(Event::Message {
                    discovery_key: dk,
                    message,
                });
            }
        }
    }

    fn remote_verified(&self, dk: &[u8; 32]) -> bool {
        let (Some(ch), Some(t)) = (self.channels.get(dk), self.transport.as_ref()) else {
            return false;
        };
        match (&ch.key, &ch.remote_capability) {
            // The remote computed it with its keys, which are ours swapped.
            (Some(key), Some(cap)) => capability(key, &t.rx_key, &t.tx_key)[..] == cap[..],
            _ => false,
        }
    }

    fn prefinalize(&mut self) {
        if !self.live && !self.finished && self.channels.len() == 0 && self.refusals == 0 {
            self.finished = true;
            self.events.push_back(Event::Finished);
        }
    }

    // ----- output -----

    /// Bytes to write to the transport, if any; `now` is when they are handed over.
    ///
    /// This copies what is queued into one buffer; a transport that can write in pieces avoids
    /// that with [`transmit_slices`](Self::transmit_slices) and
    /// [`advance_transmit`](Self::advance_transmit).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            return None;
        }
        self.last_send = now;
        Some(self.out.take_all())
    }

    /// Bytes queued for the transport.
    pub fn transmit_len(&self) -> usize {
        self.out.len()
    }

    /// Fills `slices` with the queued bytes, in order, for a vectored write; returns how many it
    /// filled (0 when nothing is queued). Report what was written with
    /// [`advance_transmit`](Self::advance_transmit).
    pub fn transmit_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        self.out.io_slices(slices)
    }

    /// The transport took the first `n` queued bytes at time `now`.
    pub fn advance_transmit(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.last_send = now;
        }
        self.out.consume(n);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let timeout = self.timeout?;
        let dead = self.last_recv + timeout;
        // A keep-alive is due only with nothing queued: while the transport does not take what
        // is queued, a keep-alive deadline in the past would wake the caller again and again.
        if self.transport.is_none() || !self.out.is_empty() || !self.pending.is_empty() {
            return Some(dead);
        }
        Some(dead.min(self.last_send + keep_alive_interval(timeout)))
    }

    /// Fires the timers due at `now`: a keep-alive after half the timeout without sending, and
    /// [`Error::Timeout`] after the timeout without receiving.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.check_open()?;
        let Some(timeout) = self.timeout else {
            return Ok(());
        };
        if now.saturating_duration_since(self.last_recv) >= timeout {
            return self.fail_on(Err(Error::Timeout(timeout.as_millis())));
        }
        if self.transport.is_some()
            && self.pending.is_empty()
            && self.out.is_empty()
            && now.saturating_duration_since(self.last_send) >= keep_alive_interval(timeout)
        {
            self.push_encrypted(&[0]); // keep-alive: a zero-length frame
            self.last_send = now;
        }
        Ok(())
    }

    /// Opens the feed of `key` on a new local channel (JS `stream.open`): sends `Open` with the
    /// capability. A no-op if already open. If the remote had opened the feed with a capability
    /// that does not match `key`, sends `Close{discoveryKey}` instead and reports
    /// [`Event::ChannelRejected`].
    pub fn open(&mut self, key: &PublicKey) -> Result<(), Error> {
        self.check_open()?;
        let dk = key.discovery_key();
        if self.channels.get(&dk).is_some_and(|c| c.local_id.is_some()) {
            return Ok(());
        }
        if self.is_remote_open(&dk) {
            let ch = self.channels.get_or_create(dk);
            ch.key = Some(key.0);
            if !self.remote_verified(&dk) {
                self.refuse(dk);
                self.events
                    .push_back(Event::ChannelRejected { discovery_key: dk });
                return Ok(());
            }
        }
        if self.channels.get(&dk).is_none() && self.channels.len() >= MAX_CHANNELS {
            return Err(Error::TooManyChannels(MAX_CHANNELS));
        }
        self.channels.get_or_create(dk).key = Some(key.0);
        let id = self.channels.attach_local(dk);
        let open = Open {
            discovery_key: dk.to_vec(),
            capability: None,
        };
        self.send_now(id, Message::Open(open), Some(key.0));
        if self.is_remote_open(&dk) {
            self.events
                .push_back(Event::ChannelOpen { discovery_key: dk });
        }
        Ok(())
    }

    /// Closes our channel for `discovery_key` (`Close{}`), or, if we never opened it, refuses
    /// the remote's with `Close{discoveryKey}` on a fresh id (JS `stream.close`).
    pub fn close(&mut self, discovery_key: &[u8; 32]) -> Result<(), Error> {
        self.check_open()?;
        match self.channels.get(discovery_key).and_then(|c| c.local_id) {
            Some(local_id) => {
                self.channels.remove(discovery_key);
                self.send_now(local_id, Message::Close(Close::default()), None);
                self.prefinalize();
            }
            None => self.refuse(*discovery_key),
        }
        Ok(())
    }

    /// Refuses the remote's channel for `dk` with `Close{discoveryKey}` on a fresh id, and
    /// forgets it at once: a peer that opens channel after channel for feeds we refuse, and never
    /// answers, leaves nothing behind. The remote's answering `Close` is counted off instead
    /// ([`Self::refusals`]), so a non-live session still finishes after it, as JS does.
    fn refuse(&mut self, dk: [u8; 32]) {
        let answer = self.is_remote_open(&dk);
        self.channels.remove(&dk);
        if answer {
            self.refusals = self.refusals.saturating_add(1);
        }
        let id = self.channels.alloc_local();
        let close = Close {
            discovery_key: Some(dk.to_vec()),
        };
        self.send_now(id, Message::Close(close), None);
    }

    /// Sends a feed message on our channel for `discovery_key`.
    pub fn send(&mut self, discovery_key: &[u8; 32], message: Message) -> Result<(), Error> {
        self.check_open()?;
        if matches!(message, Message::Open(_) | Message::Close(_)) {
            return Err(Error::UseOpenClose(message.type_name()));
        }
        let id = self.local_id(discovery_key)?;
        self.send_now(id, message, None);
        Ok(())
    }

    /// Registers a stream-level extension; `false` if the name was already registered.
    pub fn register_extension(&mut self, name: &str) -> bool {
        self.extensions.register(name)
    }

    /// Withdraws a stream-level extension (JS `ext.destroy()`); `false` if it was not
    /// registered. The remote learns the smaller list with our next extension message, and its
    /// messages under the name are ignored from now on. Without this, a session that registers
    /// and drops names over its life would fill the [`MAX_EXTENSIONS`] slots for good.
    ///
    /// [`MAX_EXTENSIONS`]: super::MAX_EXTENSIONS
    pub fn unregister_extension(&mut self, name: &str) -> bool {
        self.extensions.unregister(name)
    }

    /// The stream-level extensions: local names, and the remote's once announced.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Sends a stream-level extension message on channel 0, first announcing our names with
    /// `Options` if they changed since the last announcement (JS sends it lazily, like this).
    pub fn send_extension(&mut self, name: &str, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let id = self
            .extensions
            .id_of(name)
            .ok_or_else(|| Error::UnknownExtension(name.into()))?;
        if self.announced_extensions != self.extensions.changes() {
            self.announced_extensions = self.extensions.changes();
            let options = Options {
                extensions: self.extensions.names().to_vec(),
                ack: None,
            };
            self.send_now(0, Message::Options(options), None);
        }
        let ext = Extension {
            id,
            payload: payload.to_vec(),
        };
        self.send_now(0, Message::Extension(ext), None);
        Ok(())
    }

    /// Registers a feed-level extension on our open channel; `Ok(false)` if already registered.
    /// Announcing the names (`Options{extensions: channel_extensions(..)}`) is the feed
    /// replicator's job, since hypercore sends them together with `ack`.
    pub fn register_channel_extension(
        &mut self,
        discovery_key: &[u8; 32],
        name: &str,
    ) -> Result<bool, Error> {
        self.local_id(discovery_key)?;
        let ch = self
            .channels
            .get_mut(discovery_key)
            .ok_or(Error::ChannelNotOpen)?;
        Ok(ch.extensions.register(name))
    }

    /// The feed-level extensions of our open channel.
    pub fn channel_extensions(&self, discovery_key: &[u8; 32]) -> Option<&Extensions> {
        self.channels
            .get(discovery_key)
            .filter(|c| c.local_id.is_some())
            .map(|c| &c.extensions)
    }

    /// Sends a feed-level extension message (id = index of `name` in our sorted names).
    pub fn send_channel_extension(
        &mut self,
        discovery_key: &[u8; 32],
        name: &str,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.check_open()?;
        let local_id = self.local_id(discovery_key)?;
        let id = self
            .channels
            .get(discovery_key)
            .and_then(|c| c.extensions.id_of(name))
            .ok_or_else(|| Error::UnknownExtension(name.into()))?;
        let ext = Extension {
            id,
            payload: payload.to_vec(),
        };
        self.send_now(local_id, Message::Extension(ext), None);
        Ok(())
    }

    /// Closes the session without sending anything more (JS `destroy`): channels are dropped.
    pub fn destroy(&mut self) {
        self.closed = true;
        self.channels.clear();
        self.pending.clear();
        self.out.clear();
    }

    fn local_id(&self, dk: &[u8; 32]) -> Result<u64, Error> {
        self.channels
            .get(dk)
            .and_then(|c| c.local_id)
            .ok_or(Error::ChannelNotOpen)
    }

    /// Sends a `Data` message on our channel for `discovery_key` whose `value_len`-byte value
    /// `read_value` writes straight into the outgoing frame, which is then encrypted where it
    /// lies: a block goes from storage to the transport without another copy. `data.value` is
    /// ignored. If `read_value` fails, nothing is sent and its error is returned.
    pub fn send_data_with<E: From<Error>>(
        &mut self,
        discovery_key: &[u8; 32],
        data: &Data,
        value_len: usize,
        read_value: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.check_open()?;
        let channel = self.local_id(discovery_key)?;
        let Some(t) = self.transport.as_mut() else {
            // Before the handshake there is no keystream to encrypt with yet: queue it whole.
            let mut value = vec![0; value_len];
            read_value(&mut value)?;
            let data = Data {
                value: Some(value),
                ..data.clone()
            };
            self.send_now(channel, Message::Data(data), None);
            return Ok(());
        };
        let mut head = std::mem::take(&mut self.scratch);
        head.clear();
        let mut tail = Vec::new();
        data.encode_around_value(value_len, &mut head, &mut tail);
        let mut prefix = Vec::with_capacity(16);
        let body_len = head.len() + value_len + tail.len();
        frame::encode_prefix(channel, Message::DATA, body_len, &mut prefix);
        let len = prefix.len() + body_len;
        let frame = self.out.push(len);
        let (prefix_out, rest) = frame.split_at_mut(prefix.len());
        prefix_out.copy_from_slice(&prefix);
        let (head_out, rest) = rest.split_at_mut(head.len());
        head_out.copy_from_slice(&head);
        let (value_out, tail_out) = rest.split_at_mut(value_len);
        let read = read_value(value_out);
        if read.is_ok() {
            tail_out.copy_from_slice(&tail);
            t.tx.apply(frame);
        } else {
            self.out.unpush(len);
        }
        self.keep_scratch(head);
        read
    }

    fn send_now(&mut self, channel: u64, mut message: Message, open_key: Option<[u8; 32]>) {
        let Some(t) = self.transport.as_ref() else {
            self.pending.push(Pending {
                channel,
                message,
                open_key,
            });
            return;
        };
        if let (Message::Open(open), Some(key)) = (&mut message, open_key) {
            open.capability = Some(capability(&key, &t.tx_key, &t.rx_key).to_vec());
        }
        let mut plain = std::mem::take(&mut self.scratch);
        plain.clear();
        frame::encode(channel, &message, &mut plain);
        self.push_encrypted(&plain);
        self.keep_scratch(plain);
    }

    /// Keeps an encoding buffer for the next message, unless a big one left it big.
    fn keep_scratch(&mut self, buf: Vec<u8>) {
        if buf.capacity() <= MAX_SCRATCH {
            self.scratch = buf;
        }
    }

    /// Queues `plain` encrypted, encrypting it where it is queued.
    fn push_encrypted(&mut self, plain: &[u8]) {
        if let Some(t) = self.transport.as_mut() {
            let queued = self.out.push(plain.len());
            queued.copy_from_slice(plain);
            t.tx.apply(queued);
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn fail_on(&mut self, result: Result<(), Error>) -> Result<(), Error> {
        if let Err(err) = &result {
            tracing::debug!(%err, "hypercore-protocol session failed");
            self.destroy();
        }
        result
    }
}

/// JS: `ceil(timeout / 2)` in milliseconds.
fn keep_alive_interval(timeout: Duration) -> Duration {
    Duration::from_millis((timeout.as_millis() as u64).div_ceil(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way a 32-byte key could show up in text: hex, and the decimal list `Debug` of an
    /// array or slice prints.
    fn renderings(key: &[u8; 32]) -> [String; 3] {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        [
            hex.clone(),
            hex.to_uppercase(),
            format!("{:?}", &key[..]).replace(['[', ']'], ""),
        ]
    }

    #[test]
    fn debug_shows_no_transport_or_feed_key() -> Result<(), Error> {
        let now = Instant::now();
        let mut a = Session::new(SessionConfig::new(true), now);
        let mut b = Session::new(SessionConfig::new(false), now);
        let feed = crate::KeyPair::generate().public;
        a.open(&feed)?;
        b.open(&feed)?;
        loop {
            let mut moved = false;
            while let Some(bytes) = a.poll_transmit(now) {
                b.handle_input(now, &bytes)?;
                moved = true;
            }
            while let Some(bytes) = b.poll_transmit(now) {
                a.handle_input(now, &bytes)?;
                moved = true;
            }
            if !moved {
                break;
            }
        }
        for s in [&a, &b] {
            let t = s.transport.as_ref().expect("the handshake finished");
            let shown = format!("{s:?} {s:#?}");
            assert!(shown.contains("handshake_complete: true"), "{shown}");
            for key in [&t.tx_key, &t.rx_key, &feed.0] {
                for r in renderings(key) {
                    assert!(!shown.contains(&r), "{r} in {shown}");
                }
            }
        }
        Ok(())
    }
}
