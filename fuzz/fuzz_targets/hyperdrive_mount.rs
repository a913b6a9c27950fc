//! A hyperdrive Mount record.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hyperdrive::fuzzing::mount(data));
