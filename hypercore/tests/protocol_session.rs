//! Two sessions back to back, and a hand-driven raw peer feeding a session bad input.
#![cfg(feature = "protocol")]

mod protocol_common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hypercore::KeyPair;
use hypercore::protocol::{
    Cancel, Close, Data, DataNode, Error, Event, FrameError, Have, Message, NoiseError,
    NoiseKeyPair, Open, Options, Request, Session, SessionConfig, Status, Unhave, Unwant, Want,
    bitfield_rle,
};
use protocol_common::{RawPeer, drain, pump};

fn pair(now: Instant) -> (Session, Session) {
    (
        Session::new(SessionConfig::new(true), now),
        Session::new(SessionConfig::new(false), now),
    )
}

fn feed_key(seed: u8) -> hypercore::PublicKey {
    KeyPair::from_seed(&[seed; 32]).public
}

fn every_feed_message() -> Vec<Message> {
    vec![
        Message::Options(Options {
            extensions: vec!["a".into(), "b".into()],
            ack: Some(true),
        }),
        Message::Status(Status::new(true, false)),
        Message::Have(Have {
            start: 0,
            length: Some(1 << 20),
            bitfield: Some(bitfield_rle::encode(&[0xff, 0xff, 0xf0])),
            ack: Some(false),
        }),
        Message::Have(Have {
            start: 7,
            ..Default::default()
        }),
        Message::Unhave(Unhave {
            start: 3,
            length: Some(2),
        }),
        Message::Want(Want {
            start: 0,
            length: Some(1 << 20),
        }),
        Message::Unwant(Unwant {
            start: 8192,
            length: None,
        }),
        Message::Request(Request::new(9, false, 5)),
        Message::Cancel(Cancel {
            index: 9,
            bytes: Some(0),
            hash: Some(true),
        }),
        Message::Data(Data {
            index: 9,
            value: Some(b"block nine".to_vec()),
            nodes: vec![
                DataNode {
                    index: 16,
                    hash: vec![1; 32],
                    size: 10,
                },
                DataNode {
                    index: 21,
                    hash: vec![2; 32],
                    size: 40,
                },
            ],
            signature: Some(vec![3; 64]),
        }),
        Message::Data(Data {
            index: 4,
            value: None,
            nodes: vec![],
            signature: None,
        }),
    ]
}

#[test]
fn handshake_then_every_message_type_both_ways() -> Result<()> {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    let key = feed_key(1);
    let dk = key.discovery_key();
    a.open(&key)?;
    pump(&mut a, &mut b, now)?;
    let b_events = drain(&mut b);
    assert!(
        matches!(b_events[0], Event::Handshake { remote_public_key } if &remote_public_key == a.public_key())
    );
    assert_eq!(b_events[1], Event::DiscoveryKey { discovery_key: dk });
    b.open(&key)?;
    pump(&mut a, &mut b, now)?;
    assert_eq!(drain(&mut b), [Event::ChannelOpen { discovery_key: dk }]);
    let a_events = drain(&mut a);
    assert_eq!(
        a_events.last(),
        Some(&Event::ChannelOpen { discovery_key: dk })
    );
    assert_eq!(a.remote_public_key(), Some(b.public_key()));
    assert_eq!(a.handshake_hash(), b.handshake_hash());

    for a_to_b in [true, false] {
        let (from, to) = if a_to_b {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        for m in every_feed_message() {
            from.send(&dk, m)?;
        }
        pump(from, to, now)?;
        let got: Vec<Message> = drain(to)
            .into_iter()
            .map(|e| match e {
                Event::Message {
                    discovery_key,
                    message,
                } if discovery_key == dk => Ok(message),
                other => bail!("unexpected {other:?}"),
            })
            .collect::<Result<_>>()?;
        assert_eq!(got, every_feed_message());
    }

    // Channel extensions: ids are indexes in the sender's sorted names.
    for s in [&mut a, &mut b] {
        assert!(s.register_channel_extension(&dk, "zzz")?);
        assert!(s.register_channel_extension(&dk, "hypertrie")?);
    }
    assert!(!a.register_channel_extension(&dk, "zzz")?);
    let names = a
        .channel_extensions(&dk)
        .map(|e| e.names().to_vec())
        .unwrap_or_default();
    assert_eq!(names, ["hypertrie", "zzz"]);
    a.send(
        &dk,
        Message::Options(Options {
            extensions: names,
            ack: None,
        }),
    )?;
    a.send_channel_extension(&dk, "zzz", b"sleepy")?;
    pump(&mut a, &mut b, now)?;
    let got = drain(&mut b);
    assert_eq!(
        got[1],
        Event::ChannelExtension {
            discovery_key: dk,
            name: "zzz".into(),
            payload: b"sleepy".to_vec()
        }
    );

    // Stream extensions: Options on channel 0 is sent lazily before the first message.
    a.register_extension("ping");
    b.register_extension("ping");
    b.register_extension("alpha");
    a.send_extension("ping", b"hello")?;
    a.send_extension("ping", b"again")?;
    pump(&mut a, &mut b, now)?;
    assert_eq!(
        drain(&mut b),
        [
            Event::RemoteExtensions {
                names: vec!["ping".into()]
            },
            Event::StreamExtension {
                name: "ping".into(),
                payload: b"hello".to_vec()
            },
            Event::StreamExtension {
                name: "ping".into(),
                payload: b"again".to_vec()
            },
        ]
    );
    assert!(matches!(
        b.send_extension("nope", b""),
        Err(Error::UnknownExtension(_))
    ));

    // Close: the other side answers and, not live, both finish.
    a.close(&dk)?;
    pump(&mut a, &mut b, now)?;
    assert_eq!(
        drain(&mut b),
        [Event::ChannelClosed { discovery_key: dk }, Event::Finished]
    );
    assert_eq!(drain(&mut a), [Event::Finished]);
    assert_eq!(a.channel_count() + b.channel_count(), 0);
    assert!(matches!(
        a.send(&dk, Message::Status(Status::new(true, true))),
        Err(Error::ChannelNotOpen)
    ));
    Ok(())
}

#[test]
fn open_and_close_go_through_their_own_calls() -> Result<()> {
    let now = Instant::now();
    let (mut a, _) = pair(now);
    let key = feed_key(2);
    a.open(&key)?;
    let dk = key.discovery_key();
    let open = Message::Open(Open {
        discovery_key: dk.to_vec(),
        capability: None,
    });
    assert_eq!(a.send(&dk, open), Err(Error::UseOpenClose("Open")));
    assert_eq!(
        a.send(&dk, Message::Close(Close::default())),
        Err(Error::UseOpenClose("Close"))
    );
    Ok(())
}

#[test]
fn refusing_an_unknown_feed_closes_it_on_both_sides() -> Result<()> {
    let now = Instant::now();
    let mut config = SessionConfig::new(true);
    config.live = true;
    let mut a = Session::new(config, now);
    let mut b = Session::new(SessionConfig::new(false), now);
    let key = feed_key(3);
    let dk = key.discovery_key();
    a.open(&key)?;
    pump(&mut a, &mut b, now)?;
    assert!(drain(&mut b).contains(&Event::DiscoveryKey { discovery_key: dk }));
    b.close(&dk)?; // Close{discoveryKey} on a fresh id
    pump(&mut a, &mut b, now)?;
    assert_eq!(
        drain(&mut a)[1..],
        [Event::ChannelClosed { discovery_key: dk }]
    ); // live: no Finished
    // b forgot the channel when it refused it (a peer cannot fill the table with refusals);
    // the answering Close only lets the non-live b finish.
    assert_eq!(b.channel_count(), 0);
    assert_eq!(drain(&mut b), [Event::Finished]);
    // The feed can be opened again afterwards, on new ids.
    a.open(&key)?;
    b.open(&key)?;
    pump(&mut a, &mut b, now)?;
    assert!(drain(&mut a).contains(&Event::ChannelOpen { discovery_key: dk }));
    assert!(drain(&mut b).contains(&Event::ChannelOpen { discovery_key: dk }));
    Ok(())
}

#[test]
fn input_split_at_every_byte_gives_the_same_events() -> Result<()> {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    let key = feed_key(4);
    let dk = key.discovery_key();
    a.open(&key)?;
    b.open(&key)?;
    for m in every_feed_message() {
        a.send(&dk, m)?;
    }
    // Byte by byte in both directions until quiet.
    loop {
        let mut moved = false;
        while let Some(bytes) = a.poll_transmit(now) {
            for byte in bytes {
                b.handle_input(now, &[byte])?;
            }
            moved = true;
        }
        while let Some(bytes) = b.poll_transmit(now) {
            for byte in bytes {
                a.handle_input(now, &[byte])?;
            }
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let got: Vec<Message> = drain(&mut b)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(got, every_feed_message());
    Ok(())
}

#[test]
fn keep_alive_and_timeout_follow_the_clock() -> Result<()> {
    let t0 = Instant::now();
    let (mut a, mut b) = pair(t0);
    pump(&mut a, &mut b, t0)?;
    drain(&mut a);
    drain(&mut b);
    // Keep-alive after ceil(20 s / 2) without sending; the timeout after 20 s without receiving.
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    a.handle_timeout(t0 + Duration::from_millis(9_999))?;
    assert_eq!(a.poll_transmit(t0), None);
    let t1 = t0 + Duration::from_secs(10);
    a.handle_timeout(t1)?;
    let ping = a.poll_transmit(t1).expect("a keep-alive");
    assert_eq!(ping.len(), 1);
    b.handle_input(t1, &ping)?;
    assert_eq!(drain(&mut b), []);
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    let err = a.handle_timeout(t0 + Duration::from_secs(20));
    assert_eq!(err, Err(Error::Timeout(20_000)));
    assert!(a.is_closed());
    assert_eq!(a.handle_input(t1, &[0]), Err(Error::Closed));
    // b heard from a at t1, so its deadline moved.
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    b.handle_timeout(t0 + Duration::from_secs(29))?;
    assert!(b.poll_transmit(t0).is_some());
    assert!(b.handle_timeout(t1 + Duration::from_secs(20)).is_err());

    // timeout: None disables both timers.
    let mut config = SessionConfig::new(true);
    config.timeout = None;
    let s = Session::new(config, t0);
    assert_eq!(s.poll_timeout(), None);
    Ok(())
}

#[test]
fn garbage_before_the_handshake() {
    let now = Instant::now();
    // A length prefix that never ends.
    let mut responder = Session::new(SessionConfig::new(false), now);
    assert!(matches!(
        responder.handle_input(now, &[0xff; 100]),
        Err(Error::HandshakeFraming(_))
    ));
    // A length over 65535.
    let mut responder = Session::new(SessionConfig::new(false), now);
    assert!(matches!(
        responder.handle_input(now, &[0x80, 0x80, 0x04]),
        Err(Error::HandshakeFraming(_))
    ));
    // A well-framed msg2 of random bytes does not authenticate.
    let mut initiator = Session::new(SessionConfig::new(true), now);
    let mut msg = vec![122];
    msg.extend((0..122u32).map(|i| (i * 37 + 11) as u8));
    assert_eq!(
        initiator.handle_input(now, &msg),
        Err(Error::Handshake(NoiseError::Decrypt(2)))
    );
    assert!(initiator.poll_transmit(now).is_none_or(|b| b.len() == 59)); // only msg1 ever
    // Too short for its pattern.
    let mut initiator = Session::new(SessionConfig::new(true), now);
    assert_eq!(
        initiator.handle_input(now, &[5, 1, 2, 3, 4, 5]),
        Err(Error::Handshake(NoiseError::TooShort(2)))
    );
}

#[test]
fn truncated_handshake() -> Result<()> {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    let msg1 = a.poll_transmit(now).expect("msg1");
    b.handle_input(now, &msg1[..30])?;
    assert_eq!(b.handle_eof(), Err(Error::UnexpectedEof("the handshake")));
    // Without EOF, the timeout ends it.
    let (mut a, mut b) = pair(now);
    let msg1 = a.poll_transmit(now).expect("msg1");
    b.handle_input(now, &msg1[..30])?;
    assert_eq!(b.poll_timeout(), Some(now + Duration::from_secs(20)));
    assert_eq!(
        b.handle_timeout(now + Duration::from_secs(20)),
        Err(Error::Timeout(20_000))
    );
    Ok(())
}

#[test]
fn handshake_payload_is_required_and_checked() -> Result<()> {
    let now = Instant::now();
    // No payload at all.
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator_with_payload(Vec::new());
    assert_eq!(raw.handshake(&mut session, now), Err(Error::MissingPayload));
    // A nonce of the wrong length (XSalsa20 init throws in JS).
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator_with_payload(vec![0x0a, 0x02, 1, 2]);
    assert_eq!(raw.handshake(&mut session, now), Err(Error::BadPayload));
    // Not protobuf.
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator_with_payload(vec![0x0f]);
    assert_eq!(raw.handshake(&mut session, now), Err(Error::BadPayload));
    Ok(())
}

#[test]
fn wrong_capability_on_a_feed_we_opened_destroys_the_session() -> Result<()> {
    let now = Instant::now();
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    raw.handshake(&mut session, now)?;
    let key = feed_key(5);
    session.open(&key)?;
    let open = Open {
        discovery_key: key.discovery_key().to_vec(),
        capability: Some(vec![0; 32]),
    };
    let bytes = raw.frame(1, &Message::Open(open));
    assert_eq!(
        session.handle_input(now, &bytes),
        Err(Error::InvalidCapability)
    );
    assert!(session.is_closed());
    assert_eq!(session.open(&feed_key(6)), Err(Error::Closed));
    Ok(())
}

#[test]
fn wrong_capability_on_a_feed_the_remote_opened_first_is_refused() -> Result<()> {
    let now = Instant::now();
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    raw.handshake(&mut session, now)?;
    let key = feed_key(7);
    let dk = key.discovery_key();
    let open = Open {
        discovery_key: dk.to_vec(),
        capability: Some(vec![9; 32]),
    };
    session.handle_input(now, &raw.frame(1, &Message::Open(open)))?;
    assert_eq!(
        drain(&mut session)[1..],
        [Event::DiscoveryKey { discovery_key: dk }]
    );
    session.open(&key)?;
    assert_eq!(
        drain(&mut session),
        [Event::ChannelRejected { discovery_key: dk }]
    );
    let frames = raw.read(&mut session, now)?;
    let close = Message::Close(Close {
        discovery_key: Some(dk.to_vec()),
    });
    assert_eq!(frames, [(1, close)]);
    // The right capability opens it.
    let good = Open {
        discovery_key: dk.to_vec(),
        capability: Some(raw.capability(&key.0).to_vec()),
    };
    session.handle_input(now, &raw.frame(2, &Message::Open(good)))?;
    session.open(&key)?;
    assert_eq!(
        drain(&mut session).last(),
        Some(&Event::ChannelOpen { discovery_key: dk })
    );
    // Local ids are never reused: the refusal took 1, so the Open goes out on 2.
    let frames = raw.read(&mut session, now)?;
    assert!(matches!(&frames[..], [(2, Message::Open(_))]), "{frames:?}");
    Ok(())
}

#[test]
fn frames_over_8_mib_are_refused_before_buffering() -> Result<()> {
    let now = Instant::now();
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    raw.handshake(&mut session, now)?;
    // A body of exactly 8 MiB (unassigned type 11) is accepted and skipped.
    let body = vec![0u8; 8 * 1024 * 1024];
    session.handle_input(now, &raw.raw_frame(1, 11, &body))?;
    // One more byte: refused from the length prefix and header alone (4 + 1 bytes sent).
    let big = raw.raw_frame(1, 11, &[0u8; 8 * 1024 * 1024 + 1]);
    assert_eq!(
        session.handle_input(now, &big[..5]),
        Err(Error::Frame(FrameError::TooLarge(8 * 1024 * 1024 + 1)))
    );
    // A length far past the limit fails at once too.
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    raw.handshake(&mut session, now)?;
    let huge = raw.encrypt(vec![0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(
        session.handle_input(now, &huge),
        Err(Error::Frame(FrameError::TooLarge(_)))
    ));
    Ok(())
}

#[test]
fn unknown_types_and_channels_are_ignored() -> Result<()> {
    let now = Instant::now();
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    raw.handshake(&mut session, now)?;
    let key = feed_key(8);
    let dk = key.discovery_key();
    session.open(&key)?;
    raw.read(&mut session, now)?;
    let open = Open {
        discovery_key: dk.to_vec(),
        capability: Some(raw.capability(&key.0).to_vec()),
    };
    let mut input = raw.frame(4, &Message::Open(open));
    for t in 11..=14 {
        input.extend(raw.raw_frame(4, t, b"future"));
    }
    input.extend(raw.encrypt(vec![0])); // keep-alive
    input.extend(raw.frame(99, &Message::Status(Status::new(false, false)))); // unknown channel
    input.extend(raw.frame(
        0,
        &Message::Extension(hypercore::protocol::Extension {
            id: 5,
            payload: vec![1],
        }),
    ));
    input.extend(raw.frame(
        4,
        &Message::Extension(hypercore::protocol::Extension {
            id: 0,
            payload: vec![1],
        }),
    ));
    input.extend(raw.frame(4, &Message::Status(Status::new(true, false))));
    session.handle_input(now, &input)?;
    let events = drain(&mut session);
    assert_eq!(
        events[1..],
        [
            Event::ChannelOpen { discovery_key: dk },
            Event::Message {
                discovery_key: dk,
                message: Message::Status(Status::new(true, false))
            },
        ]
    );
    Ok(())
}

#[test]
fn malformed_messages_after_the_handshake() -> Result<()> {
    let now = Instant::now();
    // Each body is invalid for its type: missing required fields, truncated fields, bad wire type.
    let cases: [(u8, &[u8]); 6] = [
        (0, &[0x12, 0x00]),                         // Open without discoveryKey
        (3, &[0x10, 0x01]),                         // Have without start
        (9, &[0x08, 0x01, 0x1a, 0x02, 0x08, 0x01]), // Data.Node without hash and size
        (7, &[0x08]),                               // truncated varint
        (1, &[0x0a, 0x05, b'a']),                   // string runs past the body
        (2, &[0x0b]),                               // group wire type
    ];
    for (type_id, body) in cases {
        let mut session = Session::new(SessionConfig::new(false), now);
        let mut raw = RawPeer::initiator();
        raw.handshake(&mut session, now)?;
        let err = session.handle_input(now, &raw.raw_frame(1, type_id, body));
        assert!(
            matches!(err, Err(Error::Frame(FrameError::Malformed { .. }))),
            "type {type_id}: {err:?}"
        );
    }
    // Open with a discovery key that is not 32 bytes.
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    raw.handshake(&mut session, now)?;
    let open = Open {
        discovery_key: vec![1; 5],
        capability: None,
    };
    assert_eq!(
        session.handle_input(now, &raw.frame(1, &Message::Open(open))),
        Err(Error::BadDiscoveryKey(5))
    );
    // A header longer than its frame.
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    raw.handshake(&mut session, now)?;
    let bytes = raw.encrypt(vec![0x01, 0x80, 0x01]);
    assert_eq!(
        session.handle_input(now, &bytes),
        Err(Error::Frame(FrameError::HeaderOverrun))
    );
    Ok(())
}

#[test]
fn random_garbage_never_panics() -> Result<()> {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let seed: u64 = std::env::var("PROTOCOL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    println!("PROTOCOL_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let now = Instant::now();
    let mut failures = 0;
    for round in 0..200 {
        let mut session = Session::new(SessionConfig::new(round % 2 == 0), now);
        let before = round % 3 == 0;
        let mut raw = RawPeer::initiator();
        if !before && round % 2 == 1 {
            raw.handshake(&mut session, now)?;
        }
        let len = rng.gen_range(1..4096);
        let garbage: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let input = if session.is_handshake_complete() {
            raw.encrypt(garbage)
        } else {
            garbage
        };
        for chunk in input.chunks(rng.gen_range(1..512)) {
            if session.handle_input(now, chunk).is_err() {
                failures += 1;
                assert!(session.is_closed());
                break;
            }
        }
        drain(&mut session);
    }
    println!("PROTOCOL_SEED={seed}: {failures} of 200 rounds ended in an error");
    // Nearly all random input is invalid; what is not simply waits for more bytes.
    assert!(
        failures > 100,
        "seed {seed}: only {failures} of 200 rounds failed"
    );
    Ok(())
}

/// Two sessions with fixed keys and nonces: every run of them sends the same bytes.
fn fixed_pair(now: Instant, key: &hypercore::PublicKey) -> Result<(Session, Session)> {
    let config = |initiator: bool, seed: u8| {
        let mut c = SessionConfig::new(initiator);
        c.keypair = Some(NoiseKeyPair::from_secret([seed; 32]));
        c.ephemeral = Some(NoiseKeyPair::from_secret([seed + 1; 32]));
        c.nonce = Some([seed; 24]);
        c
    };
    let mut a = Session::new(config(true, 1), now);
    let mut b = Session::new(config(false, 3), now);
    a.open(key)?;
    b.open(key)?;
    pump(&mut a, &mut b, now)?;
    drain(&mut a);
    drain(&mut b);
    Ok((a, b))
}

#[test]
fn a_data_value_read_into_its_frame_goes_out_as_the_same_bytes_as_a_whole_data() -> Result<()> {
    let now = Instant::now();
    let key = feed_key(4);
    let dk = key.discovery_key();
    let (mut whole, _) = fixed_pair(now, &key)?;
    let (mut direct, mut remote) = fixed_pair(now, &key)?;
    let value: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 255) as u8).collect();
    let data = Data {
        index: 300,
        value: Some(value.clone()),
        nodes: vec![DataNode {
            index: 601,
            hash: vec![9; 32],
            size: 70_000,
        }],
        signature: Some(vec![5; 64]),
    };
    let without_value = Data {
        value: None,
        ..data.clone()
    };
    whole.send(&dk, Message::Data(data.clone()))?;
    direct.send_data_with(&dk, &without_value, value.len(), |buf: &mut [u8]| {
        buf.copy_from_slice(&value);
        Ok::<_, Error>(())
    })?;
    let sent = direct.poll_transmit(now);
    assert!(sent.is_some());
    assert_eq!(sent, whole.poll_transmit(now));
    remote.handle_input(now, &sent.unwrap_or_default())?;
    assert_eq!(
        drain(&mut remote),
        [Event::Message {
            discovery_key: dk,
            message: Message::Data(data),
        }]
    );

    // A value that cannot be read sends nothing and leaves the keystream where it was.
    let failed = direct.send_data_with(&dk, &without_value, 10, |_| Err(Error::ChannelNotOpen));
    assert_eq!(failed, Err(Error::ChannelNotOpen));
    assert_eq!(direct.transmit_len(), 0);
    let status = Message::Status(Status::new(true, false));
    whole.send(&dk, status.clone())?;
    direct.send(&dk, status.clone())?;
    let sent = direct.poll_transmit(now);
    assert_eq!(sent, whole.poll_transmit(now));
    remote.handle_input(now, &sent.unwrap_or_default())?;
    assert_eq!(
        drain(&mut remote),
        [Event::Message {
            discovery_key: dk,
            message: status,
        }]
    );
    Ok(())
}

#[test]
fn writing_in_pieces_sends_the_same_stream() -> Result<()> {
    let now = Instant::now();
    let key = feed_key(5);
    let dk = key.discovery_key();
    let (mut whole, _) = fixed_pair(now, &key)?;
    let (mut pieces, _) = fixed_pair(now, &key)?;
    let messages: Vec<Message> = (0..40u64)
        .map(|i| {
            Message::Data(Data {
                index: i,
                value: Some(vec![i as u8; (i as usize * 9_973) % 300_000]),
                ..Data::default()
            })
        })
        .collect();
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for (i, m) in messages.into_iter().enumerate() {
        whole.send(&dk, m.clone())?;
        pieces.send(&dk, m)?;
        expected.extend(whole.poll_transmit(now).unwrap_or_default());
        // Take an uneven share of what is queued each time, as a busy socket does.
        let mut slices = [std::io::IoSlice::new(&[]); 3];
        let n = pieces.transmit_slices(&mut slices);
        let mut take = pieces.transmit_len() * (i % 4) / 3;
        let mut taken = 0;
        for s in &slices[..n] {
            let k = take.min(s.len());
            got.extend_from_slice(&s[..k]);
            take -= k;
            taken += k;
        }
        pieces.advance_transmit(taken, now);
    }
    got.extend(pieces.poll_transmit(now).unwrap_or_default());
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
    Ok(())
}
