//! [`MultiDrive`]: the members, the primary and the writer.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use hypercore::PublicKey;
use hyperdrive::Drive;
use tokio::sync::watch;

use crate::clock::VersionVector;
use crate::error::{Error, Result};
use crate::resolve::{NewestCtime, Resolver};

/// A union of hyperdrives read as one and written through one (see the crate docs).
///
/// Cheap to clone: clones share the member list and the resolver.
#[derive(Clone)]
pub struct MultiDrive {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) primary: Drive,
    pub(crate) members: RwLock<Vec<Drive>>,
    pub(crate) resolver: RwLock<Arc<dyn Resolver>>,
    /// Bumped on every membership change, so watchers pick up drives added later.
    pub(crate) generation: watch::Sender<u64>,
    /// A union of checkouts never writes.
    pub(crate) read_only: bool,
    /// Directories known to exist in the writer (see `ensure_dir`).
    pub(crate) dirs: Mutex<KnownDirs>,
    /// Per member: the version last checked and whether it holds any tombstone (see
    /// `may_have_tombstones`); one entry per member.
    pub(crate) tombstoned: Mutex<HashMap<PublicKey, (u64, bool)>>,
}

/// Most directories remembered; the set starts over when full.
const KNOWN_DIRS: usize = 4096;

/// Directories known to exist in one writer.
#[derive(Default)]
pub(crate) struct KnownDirs {
    writer: Option<PublicKey>,
    paths: HashSet<String>,
}

impl fmt::Debug for MultiDrive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiDrive")
            .field("key", self.key())
            .field("members", &self.members().len())
            .finish_non_exhaustive()
    }
}

/// A lock that a panicking holder poisoned still guards a consistent list (every change is
/// one push, remove or swap), so the data is used as is.
fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MultiDrive {
    /// A union whose first member and primary is `primary` (it gives the key, the discovery
    /// key and the peers; its corestore is what replication runs on).
    pub fn new(primary: Drive) -> Self {
        Self::build(primary.clone(), vec![primary], false)
    }

    pub(crate) fn build(primary: Drive, members: Vec<Drive>, read_only: bool) -> Self {
        MultiDrive {
            inner: Arc::new(Inner {
                primary,
                members: RwLock::new(members),
                resolver: RwLock::new(Arc::new(NewestCtime)),
                generation: watch::channel(0).0,
                read_only,
                dirs: Mutex::default(),
                tombstoned: Mutex::default(),
            }),
        }
    }

    /// The primary drive.
    pub fn primary(&self) -> &Drive {
        &self.inner.primary
    }

    /// The primary's key: the union's key.
    pub fn key(&self) -> &PublicKey {
        self.inner.primary.key()
    }

    /// The primary's discovery key.
    pub fn discovery_key(&self) -> [u8; 32] {
        self.inner.primary.discovery_key()
    }

    /// Adds `drive` after the current members; `false` (and no change) when a member already
    /// has its key.
    pub fn add_drive(&self, drive: Drive) -> bool {
        let added = {
            let mut members = self
                .inner
                .members
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if members.iter().any(|d| d.key() == drive.key()) {
                false
            } else {
                members.push(drive);
                true
            }
        };
        if added {
            self.inner.generation.send_modify(|g| *g += 1);
        }
        added
    }

    /// Removes the member with key `key` (the primary included: it still names the union);
    /// the removed drive, if it was a member.
    pub fn remove_drive(&self, key: &PublicKey) -> Option<Drive> {
        let removed = {
            let mut members = self
                .inner
                .members
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let i = members.iter().position(|d| d.key() == key)?;
            members.remove(i)
        };
        self.inner.generation.send_modify(|g| *g += 1);
        self.forget_dirs();
        Some(removed)
    }

    /// The member with key `key`.
    pub fn drive(&self, key: &PublicKey) -> Option<Drive> {
        read(&self.inner.members)
            .iter()
            .find(|d| d.key() == key)
            .cloned()
    }

    /// Whether a member has key `key`.
    pub fn has_drive(&self, key: &PublicKey) -> bool {
        self.drive(key).is_some()
    }

    /// The members, in insertion order (the order ties are broken by).
    pub fn members(&self) -> Vec<Drive> {
        read(&self.inner.members).clone()
    }

    /// The writer: the first member, in insertion order, that can write (`None` for a union
    /// of read-only drives or of checkouts).
    pub fn writer(&self) -> Option<Drive> {
        if self.inner.read_only {
            return None;
        }
        read(&self.inner.members)
            .iter()
            .find(|d| d.writable())
            .cloned()
    }

    /// Whether there is a writer.
    pub fn writable(&self) -> bool {
        self.writer().is_some()
    }

    pub(crate) fn require_writer(&self) -> Result<Drive> {
        self.writer().ok_or(Error::NoWriter)
    }

    /// Replaces how concurrent versions of a path are ordered (default [`NewestCtime`]).
    pub fn set_resolver(&self, resolver: Arc<dyn Resolver>) {
        *self
            .inner
            .resolver
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = resolver;
    }

    pub(crate) fn resolver(&self) -> Arc<dyn Resolver> {
        Arc::clone(&read(&self.inner.resolver))
    }

    pub(crate) fn dir_known(&self, writer: &Drive, dir: &str) -> bool {
        let known = self
            .inner
            .dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known.writer.as_ref() == Some(writer.key()) && known.paths.contains(dir)
    }

    pub(crate) fn remember_dir(&self, writer: &Drive, dir: &str) {
        let mut known = self
            .inner
            .dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.writer.as_ref() != Some(writer.key()) || known.paths.len() >= KNOWN_DIRS {
            known.writer = Some(*writer.key());
            known.paths.clear();
        }
        known.paths.insert(dir.to_owned());
    }

    /// Whether `member` may hold a tombstone: once it has one it keeps that answer (records
    /// are overwritten, never deleted, by unions); while it has none, each new version is
    /// checked once. Reads then skip the per-path lookups in members that never had one.
    pub(crate) fn may_have_tombstones(&self, member: &Drive) -> Result<bool> {
        let version = member.version();
        {
            let cache = self
                .inner
                .tombstoned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match cache.get(member.key()) {
                Some((_, true)) => return Ok(true),
                Some((checked, false)) if *checked == version => return Ok(false),
                _ => {}
            }
        }
        let has = !member
            .hidden_list(crate::tombstone::TOMBSTONE_PREFIX)?
            .is_empty();
        let mut cache = self
            .inner
            .tombstoned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() > read(&self.inner.members).len() + 16 {
            cache.clear();
        }
        cache.insert(*member.key(), (version, has));
        Ok(has)
    }

    pub(crate) fn forget_dirs(&self) {
        self.inner
            .dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .paths
            .clear();
    }

    /// What a write made now has seen: every member's current version.
    pub fn version_vector(&self) -> VersionVector {
        let mut v = VersionVector::new();
        for d in read(&self.inner.members).iter() {
            v.set(*d.key().as_bytes(), d.version());
        }
        v
    }
}
