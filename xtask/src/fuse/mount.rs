//! Mounted folders the FUSE harnesses run against: one mounted elsewhere, a bindfs mount the
//! harness makes (the baseline and the harness's own check), or a filesystem a command mounts
//! (ddrive's daemon, once it mounts). Whatever the harness mounted is unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a mount command may take to show its mount in /proc/self/mountinfo.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(120);

/// bindfs's options for the baseline: several FUSE threads and 1 MiB writes, as the issue's
/// benchmark asks (bindfs 1.14 takes the FUSE 2 spelling `big_writes`).
pub(crate) const BINDFS_BENCH: &[&str] = &["--multithreaded", "-o", "big_writes,max_write=1048576"];

/// bindfs's options for conformance runs: the backing inode numbers (`use_ino`) and no
/// attribute cache, so hard links are one inode and ctime changes show at once (without them
/// bindfs's path-based inodes fail pjdfstest's link cases, which says nothing about FUSE).
pub(crate) const BINDFS_CONFORMANCE: &[&str] = &[
    "--multithreaded",
    "-o",
    "use_ino,attr_timeout=0,entry_timeout=0",
];

enum How {
    /// Mounted by someone else: left alone.
    External,
    /// Mounted by us with a command that returned.
    Unmount,
    /// A process serving the mount (a foreground daemon): unmounted, then stopped.
    Serve(Child),
}

/// A mounted folder.
pub(crate) struct Mount {
    pub(crate) dir: PathBuf,
    /// The filesystem type mountinfo names (`fuse`, `fuse.bindfs`, …).
    pub(crate) fstype: String,
    how: How,
}

impl Mount {
    /// A folder someone else mounted (checked to be a mount point).
    pub(crate) fn external(dir: &Path) -> Result<Mount> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("mount point {}", dir.display()))?;
        let fstype =
            mount_type(&dir)?.with_context(|| format!("{} is not a mount point", dir.display()))?;
        Ok(Mount {
            dir,
            fstype,
            how: How::External,
        })
    }

    /// A bindfs mount of `source` at `dir` with `options`.
    pub(crate) fn bindfs(source: &Path, dir: &Path, options: &[&str]) -> Result<Mount> {
        std::fs::create_dir_all(dir)?;
        let status = Command::new("bindfs")
            .args(options)
            .arg(source)
            .arg(dir)
            .status()
            .context("starting bindfs (Debian package bindfs; .ci/run installs it)")?;
        if !status.success() {
            bail!("bindfs {options:?} failed: {status}");
        }
        let fstype = wait_mounted(dir, None)?;
        Ok(Mount {
            dir: dir.canonicalize()?,
            fstype,
            how: How::Unmount,
        })
    }

    /// Starts `cmd`, which mounts at `dir` and serves the mount in the foreground, and waits
    /// for the mount to show.
    pub(crate) fn serve(mut cmd: Command, dir: &Path) -> Result<Mount> {
        std::fs::create_dir_all(dir)?;
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {shown}"))?;
        let fstype = match wait_mounted(dir, Some(&mut child)) {
            Ok(t) => t,
            Err(e) => {
                // Best effort: the command failed to mount; do not leave it running.
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.context(format!("{shown} did not mount {}", dir.display())));
            }
        };
        Ok(Mount {
            dir: dir.canonicalize()?,
            fstype,
            how: How::Serve(child),
        })
    }

    /// The ddrive daemon serving its root drive at `dir`, its storage in `storage` (the hook
    /// for `--ddrive`: `ddrive --storage S start --foreground --mountpoint DIR`, with
    /// `--allow-other` for test suites that switch users).
    pub(crate) fn ddrive(storage: &Path, dir: &Path, allow_other: bool) -> Result<Mount> {
        let root = crate::root();
        crate::sh(
            &root,
            "cargo",
            &["build", "--release", "-p", "ddrive-cli", "--bin", "ddrive"],
        )?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), |d| root.join(d));
        let mut cmd = Command::new(target.join("release/ddrive"));
        cmd.arg("--storage")
            .arg(storage)
            .args(["start", "--foreground", "--mountpoint"])
            .arg(dir);
        if allow_other {
            cmd.arg("--allow-other");
        }
        Self::serve(cmd, dir)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if matches!(self.how, How::External) {
            return;
        }
        // Best effort throughout: a failed unmount is reported, not fatal (the run's figures
        // are already out); the lazy fallback detaches a busy mount.
        let unmounted = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success())
            || Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status()
                .is_ok_and(|s| s.success());
        if !unmounted {
            eprintln!("xtask: could not unmount {}", self.dir.display());
        }
        if let How::Serve(child) = &mut self.how {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `dir` shows as a mount point, failing when `child` (the mounting process)
/// exits first or after [`MOUNT_TIMEOUT`]. Returns the filesystem type.
fn wait_mounted(dir: &Path, mut child: Option<&mut Child>) -> Result<String> {
    let dir = dir.canonicalize()?;
    let deadline = Instant::now() + MOUNT_TIMEOUT;
    loop {
        if let Some(fstype) = mount_type(&dir)? {
            return Ok(fstype);
        }
        if let Some(child) = child.as_deref_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("the mount command exited ({status}) before mounting");
        }
        if Instant::now() > deadline {
            bail!("{} not mounted after {MOUNT_TIMEOUT:?}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The type of the filesystem mounted at `dir` (the last mount there), from
/// /proc/self/mountinfo, read rather than touching the path (a dead FUSE mount would hang it).
pub(crate) fn mount_type(dir: &Path) -> Result<Option<String>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(parse_mount_type(&info, &dir.to_string_lossy()))
}

fn parse_mount_type(mountinfo: &str, dir: &str) -> Option<String> {
    mountinfo.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let point = unescape(fields.get(4)?);
        let sep = fields.iter().position(|f| *f == "-")?;
        let fstype = fields.get(sep + 1)?;
        (point == dir).then(|| (*fstype).to_owned())
    })
}

/// mountinfo's octal escapes (`\040` for a space, …).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = field
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_mount_at_a_path_with_escapes() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
46 22 0:40 / /tmp/a\\040b rw,nosuid - fuse /tmp/src rw,user_id=0
47 46 0:41 / /tmp/a\\040b rw - fuse.ddrive ddrive rw
48 22 0:42 / /tmp/other rw - tmpfs tmpfs rw
";
        assert_eq!(
            parse_mount_type(info, "/tmp/a b").as_deref(),
            Some("fuse.ddrive")
        );
        assert_eq!(parse_mount_type(info, "/").as_deref(), Some("ext4"));
        assert_eq!(parse_mount_type(info, "/tmp/a"), None);
    }
}
