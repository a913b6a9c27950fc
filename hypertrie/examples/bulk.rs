//! Rough timings of the hot paths: `cargo run --release -p hypertrie --example bulk [N]`.

use std::time::Instant;

use hypercore::{Feed, MemoryStorage};
use hypertrie::{BatchOp, Hypertrie, IterOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let key = |i: u32| format!("dir{}/key-{}", i % 1000, i.wrapping_mul(2_654_435_761) % n);

    let mut trie = Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
    let t = Instant::now();
    for i in 0..n {
        trie.put(&key(i), i.to_le_bytes())?;
    }
    println!("put one by one: {n} in {:?}", t.elapsed());

    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(trie.get(&key(i.wrapping_mul(7919) % n))?);
    }
    println!("get: {n} in {:?}", t.elapsed());

    let t = Instant::now();
    let listed = trie.list_with("dir7", IterOptions::default())?.len();
    println!("list dir7 ({listed} keys) in {:?}", t.elapsed());

    let t = Instant::now();
    let all = trie.iter("", IterOptions::default()).count();
    println!("iterate all ({all}) in {:?}", t.elapsed());

    let mut batched = Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
    let t = Instant::now();
    for chunk in 0..n / 1000 {
        batched.batch((0..1000).map(|j| BatchOp::put(key(chunk * 1000 + j), vec![1])))?;
    }
    println!("put in batches of 1000: {n} in {:?}", t.elapsed());
    Ok(())
}
