//! What the FUSE tests share: a daemon with its root drive mounted in a temporary folder,
//! shell commands run against it, and the skip rule.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ddrive_daemon::{Bootstrap, Config, Daemon};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Whether this machine can mount FUSE: `/dev/fuse`, and root (a direct mount) or
/// `fusermount3`. Prints why a test is skipped when not.
pub fn fuse_ready(test: &str) -> bool {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("SKIPPED {test}: /dev/fuse is missing, FUSE cannot be mounted here");
        return false;
    }
    let root = nix_uid_is_root();
    let helper = Command::new("fusermount3").arg("-V").output().is_ok();
    if !root && !helper {
        eprintln!("SKIPPED {test}: not root and no fusermount3 (Debian package fuse3)");
        return false;
    }
    true
}

fn nix_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false)
}

/// A daemon config whose root drive mounts at `<dir>/mnt`, state in `<dir>/state`.
pub fn config(dir: &Path) -> Config {
    Config {
        storage: dir.join("state"),
        port: 0,
        bootstrap: Bootstrap::None,
        mountpoint: Some(dir.join("mnt")),
        fuse_read_timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

/// Starts a daemon on `dir` and checks its root drive is mounted.
pub async fn start(dir: &Path) -> Result<(Daemon, PathBuf), Box<dyn std::error::Error>> {
    let daemon = Daemon::start(config(dir)).await?;
    let mnt = daemon
        .mountpoint()
        .ok_or("the daemon did not mount its root drive")?;
    assert_eq!(mnt, dir.join("mnt"));
    Ok((daemon, mnt))
}

/// Runs `script` with bash in `cwd` on the blocking pool (the mount is served by other
/// threads, but a test's runtime thread must not block); fails with its stderr unless it
/// succeeds. Returns stdout.
pub async fn sh(cwd: &Path, script: &str) -> Result<String, Box<dyn std::error::Error>> {
    let (cwd, owned) = (cwd.to_owned(), script.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(&owned)
            .current_dir(&cwd)
            .output()
    })
    .await??;
    if !out.status.success() {
        return Err(format!(
            "`{script}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs `f` on the blocking pool (file operations on the mount).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Box<dyn std::error::Error>> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

/// Whether `program` runs here.
pub fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}
