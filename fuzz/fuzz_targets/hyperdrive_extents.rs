//! A ddrive extent record.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hyperdrive::fuzzing::extents(data));
