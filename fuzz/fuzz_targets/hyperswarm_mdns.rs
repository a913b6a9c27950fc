//! An mDNS packet.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hyperswarm::fuzzing::mdns(data));
