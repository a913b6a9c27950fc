//! Golden vectors: feeds rebuilt from the seeds and blocks of `tests/vectors/hypercore.json`
//! (written by `tests/js/vectors/hypercore.js`) must produce the very files Node's
//! hypercore@9.12.0 wrote, and the Node files must open, read and verify here.

mod common;

use anyhow::{Context, Result, bail, ensure};
use common::*;
use hypercore::crypto::{self, leaf_hash};
use hypercore::{Feed, FileStorage, MemoryStorage, Node, ProofRequest, PublicKey, Storage, Store};
use serde_json::Value;

fn nodes_of(list: &Value) -> Result<Vec<Node>> {
    list.as_array()
        .context("node list")?
        .iter()
        .map(|r| {
            Ok(Node::new(
                n(r, "index")?,
                unhex32(s(r, "hash")?)?,
                n(r, "size")?,
            ))
        })
        .collect()
}

/// Roots, tree hash, signable and signature of the feed's current length against the vectors.
fn assert_summary<S: Storage>(feed: &mut Feed<S>, v: &Value, what: &str) -> Result<()> {
    let length = n(v, "length")?;
    ensure!(feed.len() == length, "{what}: length {}", feed.len());
    if let Some(b) = v["byteLength"].as_u64() {
        ensure!(
            feed.byte_len() == b,
            "{what}: byte length {}",
            feed.byte_len()
        );
    }
    if let Some(k) = v["key"].as_str() {
        ensure!(feed.key().to_hex() == k, "{what}: key");
    }
    if let Some(dk) = v["discoveryKey"].as_str() {
        ensure!(hexs(&feed.discovery_key()) == dk, "{what}: discovery key");
    }
    let roots = feed.roots()?;
    ensure!(roots == nodes_of(&v["roots"])?, "{what}: roots {roots:?}");
    ensure!(
        hexs(&crypto::tree_hash(&roots)) == s(v, "treeHash")?,
        "{what}: tree hash"
    );
    ensure!(
        hexs(&crypto::signable(&roots, length)) == s(v, "signable")?,
        "{what}: signable"
    );
    let (signed, sig) = feed.signature(length - 1)?;
    ensure!(signed == length, "{what}: signature is for length {signed}");
    ensure!(
        hexs(sig.as_bytes()) == s(v, "signature")?,
        "{what}: signature"
    );
    feed.verify(length - 1, &sig)?;
    Ok(())
}

/// Every listed tree node and signature slot, as the feed reads them.
fn assert_nodes_and_slots<S: Storage>(feed: &mut Feed<S>, v: &Value, what: &str) -> Result<()> {
    for rec in arr(v, "treeNodes")? {
        let index = n(rec, "index")?;
        if rec["blank"].as_bool() == Some(true) {
            ensure!(
                feed.tree_node(index).is_err(),
                "{what}: node {index} is blank in the vectors"
            );
        } else {
            let want = Node::new(index, unhex32(s(rec, "hash")?)?, n(rec, "size")?);
            ensure!(feed.tree_node(index)? == want, "{what}: tree node {index}");
        }
    }
    for slot in arr(v, "signatureSlots")? {
        let index = n(slot, "index")?;
        let (signed, sig) = feed.signature(index)?;
        if slot["blank"].as_bool() == Some(true) {
            // A blank slot resolves to the next signed one.
            ensure!(signed > index + 1, "{what}: slot {index} should be blank");
        } else {
            ensure!(signed == index + 1, "{what}: slot {index} is blank here");
            ensure!(
                hexs(sig.as_bytes()) == s(slot, "signature")?,
                "{what}: signature slot {index}"
            );
        }
    }
    Ok(())
}

fn writer<S: Storage>(storage: S, seed: &str) -> Result<Feed<S>> {
    Ok(Feed::builder(storage).key_pair(key_pair(seed)?).open()?)
}

fn medium_batches() -> Vec<Vec<Vec<u8>>> {
    let mut n = 0;
    [1, 1, 3, 7, 20, 32, 64, 100, 72]
        .iter()
        .map(|&size| {
            (0..size)
                .map(|_| {
                    n += 1;
                    format!("block-{}", n - 1).into_bytes()
                })
                .collect()
        })
        .collect()
}

fn reopen_files<S: Storage + Snapshot>(mut feed: Feed<S>, what: &str) -> Result<Feed<S>> {
    let before = files(&mut feed)?;
    let mut reopened = Feed::open(feed.close()?)?;
    ensure!(
        files(&mut reopened)? == before,
        "{what}: opening again changed the files"
    );
    Ok(reopened)
}

#[test]
fn primitives_flat_tree_and_hashes() -> Result<()> {
    use hypercore::flat_tree as ft;
    let p = vectors("primitives.json")?;
    let opt = |v: &Value, k: &str| -> Result<Option<u64>> {
        let x = v[k].as_i64().with_context(|| k.to_string())?;
        Ok(u64::try_from(x).ok())
    };
    for e in arr(&p, "flatTree")? {
        let i = n(e, "index")?;
        ensure!(u64::from(ft::depth(i)) == n(e, "depth")?, "depth({i})");
        ensure!(ft::offset(i) == n(e, "offset")?, "offset({i})");
        ensure!(ft::parent(i) == n(e, "parent")?, "parent({i})");
        ensure!(ft::sibling(i) == n(e, "sibling")?, "sibling({i})");
        ensure!(ft::left_child(i) == opt(e, "leftChild")?, "leftChild({i})");
        ensure!(
            ft::right_child(i) == opt(e, "rightChild")?,
            "rightChild({i})"
        );
        ensure!(ft::left_span(i) == n(e, "leftSpan")?, "leftSpan({i})");
        ensure!(ft::right_span(i) == n(e, "rightSpan")?, "rightSpan({i})");
        ensure!(
            ft::index(ft::depth(i), ft::offset(i)) == i,
            "index(depth, offset) of {i}"
        );
    }
    for e in arr(&p, "fullRoots")? {
        let len = n(e, "length")?;
        let want: Vec<u64> = arr(e, "roots")?.iter().filter_map(Value::as_u64).collect();
        ensure!(ft::full_roots(2 * len) == want, "fullRoots(2*{len})");
    }
    let b = &p["blake2b"];
    ensure!(hexs(&leaf_hash(b"")) == s(b, "leafOfEmpty")?);
    ensure!(hexs(&leaf_hash(b"hello")) == s(b, "leafOfHello")?);
    ensure!(hexs(&PublicKey([0; 32]).discovery_key()) == s(b, "discoveryKeyOfZeroKey")?);
    Ok(())
}

fn small_on<S: Storage + Snapshot>(storage: S, what: &str) -> Result<()> {
    let all = vectors("hypercore.json")?;
    let v = &all["small"];
    let mut feed = writer(storage, s(v, "seed")?)?;
    ensure!(hexs(feed.key_pair().context("writable")?.secret.as_bytes()) == s(v, "secretKey")?);
    for batch in arr(v, "appendBatches")? {
        let blocks: Vec<&[u8]> = arr(batch, "appended")?
            .iter()
            .filter_map(|b| b.as_str().map(str::as_bytes))
            .collect();
        feed.append_batch(&blocks)?;
        let mut summary = batch.clone();
        summary["length"] = batch["lengthAfter"].clone();
        assert_summary(&mut feed, &summary, what)?;
    }
    assert_summary(&mut feed, v, what)?;
    for b in arr(v, "blocks")? {
        let i = n(b, "index")?;
        ensure!(hexs(&feed.get(i)?) == s(b, "hex")?, "{what}: block {i}");
        ensure!(hexs(&feed.tree_node(2 * i)?.hash) == s(b, "leafHash")?);
    }
    assert_nodes_and_slots(&mut feed, v, what)?;
    assert_files(&files(&mut feed)?, &v["files"], what)?;
    let bf = &files(&mut feed)?["bitfield"];
    for (name, hex) in v["headers"].as_object().context("headers")? {
        let bytes = &files(&mut feed)?[name.as_str()];
        ensure!(
            hexs(&bytes[..32]) == s(hex, "hex")?,
            "{what}: {name} header"
        );
    }
    let page = &v["bitfieldPage0"];
    let trimmed = |b: &[u8]| hexs(b).trim_end_matches("00").len() / 2;
    ensure!(hexs(&bf[32..32 + trimmed(&bf[32..1056])]) == s(page, "dataBytes")?);

    let mut feed = reopen_files(feed, what)?;
    let r = &v["reopened"];
    ensure!(feed.len() == n(r, "length")?, "{what}: reopened length");
    ensure!(
        feed.byte_len() == n(r, "byteLength")?,
        "{what}: reopened byte length"
    );
    ensure!(Some(feed.writable()) == r["writable"].as_bool());
    ensure!(feed.key().to_hex() == s(r, "key")?);
    ensure!(feed.audit()?.invalid == 0);
    Ok(())
}

#[test]
fn small_matches_node_in_memory() -> Result<()> {
    small_on(MemoryStorage::new(), "small/memory")
}

#[test]
fn small_matches_node_on_disk() -> Result<()> {
    let dir = tempfile::tempdir()?;
    small_on(FileStorage::new(dir.path().join("feed")), "small/file")
}

fn medium_on<S: Storage + Snapshot>(storage: S, what: &str) -> Result<()> {
    let all = vectors("hypercore.json")?;
    let v = &all["medium"];
    let mut feed = writer(storage, s(v, "seed")?)?;
    for batch in medium_batches() {
        feed.append_batch(&batch)?;
    }
    assert_summary(&mut feed, v, what)?;
    assert_nodes_and_slots(&mut feed, v, what)?;
    assert_files(&files(&mut feed)?, &v["files"], what)?;
    // Only the last slot of each batch is signed.
    let signed: Vec<u64> = arr(v, "signatureSlots")?
        .iter()
        .filter_map(|x| x["index"].as_u64())
        .collect();
    let mut end = 0;
    let ends: Vec<u64> = medium_batches()
        .iter()
        .map(|b| {
            end += b.len() as u64;
            end - 1
        })
        .collect();
    ensure!(signed == ends, "{what}: signed slots {signed:?}");
    let mut feed = reopen_files(feed, what)?;
    ensure!(feed.len() == 300 && feed.writable());
    for i in 0..300 {
        ensure!(feed.get(i)? == format!("block-{i}").into_bytes());
    }
    Ok(())
}

#[test]
fn medium_matches_node_in_memory() -> Result<()> {
    medium_on(MemoryStorage::new(), "medium/memory")
}

#[test]
fn medium_matches_node_on_disk() -> Result<()> {
    let dir = tempfile::tempdir()?;
    medium_on(FileStorage::new(dir.path()), "medium/file")
}

#[test]
fn large_matches_node() -> Result<()> {
    let all = vectors("hypercore.json")?;
    let v = &all["large"];
    let mut feed = writer(MemoryStorage::new(), s(v, "seed")?)?;
    for b in 0..20u64 {
        let batch: Vec<[u8; 1]> = (b * 1000..(b + 1) * 1000).map(|i| [i as u8]).collect();
        feed.append_batch(&batch)?;
    }
    assert_summary(&mut feed, v, "large")?;
    assert_files(&files(&mut feed)?, &v["files"], "large")?;
    let mut feed = reopen_files(feed, "large")?;
    ensure!(feed.len() == 20_000 && feed.byte_len() == 20_000);
    for i in (0..20_000).step_by(997) {
        ensure!(feed.get(i)? == [i as u8]);
    }
    Ok(())
}

fn truncate_on<S: Storage + Snapshot>(storage: S, what: &str) -> Result<()> {
    let all = vectors("hypercore.json")?;
    let v = &all["truncate"];
    let mut feed = writer(storage, s(v, "seed")?)?;
    feed.append_batch(&[b"one".as_slice(), b"two", b"three", b"four", b"five"])?;
    feed.append(b"six")?;
    assert_files(
        &files(&mut feed)?,
        &v["filesBefore"],
        &format!("{what} before"),
    )?;
    feed.truncate(3)?;
    ensure!(
        feed.len() == 3 && feed.byte_len() == 11,
        "{what}: after truncate"
    );
    assert_files(
        &files(&mut feed)?,
        &v["filesAfterTruncate"],
        &format!("{what} truncated"),
    )?;
    feed.append(b"THREE+")?;
    let fin = &v["final"];
    assert_summary(&mut feed, fin, what)?;
    for b in arr(fin, "blocks")? {
        let i = n(b, "index")?;
        ensure!(hexs(&feed.get(i)?) == s(b, "hex")?, "{what}: block {i}");
    }
    assert_files(&files(&mut feed)?, &fin["files"], &format!("{what} final"))?;
    let mut feed = reopen_files(feed, what)?;
    ensure!(feed.len() == 4 && feed.byte_len() == 17 && feed.writable());
    ensure!(feed.audit()?.invalid == 0);
    Ok(())
}

#[test]
fn truncate_matches_node_in_memory() -> Result<()> {
    truncate_on(MemoryStorage::new(), "truncate/memory")
}

#[test]
fn truncate_matches_node_on_disk() -> Result<()> {
    let dir = tempfile::tempdir()?;
    truncate_on(FileStorage::new(dir.path()), "truncate/file")
}

fn sparse_clone_on<S: Storage + Snapshot>(storage: S, what: &str) -> Result<()> {
    let all = vectors("hypercore.json")?;
    let v = &all["sparseClone"];
    let mut src = writer(MemoryStorage::new(), s(v, "seed")?)?;
    let blocks: Vec<Vec<u8>> = (0..20).map(|i| format!("blk{i}").into_bytes()).collect();
    src.append_batch(&blocks)?;
    ensure!(src.key().to_hex() == s(v, "key")?);

    let mut clone = Feed::builder(storage).key(*src.key()).open()?;
    ensure!(!clone.writable());
    let fetched = v["fetchedBlocks"].as_object().context("fetchedBlocks")?;
    let mut order: Vec<u64> = fetched.keys().filter_map(|k| k.parse().ok()).collect();
    order.sort_unstable();
    ensure!(order == [3, 10, 17]);
    for &i in &order {
        let request = ProofRequest {
            digest: clone.digest(i),
            hash: false,
        };
        let proof = src.proof(i, request)?;
        clone.put(i, Some(&blocks[i as usize]), &proof)?;
        ensure!(
            hexs(&clone.get(i)?) == fetched[&i.to_string()],
            "{what}: block {i}"
        );
    }
    ensure!(
        clone.len() == 20 && clone.byte_len() == 90,
        "{what}: clone length"
    );
    assert_nodes_and_slots(&mut clone, v, what)?;
    assert_files(&files(&mut clone)?, &v["files"], what)?;

    let storage = clone.close()?;
    let mut reopened = Feed::builder(storage).key(*src.key()).open()?;
    let r = &v["reopened"];
    ensure!(reopened.len() == n(r, "length")?, "{what}: reopened length");
    ensure!(reopened.byte_len() == n(r, "byteLength")?);
    ensure!(Some(reopened.writable()) == r["writable"].as_bool());
    for (i, has) in r["has"].as_object().context("has")? {
        let i: u64 = i.parse()?;
        ensure!(Some(reopened.has(i)) == has.as_bool(), "{what}: has({i})");
    }
    ensure!(
        reopened.audit()?
            == hypercore::AuditReport {
                valid: 3,
                invalid: 0
            }
    );
    assert_files(
        &files(&mut reopened)?,
        &v["files"],
        &format!("{what} reopened"),
    )?;
    Ok(())
}

#[test]
fn sparse_clone_matches_node_in_memory() -> Result<()> {
    sparse_clone_on(MemoryStorage::new(), "sparse/memory")
}

#[test]
fn sparse_clone_matches_node_on_disk() -> Result<()> {
    let dir = tempfile::tempdir()?;
    sparse_clone_on(FileStorage::new(dir.path()), "sparse/file")
}

/// Memory storage holding the files the vectors list in hex.
fn node_files(list: &Value) -> Result<MemoryStorage> {
    let mut mem = MemoryStorage::new();
    let mut put = |name: &str, hex: &str| -> Result<()> {
        let store = Store::ALL
            .into_iter()
            .find(|st| st.file_name() == name)
            .with_context(|| format!("unknown file {name}"))?;
        mem.set_file(store, unhex(hex)?);
        Ok(())
    };
    if let Some(map) = list.as_object() {
        for (name, hex) in map {
            put(name, hex.as_str().context("hex")?)?;
        }
    } else {
        for f in list.as_array().context("files")? {
            let Some(hex) = f["hex"].as_str() else {
                bail!("file {} has no hex in the vectors", s(f, "path")?);
            };
            put(s(f, "path")?, hex)?;
        }
    }
    Ok(mem)
}

/// Opens Node's files, reads every block, audits and verifies, and checks that opening and
/// auditing left the files untouched.
fn read_node_feed(mem: MemoryStorage, v: &Value, blocks: &[Vec<u8>], what: &str) -> Result<()> {
    let before = mem.snapshot()?;
    let mut feed = Feed::open(mem)?;
    ensure!(feed.writable(), "{what}: the secret key is stored");
    assert_summary(&mut feed, v, what)?;
    ensure!(feed.len() == blocks.len() as u64);
    for (i, b) in blocks.iter().enumerate() {
        ensure!(&feed.get(i as u64)? == b, "{what}: block {i}");
    }
    let report = feed.audit()?;
    ensure!(
        report.valid == blocks.len() as u64 && report.invalid == 0,
        "{what}: {report:?}"
    );
    ensure!(
        files(&mut feed)? == before,
        "{what}: open + audit changed the files"
    );
    // And it stays a working writer: one more append verifies.
    feed.append(b"ddrive was here")?;
    let (len, sig) = feed.signature(feed.len() - 1)?;
    feed.verify(len - 1, &sig)?;
    Ok(())
}

#[test]
fn node_small_medium_truncate_files_open_and_verify() -> Result<()> {
    let all = vectors("hypercore.json")?;
    let small = &all["small"];
    let blocks: Vec<Vec<u8>> = arr(small, "blocks")?
        .iter()
        .map(|b| unhex(s(b, "hex")?))
        .collect::<Result<_>>()?;
    read_node_feed(node_files(&small["files"])?, small, &blocks, "node small")?;

    let medium = &all["medium"];
    let blocks: Vec<Vec<u8>> = medium_batches().concat();
    read_node_feed(
        node_files(&medium["files"])?,
        medium,
        &blocks,
        "node medium",
    )?;

    let fin = &all["truncate"]["final"];
    let blocks: Vec<Vec<u8>> = arr(fin, "blocks")?
        .iter()
        .map(|b| unhex(s(b, "hex")?))
        .collect::<Result<_>>()?;
    read_node_feed(node_files(&fin["files"])?, fin, &blocks, "node truncate")?;
    Ok(())
}

#[test]
fn node_sparse_clone_opens_and_serves_a_third_peer() -> Result<()> {
    let all = vectors("hypercore.json")?;
    let v = &all["sparseClone"];
    let mem = node_files(&v["files"])?;
    let before = mem.snapshot()?;
    let key = PublicKey(unhex32(s(v, "key")?)?);
    let mut clone = Feed::builder(mem).key(key).open()?;
    ensure!(!clone.writable() && clone.len() == 20 && clone.byte_len() == 90);
    let fetched = v["fetchedBlocks"].as_object().context("fetchedBlocks")?;
    for i in 0..20u64 {
        match fetched.get(&i.to_string()) {
            Some(hex) => ensure!(Some(hexs(&clone.get(i)?).as_str()) == hex.as_str()),
            None => ensure!(matches!(clone.get(i), Err(hypercore::Error::NotStored(j)) if j == i)),
        }
    }
    ensure!(
        clone.audit()?
            == hypercore::AuditReport {
                valid: 3,
                invalid: 0
            }
    );
    let (signed, sig) = clone.signature(0)?;
    ensure!(signed == 20);
    clone.verify(19, &sig)?;
    ensure!(
        files(&mut clone)? == before,
        "open + audit changed Node's sparse files"
    );

    // A third feed fetches from the Node-written replica, in reverse order this time.
    let mut third = Feed::builder(MemoryStorage::new()).key(key).open()?;
    for i in [17u64, 3, 10] {
        let proof = clone.proof(
            i,
            ProofRequest {
                digest: third.digest(i),
                hash: false,
            },
        )?;
        let block = clone.get(i)?;
        third.put(i, Some(&block), &proof)?;
        ensure!(third.get(i)? == block);
    }
    ensure!(third.len() == 20 && third.audit()?.invalid == 0);
    Ok(())
}
