//! `readdir` and the stat iterator under it (hyperdrive `lib/iterator.js`), symlinks and
//! mounts included.

use crate::drive::Drive;
use crate::error::{Error, Result};
use crate::fs::decode_stat;
use crate::mount_record::MountRecord;
use crate::path::{dirname, fix_name, join, relative, resolve};
use crate::resolve::Found;
use crate::stat::Stat;

/// Options of [`Drive::readdir`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaddirOptions {
    /// List every path below, not only the children.
    pub recursive: bool,
    /// Do not descend into mounts.
    pub no_mounts: bool,
}

impl ReaddirOptions {
    /// Sets [`ReaddirOptions::recursive`].
    pub fn recursive(mut self, recursive: bool) -> Self {
        self.recursive = recursive;
        self
    }

    /// Sets [`ReaddirOptions::no_mounts`].
    pub fn no_mounts(mut self, no_mounts: bool) -> Self {
        self.no_mounts = no_mounts;
        self
    }
}

/// One entry of [`Drive::readdir_with_stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name relative to the listed directory (a child's name, or a relative path when
    /// recursive).
    pub name: String,
    /// The absolute path of the node this entry came from.
    pub path: String,
    /// Its Stat (non-recursive listings give a fresh directory Stat for a child directory
    /// known only through a deeper node, as JS does).
    pub stat: Stat,
    /// The mount the node was reached through, if any.
    pub mount: Option<MountRecord>,
}

struct Level {
    /// Listing path the entries are re-rooted under (`/` at the top).
    path: String,
    /// Resolved directory the entries come from (for symlinked directories).
    target: String,
    entries: std::vec::IntoIter<Found>,
}

impl Drive {
    /// The names in directory `path`, in JS (trie) order.
    pub fn readdir(&self, path: &str, options: &ReaddirOptions) -> Result<Vec<String>> {
        Ok(self
            .readdir_with_stats(path, options)?
            .into_iter()
            .map(|e| e.name)
            .collect())
    }

    /// [`Drive::readdir`] with each entry's Stat (JS `includeStats`).
    pub fn readdir_with_stats(
        &self,
        path: &str,
        options: &ReaddirOptions,
    ) -> Result<Vec<DirEntry>> {
        let name = fix_name(path);
        let mut out = Vec::new();
        for (entry_path, stat, mount) in self.stat_walk(&name, options)? {
            let rel = if entry_path == name {
                entry_path.clone()
            } else {
                relative(&name, &entry_path)
            };
            if rel == name {
                continue;
            }
            if options.recursive {
                out.push(DirEntry {
                    name: rel,
                    path: entry_path,
                    stat,
                    mount,
                });
                continue;
            }
            let mut parts = rel.split('/');
            let first = parts.next().unwrap_or("").to_owned();
            let stat = if parts.next().is_some() {
                Stat::directory(self.now())
            } else {
                stat
            };
            out.push(DirEntry {
                name: first,
                path: entry_path,
                stat,
                mount,
            });
        }
        Ok(out)
    }

    /// JS `statIterator(drive, path, {recursive, noMounts, gt: false})`, collected.
    fn stat_walk(
        &self,
        path: &str,
        options: &ReaddirOptions,
    ) -> Result<Vec<(String, Stat, Option<MountRecord>)>> {
        let recursive = options.recursive;
        let first = self.iterate_with(path, recursive, recursive, options.no_mounts, false)?;
        let mut stack = vec![Level {
            path: "/".into(),
            target: String::new(),
            entries: first.into_iter(),
        }];
        let mut out = Vec::new();
        while let Some(top) = stack.last_mut() {
            let Some(found) = top.entries.next() else {
                stack.pop();
                continue;
            };
            let (top_path, top_target) = (top.path.clone(), top.target.clone());
            let stat = decode_stat(&found)?;
            if let Some(link) = stat.linkname.clone()
                && (recursive || stack.len() == 1)
            {
                if stack.len() > 40 {
                    return Err(Error::SymlinkLoop(path.to_owned()));
                }
                let node_path = format!("/{}", found.key);
                let link_path = if link.starts_with('/') {
                    link
                } else {
                    resolve(&["/", &dirname(&found.key), &link])
                };
                if recursive || node_path == path {
                    let target = match self.stat_located(&link_path, false) {
                        Ok(t) => Some(t),
                        Err(Error::NotFound(_)) => None,
                        Err(e) => return Err(e),
                    };
                    // A dangling link is left out, as JS does.
                    let Some(target) = target else { continue };
                    if target.stat.is_directory() {
                        // JS spreads the caller's `gt: false` over its `gt: true`.
                        let entries = self.iterate_with(
                            &target.name,
                            recursive,
                            recursive,
                            options.no_mounts,
                            false,
                        )?;
                        out.push((node_path.clone(), stat, found.mount.clone()));
                        stack.push(Level {
                            path: node_path,
                            target: target.name,
                            entries: entries.into_iter(),
                        });
                        continue;
                    }
                }
                out.push((node_path, stat, found.mount.clone()));
                continue;
            }
            let resolved = if top_path == "/" {
                found.key.clone()
            } else {
                let rest = found.key.get(top_target.len()..).unwrap_or("");
                join(&[&top_path, rest])
            };
            out.push((prefix(&resolved), stat, found.mount.clone()));
        }
        Ok(out)
    }
}

fn prefix(key: &str) -> String {
    if key.starts_with('/') {
        key.to_owned()
    } else {
        format!("/{key}")
    }
}
