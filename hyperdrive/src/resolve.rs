//! Mount resolution: mountable-hypertrie's get, put, delete and iterator (docs/formats.md §4.2),
//! reproduced walk for walk so paths cross mounts exactly as in JS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hypercore::PublicKey;
use hypertrie::{BatchOp, DelOptions, GetOptions, IterOptions, Node, PutOptions};

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::feeds::with_trie;
use crate::mount_record::{MOUNT_FLAG, MOUNT_PREFIX, MountRecord};
use crate::path::{join, relative, trie_key};

/// A node found through mounts: its key as the asking drive names it, and where it lives.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    /// The key in the asking drive's namespace (normalised, no leading `/`).
    pub(crate) key: String,
    pub(crate) node: Node,
    /// The drive whose trie holds the node.
    pub(crate) drive: Drive,
    /// The mount it was reached through (`None`: the asking drive itself).
    pub(crate) mount: Option<MountRecord>,
}

/// The marker a condition returns to say "this path is inside a mount".
#[derive(Debug)]
struct Mountpoint;

impl std::fmt::Display for Mountpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("operating on a mountpoint")
    }
}

impl std::error::Error for Mountpoint {}

fn is_mount(node: &Node) -> bool {
    node.flags() == MOUNT_FLAG
}

/// JS `pathToMount`.
pub(crate) fn path_to_mount(path: &str, rec: &MountRecord) -> String {
    if path.len() == rec.local_path.len() {
        return String::new();
    }
    let rest = path.get(rec.local_path.len()..).unwrap_or(path);
    trie_key(&join(&[rest, rec.remote_path.as_deref().unwrap_or("")]))
}

/// JS `pathFromMount`.
pub(crate) fn path_from_mount(path: &str, rec: &MountRecord) -> String {
    let rel = match rec.remote_path.as_deref() {
        Some(remote) if !remote.is_empty() => path.get(remote.len()..).unwrap_or(""),
        _ => path,
    };
    let joined = join(&[&rec.local_path, rel]);
    if joined == "." { String::new() } else { joined }
}

impl Drive {
    /// JS `_getSubtrie`: the mount `key` falls in, if any.
    pub(crate) fn sub_trie(&self, key: &str) -> Result<Option<(Drive, MountRecord)>> {
        let hidden_key = trie_key(&join(&[MOUNT_PREFIX, key]));
        let Some(node) = self.trie_get(
            &hidden_key,
            GetOptions::default().hidden(true).closest(true),
        )?
        else {
            return Ok(None);
        };
        if !is_mount(&node) {
            return Ok(None);
        }
        let mount_path = node.key().get(MOUNT_PREFIX.len() + 1..).unwrap_or("");
        if relative(&format!("/{mount_path}"), &format!("/{key}")).starts_with("..") {
            return Ok(None);
        }
        let rec =
            MountRecord::decode(node.value().unwrap_or(&[])).map_err(|reason| Error::Corrupt {
                what: "mount record",
                path: node.key().to_owned(),
                reason,
            })?;
        let drive = self.sibling(&PublicKey(rec.key), rec.version)?;
        Ok(Some((drive, rec)))
    }

    /// mountable-hypertrie `get`: the node at `key`, following mounts.
    pub(crate) fn resolve(&self, key: &str) -> Result<Option<Found>> {
        let key = trie_key(key);
        let Some(node) = self.trie_get(&key, GetOptions::default().closest(true))? else {
            return Ok(None);
        };
        if !is_mount(&node) || node.key() == key {
            return Ok((node.key() == key).then(|| Found {
                key: key.clone(),
                node,
                drive: self.clone(),
                mount: None,
            }));
        }
        match self.sub_trie(&key)? {
            None => Ok(self
                .trie_get(&key, GetOptions::default())?
                .map(|node| Found {
                    key: key.clone(),
                    node,
                    drive: self.clone(),
                    mount: None,
                })),
            Some((sub, rec)) => {
                let inner = path_to_mount(&key, &rec);
                let Some(found) = sub.resolve(&inner)? else {
                    return Ok(None);
                };
                let outer = path_from_mount(&found.key, &rec);
                if outer != key {
                    return Ok(None);
                }
                Ok(Some(Found {
                    key: outer,
                    mount: found.mount.or(Some(rec)),
                    ..found
                }))
            }
        }
    }

    /// The drive a write to `key` lands in and the key inside it.
    pub(crate) fn owner(&self, key: &str) -> Result<(Drive, String)> {
        let key = trie_key(key);
        match self.sub_trie(&key)? {
            Some((sub, rec)) if key != rec.local_path => sub.owner(&path_to_mount(&key, &rec)),
            _ => Ok((self.clone(), key)),
        }
    }

    /// mountable-hypertrie `put` (with hyperdrive's optional `ifNotExists` condition).
    pub(crate) fn put_node(
        &self,
        key: &str,
        value: Vec<u8>,
        flags: u64,
        if_not_exists: bool,
    ) -> Result<()> {
        self.ensure_writable()?;
        let key = trie_key(key);
        let mountpoint = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&mountpoint);
        let exists_key = key.clone();
        let result =
            with_trie(&self.metadata, |t| {
                let options = PutOptions::default().flags(flags).closest(true).condition(
                    move |closest, new| {
                        if let Some(c) = closest
                            && c.flags() & MOUNT_FLAG != 0
                            && new.key().starts_with(c.key())
                            && new.key() != c.key()
                        {
                            seen.store(true, Ordering::SeqCst);
                            return Err(Box::new(Mountpoint));
                        }
                        if if_not_exists && closest.is_some_and(|c| c.key() == new.key()) {
                            return Err(Box::new(Exists(exists_key.clone())));
                        }
                        Ok(true)
                    },
                );
                t.put_with(&key, Some(&value), options)
            });
        match result {
            Ok(_) => {
                self.hub.notify();
                Ok(())
            }
            Err(Error::Trie(hypertrie::Error::Condition(e))) if e.is::<Exists>() => {
                Err(Error::AlreadyExists(format!("/{key}")))
            }
            Err(Error::Trie(hypertrie::Error::Condition(_)))
                if mountpoint.load(Ordering::SeqCst) =>
            {
                match self.sub_trie(&key)? {
                    Some((sub, rec)) => {
                        sub.put_node(&path_to_mount(&key, &rec), value, flags, if_not_exists)
                    }
                    None => Err(Error::NotFound(format!("/{key}"))),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// mountable-hypertrie `del`; `false` when nothing was there.
    pub(crate) fn del_node(&self, key: &str, hidden: bool) -> Result<bool> {
        self.ensure_writable()?;
        let key = trie_key(key);
        let mountpoint = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&mountpoint);
        let path = key.clone();
        let result = with_trie(&self.metadata, |t| {
            let options = DelOptions::default()
                .hidden(hidden)
                .closest(true)
                .condition(move |closest| {
                    if let Some(c) = closest
                        && c.flags() & MOUNT_FLAG != 0
                        && c.key() != path
                    {
                        seen.store(true, Ordering::SeqCst);
                        return Err(Box::new(Mountpoint));
                    }
                    Ok(true)
                });
            t.del_with(&key, options)
        });
        match result {
            Ok(node) => {
                self.hub.notify();
                Ok(node.is_some())
            }
            Err(Error::Trie(hypertrie::Error::Condition(_)))
                if mountpoint.load(Ordering::SeqCst) =>
            {
                match self.sub_trie(&key)? {
                    Some((sub, rec)) => sub.del_node(&path_to_mount(&key, &rec), hidden),
                    None => Ok(false),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A batch on this drive's own trie (mount and unmount records).
    pub(crate) fn batch(&self, ops: Vec<BatchOp>) -> Result<()> {
        self.ensure_writable()?;
        with_trie(&self.metadata, |t| t.batch(ops))?;
        self.hub.notify();
        Ok(())
    }

    /// mountable-hypertrie `iterator(prefix, {recursive, noMounts, gt})`, collected.
    ///
    /// `recursive` is mountable-hypertrie's flag (descend into mounts); `trie_recursive` the
    /// flag handed to the hypertrie iterator (JS passes the caller's options through, where an
    /// absent `recursive` means true).
    pub(crate) fn iterate_with(
        &self,
        prefix: &str,
        recursive: bool,
        trie_recursive: bool,
        no_mounts: bool,
        gt: bool,
    ) -> Result<Vec<Found>> {
        let prefix = trie_key(prefix);
        let mut out = Vec::new();
        match self.sub_trie(&prefix)? {
            Some((sub, rec)) => {
                for found in sub.iterate_with(
                    &path_to_mount(&prefix, &rec),
                    recursive,
                    trie_recursive,
                    no_mounts,
                    false,
                )? {
                    let key = path_from_mount(&found.key, &rec);
                    if gt && key == prefix {
                        continue;
                    }
                    out.push(Found {
                        key,
                        mount: found.mount.or_else(|| Some(rec.clone())),
                        ..found
                    });
                }
            }
            None => {
                let nodes =
                    self.trie_list(&prefix, IterOptions::default().recursive(trie_recursive))?;
                for node in nodes {
                    let key = node.key().to_owned();
                    let descend = is_mount(&node) && !no_mounts && (recursive || key == prefix);
                    if !(gt && key == prefix) {
                        out.push(Found {
                            key: key.clone(),
                            node,
                            drive: self.clone(),
                            mount: None,
                        });
                    }
                    if descend && let Some((sub, rec)) = self.sub_trie(&key)? {
                        for found in sub.iterate_with(
                            &path_to_mount(&key, &rec),
                            recursive,
                            trie_recursive,
                            no_mounts,
                            false,
                        )? {
                            let outer = path_from_mount(&found.key, &rec);
                            if gt && outer == prefix {
                                continue;
                            }
                            out.push(Found {
                                key: outer,
                                mount: found.mount.or_else(|| Some(rec.clone())),
                                ..found
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The `ifNotExists` condition's refusal.
#[derive(Debug)]
struct Exists(String);

impl std::fmt::Display for Exists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "path {} already exists", self.0)
    }
}

impl std::error::Error for Exists {}
