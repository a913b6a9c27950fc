//! A peer's RLE-encoded Have bitfield.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypercore::fuzzing::bitfield_rle(data));
