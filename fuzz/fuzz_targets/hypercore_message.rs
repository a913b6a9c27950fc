//! One hypercore-protocol 8 message body of any type.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypercore::fuzzing::message(data));
