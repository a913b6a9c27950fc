//! Running `tests/js/feed-tool.js` and reading what it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const INSTALL_HINT: &str = "install Node.js (18 or later) and the pinned packages: \
     `cd tests/js && npm ci`, or run everything with `cargo xtask test`";

/// The Node side of the interop tests: a `node` binary and the `tests/js` folder.
#[derive(Debug, Clone)]
pub struct NodeTool {
    node: PathBuf,
    js_dir: PathBuf,
}

impl NodeTool {
    /// Finds `node` (`$DDRIVE_NODE`, else `node` on the PATH) and checks that the pinned
    /// packages are installed; the error says how to install what is missing.
    pub fn find() -> Result<Self> {
        let js_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
        let node = std::env::var_os("DDRIVE_NODE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("node"));
        let version = Command::new(&node)
            .arg("--version")
            .output()
            .with_context(|| format!("cannot start {}: {INSTALL_HINT}", node.display()))?;
        if !version.status.success() {
            bail!("`{} --version` failed: {INSTALL_HINT}", node.display());
        }
        let marker = js_dir.join("node_modules/hypercore/package.json");
        if !marker.exists() {
            bail!("{} is missing: {INSTALL_HINT}", marker.display());
        }
        Ok(NodeTool { node, js_dir })
    }

    /// Runs `feed-tool.js` with `args` and parses its JSON output.
    pub fn feed_tool<T: DeserializeOwned>(&self, args: &[&str]) -> Result<T> {
        let script = self.js_dir.join("feed-tool.js");
        let out = Command::new(&self.node)
            .arg(&script)
            .args(args)
            .output()
            .with_context(|| format!("starting {}", self.node.display()))?;
        if !out.status.success() {
            bail!(
                "feed-tool.js {} failed ({}):\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "feed-tool.js {} printed unexpected output: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs many jobs (`{"op": ..}` objects, see feed-tool.js) in one Node process, in order;
    /// returns one result per job.
    pub fn run_jobs(&self, scratch: &Path, jobs: &[Job]) -> Result<Vec<Value>> {
        let file = tempfile::Builder::new()
            .prefix("jobs-")
            .suffix(".json")
            .tempfile_in(scratch)?;
        let list: Vec<&Value> = jobs.iter().map(|j| &j.0).collect();
        std::fs::write(file.path(), serde_json::to_vec(&list)?)?;
        let path = file.path().to_str().context("scratch path is not UTF-8")?;
        let results: Vec<Value> = self.feed_tool(&["run", path])?;
        if results.len() != jobs.len() {
            bail!("{} jobs gave {} results", jobs.len(), results.len());
        }
        Ok(results)
    }
}

/// One job for [`NodeTool::run_jobs`].
#[derive(Debug, Clone)]
pub struct Job(pub Value);

impl Job {
    /// Create a feed in `dir` from `spec`; answers a [`FeedSummary`].
    pub fn write(dir: &Path, spec: &crate::content::Spec) -> Self {
        Job(serde_json::json!({ "op": "write", "dir": dir, "spec": spec.to_json() }))
    }

    /// Append `batches` to the writable feed in `dir`; answers a [`FeedSummary`].
    pub fn append(dir: &Path, batches: &[crate::content::Batch]) -> Self {
        let batches: Vec<Value> = batches.iter().map(|b| b.to_json()).collect();
        Job(serde_json::json!({ "op": "append", "dir": dir, "spec": { "batches": batches } }))
    }

    /// Mark blocks `[start, end)` of the feed in `dir` as not stored; answers a [`FeedSummary`].
    pub fn clear(dir: &Path, start: u64, end: u64) -> Self {
        Job(serde_json::json!({ "op": "clear", "dir": dir, "start": start, "end": end }))
    }

    /// Shorten the feed in `dir` to `length` blocks; answers a [`FeedSummary`].
    pub fn truncate(dir: &Path, length: u64) -> Self {
        Job(serde_json::json!({ "op": "truncate", "dir": dir, "length": length }))
    }

    /// Open the feed of `key` in `dir`, audit it and hash every stored block; answers a
    /// [`ReadReport`].
    pub fn read(dir: &Path, key: &hypercore::PublicKey) -> Self {
        Job(serde_json::json!({ "op": "read", "dir": dir, "key": key.to_hex() }))
    }

    /// Sparse clone of `src` into `dst` over replication streams; answers a [`CloneReport`].
    pub fn sparse(src: &Path, dst: &Path, indices: &[u64]) -> Self {
        Job(serde_json::json!({ "op": "sparse", "src": src, "dst": dst, "indices": indices }))
    }

    /// Sparse clone with explicit `proof()`/`put()` calls; answers a [`CloneReport`].
    pub fn sparse_put(src: &Path, dst: &Path, indices: &[u64]) -> Self {
        Job(serde_json::json!({ "op": "sparse-put", "src": src, "dst": dst, "indices": indices }))
    }
}

/// Parses one job result.
pub fn parse<T: DeserializeOwned>(value: &Value) -> Result<T> {
    T::deserialize(value).with_context(|| format!("unexpected job result {value}"))
}

/// A tree root as Node prints it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RootJson {
    /// Flat-tree index.
    pub index: u64,
    /// Hex hash.
    pub hash: String,
    /// Bytes under the node.
    pub size: u64,
}

impl RootJson {
    /// The same view of one of our nodes.
    pub fn of(node: &hypercore::Node) -> Self {
        RootJson {
            index: node.index,
            hash: hex::encode(node.hash),
            size: node.size,
        }
    }
}

/// What Node prints after writing or appending.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedSummary {
    /// Hex public key.
    pub key: String,
    /// Blocks.
    pub length: u64,
    /// Bytes.
    pub byte_length: u64,
    /// Roots at `length`.
    pub roots: Vec<RootJson>,
    /// Hex signature of `length` (none for an empty feed).
    pub signature: Option<String>,
    /// The slot that signature came from (`length - 1`).
    #[serde(default)]
    pub signature_index: Option<u64>,
}

/// What Node prints after reading a feed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReport {
    /// Key, lengths, roots and signature.
    #[serde(flatten)]
    pub summary: FeedSummary,
    /// Whether Node found the secret key.
    pub writable: bool,
    /// `feed.audit()`.
    pub audit: AuditJson,
    /// SHA-256 hex of each block, `None` where not stored.
    pub blocks: Vec<Option<String>>,
    /// Whether `feed.verify` accepted the signature.
    pub verified: bool,
}

/// `feed.audit()`'s report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct AuditJson {
    /// Blocks that hash to their leaf.
    pub valid: u64,
    /// Blocks that do not.
    pub invalid: u64,
}

/// What Node prints after a sparse clone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneReport {
    /// The clone's length.
    pub length: u64,
    /// Its byte length.
    pub byte_length: u64,
    /// The requested indices the clone holds.
    pub has: Vec<u64>,
}
