//! Block 0 of a trie or drive feed (hypertrie Header, hyperdrive's Index).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypertrie::fuzzing::header(data));
