//! Corestore visits: which cores to get from a store folder and how ([`Via`]), what to append
//! to them, and what each side reports about them ([`CoreReport`]), in the JSON shapes
//! `tests/js/lib/stores.js` reads and prints; plus the ddrive side and a recursive folder
//! comparison.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use corestore::{Corestore, SharedFeed};
use hypercore::PublicKey;
use serde::{Deserialize, Serialize};

use crate::content::Batch;
use crate::node::AuditJson;
use crate::sha256_hex;

/// How a core is asked for; `ns` are the nested namespaces of the view asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Via {
    /// Namespaces, outermost first.
    pub ns: Vec<String>,
    /// The view's default feed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// A named core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A core from an explicit key pair, by the hex seed of the pair (Node only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pair: Option<String>,
    /// A core by hex public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A stored core by hex discovery key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_key: Option<String>,
}

impl Via {
    fn bare(ns: &[&str]) -> Self {
        Via {
            ns: ns.iter().map(|s| (*s).to_owned()).collect(),
            default: false,
            name: None,
            key_pair: None,
            key: None,
            discovery_key: None,
        }
    }

    /// The default feed of the view `ns`.
    pub fn default_feed(ns: &[&str]) -> Self {
        Via {
            default: true,
            ..Self::bare(ns)
        }
    }

    /// The core named `name`, asked through the view `ns`.
    pub fn name(ns: &[&str], name: &str) -> Self {
        Via {
            name: Some(name.to_owned()),
            ..Self::bare(ns)
        }
    }

    /// The core of the key pair seeded by `seed` (only Node's store offers this).
    pub fn key_pair(seed: &[u8; 32]) -> Self {
        Via {
            key_pair: Some(hex::encode(seed)),
            ..Self::bare(&[])
        }
    }

    /// The core with hex public key `key`.
    pub fn key(key: &str) -> Self {
        Via {
            key: Some(key.to_owned()),
            ..Self::bare(&[])
        }
    }

    /// The stored core with hex discovery key `dk`.
    pub fn discovery_key(dk: &str) -> Self {
        Via {
            discovery_key: Some(dk.to_owned()),
            ..Self::bare(&[])
        }
    }
}

/// One core of a visit and the batches to append to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// How to get the core.
    pub via: Via,
    /// Append calls, in order.
    pub batches: Vec<Batch>,
}

impl Entry {
    /// The entry as `stores.js` reads it.
    pub fn to_json(&self) -> serde_json::Value {
        let batches: Vec<_> = self.batches.iter().map(Batch::to_json).collect();
        serde_json::json!({ "via": self.via, "batches": batches })
    }
}

/// What each side reports about a core after a visit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreReport {
    /// Hex public key.
    pub key: String,
    /// Hex discovery key.
    pub discovery_key: String,
    /// Whether the store could sign for the core.
    pub writable: bool,
    /// Blocks.
    pub length: u64,
    /// Bytes.
    pub byte_length: u64,
    /// `audit()`.
    pub audit: AuditJson,
    /// SHA-256 hex of each block, `None` where not stored.
    pub blocks: Vec<Option<String>>,
}

fn view(store: &Corestore, ns: &[String]) -> Result<Option<Corestore>> {
    let mut out: Option<Corestore> = None;
    for n in ns {
        let next = match &out {
            None => store.namespace(n)?,
            Some(v) => v.namespace(n)?,
        };
        out = Some(next);
    }
    Ok(out)
}

/// 32 bytes from hex.
pub fn bytes32(h: &str) -> Result<[u8; 32]> {
    hex::decode(h)?
        .try_into()
        .ok()
        .with_context(|| format!("{h} is not 32 bytes of hex"))
}

fn get_core(store: &Corestore, via: &Via) -> Result<SharedFeed> {
    let nested = view(store, &via.ns)?;
    let v = nested.as_ref().unwrap_or(store);
    if via.default {
        return Ok(v.default_feed()?);
    }
    if let Some(name) = &via.name {
        return Ok(v.get_by_name(name)?);
    }
    if let Some(key) = &via.key {
        return Ok(v.get_by_key(&PublicKey(bytes32(key)?))?);
    }
    if let Some(dk) = &via.discovery_key {
        let dk = bytes32(dk)?;
        return v
            .get_by_discovery_key(&dk)?
            .with_context(|| format!("no stored core with discovery key {}", hex::encode(dk)));
    }
    bail!("ddrive's store cannot get a core from {via:?}")
}

fn report(feed: &SharedFeed) -> Result<CoreReport> {
    let mut feed = feed.lock();
    let audit = feed.audit()?;
    let mut blocks = Vec::new();
    for i in 0..feed.len() {
        blocks.push(if feed.has(i) {
            Some(sha256_hex(&feed.get(i)?))
        } else {
            None
        });
    }
    Ok(CoreReport {
        key: feed.key().to_hex(),
        discovery_key: hex::encode(feed.discovery_key()),
        writable: feed.writable(),
        length: feed.len(),
        byte_length: feed.byte_len(),
        audit: AuditJson {
            valid: audit.valid,
            invalid: audit.invalid,
        },
        blocks,
    })
}

/// The ddrive side of a `visit` job: opens the store in `dir`, gets each entry's core, appends
/// its batches and reports it; closes the store.
pub fn visit(dir: &Path, entries: &[Entry]) -> Result<Vec<CoreReport>> {
    let store = Corestore::open(dir)?;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let feed = get_core(&store, &e.via).with_context(|| format!("entry {i}: {:?}", e.via))?;
        {
            let mut f = feed.lock();
            for batch in &e.batches {
                f.append_batch(&batch.blocks())?;
            }
        }
        out.push(report(&feed).with_context(|| format!("entry {i}: {:?}", e.via))?);
    }
    store.close()?;
    Ok(out)
}

/// What a clean report of a writable core holding `blocks` says.
pub fn expected(key: &str, dk: &str, blocks: &[Vec<u8>], writable: bool) -> CoreReport {
    CoreReport {
        key: key.to_owned(),
        discovery_key: dk.to_owned(),
        writable,
        length: blocks.len() as u64,
        byte_length: blocks.iter().map(|b| b.len() as u64).sum(),
        audit: AuditJson {
            valid: blocks.len() as u64,
            invalid: 0,
        },
        blocks: blocks.iter().map(|b| Some(sha256_hex(b))).collect(),
    }
}

/// Every file under `dir`, as paths relative to it.
pub fn tree(dir: &Path) -> Result<BTreeSet<PathBuf>> {
    fn walk(root: &Path, at: &Path, out: &mut BTreeSet<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(at).with_context(|| format!("listing {}", at.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                out.insert(path.strip_prefix(root)?.to_path_buf());
            }
        }
        Ok(())
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Fails unless folders `a` and `b` hold the same files, at any depth, with the same bytes.
pub fn same_tree(a: &Path, b: &Path) -> Result<()> {
    let (ta, tb) = (tree(a)?, tree(b)?);
    if ta != tb {
        bail!(
            "{} holds {:?} but {} holds {:?}",
            a.display(),
            ta.symmetric_difference(&tb)
                .filter(|p| ta.contains(*p))
                .collect::<Vec<_>>(),
            b.display(),
            tb.symmetric_difference(&ta)
                .filter(|p| tb.contains(*p))
                .collect::<Vec<_>>(),
        );
    }
    for rel in &ta {
        crate::files::same_file(&a.join(rel), &b.join(rel))?;
    }
    Ok(())
}
