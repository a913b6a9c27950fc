//! The mountable-hypertrie `Mount` record, stored in the hidden node `mounts/<path>`
//! (docs/formats.md §4.1).

use crate::proto::{Fields, Value, put_bytes, put_uint};

/// User flags of the two nodes of a drive mount (the hidden record and the visible node).
pub(crate) const MOUNT_FLAG: u64 = 1;
/// Hidden prefix of mount records.
pub(crate) const MOUNT_PREFIX: &str = "mounts";

/// A drive mounted into another drive's trie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountRecord {
    /// Public key of the mounted metadata feed.
    pub key: [u8; 32],
    /// The mount point inside the parent, normalised (no leading `/`).
    pub local_path: String,
    /// A version the mount is pinned to.
    pub version: Option<u64>,
    /// A sub-path inside the mounted drive (hyperdrive never sets it).
    pub remote_path: Option<String>,
    /// Unused.
    pub hash: Option<Vec<u8>>,
}

impl MountRecord {
    /// Encodes as mountable-hypertrie does: only the fields that are set.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.local_path.len());
        put_bytes(&mut out, 1, &self.key);
        put_bytes(&mut out, 2, self.local_path.as_bytes());
        if let Some(version) = self.version {
            put_uint(&mut out, 3, version);
        }
        if let Some(remote) = &self.remote_path {
            put_bytes(&mut out, 4, remote.as_bytes());
        }
        if let Some(hash) = &self.hash {
            put_bytes(&mut out, 5, hash);
        }
        out
    }

    /// Decodes a record.
    pub fn decode(buf: &[u8]) -> Result<Self, &'static str> {
        let mut key = None;
        let mut local_path = None;
        let mut record = MountRecord {
            key: [0; 32],
            local_path: String::new(),
            version: None,
            remote_path: None,
            hash: None,
        };
        let utf8 = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| "mount path is not UTF-8")
        };
        for field in Fields::new(buf) {
            match field? {
                (1, Value::Bytes(b)) => {
                    key = Some(<[u8; 32]>::try_from(b).map_err(|_| "mount key is not 32 bytes")?)
                }
                (2, Value::Bytes(b)) => local_path = Some(utf8(b)?),
                (3, Value::Varint(v)) => record.version = Some(v),
                (4, Value::Bytes(b)) => record.remote_path = Some(utf8(b)?),
                (5, Value::Bytes(b)) => record.hash = Some(b.to_vec()),
                (1..=5, _) => return Err("mount field of the wrong type"),
                _ => {}
            }
        }
        record.key = key.ok_or("mount record without a key")?;
        record.local_path = local_path.ok_or("mount record without a local path")?;
        // JS treats version 0 as "not pinned".
        if record.version == Some(0) {
            record.version = None;
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        let rec = MountRecord {
            key: [0xab; 32],
            local_path: "mnt".into(),
            version: None,
            remote_path: None,
            hash: None,
        };
        let bytes = rec.encode();
        assert_eq!(
            hex::encode(&bytes),
            format!("0a20{}12036d6e74", "ab".repeat(32))
        );
        assert_eq!(MountRecord::decode(&bytes), Ok(rec));
        assert!(MountRecord::decode(&bytes[..10]).is_err());
    }
}
