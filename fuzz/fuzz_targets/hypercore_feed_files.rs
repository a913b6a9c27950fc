//! A feed's tree, bitfield, signatures and data files with their headers, as a disk holds them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hypercore::fuzzing::feed_files(data));
