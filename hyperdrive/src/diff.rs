//! [`Drive::diff`]: what changed between two versions, as hyperdrive's diff stream reports it.

use hypertrie::{DiffOptions, Node};

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::feeds::read_trie;
use crate::mount_record::{MOUNT_FLAG, MountRecord};
use crate::path::trie_key;
use crate::resolve::path_to_mount;
use crate::stat::Stat;

/// What kind of change a [`DiffEntry`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffKind {
    /// A node present (or different) in this version.
    Put,
    /// A node only in the other version.
    Del,
    /// A mount point present (or different) in this version.
    Mount,
    /// A mount point only in the other version.
    Unmount,
}

/// One change, in JS's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffEntry {
    /// Put, del, mount or unmount.
    pub kind: DiffKind,
    /// The trie key (no leading `/`).
    pub name: String,
    /// Block of the node in this version.
    pub seq: Option<u64>,
    /// Block of the node in the other version.
    pub previous: Option<u64>,
    /// This version's Stat, for a put.
    pub stat: Option<Stat>,
    /// The mount, for a mount entry (JS `value` is the mount info then).
    pub mount: Option<MountRecord>,
}

impl Drive {
    /// The changes between this drive's version (left) and `other` (right) under `prefix`,
    /// mount and unmount entries included (hidden tags and mount records are not listed).
    pub fn diff(&self, other: u64, prefix: &str) -> Result<Vec<DiffEntry>> {
        let prefix_key = trie_key(prefix);
        let (drive, inner) = match self.sub_trie(&prefix_key)? {
            Some((sub, rec)) => (sub, path_to_mount(&prefix_key, &rec)),
            None => (self.clone(), prefix_key),
        };
        let version = drive.checkout;
        let raw = read_trie(&drive.metadata, drive.wait, |t| {
            let v = version.unwrap_or_else(|| t.version());
            t.checkout(v)
                .diff(other, &inner, DiffOptions::default())
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut out = Vec::with_capacity(raw.len());
        for entry in raw {
            // JS marks every mount node (user flags 1) as a mount, whatever it resolves to.
            let is_mount = |n: &Option<Node>| n.as_ref().is_some_and(|n| n.flags() == MOUNT_FLAG);
            let kind = match (&entry.left, is_mount(&entry.left), is_mount(&entry.right)) {
                (None, _, true) => DiffKind::Unmount,
                (None, _, false) => DiffKind::Del,
                (Some(_), true, _) => DiffKind::Mount,
                (Some(_), false, _) => DiffKind::Put,
            };
            let left_mount = if kind == DiffKind::Mount {
                drive.mount_info(entry.left.as_ref())?
            } else {
                None
            };
            let stat = match (&entry.left, kind) {
                (Some(left), DiffKind::Put) => {
                    Some(Stat::decode(left.value().unwrap_or(&[])).map_err(|reason| {
                        Error::Corrupt {
                            what: "stat",
                            path: entry.key.clone(),
                            reason,
                        }
                    })?)
                }
                _ => None,
            };
            out.push(DiffEntry {
                kind,
                name: entry.key,
                seq: entry.left.as_ref().map(Node::seq),
                previous: entry.right.as_ref().map(Node::seq),
                stat,
                mount: left_mount,
            });
        }
        Ok(out)
    }

    /// JS `updateIfMount`: the mount a mount node stands for.
    fn mount_info(&self, node: Option<&Node>) -> Result<Option<MountRecord>> {
        match node {
            Some(n) if n.flags() == MOUNT_FLAG => Ok(self.sub_trie(n.key())?.map(|(_, rec)| rec)),
            _ => Ok(None),
        }
    }
}
