//! `ddrive service install|uninstall`: a systemd user unit that runs `ddrive start
//! --foreground`, which tells systemd it is ready (sd_notify READY=1) once it serves.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use super::Ctx;

#[derive(Debug, Args)]
pub(crate) struct ServiceArgs {
    #[command(subcommand)]
    action: ServiceAction,
}

#[derive(Debug, Subcommand)]
enum ServiceAction {
    /// Write the unit file (and with --enable, start it now and at every login).
    Install {
        /// Run `systemctl --user daemon-reload` and `enable --now` after writing the unit.
        #[arg(long)]
        enable: bool,
    },
    /// Stop and disable the unit (when systemctl is there), and remove its file.
    Uninstall,
}

const UNIT: &str = "ddrive.service";

/// `$XDG_CONFIG_HOME/systemd/user`, or `~/.config/systemd/user`.
fn unit_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => {
            Path::new(&std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?)
                .join(".config")
        }
    };
    Ok(base.join("systemd").join("user"))
}

/// One ExecStart word, quoted for systemd (which expands `%` specifiers and `$` variables).
fn quote(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

/// The unit's text. `NoNewPrivileges` is left out on purpose: FUSE mounts go through the
/// setuid `fusermount3`, which it would break.
pub(crate) fn unit_text(exe: &Path, storage: &Path) -> String {
    format!(
        "[Unit]\n\
         Description=ddrive daemon (peer-to-peer drives)\n\
         Documentation=man:ddrive(1)\n\
         After=network-online.target\n\
         StartLimitIntervalSec=60\n\
         StartLimitBurst=4\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n\
         ExecStart={} --storage {} start --foreground\n\
         Restart=on-failure\n\
         RestartSec=1\n\
         TimeoutStopSec=20\n\
         MemoryDenyWriteExecute=true\n\
         LockPersonality=true\n\
         RestrictRealtime=true\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        quote(&exe.to_string_lossy()),
        quote(&storage.to_string_lossy())
    )
}

fn systemctl(args: &[&str]) -> Result<bool> {
    match std::process::Command::new("systemctl")
        .arg("--user")
        .args(args)
        .status()
    {
        Ok(s) => Ok(s.success()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).context("cannot run systemctl"),
    }
}

pub(crate) fn run(ctx: &Ctx, args: ServiceArgs) -> Result<ExitCode> {
    let dir = unit_dir()?;
    let path = dir.join(UNIT);
    match args.action {
        ServiceAction::Install { enable } => {
            let exe = std::env::current_exe().context("cannot find the ddrive executable")?;
            let storage = std::path::absolute(&ctx.storage).context("bad --storage")?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let tmp = dir.join(format!("{UNIT}.tmp"));
            std::fs::write(&tmp, unit_text(&exe, &storage))
                .and_then(|()| std::fs::rename(&tmp, &path))
                .with_context(|| format!("cannot write {}", path.display()))?;
            let started =
                enable && systemctl(&["daemon-reload"])? && systemctl(&["enable", "--now", UNIT])?;
            if enable && !started {
                anyhow::bail!(
                    "wrote {} but `systemctl --user enable --now {UNIT}` failed",
                    path.display()
                );
            }
            ctx.out.result(
                || {
                    if started {
                        format!("Installed and started {}.", path.display())
                    } else {
                        format!(
                            "Installed {}.\nStart it now and at every login with:\n  \
                             systemctl --user daemon-reload && systemctl --user enable --now {UNIT}",
                            path.display()
                        )
                    }
                },
                || json!({"unit": path, "installed": true, "started": started}),
            );
        }
        ServiceAction::Uninstall => {
            let existed = path.exists();
            if existed {
                // Best effort: without systemd (or a user bus) there is nothing to stop.
                let _ = systemctl(&["disable", "--now", UNIT]);
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                let _ = systemctl(&["daemon-reload"]);
            }
            ctx.out.result(
                || {
                    if existed {
                        format!("Removed {}.", path.display())
                    } else {
                        format!("{} is not installed.", path.display())
                    }
                },
                || json!({"unit": path, "removed": existed}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn exec_start_words_are_quoted_for_systemd() {
        let text = super::unit_text(
            std::path::Path::new("/opt/my bin/ddrive"),
            std::path::Path::new("/home/a/100%$x"),
        );
        assert!(text.contains(
            "ExecStart=\"/opt/my bin/ddrive\" --storage \"/home/a/100%%$$x\" start --foreground"
        ));
        assert!(text.contains("Type=notify"));
    }
}
