//! Corrupt blocks, foreign headers and dangling pointers end in typed errors, never a panic or
//! an endless walk; and the read step machines run over any `NodeSource`.

use std::collections::HashMap;

use anyhow::{Context, Result, ensure};
use hypercore::{Feed, MemoryStorage, Store};
use hypertrie::{
    DiffOptions, Error, Get, GetOptions, HistoryOptions, Hypertrie, IterOptions, Node, NodeSource,
    Operation, Step,
};
use proptest::prelude::*;

fn trie_with(blocks: &[&[u8]]) -> Result<Hypertrie<MemoryStorage>> {
    let mut feed = Hypertrie::open(Feed::open(MemoryStorage::new())?)?.into_feed();
    for b in blocks {
        feed.append(b)?;
    }
    Ok(Hypertrie::open(feed)?)
}

#[test]
fn foreign_or_garbage_headers_are_refused() -> Result<()> {
    for block in [&b"\x0a\x0ahyperdrive"[..], &[0xff, 0x01], &[0x12, 0x00]] {
        let mut feed = Feed::open(MemoryStorage::new())?;
        feed.append(block)?;
        let err = Hypertrie::open(feed)
            .err()
            .context("opened a foreign feed")?;
        ensure!(matches!(err, Error::BadHeader(_)), "{err:?}");
    }
    Ok(())
}

#[test]
fn corrupt_node_blocks_are_typed_errors() -> Result<()> {
    let good = {
        let mut t = trie_with(&[])?;
        t.put("a", b"1")?;
        t.into_feed().get(1)?
    };
    let cut = &good[..good.len() - 1];
    for bad in [
        &[0xffu8, 0xff][..],
        cut,
        &[0x0a, 0x01, 0xff],
        &[0x1a, 0x01, 0x00],
    ] {
        let mut t = trie_with(&[&good, bad])?;
        let err = t.get("a").err().context("read a corrupt head")?;
        ensure!(matches!(err, Error::CorruptNode { seq: 2, .. }), "{err:?}");
        ensure!(t.list("").is_err());
        ensure!(t.history(HistoryOptions::default()).any(|r| r.is_err()));
    }
    Ok(())
}

/// A node for key "x" at block 1 whose hidden-subtree pointer (position 0, value 1) is `to`.
fn node_pointing_at(to: u8) -> Vec<u8> {
    // key "x" | trie [[0, to]] | seq 1 | flags 0
    vec![
        0x0a, 0x01, b'x', 0x1a, 0x04, 0x01, 0x00, 0x02, to, 0x20, 0x01, 0x28, 0x00,
    ]
}

#[test]
fn pointers_to_self_or_future_blocks_are_refused() -> Result<()> {
    for to in [1u8, 2, 99] {
        let mut t = trie_with(&[&node_pointing_at(to)])?;
        ensure!(t.get("x")?.is_some(), "the node itself reads fine");
        let err = t
            .get_with("y", GetOptions::default().hidden(true))
            .err()
            .context("followed a bad pointer")?;
        ensure!(matches!(err, Error::BadPointer { from: 1, .. }), "{err:?}");
        ensure!(t.list_with("", IterOptions::default()).is_ok());
        ensure!(t.put_with("y", Some(b"v"), Default::default()).is_err());
    }
    Ok(())
}

#[test]
fn pointer_to_garbage_block_is_corrupt() -> Result<()> {
    let mut node = node_pointing_at(1);
    node[10] = 0x02; // seq field: block 2
    let mut t = trie_with(&[&[0xff], &node])?;
    let err = t
        .get_with("y", GetOptions::default().hidden(true))
        .err()
        .context("read garbage")?;
    ensure!(matches!(err, Error::CorruptNode { seq: 1, .. }), "{err:?}");
    Ok(())
}

#[test]
fn blocks_missing_from_a_sparse_replica_are_typed_errors() -> Result<()> {
    let mut writer = Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
    writer.put("a", b"1")?;
    writer.put("b", b"2")?;
    let mut feed = writer.into_feed();
    let mut reader = Feed::builder(MemoryStorage::new())
        .key(*feed.key())
        .open()?;
    for i in [0, 2] {
        let proof = feed.proof(i, Default::default())?;
        reader.put(i, Some(&feed.get(i)?), &proof)?;
    }
    let mut t = Hypertrie::open(reader)?;
    ensure!(t.get("b")?.is_some(), "the head is here");
    let err = t.get("a").err().context("read a missing block")?;
    ensure!(matches!(err, Error::NotStored(1)), "{err:?}");
    let err = t.checkout(9).get("a").err().context("read past the end")?;
    ensure!(
        matches!(err, Error::MissingNode { seq: 8, length: 3 }),
        "{err:?}"
    );
    ensure!(matches!(t.put("c", b"3"), Err(Error::NotWritable)));
    Ok(())
}

/// Nodes held in a map: what a replica that fetched some blocks from peers has.
struct MapSource {
    nodes: HashMap<u64, Option<Node>>,
    asked: Vec<u64>,
}

impl NodeSource for MapSource {
    fn node(&mut self, seq: u64) -> hypertrie::Result<Option<Node>> {
        self.asked.push(seq);
        self.nodes.get(&seq).cloned().ok_or(Error::NotStored(seq))
    }
}

#[test]
fn get_runs_step_by_step_over_any_source() -> Result<()> {
    let mut t = trie_with(&[])?;
    for k in ["a", "b", "c", "a/b", "d"] {
        t.put(k, k.as_bytes())?;
    }
    let mut nodes = HashMap::new();
    for seq in 1..t.version() {
        nodes.insert(seq, t.get_by_seq(seq)?);
    }
    let mut source = MapSource {
        nodes,
        asked: Vec::new(),
    };
    let mut op = Get::new("a/b", GetOptions::default(), t.version());
    let found = loop {
        match op.poll()? {
            Step::Ready(found) => break found,
            Step::Need(seq) => {
                let node = source.node(seq)?;
                op.supply(node);
            }
        }
    };
    ensure!(found.map(|n| n.seq()) == Some(4));
    ensure!(
        source.asked.first() == Some(&5),
        "starts at the head: {:?}",
        source.asked
    );
    ensure!(
        source.asked.windows(2).all(|w| w[1] < w[0]),
        "walks back: {:?}",
        source.asked
    );
    // The same walk over a source that lacks a block fails with that block.
    source.nodes.remove(&4);
    let err = hypertrie::run(&mut Get::new("a/b", GetOptions::default(), 6), &mut source);
    ensure!(matches!(err, Err(Error::NotStored(4))), "{err:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Overwrite random bytes of the data file: every read ends, in a result or an error.
    #[test]
    fn random_corruption_never_panics(
        hits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let run = || -> Result<()> {
            let mut t = Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
            for i in 0..40u32 {
                t.put(&format!("k{}/{}", i % 7, i), i.to_le_bytes())?;
                if i % 5 == 0 {
                    t.del(&format!("k{}/{}", i % 3, i / 2))?;
                }
            }
            let mut storage = t.into_feed().into_storage();
            let mut data = storage.file(Store::Data).context("data")?.to_vec();
            for (at, byte) in &hits {
                let k = at.index(data.len());
                data[k] = *byte;
            }
            storage.set_file(Store::Data, data);
            let Ok(mut t) = Hypertrie::open(Feed::open(storage)?) else { return Ok(()) };
            for i in 0..40u32 {
                let _ = t.get(&format!("k{}/{}", i % 7, i));
            }
            let _ = t.list("").map(|l| l.len());
            let _ = t.list_with("k1", IterOptions::default().recursive(false));
            let _ = t.diff(20, "", DiffOptions::default()).take(1000).count();
            let _ = t.history(HistoryOptions::default().reverse(true)).count();
            let _ = t.put("new", b"v");
            let _ = t.del("k2/2");
            Ok(())
        };
        run().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
