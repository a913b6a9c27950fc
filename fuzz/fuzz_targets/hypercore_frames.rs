//! Wire frames after the handshake and every message body in them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypercore::fuzzing::frames(data));
