//! A hypertrie node block.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypertrie::fuzzing::node(data));
