//! Replays the tries in `tests/vectors/hypertrie.json` (written by Node hypertrie 5.1.3 through
//! `tests/js/vectors/hypertrie.js`) and checks every block, every feed file and every query
//! result.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use hypercore::{Feed, KeyPair, MemoryStorage, Store};
use hypertrie::{
    BatchOp, DelOptions, DiffOptions, GetOptions, HistoryOptions, Hypertrie, IterOptions, Node,
    OpenOptions, PutOptions,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn vectors() -> Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/hypertrie.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn seed(v: &Value) -> Result<[u8; 32]> {
    let bytes = hex::decode(v.as_str().context("seed")?)?;
    bytes.try_into().ok().context("seed is 32 bytes")
}

fn open(seed: [u8; 32], options: OpenOptions) -> Result<Hypertrie<MemoryStorage>> {
    let feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&seed))
        .open()?;
    Ok(Hypertrie::open_with(feed, options)?)
}

/// The vectors' `nodeJSON`: values are UTF-8 strings in the main trie.
fn node_json(n: Option<&Node>) -> Value {
    match n {
        None => Value::Null,
        Some(n) => json!({
            "key": n.key(),
            "seq": n.seq(),
            "value": n.value().map(|v| String::from_utf8_lossy(v).into_owned()),
            "flags": n.flags(),
        }),
    }
}

fn keys(nodes: &[Node]) -> Value {
    nodes.iter().map(|n| n.key()).collect::<Vec<_>>().into()
}

fn str_of(v: &Value, field: &str) -> Result<String> {
    Ok(v[field]
        .as_str()
        .with_context(|| field.to_owned())?
        .to_owned())
}

fn replay_main(m: &Value) -> Result<Hypertrie<MemoryStorage>> {
    let mut trie = open(seed(&m["seed"])?, OpenOptions::default())?;
    ensure!(hex::encode(trie.feed().key().0) == m["key"].as_str().unwrap_or_default());
    for op in m["ops"].as_array().context("ops")? {
        let key = op["key"].as_str().unwrap_or_default();
        let hidden = op["opts"]["hidden"].as_bool().unwrap_or(false);
        let written = match op["op"].as_str() {
            Some("put") => {
                let value = str_of(op, "value")?;
                let mut options = PutOptions::default()
                    .hidden(hidden)
                    .flags(op["opts"]["flags"].as_u64().unwrap_or(0));
                if op["conditional"].as_bool() == Some(true) {
                    // tests/js/vectors/hypertrie.js: the put of 'a' is refused; 'cond' goes in if nothing is there.
                    let refuse = key == "a";
                    options = options.condition(move |old, _new| Ok(!refuse && old.is_none()));
                }
                trie.put_with(key, Some(value.as_bytes()), options)?
            }
            Some("del") => {
                let n = trie.del_with(key, DelOptions::default().hidden(hidden))?;
                ensure!(
                    n.as_ref().map(|n| n.key()) == op["writtenNodeKey"].as_str(),
                    "del {key} wrote {n:?}"
                );
                n
            }
            Some("batch") => {
                let nodes = trie.batch([
                    BatchOp::put("batch/1", b"b1".to_vec()),
                    BatchOp::put("batch/2", b"b2".to_vec()),
                    BatchOp::del("x6"),
                    BatchOp::put("batch/3", b"b3".to_vec()).hidden(true),
                ])?;
                let seqs: Vec<u64> = nodes.iter().map(Node::seq).collect();
                ensure!(json!(seqs) == op["wroteSeqs"], "batch wrote {seqs:?}");
                nodes.last().cloned()
            }
            other => bail!("unknown op {other:?}"),
        };
        if op["op"] != "batch" {
            let want = op["wroteSeq"].as_u64().filter(|&s| s != 0);
            ensure!(
                written.as_ref().map(Node::seq) == want,
                "{op}: wrote {written:?}"
            );
        }
        ensure!(
            json!(trie.version()) == op["versionAfter"],
            "{op}: version {}",
            trie.version()
        );
    }
    Ok(trie)
}

/// Checks the blocks as a feed opened afresh from the trie's flushed files reads them; gives
/// the trie back (its cache emptied).
fn check_blocks(
    trie: Hypertrie<MemoryStorage>,
    blocks: &Value,
) -> Result<Hypertrie<MemoryStorage>> {
    let blocks = blocks.as_array().context("blocks")?;
    ensure!(
        trie.feed().len() == blocks.len() as u64,
        "feed length {}",
        trie.feed().len()
    );
    let mut trie_feed = trie.into_feed();
    trie_feed.flush()?;
    let mut feed_storage = trie_feed.storage().clone();
    let mut feed = Feed::open(std::mem::take(&mut feed_storage))?;
    for b in blocks {
        let seq = b["seq"].as_u64().context("seq")?;
        let got = hex::encode(feed.get(seq)?);
        ensure!(
            got == b["hex"].as_str().unwrap_or_default(),
            "block {seq}: {got} != {}",
            b["hex"]
        );
    }
    Ok(Hypertrie::open(trie_feed)?)
}

#[test]
fn main_trie_blocks_and_files_are_byte_identical() -> Result<()> {
    let v = vectors()?;
    let m = &v["main"];
    let trie = check_blocks(replay_main(m)?, &m["blocks"])?;
    let storage = trie.feed().storage();
    for f in m["files"].as_array().context("files")? {
        let store = match f["path"].as_str() {
            Some("bitfield") => Store::Bitfield,
            Some("data") => Store::Data,
            Some("key") => Store::Key,
            Some("secret_key") => Store::SecretKey,
            Some("signatures") => Store::Signatures,
            Some("tree") => Store::Tree,
            other => bail!("unknown file {other:?}"),
        };
        let bytes = storage.file(store).context("file missing")?;
        ensure!(
            json!(bytes.len()) == f["size"],
            "{store:?} size {}",
            bytes.len()
        );
        let sha = hex::encode(Sha256::digest(bytes));
        ensure!(json!(sha) == f["sha256"], "{store:?} differs");
    }
    Ok(())
}

#[test]
fn main_trie_queries_match_js() -> Result<()> {
    let v = vectors()?;
    let m = &v["main"];
    let q = &m["queries"];
    let mut trie = replay_main(m)?;

    let gets: [(&str, GetOptions); 4] = [
        ("get", GetOptions::default()),
        ("getHidden", GetOptions::default().hidden(true)),
        ("getClosest", GetOptions::default().closest(true)),
        ("getPrefix", GetOptions::default().prefix(true)),
    ];
    for (name, options) in gets {
        for (key, want) in q[name].as_object().context("gets")? {
            let got = node_json(trie.get_with(key, options)?.as_ref());
            ensure!(&got == want, "{name} {key}: {got} != {want}");
        }
    }

    let lists: [(&str, &str, IterOptions); 7] = [
        ("listAllRecursive", "", IterOptions::default()),
        ("listDirRecursive", "dir", IterOptions::default()),
        (
            "listRootNonRecursive",
            "",
            IterOptions::default().recursive(false),
        ),
        (
            "listDirNonRecursive",
            "dir",
            IterOptions::default().recursive(false),
        ),
        ("listAllReverse", "", IterOptions::default().reverse(true)),
        ("listHidden", "", IterOptions::default().hidden(true)),
        ("listHelloGt", "hello", IterOptions::default().gt(true)),
    ];
    for (name, prefix, options) in lists {
        let got = keys(&trie.list_with(prefix, options)?);
        ensure!(got == q[name], "{name}: {got} != {}", q[name]);
    }

    for d in q["diffs"].as_array().context("diffs")? {
        let from = d["from"].as_u64().context("from")?;
        let got: Vec<Value> = trie
            .diff(from, "", DiffOptions::default())
            .map(|e| {
                e.map(|e| {
                    json!({
                        "key": e.key,
                        "left": node_json(e.left.as_ref()),
                        "right": node_json(e.right.as_ref()),
                    })
                })
            })
            .collect::<hypertrie::Result<_>>()?;
        ensure!(json!(got) == d["entries"], "diff({from}): {}", json!(got));
    }

    let co = &q["checkoutBeforeDeletes"];
    let mut checkout = trie.checkout(co["version"].as_u64().context("version")?);
    for (key, want) in co["get"].as_object().context("checkout gets")? {
        let got = node_json(checkout.get(key)?.as_ref());
        ensure!(&got == want, "checkout get {key}: {got} != {want}");
    }

    let hist: Vec<Value> = trie
        .history(HistoryOptions::default().gte(1).lte(6))
        .map(|n| n.map(|n| node_json(Some(&n))))
        .collect::<hypertrie::Result<_>>()?;
    ensure!(
        json!(hist) == q["history_gte1_lte6"],
        "history: {}",
        json!(hist)
    );
    Ok(())
}

#[test]
fn reset_node_trie_matches_js() -> Result<()> {
    let v = vectors()?;
    let r = &v["resetNode"];
    let options = OpenOptions::default()
        .metadata(b"some header metadata".to_vec())
        .subtype("example-subtype");
    let mut trie = open(seed(&r["seed"])?, options)?;
    ensure!(trie.metadata() == Some(b"some header metadata".as_slice()));
    trie.put("only", b"x")?;
    let reset = trie.del("only")?.context("delete wrote nothing")?;
    ensure!(reset.key().is_empty() && reset.value().is_none());
    trie.put("again", b"y")?;
    let mut trie = check_blocks(trie, &r["blocks"])?;
    ensure!(node_json(trie.get("only")?.as_ref()) == r["getOnly"]);
    ensure!(keys(&trie.list("")?) == r["list"]);
    // The reset node cuts history: reading back from the head stops at it.
    let rev: Vec<Node> = trie
        .history(HistoryOptions::default().reverse(true))
        .collect::<hypertrie::Result<_>>()?;
    ensure!(
        keys(&rev) == json!(["again"]),
        "reverse history {}",
        keys(&rev)
    );
    Ok(())
}
