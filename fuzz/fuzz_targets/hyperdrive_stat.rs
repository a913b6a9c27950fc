//! A hyperdrive Stat record.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hyperdrive::fuzzing::stat(data));
