//! Reads through the union: each resolves the path, then asks the winning member.

use hypercore::PublicKey;
use hyperdrive::{Drive, FileReader, ReaddirOptions, Stat};

use crate::error::{Error, Result};
use crate::path::{dirname, join, normalize};
use crate::resolve::Version;
use crate::union::MultiDrive;

/// Symlinks followed before giving up with ELOOP (Linux's limit, as hyperdrive's).
const MAX_LINKS: usize = 40;

/// A Stat and the member it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnionStat {
    /// The Stat.
    pub stat: Stat,
    /// The member whose entry won.
    pub drive: PublicKey,
}

/// One entry of [`MultiDrive::readdir_with_stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnionEntry {
    /// The name relative to the listed directory.
    pub name: String,
    /// The winning entry's Stat (`lstat`).
    pub stat: Stat,
    /// The member it came from.
    pub drive: PublicKey,
}

impl MultiDrive {
    pub(crate) fn member(&self, key: &PublicKey) -> Result<Drive> {
        self.drive(key).ok_or_else(|| {
            Error::Drive(hyperdrive::Error::NotFound(format!(
                "member {} left the union",
                key.to_hex()
            )))
        })
    }

    /// Follows symlinks through the union: the winning version of the final path, and that
    /// path.
    pub(crate) fn follow(&self, path: &str) -> Result<(Version, String)> {
        let mut name = normalize(path);
        for _ in 0..MAX_LINKS {
            let v = self.winner(&name)?;
            match v.stat.linkname.as_deref() {
                Some(link) if link.starts_with('/') => name = normalize(link),
                Some(link) => name = join(&dirname(&name), link),
                None => return Ok((v, name)),
            }
        }
        Err(Error::Drive(hyperdrive::Error::SymlinkLoop(name)))
    }

    /// The Stat of `path` itself (a symlink's own) and which member's entry won.
    pub fn lstat(&self, path: &str) -> Result<UnionStat> {
        let v = self.winner(&normalize(path))?;
        Ok(UnionStat {
            stat: v.stat,
            drive: v.drive,
        })
    }

    /// The Stat of `path`, following symlinks through the union, and which member's entry
    /// won.
    pub fn stat(&self, path: &str) -> Result<UnionStat> {
        let (v, _) = self.follow(path)?;
        Ok(UnionStat {
            stat: v.stat,
            drive: v.drive,
        })
    }

    /// Whether `path` resolves (tombstones honoured, symlinks followed).
    pub fn exists(&self, path: &str) -> Result<bool> {
        match self.follow(path) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() || e.errno() == hyperdrive::errno::ELOOP => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `Ok` when `path` resolves, ENOENT otherwise.
    pub fn access(&self, path: &str) -> Result<()> {
        self.follow(path).map(|_| ())
    }

    /// The target of the symlink at `path` (EINVAL for anything else).
    pub fn readlink(&self, path: &str) -> Result<String> {
        let p = normalize(path);
        let v = self.winner(&p)?;
        v.stat.linkname.ok_or_else(|| {
            Error::Drive(hyperdrive::Error::InvalidArgument(format!(
                "{p} is not a symlink"
            )))
        })
    }

    /// The content of the file `path` resolves to.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let (v, name) = self.follow(path)?;
        Ok(self.member(&v.drive)?.read_file(&name)?)
    }

    /// A reader (`Read + Seek`, ranged reads) of the file `path` resolves to.
    pub fn open_reader(&self, path: &str) -> Result<FileReader> {
        let (v, name) = self.follow(path)?;
        Ok(self.member(&v.drive)?.open_reader(&name)?)
    }

    /// Bytes `[start, end)` of the file `path` resolves to.
    pub fn read_range(&self, path: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let mut reader = self.open_reader(path)?;
        let mut out = Vec::new();
        reader.read_range_into(start, end, &mut out)?;
        Ok(out)
    }

    /// The union of the members' names in directory `path`, without the ones that resolve
    /// to nothing (a tombstone hides them): first seen first, in member order. ENOENT when
    /// the directory itself is deleted, or when no member can list it.
    pub fn readdir(&self, path: &str, options: &ReaddirOptions) -> Result<Vec<String>> {
        Ok(self
            .listing(path, options)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// As [`MultiDrive::readdir`], with each name's winning Stat and member.
    pub fn readdir_with_stats(
        &self,
        path: &str,
        options: &ReaddirOptions,
    ) -> Result<Vec<UnionEntry>> {
        Ok(self
            .listing(path, options)?
            .into_iter()
            .map(|(name, v)| UnionEntry {
                name,
                stat: v.stat,
                drive: v.drive,
            })
            .collect())
    }

    fn listing(&self, path: &str, options: &ReaddirOptions) -> Result<Vec<(String, Version)>> {
        let dir = normalize(path);
        if dir != "/" {
            // The directory itself must be live (a deleted one lists nothing).
            self.winner(&dir)?;
        }
        let mut names: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut last_error = None;
        let mut listed = false;
        for d in self.members() {
            match d.readdir(&dir, options) {
                Ok(list) => {
                    listed = true;
                    for n in list {
                        if seen.insert(n.clone()) {
                            names.push(n);
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.errno(),
                        hyperdrive::errno::ENOENT | hyperdrive::errno::ENOTDIR
                    ) =>
                {
                    last_error = Some(e)
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !listed && let Some(e) = last_error {
            return Err(e.into());
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(v) = self.resolve(&join(&dir, &name))?.heads.into_iter().next() {
                out.push((name, v));
            }
        }
        Ok(out)
    }
}
