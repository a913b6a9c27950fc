//! [`Drive::rename`]: moves a file, symlink, mount point or whole directory in one trie
//! batch, so one append and one signature take the drive from the old tree to the new one.

use hypertrie::{BatchOp, IterOptions};

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::mount_record::{MOUNT_PREFIX, MountRecord};
use crate::path::{fix_name, join, trie_key};
use crate::stat::{Stat, mode};

fn is_dir(stat: &Stat) -> bool {
    stat.file_type() == mode::S_IFDIR && stat.mount.as_ref().is_none_or(|m| !m.hypercore)
}

impl Drive {
    /// Renames `from` to `to` (POSIX `rename`): a file, symlink (the link itself), mount
    /// point, or directory with everything under it, explicit or implicit.
    ///
    /// Every node under `from` is put under `to` and then deleted, in **one** trie batch:
    /// one append, one signature, so a reader at any signed version sees the old tree or the
    /// new one. Node reads the nodes as ordinary puts and deletes. An existing `to` is
    /// replaced when both are files, or both directories and `to` is empty.
    ///
    /// Errors: ENOENT (no `from`), EINVAL (`to` inside `from`, the root, a mount point as
    /// `to`), ENOTDIR / EISDIR (a directory onto a file or the other way round), ENOTEMPTY,
    /// EXDEV (`from` and `to` in different drives through mounts), EACCES.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.ensure_writable()?;
        let from = fix_name(from);
        let to = fix_name(to);
        if from == "/" || to == "/" {
            return Err(Error::InvalidArgument("cannot rename the root".into()));
        }
        let src = self.lstat_located(&from, false)?;
        let src_dir = is_dir(&src.stat);
        if from == to {
            return Ok(());
        }
        if to.starts_with(&format!("{from}/")) {
            return Err(Error::InvalidArgument(format!(
                "cannot move {from} into itself ({to})"
            )));
        }
        let (owner, key_from) = self.owner(&from)?;
        let (to_owner, key_to) = self.owner(&to)?;
        if owner.key() != to_owner.key() || owner.checkout != to_owner.checkout {
            return Err(Error::CrossDevice(format!("rename {from} -> {to}")));
        }
        owner.ensure_writable()?;
        let mut replaced = None;
        match self.lstat_located(&to, false) {
            Ok(dst) => {
                if let (Some(a), Some(b)) = (src.stat.link_tag(), dst.stat.link_tag())
                    && a == b
                {
                    // Two names of one hard-linked file: POSIX rename does nothing.
                    return Ok(());
                }
                if dst.found.is_some() && !is_dir(&dst.stat) {
                    replaced = Some(key_to.clone());
                }
                let dst_dir = is_dir(&dst.stat);
                if dst.stat.mount.is_some() {
                    return Err(Error::InvalidArgument(format!("{to} is a mount point")));
                }
                if src_dir && !dst_dir {
                    return Err(Error::NotDirectory(to));
                }
                if !src_dir && dst_dir {
                    return Err(Error::IsDirectory(to));
                }
                if dst_dir && !self.readdir(&to, &Default::default())?.is_empty() {
                    return Err(Error::NotEmpty(to));
                }
            }
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }

        let moved = |key: &str, base_from: &str, base_to: &str| -> String {
            format!("{base_to}{}", key.get(base_from.len()..).unwrap_or(""))
        };
        let mut puts = Vec::new();
        let mut dels = Vec::new();
        let mut moves = Vec::new();
        for node in owner.trie_list(&key_from, IterOptions::default())? {
            let Some(value) = node.value() else { continue };
            let new_key = moved(node.key(), &key_from, &key_to);
            puts.push(BatchOp::put(new_key.clone(), value.to_vec()).flags(node.flags()));
            dels.push(BatchOp::del(node.key()));
            moves.push((node.key().to_owned(), new_key, value.to_vec()));
        }
        // Mount records under `from` move too, their local path rewritten.
        let records_from = trie_key(&join(&[MOUNT_PREFIX, &key_from]));
        let records_to = trie_key(&join(&[MOUNT_PREFIX, &key_to]));
        for node in owner.trie_list(&records_from, IterOptions::default().hidden(true))? {
            let mut record =
                MountRecord::decode(node.value().unwrap_or(&[])).map_err(|reason| {
                    Error::Corrupt {
                        what: "mount record",
                        path: node.key().to_owned(),
                        reason,
                    }
                })?;
            record.local_path = moved(&record.local_path, &key_from, &key_to);
            puts.push(
                BatchOp::put(
                    moved(node.key(), &records_from, &records_to),
                    record.encode(),
                )
                .hidden(true)
                .flags(node.flags()),
            );
            dels.push(BatchOp::del(node.key()).hidden(true));
        }
        if puts.is_empty() {
            return Err(Error::NotFound(from));
        }
        // Hard-linked names that move, or that the rename replaces, update their records.
        puts.extend(owner.rename_link_ops(&moves, replaced.as_deref())?);
        // Puts first: the unsigned versions inside the batch show both trees, never neither.
        puts.extend(dels);
        owner.batch(puts)
    }

    /// Swaps the nodes at `a` and `b` (Linux `RENAME_EXCHANGE`) in one trie batch: files,
    /// symlinks and empty directories with a Stat of their own, both in one drive. A
    /// directory with entries, an implicit directory or a mount point is EINVAL (its subtree
    /// would have to move too); `a` and `b` in two drives is EXDEV; either missing is ENOENT.
    pub fn exchange(&self, a: &str, b: &str) -> Result<()> {
        self.ensure_writable()?;
        let (a, b) = (fix_name(a), fix_name(b));
        if a == "/" || b == "/" {
            return Err(Error::InvalidArgument("cannot exchange the root".into()));
        }
        if a == b {
            return self.lstat(&a).map(|_| ());
        }
        let (owner, key_a) = self.owner(&a)?;
        let (owner_b, key_b) = self.owner(&b)?;
        if owner.key() != owner_b.key() || owner.checkout != owner_b.checkout {
            return Err(Error::CrossDevice(format!("{a} <-> {b}")));
        }
        owner.ensure_writable()?;
        let node = |key: &str, name: &str| -> Result<hypertrie::Node> {
            let nodes = owner.trie_list(key, IterOptions::default())?;
            let own = nodes
                .iter()
                .find(|n| n.key() == key && n.value().is_some())
                .cloned();
            match own {
                Some(n) if nodes.len() == 1 => {
                    let stat = Stat::decode(n.value().unwrap_or(&[])).map_err(|reason| {
                        Error::Corrupt {
                            what: "stat",
                            path: name.to_owned(),
                            reason,
                        }
                    })?;
                    if stat.mount.is_some() {
                        return Err(Error::InvalidArgument(format!("{name} is a mount point")));
                    }
                    Ok(n)
                }
                Some(_) => Err(Error::InvalidArgument(format!(
                    "{name} is a directory with entries"
                ))),
                None if nodes.is_empty() => Err(Error::NotFound(name.to_owned())),
                None => Err(Error::InvalidArgument(format!(
                    "{name} is a directory without a Stat of its own"
                ))),
            }
        };
        let na = node(&key_a, &a)?;
        let nb = node(&key_b, &b)?;
        let ops = vec![
            BatchOp::put(key_a, nb.value().unwrap_or(&[]).to_vec()).flags(nb.flags()),
            BatchOp::put(key_b, na.value().unwrap_or(&[]).to_vec()).flags(na.flags()),
        ];
        owner.batch(ops)
    }
}
