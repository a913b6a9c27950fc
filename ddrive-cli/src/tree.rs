//! The two sides import and export compare: a local folder and a drive, each as a map from
//! drive path (`/a/b`) to what is there.

use std::collections::{BTreeMap, HashSet};

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use ddrive_daemon::proto;

use crate::exit::{Exit, exit_of};
use crate::key::is_key_file;
use crate::session::{DriveSession, is_dir};

/// The suffix of export's partial downloads.
pub(crate) const PARTIAL: &str = ".ddrive-part";
/// Directory listings asked of the daemon at once.
const LISTINGS: usize = 8;
/// Directories nest at most this deep (a bound on the walk, and on symlink loops with
/// `--dereference`).
const MAX_DEPTH: usize = 256;

/// What a local path holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Local {
    File {
        src: PathBuf,
        size: u64,
        /// Milliseconds since the epoch, as drive Stats keep them.
        mtime: u64,
        mode: u32,
    },
    Link {
        target: String,
    },
    Dir {
        empty: bool,
        mode: u32,
    },
}

pub(crate) fn ms(t: std::io::Result<SystemTime>) -> u64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `root` joined with drive path `path`.
pub(crate) fn local_path(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The drive path of `p` under `root` (`None` outside it, for a non-UTF-8 name, or for a key
/// file).
pub(crate) fn drive_path(root: &Path, p: &Path) -> Option<String> {
    let rel = p.strip_prefix(root).ok()?;
    let mut out = String::new();
    for part in rel.components() {
        let name = part.as_os_str().to_str()?;
        if is_key_file(name) {
            return None;
        }
        out.push('/');
        out.push_str(name);
    }
    Some(if out.is_empty() { "/".to_owned() } else { out })
}

/// Scans `root`'s subtree at drive path `prefix` (the prefix itself included unless it is `/`).
/// Names that are not UTF-8, and sockets, fifos and devices, are skipped and reported.
pub(crate) fn scan_local(
    root: &Path,
    prefix: &str,
    dereference: bool,
    skipped: &mut Vec<String>,
) -> Result<BTreeMap<String, Local>> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut out = BTreeMap::new();
    let mut seen_dirs = HashSet::new();
    let mut stack = vec![(prefix.to_owned(), 0usize)];
    while let Some((path, depth)) = stack.pop() {
        let full = local_path(root, &path);
        let meta = if dereference {
            std::fs::metadata(&full)
        } else {
            std::fs::symlink_metadata(&full)
        };
        let meta = match meta {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", full.display())),
        };
        let ft = meta.file_type();
        let mode = meta.permissions().mode() & 0o7777;
        if ft.is_symlink() {
            let target = std::fs::read_link(&full)
                .with_context(|| format!("cannot read the link {}", full.display()))?;
            match target.to_str() {
                Some(t) if !t.is_empty() => {
                    out.insert(
                        path,
                        Local::Link {
                            target: t.to_owned(),
                        },
                    );
                }
                _ => skipped.push(format!(
                    "{}: a link target that is not UTF-8",
                    full.display()
                )),
            }
        } else if ft.is_file() {
            out.insert(
                path,
                Local::File {
                    src: full,
                    size: meta.len(),
                    mtime: ms(meta.modified()),
                    mode,
                },
            );
        } else if ft.is_dir() {
            if depth >= MAX_DEPTH || !seen_dirs.insert((meta.dev(), meta.ino())) {
                skipped.push(format!("{}: a directory loop or too deep", full.display()));
                continue;
            }
            let mut empty = true;
            let entries = std::fs::read_dir(&full)
                .with_context(|| format!("cannot list {}", full.display()))?;
            for entry in entries {
                let entry = entry.with_context(|| format!("cannot list {}", full.display()))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    skipped.push(format!(
                        "{}: a name that is not UTF-8",
                        entry.path().display()
                    ));
                    continue;
                };
                // Key files, and partial downloads an interrupted export left behind (the
                // next export writes them again).
                if is_key_file(name) || name.ends_with(PARTIAL) {
                    continue;
                }
                empty = false;
                let child = if path == "/" {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                };
                stack.push((child, depth + 1));
            }
            if path != "/" {
                out.insert(path, Local::Dir { empty, mode });
            }
        } else {
            skipped.push(format!(
                "{}: not a file, directory or symlink",
                full.display()
            ));
        }
    }
    Ok(out)
}

/// The drive's subtree at `prefix` (the prefix itself included unless it is `/`). Entries
/// below a symlinked directory are left out: they are the link's target, listed again.
pub(crate) async fn scan_drive(
    s: &DriveSession,
    prefix: &str,
    no_mounts: bool,
) -> Result<BTreeMap<String, proto::Stat>> {
    let mut out = BTreeMap::new();
    if prefix != "/" {
        match s.stat(prefix, true).await {
            Ok(st) => {
                let dir = is_dir(&st);
                out.insert(prefix.to_owned(), st);
                if !dir {
                    return Ok(out);
                }
            }
            Err(e) if exit_of(&e) == Exit::NotFound => return Ok(out),
            Err(e) => return Err(e),
        }
    }
    // Directory by directory (a few listings in flight): a recursive listing leaves out
    // dangling symlinks (as Node's does) and lists a symlinked directory's target again
    // under the link.
    let mut pending = vec![prefix.to_owned()];
    let mut listing = tokio::task::JoinSet::new();
    loop {
        while listing.len() < LISTINGS {
            let Some(dir) = pending.pop() else { break };
            let s = s.clone();
            listing.spawn(async move {
                let entries = s.list(&dir, false, no_mounts).await;
                (dir, entries)
            });
        }
        let Some(done) = listing.join_next().await else {
            break;
        };
        let (dir, entries) = done.context("a listing task failed")?;
        let base = dir.trim_end_matches('/');
        for (name, stat) in entries? {
            let path = format!("{base}/{name}");
            if is_dir(&stat) {
                pending.push(path.clone());
            }
            out.insert(path, stat);
        }
    }
    Ok(out)
}
