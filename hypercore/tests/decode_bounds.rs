//! A frame body is at most 8 MiB, but what it decodes into must stay proportional to what a
//! legitimate peer sends: these count the values a hostile body decodes into.

#![cfg(feature = "protocol")]

use hypercore::protocol::{MAX_BODY, Message};

/// Protobuf field key of a length-delimited field `n`.
fn bytes_key(field: u8) -> u8 {
    field << 3 | 2
}

/// An `Options` body of `count` one-byte extension names.
fn options_of(count: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(count * 3);
    for i in 0..count {
        body.extend_from_slice(&[bytes_key(1), 1, b'a' + (i % 26) as u8]);
    }
    body
}

/// A `Data` body for block 0 with `count` minimal proof nodes (index 0, empty hash, size 0).
fn data_of(count: usize) -> Vec<u8> {
    let mut body = vec![0x08, 0x00];
    for _ in 0..count {
        body.extend_from_slice(&[bytes_key(3), 6, 0x08, 0x00, bytes_key(2), 0x00, 0x18, 0x00]);
    }
    body
}

#[test]
fn an_options_frame_of_short_names_decodes_into_few_strings() {
    let body = options_of(MAX_BODY / 3);
    assert!(body.len() <= MAX_BODY);
    // Either refused, or at most the 128 names a real peer could announce.
    if let Ok(Some(Message::Options(options))) = Message::decode(1, &body) {
        assert!(
            options.extensions.len() <= 128,
            "{} extension names decoded from one frame",
            options.extensions.len()
        );
    }
    // The names a legitimate peer announces still decode.
    match Message::decode(1, &options_of(128)) {
        Ok(Some(Message::Options(options))) => assert_eq!(options.extensions.len(), 128),
        other => panic!("128 names refused: {other:?}"),
    }
}

#[test]
fn a_data_frame_of_tiny_nodes_decodes_into_few_nodes() {
    let body = data_of(MAX_BODY / 8 - 1);
    assert!(body.len() <= MAX_BODY);
    if let Ok(Some(Message::Data(data))) = Message::decode(9, &body) {
        assert!(
            data.nodes.len() <= 128,
            "{} proof nodes decoded from one frame",
            data.nodes.len()
        );
    }
    // The longest legitimate proof (53 siblings and 53 other roots for a 2^52-block feed).
    match Message::decode(9, &data_of(106)) {
        Ok(Some(Message::Data(data))) => assert_eq!(data.nodes.len(), 106),
        other => panic!("a 106-node proof refused: {other:?}"),
    }
}
