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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use corestore::Corestore;

    use crate::{Drive, DriveOptions, ReaddirOptions, WriteOptions};

    fn drive() -> Drive {
        let store = Arc::new(Corestore::in_memory().expect("store"));
        Drive::create(store, DriveOptions::default()).expect("drive")
    }

    #[test]
    fn hidden_values_round_trip_and_stay_out_of_listings() {
        let d = drive();
        d.write_file("/a", b"x", &WriteOptions::default())
            .expect("write");
        d.hidden_put(".marks/a", b"one").expect("put");
        d.hidden_put("/.marks/b", b"two")
            .expect("put, leading slash dropped");
        let (value, seq) = d.hidden_get(".marks/a").expect("get").expect("present");
        assert_eq!(value, b"one");
        assert!(seq >= 1 && seq < d.version());
        assert!(d.hidden_get(".marks/c").expect("get").is_none());
        let listed: Vec<_> = d
            .hidden_list(".marks")
            .expect("list")
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&(".marks/b".to_owned(), b"two".to_vec())));
        assert_eq!(
            d.readdir("/", &ReaddirOptions::default()).expect("readdir"),
            ["a"]
        );
        assert!(d.checkout(1).hidden_put("x", b"y").is_err(), "read-only");
    }

    #[test]
    fn lstat_seq_names_the_node_and_not_implicit_directories() {
        let d = drive();
        d.write_file("/dir/f", b"x", &WriteOptions::default())
            .expect("write");
        let (stat, seq) = d.lstat_seq("/dir/f").expect("lstat");
        assert!(stat.is_file());
        assert_eq!(seq, Some(d.version() - 1));
        let (stat, seq) = d.lstat_seq("/dir").expect("implicit dir");
        assert!(stat.is_directory());
        assert_eq!(seq, None);
        assert!(d.lstat_seq("/nope").is_err());
    }
}
