//! `ddrive export`: a drive into a local folder, once (default) or following the drive
//! (`--watch`).
//!
//! Files whose size and modification time already match are skipped, so a second export (or
//! one resumed after Ctrl-C) only fetches what is missing. Each file is written to a
//! temporary name and renamed into place, so an interrupted export never leaves half a file
//! under a real name. Local files the drive does not have are kept unless `--delete`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use ddrive_daemon::proto;
use serde_json::json;
use tokio::sync::watch;

use super::{Ctx, url};
use crate::exit::{Exit, fail};
use crate::interrupt::{interrupted, on_interrupt};
use crate::key::{parse_key, read_key_file, write_key_file};
use crate::output::Out;
use crate::parallel::run_all;
use crate::progress::Progress;
use crate::session::{DriveSession, is_dir, is_symlink};
use crate::tree::{Local, local_path, scan_drive, scan_local};

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The drive to export (default: the key in the folder's .ddrive-export-key).
    key: Option<String>,
    /// The folder to export into (default: the current folder when it holds
    /// .ddrive-export-key, else ./<key>).
    dir: Option<PathBuf>,
    /// Keep following the drive's changes until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// Export the drives mounted in this one too.
    #[arg(long)]
    recursive: bool,
    /// Delete local files the drive does not have (the original never deleted).
    #[arg(long)]
    delete: bool,
    /// Export the drive as it was at this version.
    #[arg(long, conflicts_with = "watch")]
    version: Option<u64>,
}

enum Op {
    Fetch {
        path: String,
        dst: PathBuf,
        size: u64,
        mtime: u64,
        mode: u32,
    },
    Link {
        dst: PathBuf,
        target: String,
    },
}

#[derive(Default)]
struct Plan {
    /// Local paths to remove (with `--delete`, or in the way of something else).
    removes: Vec<PathBuf>,
    mkdirs: Vec<PathBuf>,
    ops: Vec<Op>,
    skipped: u64,
}

fn plan(
    root: &Path,
    remote: &BTreeMap<String, proto::Stat>,
    local: &BTreeMap<String, Local>,
    delete: bool,
) -> Plan {
    let mut p = Plan::default();
    for (path, l) in local {
        let fits = match remote.get(path) {
            None => !delete,
            Some(st) => match l {
                Local::Dir { .. } => is_dir(st),
                Local::File { .. } => !is_dir(st) && !is_symlink(st),
                Local::Link { .. } => is_symlink(st),
            },
        };
        if !fits {
            p.removes.push(local_path(root, path));
        }
    }
    // Children before their directory.
    p.removes
        .sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for (path, st) in remote {
        let dst = local_path(root, path);
        let here = local.get(path);
        if is_dir(st) {
            if !matches!(here, Some(Local::Dir { .. })) {
                p.mkdirs.push(dst);
            }
        } else if is_symlink(st) {
            let target = st.linkname.clone().unwrap_or_default();
            if matches!(here, Some(Local::Link { target: t }) if *t == target) {
                p.skipped += 1;
            } else {
                p.ops.push(Op::Link { dst, target });
            }
        } else {
            let (size, mtime) = (st.size.unwrap_or(0), st.mtime.unwrap_or(0));
            let same = matches!(here, Some(Local::File { size: s, mtime: m, .. })
                if *s == size && *m == mtime);
            if same {
                p.skipped += 1;
            } else {
                p.ops.push(Op::Fetch {
                    path: path.clone(),
                    dst,
                    size,
                    mtime,
                    mode: st.mode & 0o7777,
                });
            }
        }
    }
    p
}

/// A partial download, removed unless it was renamed into place.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

async fn apply(s: DriveSession, op: Op) -> Result<(u64, u64)> {
    match op {
        Op::Fetch {
            path,
            dst,
            size,
            mtime,
            mode,
        } => {
            let parent = dst.parent().context("a file without a folder")?.to_owned();
            let name = dst
                .file_name()
                .context("a file without a name")?
                .to_string_lossy()
                .into_owned();
            std::fs::create_dir_all(&parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
            let tmp = parent.join(format!(".{name}{}", crate::tree::PARTIAL));
            let mut guard = Partial(Some(tmp.clone()));
            let mut file = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            let mut chunks = s.read(&path).await?;
            while let Some(c) = chunks.next().await? {
                // Writes to a local disk are short; the runtime has threads to spare.
                file.write_all(&c)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
            }
            use std::os::unix::fs::PermissionsExt;
            if mode != 0 {
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .with_context(|| format!("cannot set the mode of {}", tmp.display()))?;
            }
            let when = std::time::UNIX_EPOCH + Duration::from_millis(mtime);
            file.set_modified(when)
                .with_context(|| format!("cannot set the time of {}", tmp.display()))?;
            drop(file);
            if std::fs::symlink_metadata(&dst).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&dst)
                    .with_context(|| format!("cannot replace {}", dst.display()))?;
            }
            std::fs::rename(&tmp, &dst)
                .with_context(|| format!("cannot write {}", dst.display()))?;
            guard.0 = None;
            Ok((1, size))
        }
        Op::Link { dst, target } => {
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            remove_any(&dst).with_context(|| format!("cannot replace {}", dst.display()))?;
            std::os::unix::fs::symlink(&target, &dst)
                .with_context(|| format!("cannot make the link {}", dst.display()))?;
            Ok((1, 0))
        }
    }
}

#[derive(Default)]
struct Totals {
    removed: u64,
    skipped: u64,
}

struct Job<'a> {
    s: &'a DriveSession,
    root: &'a Path,
    recursive: bool,
    delete: bool,
    out: Out,
}

impl Job<'_> {
    /// Makes the folder's subtree at `prefix` match the drive's; `Ok(false)` when interrupted.
    async fn sync(
        &self,
        prefix: &str,
        stop: &mut watch::Receiver<bool>,
        progress: &mut Progress,
        totals: &mut Totals,
    ) -> Result<bool> {
        let remote = scan_drive(self.s, prefix, !self.recursive).await?;
        let local = {
            let root = self.root.to_owned();
            let prefix = prefix.to_owned();
            tokio::task::spawn_blocking(move || {
                let mut skipped = Vec::new();
                scan_local(&root, &prefix, false, &mut skipped)
            })
            .await
            .context("the folder scan failed")??
        };
        let plan = plan(self.root, &remote, &local, self.delete);
        totals.skipped += plan.skipped;
        let bytes: u64 = plan
            .ops
            .iter()
            .map(|o| match o {
                Op::Fetch { size, .. } => *size,
                Op::Link { .. } => 0,
            })
            .sum();
        progress.add_total(plan.ops.len() as u64, bytes);
        for p in &plan.removes {
            remove_any(p).with_context(|| format!("cannot remove {}", p.display()))?;
            totals.removed += 1;
        }
        for d in &plan.mkdirs {
            if std::fs::symlink_metadata(d).is_ok_and(|m| !m.is_dir()) {
                remove_any(d).with_context(|| format!("cannot replace {}", d.display()))?;
            }
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let _ = self.out;
        run_all(plan.ops, crate::parallel::READ_JOBS, stop, progress, |op| {
            apply(self.s.clone(), op)
        })
        .await
    }
}

pub(crate) fn run(ctx: &Ctx, args: ExportArgs) -> Result<ExitCode> {
    let arg_key = args.key.as_deref().map(parse_key).transpose()?;
    let (key, dir) = match &args.dir {
        Some(d) => {
            let d = std::path::absolute(d).context("bad folder")?;
            let key = match arg_key {
                Some(k) => Some(k),
                None => read_key_file(&d, true)?,
            };
            (key, d)
        }
        None => {
            let cwd = std::env::current_dir().context("cannot read the current folder")?;
            match read_key_file(&cwd, true)? {
                Some(saved) => (Some(arg_key.unwrap_or(saved)), cwd),
                None => match arg_key {
                    Some(k) => (Some(k), cwd.join(hex::encode(k))),
                    None => (None, cwd),
                },
            }
        }
    };
    let Some(key) = key else {
        return Err(fail(
            Exit::BadKey,
            "Name the drive to export: no key was given and the folder holds no .ddrive-export-key.",
        ));
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_key_file(&dir, true, &key)?;
    ctx.block_on(async {
        let client = ctx.client().await?;
        super::with_session(&client, Some(key), args.version, async |s| {
            export(ctx, s, &dir, &args).await
        })
        .await
    })
}

async fn export(ctx: &Ctx, s: &DriveSession, dir: &Path, args: &ExportArgs) -> Result<ExitCode> {
    let out = ctx.out;
    out.note(&format!(
        "Exporting {} into {} (Ctrl-C to stop)...",
        s.key_hex(),
        dir.display()
    ));
    let job = Job {
        s,
        root: dir,
        recursive: args.recursive,
        delete: args.delete,
        out,
    };
    let mut stop = on_interrupt()?;
    let mut progress = Progress::new(out, "export");
    let mut totals = Totals::default();
    let mut version = s.current_version().await?;
    let mut done = job.sync("/", &mut stop, &mut progress, &mut totals).await?;
    progress.finish();
    if done && args.watch {
        done = follow(&job, &mut version, &mut stop, &mut progress, &mut totals).await?;
    }
    out.line(
        "summary",
        json!({"key": s.key_hex(), "url": url(&s.key), "version": version,
               "files_written": progress.files_done(), "bytes_written": progress.bytes_done(),
               "removed": totals.removed, "skipped": totals.skipped,
               "seconds": progress.elapsed().as_secs_f64(), "interrupted": !done}),
    );
    if !out.json {
        eprintln!(
            "{} {} file(s) ({} bytes), {} skipped unchanged, {} removed, from version {version}.",
            if done { "Exported" } else { "Stopped after" },
            progress.files_done(),
            progress.bytes_done(),
            totals.skipped,
            totals.removed,
        );
    }
    if !done {
        out.note("Interrupted: run the same command again to resume.");
        crate::interrupt::exit_interrupted();
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows the drive: on each change, syncs the paths changed since the last version seen.
/// Ctrl-C between changes ends it with `Ok(true)`; during a sync, with `Ok(false)`.
async fn follow(
    job: &Job<'_>,
    version: &mut u64,
    stop: &mut watch::Receiver<bool>,
    progress: &mut Progress,
    totals: &mut Totals,
) -> Result<bool> {
    let (mut changes, _keep) = job.s.watch().await?;
    let out = job.out;
    out.line(
        "status",
        json!({"watching": job.s.key_hex(), "dir": job.root}),
    );
    out.note("Following the drive's changes (Ctrl-C to stop)...");
    // Changes made between the first sync and the watch's start.
    let mut pending = true;
    loop {
        if !pending {
            tokio::select! {
                () = interrupted(stop) => return Ok(true),
                change = changes.message() => match change {
                    Ok(Some(_)) => {}
                    Ok(None) => return Ok(true),
                    Err(s) => return Err(crate::exit::from_status(s, "watch")),
                },
            }
            // A burst of writes is one sync.
            while let Ok(Ok(Some(_))) =
                tokio::time::timeout(Duration::from_millis(100), changes.message()).await
            {
            }
        }
        pending = false;
        let now = job.s.current_version().await?;
        if now == *version {
            continue;
        }
        let mut paths: Vec<String> = job
            .s
            .diff(*version, "/")
            .await?
            .into_iter()
            .map(|c| format!("/{}", c.name))
            .collect();
        paths.sort();
        paths.dedup();
        for p in &paths {
            if !job.sync(p, stop, progress, totals).await? {
                return Ok(false);
            }
        }
        *version = now;
        out.line("status", json!({"synced": paths, "version": now}));
        if !out.json {
            eprintln!("synced version {now}: {}", paths.join(" "));
        }
    }
}
