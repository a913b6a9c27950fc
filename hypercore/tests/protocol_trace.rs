//! Replays the sessions captured from real JS peers (`tests/traces/hypercore-replication.json`,
//! captured by `tests/js/traces/hypercore-replication.js`): the handshake byte for byte, both XSalsa20 keystreams, every
//! frame's bytes, every capability, and a Session fed the JS responder's whole stream.
#![cfg(feature = "protocol")]

mod protocol_common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use hypercore::protocol::{
    Event, Frame, FrameReader, Message, NoiseKeyPair, Session, SessionConfig, TransportCipher,
    capability, frame,
};
use protocol_common::drain;
use serde_json::Value;

fn trace() -> Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/traces/hypercore-replication.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn hex_at(v: &Value, key: &str) -> Result<Vec<u8>> {
    let s = v[key]
        .as_str()
        .with_context(|| format!("{key} is not a string"))?;
    Ok(hex::decode(s)?)
}

fn arr<const N: usize>(v: &Value, key: &str) -> Result<[u8; N]> {
    hex_at(v, key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{key} is not {N} bytes"))
}

fn sessions(t: &Value) -> Result<&Vec<Value>> {
    t["sessions"].as_array().context("sessions")
}

/// Every feed key in the trace, by discovery key.
fn feed_keys(t: &Value) -> Result<Vec<[u8; 32]>> {
    let mut keys = Vec::new();
    for feed in t["feeds"].as_object().context("feeds")?.values() {
        keys.push(arr::<32>(feed, "key")?);
    }
    keys.push(arr::<32>(&t["hyperdrive"], "metadataKey")?);
    keys.push(arr::<32>(&t["hyperdrive"], "contentKey")?);
    Ok(keys)
}

fn initiator_config(hs: &Value) -> Result<SessionConfig> {
    let i = &hs["initiator"];
    let keypair = NoiseKeyPair::from_secret(arr(i, "staticSecretKey")?);
    ensure!(
        keypair.public == arr::<32>(i, "staticPublicKey")?,
        "static public key"
    );
    let ephemeral = NoiseKeyPair::from_secret(arr(i, "ephemeralSecretKey")?);
    ensure!(
        ephemeral.public == arr::<32>(i, "ephemeralPublicKey")?,
        "ephemeral public key"
    );
    let mut config = SessionConfig::new(true);
    config.keypair = Some(keypair);
    config.ephemeral = Some(ephemeral);
    config.nonce = Some(arr(i, "payloadNonce")?);
    Ok(config)
}

#[test]
fn handshake_is_byte_exact_and_the_js_stream_decodes() -> Result<()> {
    let t = trace()?;
    for s in sessions(&t)? {
        let name = s["name"].as_str().unwrap_or("?");
        let hs = &s["handshake"];
        let c2s = hex_at(&s["wire"], "c2sHex")?;
        let s2c = hex_at(&s["wire"], "s2cHex")?;
        let c2s_hs = s["wire"]["c2sHandshakeBytes"].as_u64().context("c2s len")? as usize;
        let s2c_hs = s["wire"]["s2cHandshakeBytes"].as_u64().context("s2c len")? as usize;

        let now = Instant::now();
        let mut session = Session::new(initiator_config(hs)?, now);
        let msg1 = session.poll_transmit(now).context("msg1")?;
        ensure!(msg1[..] == c2s[..msg1.len()], "{name}: msg1 differs");
        // msg2, then everything the JS responder sent after it, in one piece.
        session.handle_input(now, &s2c)?;
        let msg3 = session.poll_transmit(now).context("msg3")?;
        ensure!(
            msg1.len() + msg3.len() == c2s_hs,
            "{name}: handshake length"
        );
        ensure!(msg3[..] == c2s[msg1.len()..c2s_hs], "{name}: msg3 differs");
        ensure!(
            session.handshake_hash().map(|h| h.to_vec()) == Some(hex_at(hs, "handshakeHash")?),
            "{name}: handshake hash"
        );
        ensure!(
            session.remote_public_key().copied() == Some(arr(&hs["responder"], "staticPublicKey")?),
            "{name}: responder static key"
        );
        ensure!(s2c_hs == 1 + 122, "{name}: msg2 framing");

        // The session saw the JS responder's Opens (we opened nothing, so: discovery keys), its
        // stream-level Options, and its Closes.
        let events = drain(&mut session);
        ensure!(
            matches!(events[0], Event::Handshake { .. }),
            "{name}: {events:?}"
        );
        let s2c_opens = s["frames"]
            .as_array()
            .context("frames")?
            .iter()
            .filter(|f| f["dir"] == "s2c" && f["typeName"] == "Open")
            .count();
        let discovered = events
            .iter()
            .filter(|e| matches!(e, Event::DiscoveryKey { .. }))
            .count();
        ensure!(
            discovered == s2c_opens,
            "{name}: {discovered} discovery keys vs {s2c_opens} Opens"
        );
        ensure!(!session.is_closed(), "{name}: session closed");
    }
    Ok(())
}

#[test]
fn keystreams_frames_and_capabilities_match_the_trace() -> Result<()> {
    let t = trace()?;
    let keys = feed_keys(&t)?;
    let mut checked_caps = 0;
    for s in sessions(&t)? {
        let name = s["name"].as_str().unwrap_or("?");
        let hs = &s["handshake"];
        let tx: [u8; 32] = arr(hs, "initiatorTxKey")?;
        let rx: [u8; 32] = arr(hs, "initiatorRxKey")?;
        for (dir, key, nonce_of) in [("c2s", tx, "initiator"), ("s2c", rx, "responder")] {
            let wire = hex_at(&s["wire"], &format!("{dir}Hex"))?;
            let skip = s["wire"][format!("{dir}HandshakeBytes")]
                .as_u64()
                .context("len")? as usize;
            let nonce: [u8; 24] = arr(&hs[nonce_of], "payloadNonce")?;
            let frames: Vec<&Value> = s["frames"]
                .as_array()
                .context("frames")?
                .iter()
                .filter(|f| f["dir"] == dir)
                .collect();

            // Re-encrypting the captured plaintext frames reproduces the wire bytes, chunk by
            // chunk, with the keystream continuing across frames.
            let mut cipher = TransportCipher::new(&key, &nonce);
            let mut plain_stream = Vec::new();
            for f in &frames {
                let offset = f["offset"].as_u64().context("offset")? as usize;
                ensure!(
                    offset == plain_stream.len(),
                    "{name} {dir}: frames not contiguous"
                );
                let mut raw = hex_at(f, "raw")?;
                plain_stream.extend_from_slice(&raw);
                cipher.apply(&mut raw);
                ensure!(
                    raw[..] == wire[skip + offset..skip + offset + raw.len()],
                    "{name} {dir}: keystream"
                );
            }
            ensure!(
                skip + plain_stream.len() == wire.len(),
                "{name} {dir}: trailing bytes"
            );

            // The frame parser finds the same frames, and each re-encodes to the same bytes.
            let mut reader = FrameReader::new();
            reader.push(&plain_stream);
            for f in &frames {
                let parsed = reader.next_frame()?.context("missing frame")?;
                let raw = hex_at(f, "raw")?;
                match parsed {
                    Frame::KeepAlive => ensure!(f["typeName"] == "KeepAlive" && raw == [0]),
                    Frame::Ignored { .. } => anyhow::bail!("{name}: unexpected ignored frame"),
                    Frame::Message { channel, message } => {
                        ensure!(f["channel"].as_u64() == Some(channel), "{name}: channel");
                        ensure!(f["typeName"] == message.type_name(), "{name}: type");
                        let mut again = Vec::new();
                        frame::encode(channel, &message, &mut again);
                        ensure!(
                            again == raw,
                            "{name}: {} re-encodes differently",
                            message.type_name()
                        );
                        if let Message::Open(open) = &message {
                            // The sender's capability, computed with the sender's split keys.
                            let (stx, srx) = if dir == "c2s" { (tx, rx) } else { (rx, tx) };
                            // The trace stores the keys of all but the `big` and `static` feeds.
                            let Some(key) = keys.iter().find(|k| {
                                hypercore::PublicKey(**k).discovery_key()[..]
                                    == open.discovery_key[..]
                            }) else {
                                continue;
                            };
                            let cap = capability(key, &stx, &srx);
                            ensure!(
                                open.capability.as_deref() == Some(&cap[..]),
                                "{name}: capability"
                            );
                            checked_caps += 1;
                        }
                    }
                }
            }
            ensure!(
                reader.next_frame()?.is_none() && reader.buffered() == 0,
                "{name}: leftovers"
            );
        }
    }
    ensure!(
        checked_caps == 12,
        "only {checked_caps} capabilities checked"
    );
    Ok(())
}

#[test]
fn worked_examples_of_the_spec() -> Result<()> {
    // Plaintext frames as the traces hold them (docs/wire.md): one of each common message.
    let cases: [(&str, &str); 6] = [
        ("0f110a0a776972652d74726163651000", "Options"),
        ("0715080010808040", "Want"),
        ("051208011000", "Status"),
        ("03130804", "Have"),
        ("0b130800108080401a0202f8", "Have"),
        ("0917080310001800 2000", "Request"),
    ];
    for (hex_frame, type_name) in cases {
        let raw = hex::decode(hex_frame.replace(' ', ""))?;
        let mut reader = FrameReader::new();
        reader.push(&raw);
        let Some(Frame::Message { channel, message }) = reader.next_frame()? else {
            anyhow::bail!("{hex_frame}: no message");
        };
        ensure!(message.type_name() == type_name && channel == 1);
        let mut again = Vec::new();
        frame::encode(channel, &message, &mut again);
        ensure!(again == raw, "{hex_frame}");
    }
    Ok(())
}
