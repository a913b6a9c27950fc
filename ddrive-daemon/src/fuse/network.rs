//! `Network/`: a virtual, read-only folder at the mount's root.
//!
//! ```text
//! Network/<key>/…                    any drive by key (opened on lookup)
//! Network/<key>+<version>/…          a checkout of it (immutable: the kernel keeps its pages)
//! Network/Stats/<key>/networking.json, storage.json
//! Network/Active/<key>.json          symlinks to the stats of each announced drive
//! ```
//!
//! `ls Network` lists `Active`, `Stats` and every drive the daemon knows. The stats files are
//! generated when opened and stat with their real size (the Node daemon advertised 4 MiB and
//! the kernel padded them with NULs).

use std::collections::HashMap;
use std::time::Duration;

use fuser::{Errno, FileAttr, FileType};
use hyperdrive::{Drive, DriveOptions, ReaddirOptions, flags};

use super::Context;
use super::attr::{self, errno, file_attr, virtual_dir, virtual_file, virtual_link};
use super::fs::DirItem;
use super::inodes::{Key, Node, StatsFile, join};

/// The folder's name at the mount's root.
pub(crate) const NETWORK: &str = "Network";
const ACTIVE: &str = "Active";
const STATS: &str = "Stats";

/// At most this many remote drives are held open by the folder; past it the oldest handle
/// is dropped (and reopened on its next use).
pub(crate) const MAX_REMOTES: usize = 64;

/// How long the kernel may cache a live remote drive's names and attributes.
const LIVE_TTL: Duration = Duration::from_secs(1);
/// … and a checkout's, which never change.
const FROZEN_TTL: Duration = Duration::from_secs(3600);

/// What opening a Network file gives.
pub(crate) enum Opened {
    /// Generated content.
    Bytes(Vec<u8>),
    /// A file of a remote drive, through a read descriptor of `drive`.
    Drive {
        drive: Drive,
        fd: u64,
        /// The content never changes (a checkout).
        keep_cache: bool,
    },
}

/// Remote drives the folder opened, by key (bounded by [`MAX_REMOTES`]).
#[derive(Debug, Default)]
pub(crate) struct Remotes {
    open: HashMap<Key, (u64, Drive)>,
    clock: u64,
}

fn parse_key(hex_key: &str) -> Option<Key> {
    let bytes = hex::decode(hex_key).ok()?;
    bytes.try_into().ok()
}

/// `<key>` or `<key>+<version>`.
fn parse_drive_name(name: &str) -> Option<(Key, Option<u64>)> {
    match name.split_once('+') {
        Some((k, v)) => Some((parse_key(k)?, Some(v.parse().ok()?))),
        None => Some((parse_key(name)?, None)),
    }
}

fn now() -> u64 {
    attr::millis(std::time::SystemTime::now())
}

/// The remote drive `key` (a checkout at `version`), opened with the FUSE read timeout.
pub(crate) fn drive(ctx: &Context, key: &Key, version: Option<u64>) -> Result<Drive, Errno> {
    let live = {
        let mut remotes = super::lock(&ctx.remotes);
        remotes.clock += 1;
        let clock = remotes.clock;
        match remotes.open.get_mut(key) {
            Some((used, d)) => {
                *used = clock;
                Some(d.clone())
            }
            None => None,
        }
    };
    let live = match live {
        Some(d) => d,
        None => {
            let pk = hypercore::PublicKey(*key);
            let d = Drive::open(
                ctx.store.clone(),
                &pk,
                DriveOptions::default().block_timeout(Some(ctx.read_timeout)),
            )
            .map_err(|e| errno("open", &pk, "/", &e))?;
            let mut remotes = super::lock(&ctx.remotes);
            if remotes.open.len() >= MAX_REMOTES
                && let Some(oldest) = remotes
                    .open
                    .iter()
                    .min_by_key(|(_, (used, _))| *used)
                    .map(|(k, _)| *k)
            {
                remotes.open.remove(&oldest);
            }
            let clock = remotes.clock;
            remotes.open.insert(*key, (clock, d.clone()));
            d
        }
    };
    Ok(match version {
        Some(v) => live.checkout(v),
        None => live,
    })
}

/// The child `name` of a Network node.
pub(crate) fn child(_ctx: &Context, parent: &Node, name: &str) -> Result<Node, Errno> {
    match parent {
        Node::Network => match name {
            ACTIVE => Ok(Node::Active),
            STATS => Ok(Node::Stats),
            other => {
                let (key, version) = parse_drive_name(other).ok_or(Errno::ENOENT)?;
                Ok(Node::Remote {
                    key,
                    version,
                    path: "/".to_owned(),
                })
            }
        },
        Node::Active => {
            let key = name
                .strip_suffix(".json")
                .and_then(parse_key)
                .ok_or(Errno::ENOENT)?;
            Ok(Node::ActiveLink(key))
        }
        Node::Stats => Ok(Node::StatsDir(parse_key(name).ok_or(Errno::ENOENT)?)),
        Node::StatsDir(key) => match name {
            "networking.json" => Ok(Node::StatsFile(*key, StatsFile::Networking)),
            "storage.json" => Ok(Node::StatsFile(*key, StatsFile::Storage)),
            _ => Err(Errno::ENOENT),
        },
        Node::Remote { key, version, path } => Ok(Node::Remote {
            key: *key,
            version: *version,
            path: join(path, name),
        }),
        _ => Err(Errno::ENOTDIR),
    }
}

fn ttl(version: Option<u64>) -> Duration {
    if version.is_some() {
        FROZEN_TTL
    } else {
        LIVE_TTL
    }
}

/// The attributes of a Network node.
pub(crate) fn attr(ctx: &Context, ino: u64, node: &Node) -> Result<(FileAttr, Duration), Errno> {
    let t = now();
    match node {
        Node::Network | Node::Active | Node::Stats => Ok((virtual_dir(ino, t), LIVE_TTL)),
        Node::StatsDir(key) => {
            known(ctx, key)?;
            Ok((virtual_dir(ino, t), LIVE_TTL))
        }
        Node::StatsFile(key, file) => {
            let size = stats_json(ctx, key, *file)?.len() as u64;
            Ok((virtual_file(ino, size, t), Duration::ZERO))
        }
        Node::ActiveLink(key) => {
            if !active(ctx).contains(key) {
                return Err(Errno::ENOENT);
            }
            Ok((virtual_link(ino, &link_target(ctx, key), t), LIVE_TTL))
        }
        Node::Remote { key, version, path } => {
            let d = drive(ctx, key, *version)?;
            let stat = d
                .lstat(path)
                .map_err(|e| errno("getattr", d.key(), path, &e))?;
            let mut attr = file_attr(ino, &stat);
            // Read-only whatever the mode says.
            attr.perm &= 0o555;
            Ok((attr, ttl(*version)))
        }
        _ => Err(Errno::ENOENT),
    }
}

fn known(ctx: &Context, key: &Key) -> Result<(), Errno> {
    if known_keys(ctx).contains(key) {
        Ok(())
    } else {
        Err(Errno::ENOENT)
    }
}

/// Every drive the daemon has a record of.
fn known_keys(ctx: &Context) -> Vec<Key> {
    let mut keys: Vec<Key> = ctx
        .drives
        .state
        .drives()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| parse_key(&r.key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The drives announced on the network.
fn active(ctx: &Context) -> Vec<Key> {
    let mut keys: Vec<Key> = ctx
        .drives
        .networks()
        .iter()
        .filter(|n| n.announce)
        .filter_map(|n| parse_key(&n.key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn link_target(ctx: &Context, key: &Key) -> String {
    ctx.mountpoint
        .join(NETWORK)
        .join(STATS)
        .join(hex::encode(key))
        .join(StatsFile::Networking.name())
        .display()
        .to_string()
}

/// A listing of a Network directory.
pub(crate) fn list(ctx: &Context, node: &Node) -> Result<Vec<DirItem>, Errno> {
    let dir = |name: String, node: Node| DirItem {
        name,
        node,
        kind: FileType::Directory,
    };
    Ok(match node {
        Node::Network => {
            let mut items = vec![
                dir(ACTIVE.to_owned(), Node::Active),
                dir(STATS.to_owned(), Node::Stats),
            ];
            for key in known_keys(ctx) {
                items.push(dir(
                    hex::encode(key),
                    Node::Remote {
                        key,
                        version: None,
                        path: "/".to_owned(),
                    },
                ));
            }
            items
        }
        Node::Stats => known_keys(ctx)
            .into_iter()
            .map(|k| dir(hex::encode(k), Node::StatsDir(k)))
            .collect(),
        Node::StatsDir(key) => [StatsFile::Networking, StatsFile::Storage]
            .into_iter()
            .map(|f| DirItem {
                name: f.name().to_owned(),
                node: Node::StatsFile(*key, f),
                kind: FileType::RegularFile,
            })
            .collect(),
        Node::Active => active(ctx)
            .into_iter()
            .map(|k| DirItem {
                name: format!("{}.json", hex::encode(k)),
                node: Node::ActiveLink(k),
                kind: FileType::Symlink,
            })
            .collect(),
        Node::Remote { key, version, path } => {
            let d = drive(ctx, key, *version)?;
            d.readdir_with_stats(path, &ReaddirOptions::default())
                .map_err(|e| errno("readdir", d.key(), path, &e))?
                .into_iter()
                .map(|e| DirItem {
                    node: Node::Remote {
                        key: *key,
                        version: *version,
                        path: join(path, &e.name),
                    },
                    kind: attr::kind(&e.stat),
                    name: e.name,
                })
                .collect()
        }
        _ => return Err(Errno::ENOTDIR),
    })
}

/// The target of a Network symlink.
pub(crate) fn readlink(ctx: &Context, node: &Node) -> Result<String, Errno> {
    match node {
        Node::ActiveLink(key) => Ok(link_target(ctx, key)),
        Node::Remote { key, version, path } => {
            let d = drive(ctx, key, *version)?;
            let target = d
                .readlink(path)
                .map_err(|e| errno("readlink", d.key(), path, &e))?;
            // An absolute target means the drive's root: here, the drive's own folder.
            Ok(match target.strip_prefix('/') {
                Some(rest) => {
                    let name = match version {
                        Some(v) => format!("{}+{v}", hex::encode(key)),
                        None => hex::encode(key),
                    };
                    ctx.mountpoint
                        .join(NETWORK)
                        .join(name)
                        .join(rest)
                        .display()
                        .to_string()
                }
                None => target,
            })
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Opens a Network file.
pub(crate) fn open(ctx: &Context, node: &Node) -> Result<Opened, Errno> {
    match node {
        Node::StatsFile(key, file) => Ok(Opened::Bytes(stats_json(ctx, key, *file)?)),
        Node::Remote { key, version, path } => {
            let d = drive(ctx, key, *version)?;
            let fd = d
                .open_fd(path, flags::O_RDONLY)
                .map_err(|e| errno("open", d.key(), path, &e))?;
            Ok(Opened::Drive {
                drive: d,
                fd,
                keep_cache: version.is_some(),
            })
        }
        Node::Network | Node::Active | Node::Stats | Node::StatsDir(_) => Err(Errno::EISDIR),
        _ => Err(Errno::ENOENT),
    }
}

/// The key, version and writability of the drive a Network node belongs to.
pub(crate) fn drive_info(ctx: &Context, node: &Node) -> Option<(String, u64, bool)> {
    let Node::Remote { key, version, .. } = node else {
        return None;
    };
    let d = drive(ctx, key, *version).ok()?;
    // Writable or not, the folder is read-only.
    Some((hex::encode(key), d.version(), false))
}

fn core_json(feed: Option<&corestore::SharedFeed>) -> serde_json::Value {
    let Some(feed) = feed else {
        return serde_json::Value::Null;
    };
    let f = feed.lock();
    let len = f.len();
    serde_json::json!({
        "key": f.key().to_hex(),
        "discoveryKey": hex::encode(f.discovery_key()),
        // No swarm runs yet: no peers, nothing moved.
        "peerCount": 0,
        "peers": [],
        "uploadedBytes": 0,
        "uploadedBlocks": 0,
        "downloadedBytes": 0,
        "downloadedBlocks": f.downloaded(0, len),
        "totalBlocks": len,
    })
}

/// `networking.json` or `storage.json` of drive `key`, pretty-printed with two spaces.
fn stats_json(ctx: &Context, key: &Key, file: StatsFile) -> Result<Vec<u8>, Errno> {
    known(ctx, key)?;
    let d = drive(ctx, key, None)?;
    let value = match file {
        StatsFile::Networking => serde_json::json!([{
            "path": "/",
            "metadata": core_json(Some(d.metadata_feed())),
            "content": core_json(d.content_feed()),
        }]),
        StatsFile::Storage => {
            let stats = d.stats("/").map_err(|e| errno("stats", d.key(), "/", &e))?;
            let map: serde_json::Map<String, serde_json::Value> = stats
                .into_iter()
                .map(|(path, s)| {
                    (
                        path,
                        serde_json::json!({
                            "blocks": s.blocks,
                            "size": s.size,
                            "downloadedBlocks": s.downloaded_blocks,
                        }),
                    )
                })
                .collect();
            serde_json::Value::Object(map)
        }
    };
    let mut out = serde_json::to_vec_pretty(&value).map_err(|_| Errno::EIO)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_names() {
        let hex_key = "ab".repeat(32);
        assert_eq!(parse_drive_name(&hex_key), Some(([0xab; 32], None)));
        assert_eq!(
            parse_drive_name(&format!("{hex_key}+12")),
            Some(([0xab; 32], Some(12)))
        );
        assert_eq!(parse_drive_name("Active"), None);
        assert_eq!(parse_drive_name(&format!("{hex_key}+x")), None);
        assert_eq!(parse_drive_name(&"ab".repeat(31)), None);
    }
}
