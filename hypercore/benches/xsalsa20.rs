//! The transport keystream: our lane-parallel XSalsa20 ([`TransportCipher`]) against the scalar
//! `salsa20` crate it replaced, XORing 1 KiB and 64 KiB pieces of one continuous stream (a small
//! frame and a read's worth of a block).
//!
//! `cargo bench -p hypercore --bench xsalsa20`; criterion reports the throughput of each.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hypercore::protocol::TransportCipher;
use salsa20::cipher::{KeyIvInit, StreamCipher};

fn keystream(c: &mut Criterion) {
    let key = [0x42u8; 32];
    let nonce = [0x24u8; 24];
    for size in [1024usize, 64 * 1024] {
        let mut group = c.benchmark_group(format!("xsalsa20/{}KiB", size / 1024));
        group.throughput(Throughput::Bytes(size as u64));
        group.measurement_time(Duration::from_secs(3));
        let mut data = vec![0u8; size];
        let mut crate_stream = salsa20::XSalsa20::new(&key.into(), &nonce.into());
        group.bench_function("salsa20 crate", |b| {
            b.iter(|| crate_stream.apply_keystream(black_box(&mut data)))
        });
        let mut ours = TransportCipher::new(&key, &nonce);
        group.bench_function("ours", |b| b.iter(|| ours.apply(black_box(&mut data))));
        group.finish();
    }
}

criterion_group!(benches, keystream);
criterion_main!(benches);
