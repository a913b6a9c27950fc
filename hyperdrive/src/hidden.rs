//! Accessors for layers built over a drive: raw values in the trie's hidden namespace (where
//! hyperdrive keeps tags and mount records, and multi-hyperdrive its tombstones), and the
//! feed position of a path's node.

use hypertrie::{GetOptions, IterOptions, PutOptions};

use crate::drive::Drive;
use crate::error::Result;
use crate::feeds::with_trie;
use crate::fs::decode_stat;
use crate::path::{fix_name, trie_key};
use crate::stat::Stat;

impl Drive {
    /// The value stored under the hidden trie key `key` (a leading `/` is dropped, as
    /// mountable-hypertrie's `db.get(key, {hidden: true})` does) and the index of its node in
    /// the metadata feed; waits for blocks of a remote drive as every read does.
    pub fn hidden_get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>> {
        let node = self.trie_get(&trie_key(key), GetOptions::default().hidden(true))?;
        Ok(node.and_then(|n| n.value().map(|v| (v.to_vec(), n.seq()))))
    }

    /// Every hidden node under `prefix` (trie key, value, feed index), in trie order.
    pub fn hidden_list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>, u64)>> {
        let nodes = self.trie_list(&trie_key(prefix), IterOptions::default().hidden(true))?;
        Ok(nodes
            .into_iter()
            .filter_map(|n| {
                let value = n.value()?.to_vec();
                Some((n.key().to_owned(), value, n.seq()))
            })
            .collect())
    }

    /// Stores `value` under the hidden trie key `key` (JS `db.put(key, value, {hidden:
    /// true})`): one node, invisible to readdir, stat and diff.
    pub fn hidden_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.ensure_writable()?;
        with_trie(&self.metadata, |t| {
            t.put_with(
                &trie_key(key),
                Some(value),
                PutOptions::default().hidden(true),
            )
        })?;
        Ok(())
    }

    /// The Stat of `path` itself (as [`Drive::lstat`]) and the index in this drive's metadata
    /// feed of the node holding it: `None` for an implicit directory, the root, or a node
    /// reached through a mount (it lives in another feed).
    pub fn lstat_seq(&self, path: &str) -> Result<(Stat, Option<u64>)> {
        let name = fix_name(path);
        if let Some(found) = self.resolve(&name)? {
            let stat = decode_stat(&found)?;
            let own = found.mount.is_none() && found.drive.key == self.key;
            return Ok((stat, own.then(|| found.node.seq())));
        }
        Ok((self.lstat(&name)?, None))
    }
}
