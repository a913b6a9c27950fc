//! The FUSE filesystem: the user's root drive as a real folder (`~/DDrive` by default), with
//! the virtual `Network/` folder at its top.
//!
//! Built on `fuser` without the libfuse C library: as root the mount is a direct `mount(2)`,
//! otherwise fuser runs `fusermount3` (Debian's `fuse3`). Several worker threads answer the
//! kernel (each with its own `/dev/fuse` clone); see `fs.rs` for how requests map onto the
//! drive and `network.rs` for the virtual folder. A dead mount left at the mountpoint by a
//! killed daemon is found in `/proc/self/mountinfo`, aborted and detached before mounting
//! (`mountinfo.rs`), so a restart needs no manual step.
//!
//! What is not done here yet: `copy_file_range` answers ENOSYS (the kernel copies through
//! read and write; the drive's block-sharing `copy_file` is not wired); hard-linked names
//! have inode numbers of their own (the drive keeps their count and content equal, but the
//! kernel may serve one name's cached pages for up to the 1 s TTL after a write through
//! another); `RENAME_EXCHANGE` of a directory with entries is EINVAL; the kernel's caches of
//! a changed drive expire with their 1 s TTL rather than being invalidated by notification;
//! and a request the kernel interrupts still runs to its bound (fuser does not pass
//! FUSE_INTERRUPT on), which
//! for a read of a remote drive is the read timeout.

mod attr;
mod fs;
mod inodes;
mod mountinfo;
mod network;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use corestore::Corestore;
use fuser::{BackgroundSession, MountOption, SessionACL};
use hyperdrive::Drive;

use crate::drives::Drives;

pub use self::mountinfo::force_unmount;

/// FUSE worker threads: enough that a slow request (a remote read waiting for its block)
/// does not hold up the others.
const THREADS: usize = 4;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the filesystem shares with the daemon.
#[derive(Debug)]
pub(crate) struct Context {
    /// Where the root drive is mounted (absolute).
    pub(crate) mountpoint: PathBuf,
    /// The storage folder, whose disk `statfs` reports.
    pub(crate) storage: PathBuf,
    /// How long a read waits for blocks from peers.
    pub(crate) read_timeout: Duration,
    pub(crate) store: Arc<Corestore>,
    pub(crate) drives: Arc<Drives>,
    pub(crate) remotes: Mutex<network::Remotes>,
}

/// How to mount.
#[derive(Clone, Debug)]
pub(crate) struct MountConfig {
    pub(crate) mountpoint: PathBuf,
    pub(crate) allow_other: bool,
    pub(crate) read_timeout: Duration,
    pub(crate) storage: PathBuf,
}

/// Whether this machine can mount FUSE filesystems at all.
pub(crate) fn available() -> bool {
    Path::new("/dev/fuse").exists()
}

/// A mounted root drive; [`FuseMount::unmount`] (or drop) takes it down.
#[derive(Debug)]
pub(crate) struct FuseMount {
    session: Mutex<Option<BackgroundSession>>,
    mountpoint: PathBuf,
    key: [u8; 32],
    drive: Drive,
}

impl FuseMount {
    /// Mounts `root` at the configured mountpoint, clearing a dead mount there first.
    pub(crate) fn mount(
        root: Drive,
        store: Arc<Corestore>,
        drives: Arc<Drives>,
        config: &MountConfig,
    ) -> std::io::Result<FuseMount> {
        let mountpoint = mountinfo::absolute(&config.mountpoint);
        let stale = mountinfo::fuse_mounts_at(&mountpoint);
        for m in stale.iter().rev() {
            tracing::warn!(
                mountpoint = %mountpoint.display(),
                fstype = %m.fstype,
                connection = m.minor,
                "a FUSE mount is left at the mountpoint: aborting and detaching it"
            );
            mountinfo::abort_and_detach(m)?;
        }
        std::fs::create_dir_all(&mountpoint)?;
        let key = *root.key().as_bytes();
        let ctx = Arc::new(Context {
            mountpoint: mountpoint.clone(),
            storage: config.storage.clone(),
            read_timeout: config.read_timeout,
            store,
            drives,
            remotes: Mutex::new(network::Remotes::default()),
        });
        let fs = fs::DriveFs::new(root.clone(), ctx);
        let mut options = fuser::Config::default();
        options.mount_options = vec![
            MountOption::FSName("ddrive".to_owned()),
            MountOption::Subtype("ddrive".to_owned()),
            MountOption::NoDev,
            MountOption::NoSuid,
        ];
        if config.allow_other {
            options.mount_options.push(MountOption::DefaultPermissions);
            options.acl = SessionACL::All;
        }
        options.n_threads = Some(THREADS);
        options.clone_fd = true;
        let session = fuser::spawn_mount(fs, &mountpoint, &options)?;
        tracing::info!(mountpoint = %mountpoint.display(), drive = %hex::encode(key), "root drive mounted");
        Ok(FuseMount {
            session: Mutex::new(Some(session)),
            mountpoint,
            key,
            drive: root,
        })
    }

    /// Where the drive is mounted.
    pub(crate) fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The mounted drive.
    pub(crate) fn drive(&self) -> &Drive {
        &self.drive
    }

    /// The mounted drive's key.
    pub(crate) fn key(&self) -> [u8; 32] {
        self.key
    }

    /// Whether the kernel lists the mount (observed, not remembered).
    pub(crate) fn is_mounted(&self) -> bool {
        lock(&self.session).is_some() && !mountinfo::fuse_mounts_at(&self.mountpoint).is_empty()
    }

    /// Unmounts and waits for the worker threads; a mount already gone is fine.
    pub(crate) fn unmount(&self) -> std::io::Result<()> {
        let Some(session) = lock(&self.session).take() else {
            return Ok(());
        };
        match session.umount_and_join() {
            Ok(()) => Ok(()),
            // Busy (a shell inside it): detach, as the kernel lets the last user out.
            Err(e) => {
                tracing::warn!(error = %e, "unmount failed: detaching the mount");
                force_unmount(&self.mountpoint).map(|_| ())
            }
        }
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

/// The daemon's FUSE side: what to mount, and the mount while it is up.
#[derive(Debug)]
pub(crate) struct Fuse {
    config: Option<MountConfig>,
    mount: Mutex<Option<Arc<FuseMount>>>,
    /// The session that keeps the root drive open while it is mounted.
    session: Mutex<Option<u64>>,
}

impl Fuse {
    /// `config` `None`: FUSE is off (`--no-fuse`).
    pub(crate) fn new(config: Option<MountConfig>) -> Self {
        Fuse {
            config,
            mount: Mutex::new(None),
            session: Mutex::new(None),
        }
    }

    /// Whether FUSE is configured (on, and the machine has `/dev/fuse`).
    pub(crate) fn configured(&self) -> bool {
        self.config.is_some() && available()
    }

    /// The mount, if one is up.
    pub(crate) fn current(&self) -> Option<Arc<FuseMount>> {
        lock(&self.mount).clone()
    }

    /// The configured mountpoint.
    pub(crate) fn mountpoint(&self) -> Option<PathBuf> {
        self.config
            .as_ref()
            .map(|c| mountinfo::absolute(&c.mountpoint))
    }

    /// Mounts the root drive (made and remembered the first time) unless it is mounted.
    pub(crate) async fn mount_root(
        &self,
        drives: &Arc<Drives>,
    ) -> Result<Option<Arc<FuseMount>>, String> {
        let Some(config) = self.config.clone() else {
            return Ok(None);
        };
        if !available() {
            return Err("FUSE is not available: /dev/fuse is missing".to_owned());
        }
        if let Some(m) = self.current()
            && m.is_mounted()
        {
            return Ok(Some(m));
        }
        let state = drives.state.clone();
        let record = tokio::task::spawn_blocking(move || state.root_drive())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let key = match &record {
            Some(r) => Some(
                hex::decode(&r.key)
                    .ok()
                    .and_then(|k| <[u8; 32]>::try_from(k).ok())
                    .ok_or_else(|| format!("the root drive record has a bad key: {}", r.key))?,
            ),
            None => None,
        };
        let (id, session) = drives
            .open(key, None)
            .await
            .map_err(|s| s.message().to_owned())?;
        let root = session.drive.sync().clone();
        let mountpoint = mountinfo::absolute(&config.mountpoint);
        if record.is_none()
            || record
                .as_ref()
                .is_some_and(|r| Path::new(&r.mountpoint) != mountpoint)
        {
            let state = drives.state.clone();
            let new = crate::RootDriveRecord {
                key: hex::encode(root.key().as_bytes()),
                mountpoint: mountpoint.display().to_string(),
            };
            tokio::task::spawn_blocking(move || state.set_root_drive(&new))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        let store = drives.store().clone();
        let drives2 = drives.clone();
        let mounted =
            tokio::task::spawn_blocking(move || FuseMount::mount(root, store, drives2, &config))
                .await
                .map_err(|e| e.to_string())?;
        match mounted {
            Ok(m) => {
                let m = Arc::new(m);
                *lock(&self.mount) = Some(m.clone());
                if let Some(old) = lock(&self.session).replace(id) {
                    let _ = drives.close(old);
                }
                Ok(Some(m))
            }
            Err(e) => {
                let _ = drives.close(id);
                Err(format!("cannot mount at {}: {e}", mountpoint.display()))
            }
        }
    }

    /// Unmounts the root drive (if mounted) and closes its session.
    pub(crate) async fn unmount(&self, drives: &Drives) -> std::io::Result<()> {
        let mount = lock(&self.mount).take();
        if let Some(m) = mount {
            tokio::task::spawn_blocking(move || m.unmount())
                .await
                .map_err(std::io::Error::other)??;
        }
        if let Some(id) = lock(&self.session).take() {
            let _ = drives.close(id);
        }
        Ok(())
    }
}
