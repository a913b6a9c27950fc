//! Hypertrie scripts: the writes both sides replay ([`TrieOp`]) and the queries both sides
//! answer ([`Query`]), in the JSON shapes `tests/js/lib/tries.js` reads and prints, plus the
//! ddrive side of both.
//!
//! A node prints as `{seq, key, value (hex or null), flags (user flags), hidden}`, so two
//! answers compare as plain JSON values.

use std::path::Path;

use anyhow::{Context, Result, bail};
use hypercore::{Feed, FileStorage, KeyPair, PublicKey};
use hypertrie::{
    BatchOp, DelOptions, DiffOptions, GetOptions, HistoryOptions, Hypertrie, IterOptions, Node,
    PutOptions,
};
use serde::Serialize;
use serde_json::{Value, json};

/// What a conditional put checks on the node it would replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CondKind {
    /// Proceed when there is no node.
    Absent,
    /// Proceed when there is a node.
    Present,
    /// Never proceed.
    Never,
    /// Proceed when there is a node with the same key (differs from `Present` with `closest`).
    SameKey,
}

/// A put's condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cond {
    /// The predicate.
    pub kind: CondKind,
    /// Hand the predicate the node the walk ended at (JS `closest`).
    pub closest: bool,
}

impl Cond {
    fn holds(self, old: Option<&Node>, new: &Node) -> bool {
        match self.kind {
            CondKind::Absent => old.is_none(),
            CondKind::Present => old.is_some(),
            CondKind::Never => false,
            CondKind::SameKey => old.is_some_and(|o| o.key() == new.key()),
        }
    }
}

/// One write of a script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum TrieOp {
    /// `put(key, value, {hidden, flags, condition, closest})`.
    Put {
        /// The key as given (maybe not normalised).
        key: String,
        /// Hex value, or none for a node without value.
        value: Option<String>,
        /// Hidden subtree.
        hidden: bool,
        /// User flags.
        flags: u64,
        /// Condition, if any.
        cond: Option<Cond>,
    },
    /// `del(key, {hidden})`.
    Del {
        /// The key.
        key: String,
        /// Hidden subtree.
        hidden: bool,
    },
    /// `batch(ops)`: puts and deletes only (no conditions).
    Batch {
        /// The batch's operations.
        ops: Vec<TrieOp>,
    },
}

impl TrieOp {
    /// A plain put of `value`.
    pub fn put(key: impl Into<String>, value: &[u8]) -> Self {
        TrieOp::Put {
            key: key.into(),
            value: Some(hex::encode(value)),
            hidden: false,
            flags: 0,
            cond: None,
        }
    }

    /// A plain delete.
    pub fn del(key: impl Into<String>) -> Self {
        TrieOp::Del {
            key: key.into(),
            hidden: false,
        }
    }
}

/// A trie to write: the seed of its key pair and its writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Seed of the Ed25519 key pair.
    pub key_seed: [u8; 32],
    /// Writes, in order.
    pub ops: Vec<TrieOp>,
}

impl Script {
    /// The key pair both sides derive from the seed.
    pub fn key_pair(&self) -> KeyPair {
        KeyPair::from_seed(&self.key_seed)
    }

    /// The script as `tries.js` reads it.
    pub fn to_json(&self) -> Value {
        json!({ "keySeed": hex::encode(self.key_seed), "ops": self.ops })
    }
}

/// One question to a trie; `at` reads a checkout of that version instead of the latest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "q", rename_all = "camelCase")]
pub enum Query {
    /// `get(key, {hidden, prefix, closest})`.
    Get {
        /// Key.
        key: String,
        /// Hidden subtree.
        hidden: bool,
        /// Match a prefix.
        prefix: bool,
        /// Return the node the walk ended at.
        closest: bool,
        /// Checkout version.
        at: Option<u64>,
    },
    /// `list(prefix, opts)`.
    List(Walk),
    /// `iterator(prefix, opts)`, drained with `next()`.
    Iter(Walk),
    /// `checkout(at).diff(other, prefix, opts)`.
    Diff {
        /// The other version.
        other: u64,
        /// Prefix.
        prefix: String,
        /// Hidden subtree.
        hidden: bool,
        /// JS `skipLeftNull`.
        #[serde(rename = "skipLeftNull")]
        skip_left_null: bool,
        /// JS `skipRightNull`.
        #[serde(rename = "skipRightNull")]
        skip_right_null: bool,
        /// Checkout version (the left side).
        at: Option<u64>,
    },
    /// `history({gte, lte, reverse})`.
    History {
        /// First seq.
        gte: Option<u64>,
        /// Last seq.
        lte: Option<u64>,
        /// Newest first.
        reverse: bool,
        /// Checkout version.
        at: Option<u64>,
    },
    /// `getBySeq(seq)`.
    Seq {
        /// The block.
        seq: u64,
    },
    /// `head()`.
    Head {
        /// Checkout version.
        at: Option<u64>,
    },
    /// `version`.
    Version {
        /// Checkout version.
        at: Option<u64>,
    },
}

/// The options of a list or iterator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Walk {
    /// Prefix.
    pub prefix: String,
    /// Descend into sub-directories.
    pub recursive: bool,
    /// Mirror the order.
    pub reverse: bool,
    /// Leave out the prefix key itself.
    pub gt: bool,
    /// Hidden subtree.
    pub hidden: bool,
    /// Checkout version.
    pub at: Option<u64>,
}

impl Walk {
    fn options(&self) -> IterOptions {
        IterOptions::default()
            .recursive(self.recursive)
            .reverse(self.reverse)
            .gt(self.gt)
            .hidden(self.hidden)
    }
}

/// A node as both sides print it.
pub fn node_json(node: Option<&Node>) -> Value {
    match node {
        None => Value::Null,
        Some(n) => json!({
            "seq": n.seq(),
            "key": n.key(),
            "value": n.value().map(hex::encode),
            "flags": n.flags(),
            "hidden": n.hidden(),
        }),
    }
}

fn nodes_json(nodes: &[Node]) -> Value {
    nodes.iter().map(|n| node_json(Some(n))).collect()
}

fn value_bytes(value: &Option<String>) -> Result<Option<Vec<u8>>> {
    value
        .as_deref()
        .map(hex::decode)
        .transpose()
        .context("script value is not hex")
}

fn batch_op(op: &TrieOp) -> Result<BatchOp> {
    Ok(match op {
        TrieOp::Put {
            key,
            value,
            hidden,
            flags,
            cond: None,
        } => BatchOp::put_value(key.clone(), value_bytes(value)?)
            .hidden(*hidden)
            .flags(*flags),
        TrieOp::Del { key, hidden } => BatchOp::del(key.clone()).hidden(*hidden),
        other => bail!("not a batch operation: {other:?}"),
    })
}

/// Applies one write; answers what it returned, as `tries.js` does.
pub fn apply(trie: &mut Hypertrie<FileStorage>, op: &TrieOp) -> Result<Value> {
    Ok(match op {
        TrieOp::Put {
            key,
            value,
            hidden,
            flags,
            cond,
        } => {
            let value = value_bytes(value)?;
            let mut options = PutOptions::default().hidden(*hidden).flags(*flags);
            if let Some(cond) = *cond {
                options = options
                    .closest(cond.closest)
                    .condition(move |old, new| Ok(cond.holds(old, new)));
            }
            node_json(trie.put_with(key, value.as_deref(), options)?.as_ref())
        }
        TrieOp::Del { key, hidden } => node_json(
            trie.del_with(key, DelOptions::default().hidden(*hidden))?
                .as_ref(),
        ),
        TrieOp::Batch { ops } => {
            let ops = ops.iter().map(batch_op).collect::<Result<Vec<_>>>()?;
            nodes_json(&trie.batch(ops)?)
        }
    })
}

/// Creates the trie of `script` in `dir`; answers `{key, length, results}` as `tries.js`.
pub fn write(dir: &Path, script: &Script) -> Result<Value> {
    if dir.join("key").exists() {
        bail!("{} already holds a feed", dir.display());
    }
    let feed = Feed::builder(FileStorage::new(dir))
        .key_pair(script.key_pair())
        .open()?;
    let mut trie = Hypertrie::open(feed)?;
    let mut results = Vec::new();
    for (i, op) in script.ops.iter().enumerate() {
        results.push(apply(&mut trie, op).with_context(|| format!("write {i}: {op:?}"))?);
    }
    let out = json!({
        "key": trie.feed().key().to_hex(),
        "length": trie.version(),
        "results": results,
    });
    trie.into_feed().close()?;
    Ok(out)
}

/// Opens the trie of `key` in `dir` and answers `queries` as `tries.js` does.
pub fn dump(dir: &Path, key: PublicKey, queries: &[Query]) -> Result<Vec<Value>> {
    let feed = Feed::builder(FileStorage::new(dir))
        .key(key)
        .create_if_missing(false)
        .open()
        .with_context(|| format!("opening {}", dir.display()))?;
    let mut trie = Hypertrie::open(feed)?;
    let mut out = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        out.push(answer(&mut trie, q).with_context(|| format!("query {i}: {q:?}"))?);
    }
    trie.into_feed().close()?;
    Ok(out)
}

fn answer(trie: &mut Hypertrie<FileStorage>, q: &Query) -> Result<Value> {
    let latest = trie.version();
    let at_or_latest = |at: &Option<u64>| at.unwrap_or(latest);
    Ok(match q {
        Query::Get {
            key,
            hidden,
            prefix,
            closest,
            at,
        } => {
            let options = GetOptions::default()
                .hidden(*hidden)
                .prefix(*prefix)
                .closest(*closest);
            node_json(
                trie.checkout(at_or_latest(at))
                    .get_with(key, options)?
                    .as_ref(),
            )
        }
        Query::List(w) => nodes_json(
            &trie
                .checkout(at_or_latest(&w.at))
                .list_with(&w.prefix, w.options())?,
        ),
        Query::Iter(w) => {
            let nodes = trie
                .checkout(at_or_latest(&w.at))
                .iter(&w.prefix, w.options())
                .collect::<hypertrie::Result<Vec<_>>>()?;
            nodes_json(&nodes)
        }
        Query::Diff {
            other,
            prefix,
            hidden,
            skip_left_null,
            skip_right_null,
            at,
        } => {
            let options = DiffOptions::default()
                .hidden(*hidden)
                .skip_left_null(*skip_left_null)
                .skip_right_null(*skip_right_null);
            let mut out = Vec::new();
            for entry in trie
                .checkout(at_or_latest(at))
                .diff(*other, prefix, options)
            {
                let e = entry?;
                out.push(json!({
                    "key": e.key,
                    "left": node_json(e.left.as_ref()),
                    "right": node_json(e.right.as_ref()),
                }));
            }
            Value::Array(out)
        }
        Query::History {
            gte,
            lte,
            reverse,
            at,
        } => {
            let mut options = HistoryOptions::default().reverse(*reverse);
            if let Some(g) = gte {
                options = options.gte(*g);
            }
            if let Some(l) = lte {
                options = options.lte(*l);
            }
            let nodes = trie
                .checkout(at_or_latest(at))
                .history(options)
                .collect::<hypertrie::Result<Vec<_>>>()?;
            nodes_json(&nodes)
        }
        Query::Seq { seq } => node_json(trie.get_by_seq(*seq)?.as_ref()),
        Query::Head { at } => node_json(trie.checkout(at_or_latest(at)).head()?.as_ref()),
        Query::Version { at } => json!(trie.checkout(at_or_latest(at)).version()),
    })
}
