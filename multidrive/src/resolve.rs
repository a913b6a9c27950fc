//! Which member's entry a path resolves to: tombstones, then causal order, then a
//! [`Resolver`] for concurrent versions.

use std::cmp::Ordering;
use std::fmt;

use hypercore::PublicKey;
use hyperdrive::{Drive, Stat};

use crate::clock::VersionVector;
use crate::error::{Error, Result};
use crate::tombstone::{Tombstone, tombstone_key};
use crate::union::MultiDrive;

/// One member's entry for a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The member holding it.
    pub drive: PublicKey,
    /// The member's position in the union (ties go to the lower one).
    pub index: usize,
    /// Its Stat (`lstat`: a symlink's own).
    pub stat: Stat,
    /// Index of its node in the member's metadata feed (`None` for an implicit directory).
    pub seq: Option<u64>,
    /// The member versions its write had seen (empty if Node or a plain drive wrote it).
    pub clock: VersionVector,
}

impl Version {
    /// Where the version was written in its member's metadata feed: the member's own entry in
    /// the stamp (the feed length just before the write, which stays right when a later
    /// deletion in the member re-puts this node elsewhere, as hypertrie deletions do to a
    /// neighbour), else the node's current index.
    pub fn origin(&self) -> Option<u64> {
        self.clock.entry(self.drive.as_bytes()).or(self.seq)
    }

    /// Whether this version's write had seen `other` (so it supersedes it, whatever the
    /// clocks say).
    pub fn saw(&self, other: &Version) -> bool {
        other
            .origin()
            .is_some_and(|seq| self.clock.saw(other.drive.as_bytes(), seq))
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.stat.is_directory()
    }
}

/// Orders concurrent versions of a path (ones whose writes did not see each other).
pub trait Resolver: Send + Sync {
    /// `Less` when `a` should win over `b`.
    fn compare(&self, a: &Version, b: &Version) -> Ordering;
}

/// The default [`Resolver`], multi-hyperdrive's `compareStats`: the newer `ctime` wins, ties
/// go to the member added first.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewestCtime;

impl Resolver for NewestCtime {
    fn compare(&self, a: &Version, b: &Version) -> Ordering {
        b.stat.ctime.cmp(&a.stat.ctime).then(a.index.cmp(&b.index))
    }
}

/// The tombstone that decides a path: the newest across members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The member holding it.
    pub drive: PublicKey,
    /// Its node's index in that member's metadata feed.
    pub seq: u64,
    /// The record.
    pub tombstone: Tombstone,
}

/// How a path resolved.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resolution {
    /// The maximal versions (none saw them), best first: the winner and what it conflicts
    /// with.
    pub(crate) heads: Vec<Version>,
}

impl Resolution {
    pub(crate) fn winner(&self) -> Option<&Version> {
        self.heads.first()
    }
}

impl fmt::Debug for dyn Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

/// A member's lstat of `path` with where its node is; `None` when the member lacks it.
fn version_of(drive: &Drive, index: usize, path: &str) -> Result<Option<Version>> {
    match drive.lstat_seq(path) {
        Ok((stat, seq)) => {
            let clock = VersionVector::of_stat(&stat);
            Ok(Some(Version {
                drive: *drive.key(),
                index,
                stat,
                seq,
                clock,
            }))
        }
        Err(e)
            if matches!(
                e.errno(),
                hyperdrive::errno::ENOENT | hyperdrive::errno::ENOTDIR
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether `v`'s write had seen tombstone `m` (held by member `holder`): the vector covers
/// the node's current place, or the holder, at the version `v` had seen of it, held the same
/// record. (A deletion in the holder may re-put the tombstone's node further on, so the
/// index alone can under-report; tombstones carry no stamp of their own, their bytes being
/// multi-hyperdrive's.)
fn saw_mark(v: &Version, holder: &Drive, m: &Mark, path: &str) -> Result<bool> {
    let seen = v.clock.get(m.drive.as_bytes());
    if seen == 0 {
        return Ok(false);
    }
    if seen > m.seq {
        return Ok(true);
    }
    let then = holder
        .checkout(seen)
        .hidden_get(&tombstone_key(path))?
        .and_then(|(bytes, _)| Tombstone::decode(&bytes).ok());
    Ok(then == Some(m.tombstone))
}

impl MultiDrive {
    /// The tombstone that decides `path` (normalised): the newest by timestamp across the
    /// members, ties to the member added first. (multi-hyperdrive lets whichever member it
    /// reads last decide; see the crate docs.)
    pub fn tombstone(&self, path: &str) -> Result<Option<Mark>> {
        let path = crate::path::normalize(path);
        self.tombstone_in(&self.members(), &path)
    }

    pub(crate) fn tombstone_in(&self, members: &[Drive], path: &str) -> Result<Option<Mark>> {
        let key = tombstone_key(path);
        let mut best: Option<Mark> = None;
        for d in members {
            if !self.may_have_tombstones(d)? {
                continue;
            }
            let Some((bytes, seq)) = d.hidden_get(&key)? else {
                continue;
            };
            let tombstone =
                Tombstone::decode(&bytes).map_err(|reason| Error::CorruptTombstone {
                    path: path.to_owned(),
                    drive: d.key().to_hex(),
                    reason,
                })?;
            if best
                .as_ref()
                .is_none_or(|b| tombstone.timestamp > b.tombstone.timestamp)
            {
                best = Some(Mark {
                    drive: *d.key(),
                    seq,
                    tombstone,
                });
            }
        }
        Ok(best)
    }

    /// Resolves a normalised path.
    pub(crate) fn resolve(&self, path: &str) -> Result<Resolution> {
        let members = self.members();
        let mark = self.tombstone_in(&members, path)?;
        let mut all = Vec::with_capacity(members.len());
        for (i, d) in members.iter().enumerate() {
            if let Some(v) = version_of(d, i, path)? {
                all.push(v);
            }
        }
        let active = mark.as_ref().filter(|m| m.tombstone.active);
        let live: Vec<Version> = match active {
            // An active tombstone hides every version whose write had not seen it.
            Some(m) => {
                let holder = members.iter().find(|d| d.key() == &m.drive);
                let mut live = Vec::with_capacity(all.len());
                for v in all {
                    if let Some(d) = holder
                        && saw_mark(&v, d, m, path)?
                    {
                        live.push(v);
                    }
                }
                live
            }
            None => all,
        };
        let mut heads: Vec<Version> = live
            .iter()
            .filter(|v| !live.iter().any(|o| o.saw(v)))
            .cloned()
            .collect();
        if heads.is_empty() {
            // Only a cycle (clocks that lie) gets here: fall back to time order.
            heads.clone_from(&live);
        }
        let resolver = self.resolver();
        heads.sort_by(|a, b| resolver.compare(a, b));
        Ok(Resolution { heads })
    }

    /// The winning version of a normalised path, or ENOENT.
    pub(crate) fn winner(&self, path: &str) -> Result<Version> {
        self.resolve(path)?
            .heads
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(path))
    }
}
