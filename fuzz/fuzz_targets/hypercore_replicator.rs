//! The replicator fed a random sequence of peer messages, timeouts and local calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypercore::fuzzing::replicator(data));
