//! `ddrive import`: a local folder into a drive, once (default) or kept in step (`--watch`).
//!
//! The drive's root becomes a copy of the folder: files whose size and modification time
//! match the drive's are skipped (so a re-import only sends what changed), files deleted
//! locally are deleted in the drive, symlinks are stored as symlinks (`--dereference` stores
//! what they point to), empty directories are kept. The key goes to `.ddrive-import-key` in
//! the folder before anything is sent, so an interrupted import resumes into the same drive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use ddrive_daemon::proto;
use serde_json::json;
use tokio::sync::watch;

use super::{Ctx, url};
use crate::exit::{Exit, exit_of, fail};
use crate::interrupt::{interrupted, on_interrupt};
use crate::key::{parse_key, read_key_file, write_key_file};
use crate::output::Out;
use crate::parallel::run_all;
use crate::progress::Progress;
use crate::session::{DriveSession, is_dir, is_symlink};
use crate::tree::{Local, drive_path, scan_drive, scan_local};

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The folder to import (default: the current folder).
    dir: Option<PathBuf>,
    /// The drive to import into (default: the key in the folder's .ddrive-import-key, else a
    /// new drive).
    key: Option<String>,
    /// Do not seed the drive on the network.
    #[arg(long)]
    no_seed: bool,
    /// Keep mirroring changes (deletions included) until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// Store what symlinks point to instead of the links (the original CLI's behaviour).
    #[arg(long)]
    dereference: bool,
}

/// Small files are written a few at a time (their replies wait for the disk, so several in
/// flight share its syncs).
const WRITE_JOBS: usize = 16;
/// A file up to this size is one block of the drive's content feed, appended at once.
/// Larger files go one at a time: a drive cannot interleave two files' blocks, and a
/// `writeFile` whose blocks another write interrupted fails.
const ONE_BLOCK: u64 = 512 * 1024;

/// Work to do in the drive.
enum Op {
    Put {
        path: String,
        src: PathBuf,
        size: u64,
        mtime: u64,
        mode: u32,
    },
    Link {
        path: String,
        target: String,
    },
}

#[derive(Default)]
struct Plan {
    unlinks: Vec<String>,
    rmdirs: Vec<String>,
    mkdirs: Vec<(String, u32)>,
    ops: Vec<Op>,
    skipped: u64,
}

/// What makes the drive's subtree the folder's.
fn plan(local: &BTreeMap<String, Local>, remote: &BTreeMap<String, proto::Stat>) -> Plan {
    let mut p = Plan::default();
    for (path, st) in remote {
        let keep = match local.get(path) {
            Some(Local::Dir { .. }) => is_dir(st),
            Some(Local::File { .. }) => !is_dir(st) && !is_symlink(st),
            Some(Local::Link { target }) => {
                is_symlink(st) && st.linkname.as_deref() == Some(target.as_str())
            }
            None => false,
        };
        if !keep {
            if is_dir(st) {
                p.rmdirs.push(path.clone());
            } else {
                p.unlinks.push(path.clone());
            }
        }
    }
    // Deepest first, so each directory is empty by its turn.
    p.rmdirs
        .sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for (path, l) in local {
        let there = remote.get(path);
        match l {
            Local::File {
                src,
                size,
                mtime,
                mode,
            } => {
                let same = there.is_some_and(|st| {
                    !is_dir(st)
                        && !is_symlink(st)
                        && st.size == Some(*size)
                        && st.mtime == Some(*mtime)
                });
                if same {
                    p.skipped += 1;
                } else {
                    p.ops.push(Op::Put {
                        path: path.clone(),
                        src: src.clone(),
                        size: *size,
                        mtime: *mtime,
                        mode: *mode,
                    });
                }
            }
            Local::Link { target } => {
                let same = there.is_some_and(|st| {
                    is_symlink(st) && st.linkname.as_deref() == Some(target.as_str())
                });
                if same {
                    p.skipped += 1;
                } else {
                    p.ops.push(Op::Link {
                        path: path.clone(),
                        target: target.clone(),
                    });
                }
            }
            Local::Dir { empty, mode } => {
                // A directory with entries exists through them; an empty one needs its node.
                if *empty && !there.is_some_and(is_dir) {
                    p.mkdirs.push((path.clone(), *mode));
                }
            }
        }
    }
    p
}

/// Counts for the summary.
#[derive(Default)]
struct Totals {
    removed: u64,
    dirs: u64,
    skipped: u64,
}

fn ignore_missing(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if exit_of(&e) == Exit::NotFound => Ok(()),
        other => other,
    }
}

async fn apply(s: DriveSession, op: Op) -> Result<(u64, u64)> {
    match op {
        Op::Put {
            path,
            src,
            size,
            mtime,
            mode,
        } => {
            let opts = proto::Stat {
                mode,
                mtime: Some(mtime),
                ctime: Some(mtime),
                ..Default::default()
            };
            if size <= ddrive_daemon::CHUNK_SIZE as u64 {
                let read = tokio::task::spawn_blocking({
                    let src = src.clone();
                    move || std::fs::read(src)
                })
                .await
                .context("the reading task failed")?;
                let data = match read {
                    Ok(d) => d,
                    // Gone since the scan: the watch (or the next run) sees the deletion.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((1, size)),
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read {}", src.display()));
                    }
                };
                s.write_bytes(&path, opts, data).await?;
            } else {
                let file = match std::fs::File::open(&src) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((1, size)),
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read {}", src.display()));
                    }
                };
                super::put::upload(&s, &path, size, opts, file)
                    .await
                    .with_context(|| format!("cannot import {}", src.display()))?;
            }
            Ok((1, size))
        }
        Op::Link { path, target } => {
            if s.symlink(&target, &path).await.is_err() {
                // Something the listing did not show is in the way (a link the daemon
                // resolved, or a change since): replace it.
                ignore_missing(s.unlink(&path).await)?;
                s.symlink(&target, &path).await?;
            }
            Ok((1, 0))
        }
    }
}

struct Job<'a> {
    s: &'a DriveSession,
    root: &'a Path,
    dereference: bool,
    out: Out,
}

fn size_of(op: &Op) -> u64 {
    match op {
        Op::Put { size, .. } => *size,
        Op::Link { .. } => 0,
    }
}

impl Job<'_> {
    /// Makes the drive's subtree at `prefix` match the folder's; `Ok(false)` when
    /// interrupted.
    async fn sync(
        &self,
        prefix: &str,
        stop: &mut watch::Receiver<bool>,
        progress: &mut Progress,
        totals: &mut Totals,
    ) -> Result<bool> {
        let s = self.s;
        let (local, skipped_names) = {
            let root = self.root.to_owned();
            let prefix = prefix.to_owned();
            let dereference = self.dereference;
            tokio::task::spawn_blocking(move || {
                let mut skipped = Vec::new();
                scan_local(&root, &prefix, dereference, &mut skipped).map(|l| (l, skipped))
            })
            .await
            .context("the folder scan failed")??
        };
        for name in skipped_names {
            self.out.note(&format!("skipped {name}"));
        }
        let remote = scan_drive(s, prefix, true).await?;
        let plan = plan(&local, &remote);
        totals.skipped += plan.skipped;
        let bytes: u64 = plan.ops.iter().map(size_of).sum();
        progress.add_total(plan.ops.len() as u64, bytes);
        let removed = plan.unlinks.len() as u64;
        let ok = run_all(plan.unlinks, WRITE_JOBS, stop, progress, |path| {
            let s = s.clone();
            async move {
                ignore_missing(s.unlink(&path).await)?;
                Ok((0, 0))
            }
        })
        .await?;
        if !ok {
            return Ok(false);
        }
        totals.removed += removed;
        for dir in &plan.rmdirs {
            ignore_missing(s.rmdir(dir).await)?;
            totals.removed += 1;
        }
        for (dir, mode) in &plan.mkdirs {
            s.mkdir(dir, *mode).await?;
            totals.dirs += 1;
        }
        let (small, large): (Vec<Op>, Vec<Op>) = plan
            .ops
            .into_iter()
            .partition(|op| size_of(op) <= ONE_BLOCK);
        if !run_all(small, WRITE_JOBS, stop, progress, |op| apply(s.clone(), op)).await? {
            return Ok(false);
        }
        run_all(large, 1, stop, progress, |op| apply(s.clone(), op)).await
    }
}

pub(crate) fn run(ctx: &Ctx, args: ImportArgs) -> Result<ExitCode> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let dir = std::path::absolute(&dir).context("bad folder")?;
    if !dir.is_dir() {
        return Err(fail(
            Exit::Failure,
            format!("{} is not a folder", dir.display()),
        ));
    }
    let key = match &args.key {
        Some(k) => Some(parse_key(k)?),
        None => read_key_file(&dir, false)?,
    };
    ctx.block_on(async {
        let client = ctx.client().await?;
        let s = DriveSession::open(&client, key, None).await?;
        let result = import(ctx, &s, &dir, &args).await;
        let closed = s.close().await;
        let code = result?;
        closed?;
        Ok(code)
    })
}

async fn import(ctx: &Ctx, s: &DriveSession, dir: &Path, args: &ImportArgs) -> Result<ExitCode> {
    let out = ctx.out;
    if !s.writable {
        return Err(fail(
            Exit::ReadOnly,
            format!(
                "The target drive {} is not writable (only the daemon that created it can write it).",
                s.key_hex()
            ),
        ));
    }
    if !args.no_seed {
        s.configure_network(true, true, true).await?;
    }
    write_key_file(dir, false, &s.key)?;
    out.note(&format!(
        "Importing {} into {} (Ctrl-C to stop)...",
        dir.display(),
        s.key_hex()
    ));
    let mut stop = on_interrupt()?;
    let mut progress = Progress::new(out, "import");
    let mut totals = Totals::default();
    let job = Job {
        s,
        root: dir,
        dereference: args.dereference,
        out,
    };
    let mut done = job.sync("/", &mut stop, &mut progress, &mut totals).await?;
    progress.finish();
    if done && args.watch {
        done = watch_folder(&job, &mut stop, &mut progress, &mut totals).await?;
    }
    let version = s.current_version().await?;
    out.line(
        "summary",
        json!({"key": s.key_hex(), "url": url(&s.key), "version": version,
               "files_put": progress.files_done(), "bytes_put": progress.bytes_done(),
               "dirs_made": totals.dirs, "removed": totals.removed,
               "skipped": totals.skipped, "seconds": progress.elapsed().as_secs_f64(),
               "interrupted": !done}),
    );
    if !out.json {
        eprintln!(
            "{} {} file(s) ({} bytes), {} skipped unchanged, {} removed; drive {} is at version {version}.",
            if done { "Imported" } else { "Stopped after" },
            progress.files_done(),
            progress.bytes_done(),
            totals.skipped,
            totals.removed,
            s.key_hex()
        );
    }
    if !done {
        out.note("Interrupted: run the same command again to resume.");
        crate::interrupt::exit_interrupted();
    }
    Ok(ExitCode::SUCCESS)
}

/// Paths reported changed at once beyond which a whole resync is cheaper.
const MAX_BATCH: usize = 10_000;

/// Mirrors the folder's changes until Ctrl-C: `Ok(true)` when it came between changes (the
/// way a watch ends), `Ok(false)` when it cut a sync short.
async fn watch_folder(
    job: &Job<'_>,
    stop: &mut watch::Receiver<bool>,
    progress: &mut Progress,
    totals: &mut Totals,
) -> Result<bool> {
    use notify::Watcher;
    let (s, dir, out) = (job.s, job.root, job.out);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<notify::Result<notify::Event>>(1024);
    let mut watcher = notify::recommended_watcher(move |ev| {
        // The watcher's own thread waits when the queue is full: changes are never dropped.
        let _ = tx.blocking_send(ev);
    })
    .context("cannot watch the folder")?;
    watcher
        .watch(dir, notify::RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    out.line("status", json!({"watching": dir, "key": s.key_hex()}));
    out.note(&format!(
        "Watching {} for changes (Ctrl-C to stop)...",
        dir.display()
    ));
    loop {
        let first = tokio::select! {
            () = interrupted(stop) => return Ok(true),
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => return Ok(true),
            },
        };
        let mut paths = BTreeSet::new();
        // An error or an overflowed kernel queue means changes went unseen: resync all.
        let add = |ev: notify::Result<notify::Event>, paths: &mut BTreeSet<PathBuf>| match ev {
            Ok(ev) => {
                let rescan = ev.need_rescan();
                paths.extend(ev.paths);
                rescan
            }
            Err(_) => true,
        };
        let mut rescan = add(first, &mut paths);
        // Gathers the rest of a burst (an editor's save, a `cp -r`).
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            rescan |= add(ev, &mut paths);
            if paths.len() > MAX_BATCH {
                rescan = true;
            }
        }
        let mut prefixes: Vec<String> = if rescan {
            vec!["/".to_owned()]
        } else {
            paths.iter().filter_map(|p| drive_path(dir, p)).collect()
        };
        prefixes.sort();
        prefixes.dedup();
        // A path under another in the batch is synced with it.
        let mut batch: Vec<String> = Vec::new();
        for p in prefixes {
            let covered = batch
                .iter()
                .any(|b| b == "/" || p == *b || p.starts_with(&format!("{b}/")));
            if !covered {
                batch.push(p);
            }
        }
        for prefix in &batch {
            if !job.sync(prefix, stop, progress, totals).await? {
                return Ok(false);
            }
        }
        out.line(
            "status",
            json!({"synced": batch, "version": s.current_version().await?}),
        );
        if !out.json {
            eprintln!("synced {}", batch.join(" "));
        }
    }
}
