//! `ddrive fuse-setup`: checks what FUSE mounts need, makes the mountpoint, and says exactly
//! what is missing and how to install it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::exit::{Exit, fail};

#[derive(Debug, Args)]
pub(crate) struct FuseSetupArgs {
    /// Where the root drive is mounted.
    #[arg(long, env = "DDRIVE_MOUNTPOINT")]
    mountpoint: Option<PathBuf>,
}

const INSTALL_FUSE3: &str = "install it with `sudo apt-get install fuse3` (Debian, Ubuntu), \
     `sudo dnf install fuse3` (Fedora) or `sudo pacman -S fuse3` (Arch)";

/// The first `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn default_mountpoint() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --mountpoint")?;
    Ok(Path::new(&home).join("DDrive"))
}

pub(crate) fn run(ctx: &Ctx, args: FuseSetupArgs) -> Result<ExitCode> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let mountpoint = match args.mountpoint {
        Some(m) => m,
        None => default_mountpoint()?,
    };
    let mut missing = Vec::new();
    let dev = Path::new("/dev/fuse");
    let dev_ok = std::fs::metadata(dev).is_ok_and(|m| m.file_type().is_char_device());
    if !dev_ok {
        missing.push(
            "/dev/fuse is missing: load the module with `sudo modprobe fuse` (in a container, \
             start it with `--device /dev/fuse --cap-add SYS_ADMIN`)"
                .to_owned(),
        );
    }
    let fusermount = on_path("fusermount3");
    match &fusermount {
        None => missing.push(format!("fusermount3 is missing: {INSTALL_FUSE3}")),
        Some(p) => {
            let setuid = std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o4000 != 0);
            if !setuid && !nix::unistd::geteuid().is_root() {
                missing.push(format!(
                    "{} is not setuid root, so only root can mount: run `sudo chmod u+s {}`",
                    p.display(),
                    p.display()
                ));
            }
        }
    }
    let mountpoint_ok = match std::fs::create_dir_all(&mountpoint) {
        Ok(()) => true,
        Err(e) => {
            missing.push(format!(
                "cannot create the mountpoint {}: {e}",
                mountpoint.display()
            ));
            false
        }
    };
    let ready = missing.is_empty();
    ctx.out.result(
        || {
            let mut t = String::new();
            let mark = |ok: bool| if ok { "ok     " } else { "MISSING" };
            t.push_str(&format!("{} /dev/fuse\n", mark(dev_ok)));
            t.push_str(&format!(
                "{} fusermount3{}\n",
                mark(fusermount.is_some()),
                fusermount
                    .as_ref()
                    .map(|p| format!(" ({})", p.display()))
                    .unwrap_or_default()
            ));
            t.push_str(&format!(
                "{} mountpoint {}\n",
                mark(mountpoint_ok),
                mountpoint.display()
            ));
            if ready {
                t.push_str("FUSE is ready: mount drives with `ddrive mount`.");
            }
            t
        },
        || {
            json!({"dev_fuse": dev_ok, "fusermount3": fusermount, "mountpoint": mountpoint,
                   "mountpoint_ready": mountpoint_ok, "ready": ready, "missing": missing})
        },
    );
    if ready {
        return Ok(ExitCode::SUCCESS);
    }
    Err(fail(Exit::Failure, missing.join("\n")))
}
