//! A DHT datagram and the values it carries.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hyperswarm::fuzzing::dht_message(data));
