//! Finding and clearing a dead FUSE mount at the mountpoint, without touching the path (a
//! `stat` of a dead FUSE mount hangs or fails with ENOTCONN).
//!
//! The mount is found in `/proc/self/mountinfo`; its connection is aborted through
//! `/sys/fs/fuse/connections/<minor of the mount's device>/abort` (the one way to make the
//! kernel fail the requests it still waits on), then the mount is detached
//! (`umount2(MNT_DETACH)`, `fusermount3 -uz` when that is not permitted): processes still
//! inside it keep a dead directory, and the path is free to mount again.

use std::path::{Path, PathBuf};

/// One FUSE mount of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FuseMountEntry {
    /// The mount's device minor number: its connection's name under `/sys/fs/fuse/connections`.
    pub(crate) minor: u32,
    /// Where it is mounted.
    pub(crate) mountpoint: PathBuf,
    /// Its filesystem type (`fuse.ddrive`, …).
    pub(crate) fstype: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(Ok(digits)) = bytes.get(i + 1..i + 4).map(std::str::from_utf8)
            && let Ok(n) = u8::from_str_radix(digits, 8)
        {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The FUSE mounts listed in a mountinfo text.
pub(crate) fn parse(text: &str) -> Vec<FuseMountEntry> {
    text.lines()
        .filter_map(|line| {
            // `id parent major:minor root mountpoint options [optional...] - fstype source super`
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let fstype = right.split(' ').next()?;
            if fstype != "fuse" && !fstype.starts_with("fuse.") {
                return None;
            }
            let minor = fields.get(2)?.split_once(':')?.1.parse().ok()?;
            Some(FuseMountEntry {
                minor,
                mountpoint: PathBuf::from(unescape(fields.get(4)?)),
                fstype: fstype.to_owned(),
            })
        })
        .collect()
}

/// The FUSE mounts at `mountpoint` (stacked ones included), newest last.
pub(crate) fn fuse_mounts_at(mountpoint: &Path) -> Vec<FuseMountEntry> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse(&text)
        .into_iter()
        .filter(|m| m.mountpoint == mountpoint)
        .collect()
}

/// Mounts the FUSE control filesystem at `/sys/fs/fuse/connections` when it is not (as root;
/// elsewhere this fails quietly and the abort is skipped).
fn mount_fusectl() {
    const CONNECTIONS: &str = "/sys/fs/fuse/connections";
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(" - fusectl "));
    if !mounted {
        let _ = nix::mount::mount(
            Some("fusectl"),
            CONNECTIONS,
            Some("fusectl"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
    }
}

/// Aborts the connection of `entry` and detaches it. Errors name what failed.
pub(crate) fn abort_and_detach(entry: &FuseMountEntry) -> std::io::Result<()> {
    mount_fusectl();
    let abort = format!("/sys/fs/fuse/connections/{}/abort", entry.minor);
    if let Err(e) = std::fs::write(&abort, b"1") {
        // Without fusectl (or its permission) the detach below still frees the path.
        tracing::warn!(%abort, error = %e, "cannot abort the stale FUSE connection");
    }
    match nix::mount::umount2(&entry.mountpoint, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EPERM) => {
            let status = std::process::Command::new("fusermount3")
                .arg("-uz")
                .arg(&entry.mountpoint)
                .status()?;
            if status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "fusermount3 -uz {} failed ({status})",
                    entry.mountpoint.display()
                )))
            }
        }
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// Aborts and detaches every FUSE mount at `mountpoint`; returns how many there were.
pub fn force_unmount(mountpoint: &Path) -> std::io::Result<usize> {
    let mountpoint = absolute(mountpoint);
    let mounts = fuse_mounts_at(&mountpoint);
    for m in mounts.iter().rev() {
        abort_and_detach(m)?;
        tracing::info!(mountpoint = %m.mountpoint.display(), connection = m.minor, "detached a FUSE mount");
    }
    Ok(mounts.len())
}

/// `path` made absolute without touching it (no `canonicalize`, which would stat a dead
/// mount).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_owned();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_mounts_are_found_in_mountinfo() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
90 22 0:52 / /root/DDrive rw,nosuid,nodev,relatime shared:50 - fuse.ddrive ddrive rw,user_id=0,group_id=0
91 22 0:53 / /tmp/with\\040space rw - fuse ddrive rw
";
        let mounts = parse(text);
        assert_eq!(
            mounts,
            vec![
                FuseMountEntry {
                    minor: 52,
                    mountpoint: "/root/DDrive".into(),
                    fstype: "fuse.ddrive".into()
                },
                FuseMountEntry {
                    minor: 53,
                    mountpoint: "/tmp/with space".into(),
                    fstype: "fuse".into()
                },
            ]
        );
    }
}
