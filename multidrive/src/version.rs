//! What a version of a union is ([`UnionVersion`]: the vector of member versions), union
//! checkouts, and the diff between two union versions.

use std::collections::BTreeSet;

use hypercore::PublicKey;

use crate::error::Result;
use crate::path::normalize;
use crate::read::UnionStat;
use crate::tombstone::TOMBSTONE_PREFIX;
use crate::union::MultiDrive;

/// A version of a union: each member's version (metadata feed length), in member order. A
/// member missing from it reads as its empty version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnionVersion(pub Vec<(PublicKey, u64)>);

impl UnionVersion {
    /// `key`'s version (1, the empty drive, when absent).
    pub fn get(&self, key: &PublicKey) -> u64 {
        self.0.iter().find(|(k, _)| k == key).map_or(1, |(_, v)| *v)
    }
}

/// One path whose union view changed between two versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnionChange {
    /// The path.
    pub path: String,
    /// What it resolved to at the older version.
    pub before: Option<UnionStat>,
    /// What it resolves to at the newer one.
    pub after: Option<UnionStat>,
}

impl MultiDrive {
    /// The union's version: every member's version, in member order.
    pub fn version(&self) -> UnionVersion {
        UnionVersion(
            self.members()
                .iter()
                .map(|d| (*d.key(), d.version()))
                .collect(),
        )
    }

    /// A read-only union of the members checked out at `version` (members added since read
    /// as empty; the resolver is kept).
    pub fn checkout(&self, version: &UnionVersion) -> MultiDrive {
        let members = self
            .members()
            .iter()
            .map(|d| d.checkout(version.get(d.key())))
            .collect();
        let primary = self.primary().checkout(version.get(self.key()));
        let union = MultiDrive::build(primary, members, true);
        union.set_resolver(self.resolver());
        union
    }

    /// The paths under `prefix` whose union view differs between `since` and now (the
    /// member, Stat, or presence it resolves to), in path order. Candidates are the paths any
    /// member changed (puts and deletes) and the paths whose tombstones changed; each is then
    /// resolved at both versions.
    pub fn diff(&self, since: &UnionVersion, prefix: &str) -> Result<Vec<UnionChange>> {
        let prefix = normalize(prefix);
        let old = self.checkout(since);
        let mut paths = BTreeSet::new();
        for d in self.members() {
            let from = since.get(d.key());
            for e in d.diff(from, &prefix)? {
                paths.insert(normalize(&e.name));
            }
            let marks = |drive: &hyperdrive::Drive| drive.hidden_list(TOMBSTONE_PREFIX);
            let now = marks(&d)?;
            let then = marks(&d.checkout(from))?;
            for (key, _, seq) in &now {
                if !then.iter().any(|(k, _, s)| k == key && s == seq)
                    && let Some(path) = key.strip_prefix(TOMBSTONE_PREFIX)
                {
                    paths.insert(normalize(path));
                }
            }
        }
        let under =
            |p: &String| prefix == "/" || *p == prefix || p.starts_with(&format!("{prefix}/"));
        let mut out = Vec::new();
        for path in paths.into_iter().filter(under) {
            let view = |u: &MultiDrive| -> Result<Option<UnionStat>> {
                Ok(u.resolve(&path)?
                    .heads
                    .into_iter()
                    .next()
                    .map(|v| UnionStat {
                        stat: v.stat,
                        drive: v.drive,
                    }))
            };
            let before = view(&old)?;
            let after = view(self)?;
            if before != after {
                out.push(UnionChange {
                    path,
                    before,
                    after,
                });
            }
        }
        Ok(out)
    }
}
