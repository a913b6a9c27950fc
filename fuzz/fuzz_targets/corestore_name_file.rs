//! A corestore name file.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| corestore::fuzzing::name_file(data));
