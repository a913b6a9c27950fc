//! Shared helpers of the interop tests: the Node side of a test ([`NodeTool`], [`Job`]), the
//! same operations done by ddrive and answered in the same shapes ([`ddrive`]), block content
//! both sides generate from the same seeds ([`content`]), seeds that change every run
//! ([`TestSeed`]) and folder comparison ([`files`]).
//!
//! The interop tests need Node and the pinned packages in `tests/js/node_modules`; they run with
//! the `interop` feature, which `cargo xtask test` turns on after `npm ci`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod content;
pub mod ddrive;
pub mod drive_ddrive;
pub mod drive_script;
pub mod event_peer;
pub mod files;
pub mod js_tool;
pub mod multi_script;
mod node;
pub mod replication;
mod seed;
pub mod store_script;
pub mod trie_script;

pub use node::{AuditJson, CloneReport, FeedSummary, Job, NodeTool, ReadReport, RootJson, parse};
pub use seed::TestSeed;

/// Hex SHA-256 of `data`: how the Node side reports the blocks it read.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A scratch folder for one test, deleted afterwards unless `DDRIVE_KEEP_TMP` is set (then its
/// path is printed, to look at the files of a failed run).
pub fn scratch() -> anyhow::Result<tempfile::TempDir> {
    let mut dir = tempfile::Builder::new()
        .prefix("ddrive-interop-")
        .tempdir()?;
    if std::env::var_os("DDRIVE_KEEP_TMP").is_some() {
        dir.disable_cleanup(true);
        eprintln!("keeping scratch folder {}", dir.path().display());
    }
    Ok(dir)
}
