//! [`Conflict`]: versions of a path whose writes did not see each other.

use hyperdrive::ReaddirOptions;

use crate::error::Result;
use crate::path::{join, normalize};
use crate::resolve::Version;
use crate::union::MultiDrive;

/// What kind of conflict a path has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// Concurrent writes of files or symlinks (neither saw the other).
    Concurrent,
    /// A file (or symlink, or mount) in one member where another has a directory.
    FileAndDirectory,
}

/// A path whose concurrent versions the resolver had to choose between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The path.
    pub path: String,
    /// Which kind.
    pub kind: ConflictKind,
    /// The concurrent versions, the one reads see first.
    pub versions: Vec<Version>,
}

impl MultiDrive {
    /// The conflict at `path`, if its live versions include two that did not see each other
    /// (two directories merge, so they are not one).
    pub fn conflict(&self, path: &str) -> Result<Option<Conflict>> {
        let path = normalize(path);
        let heads = self.resolve(&path)?.heads;
        if heads.len() < 2 || heads.iter().all(Version::is_dir) {
            return Ok(None);
        }
        let kind = if heads.iter().any(Version::is_dir) {
            ConflictKind::FileAndDirectory
        } else {
            ConflictKind::Concurrent
        };
        Ok(Some(Conflict {
            path,
            kind,
            versions: heads,
        }))
    }

    /// Every conflict under `prefix` (recursively, `/` for the whole union), in listing order.
    pub fn conflicts(&self, prefix: &str) -> Result<Vec<Conflict>> {
        let prefix = normalize(prefix);
        let mut out = Vec::new();
        if let Some(c) = self.conflict(&prefix)? {
            out.push(c);
        }
        let names = match self.readdir(&prefix, &ReaddirOptions::default().recursive(true)) {
            Ok(names) => names,
            Err(e) if e.is_not_found() => return Ok(out),
            Err(e) => return Err(e),
        };
        for name in names {
            if let Some(c) = self.conflict(&join(&prefix, &name))? {
                out.push(c);
            }
        }
        Ok(out)
    }
}
