//! Helpers for the protocol tests: shuttling bytes between sessions, and a raw peer built from
//! the public handshake/cipher/frame pieces that can send any bytes it likes.
#![allow(dead_code)] // each test crate uses a different subset

use std::time::Instant;

use anyhow::{Context, Result};
use hypercore::protocol::{
    Error, Event, Frame, FrameReader, Handshake, Message, NoiseKeyPair, NoisePayload, Session,
    TransportCipher, capability, frame,
};

/// Moves bytes both ways until neither session has anything to send.
pub fn pump(a: &mut Session, b: &mut Session, now: Instant) -> Result<(), Error> {
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
            return Ok(());
        }
    }
}

/// Every queued event.
pub fn drain(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A hand-driven initiator: completes a handshake with a session, then writes raw frames.
pub struct RawPeer {
    hs: Handshake,
    nonce: [u8; 24],
    keys: Option<([u8; 32], [u8; 32])>,
    tx: Option<TransportCipher>,
    rx: Option<TransportCipher>,
    frames: FrameReader,
}

impl RawPeer {
    pub fn initiator() -> Self {
        let nonce = [0x42; 24];
        Self::build(
            NoisePayload {
                nonce: nonce.to_vec(),
            }
            .encode(),
            nonce,
        )
    }

    /// An initiator whose handshake messages carry `payload` instead of a valid NoisePayload.
    pub fn initiator_with_payload(payload: Vec<u8>) -> Self {
        Self::build(payload, [0; 24])
    }

    fn build(payload: Vec<u8>, nonce: [u8; 24]) -> Self {
        RawPeer {
            hs: Handshake::new(true, NoiseKeyPair::generate(), payload),
            nonce,
            keys: None,
            tx: None,
            rx: None,
            frames: FrameReader::new(),
        }
    }

    /// Runs the three handshake messages against a responder session; the session's verdict on
    /// msg3 is returned.
    pub fn handshake(&mut self, session: &mut Session, now: Instant) -> Result<(), Error> {
        let msg1 = self.hs.write_message()?;
        session.handle_input(now, &prefixed(&msg1))?;
        let msg2 = session.poll_transmit(now).unwrap_or_default();
        // msg2 is `varint(122) ‖ 122 bytes`: a one-byte prefix.
        self.hs.read_message(msg2.get(1..).unwrap_or_default())?;
        let msg3 = self.hs.write_message()?;
        session.handle_input(now, &prefixed(&msg3))?;
        if let Some(outcome) = self.hs.outcome() {
            let remote = outcome.remote_payload.as_deref().unwrap_or_default();
            let remote_nonce: [u8; 24] = NoisePayload::decode(remote)
                .ok()
                .and_then(|p| p.nonce.try_into().ok())
                .unwrap_or([0; 24]);
            self.tx = Some(TransportCipher::new(&outcome.tx, &self.nonce));
            self.rx = Some(TransportCipher::new(&outcome.rx, &remote_nonce));
            self.keys = Some((outcome.tx, outcome.rx));
        }
        Ok(())
    }

    /// The split keys `(tx, rx)` once the handshake finished: the session's are these swapped.
    pub fn keys(&self) -> Option<([u8; 32], [u8; 32])> {
        self.keys
    }

    /// The capability this peer sends for `key`.
    pub fn capability(&self, key: &[u8; 32]) -> [u8; 32] {
        let (tx, rx) = self.keys.unwrap_or_default();
        capability(key, &tx, &rx)
    }

    /// Encrypts plaintext stream bytes.
    pub fn encrypt(&mut self, mut plain: Vec<u8>) -> Vec<u8> {
        if let Some(tx) = self.tx.as_mut() {
            tx.apply(&mut plain);
        }
        plain
    }

    /// An encrypted frame.
    pub fn frame(&mut self, channel: u64, message: &Message) -> Vec<u8> {
        let mut plain = Vec::new();
        frame::encode(channel, message, &mut plain);
        self.encrypt(plain)
    }

    /// An encrypted frame with any type and body.
    pub fn raw_frame(&mut self, channel: u64, type_id: u8, body: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        frame::encode_raw(channel, type_id, body, &mut plain);
        self.encrypt(plain)
    }

    /// Decrypts and parses what the session sent: `(channel, message)` pairs.
    pub fn read(&mut self, session: &mut Session, now: Instant) -> Result<Vec<(u64, Message)>> {
        let mut out = Vec::new();
        while let Some(mut bytes) = session.poll_transmit(now) {
            self.rx.as_mut().context("no handshake")?.apply(&mut bytes);
            self.frames.push(&bytes);
            while let Some(frame) = self.frames.next_frame()? {
                if let Frame::Message { channel, message } = frame {
                    out.push((channel, message));
                }
            }
        }
        Ok(out)
    }
}

fn prefixed(msg: &[u8]) -> Vec<u8> {
    let mut out = vec![msg.len() as u8 & 0x7f | if msg.len() > 127 { 0x80 } else { 0 }];
    if msg.len() > 127 {
        out.push((msg.len() >> 7) as u8);
    }
    out.extend_from_slice(msg);
    out
}
