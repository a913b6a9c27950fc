//! The Noise XX handshake messages of a peer, in both roles.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypercore::fuzzing::noise_handshake(data));
