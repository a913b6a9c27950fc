//! `ddrive rm`: a file, or with `-r` a directory and everything in it, out of a drive.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Ctx, resolve_drive, with_session};
use crate::exit::{Exit, fail};
use crate::session::{DriveSession, is_dir};

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// The drive: key or hyper://<key>, optionally followed by /path.
    drive: String,
    /// What to remove (default: the path in the URL).
    path: Option<String>,
    /// Remove a directory and everything below it.
    #[arg(short, long)]
    recursive: bool,
}

/// Removes everything under directory `dir` (files first, then directories, deepest first),
/// and `dir` itself; returns how many entries went.
pub(crate) async fn remove_tree(s: &DriveSession, dir: &str) -> Result<u64> {
    let mut entries = s.list(dir, true, true).await?;
    // Deepest first, so every directory is empty when its turn comes.
    entries.sort_by_key(|(name, _)| std::cmp::Reverse(name.matches('/').count()));
    let mut removed = 0;
    for (name, stat) in entries.iter().filter(|(_, st)| !is_dir(st)) {
        let _ = stat;
        s.unlink(&format!("{}/{name}", dir.trim_end_matches('/')))
            .await?;
        removed += 1;
    }
    for (name, _) in entries.iter().filter(|(_, st)| is_dir(st)) {
        s.rmdir(&format!("{}/{name}", dir.trim_end_matches('/')))
            .await?;
        removed += 1;
    }
    if dir != "/" && rmdir_if_listed(s, dir).await? {
        removed += 1;
    }
    Ok(removed)
}

/// A directory known only through the files below it has no node of its own to remove.
async fn rmdir_if_listed(s: &DriveSession, dir: &str) -> Result<bool> {
    match s.rmdir(dir).await {
        Ok(()) => Ok(true),
        Err(e) if crate::exit::exit_of(&e) == Exit::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn run(ctx: &Ctx, args: RmArgs) -> Result<ExitCode> {
    let target = resolve_drive(Some(&args.drive))?.join(args.path.as_deref());
    let removed = ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), None, async |s| {
            s.require_writable()?;
            let stat = s.stat(&target.path, true).await?;
            if !is_dir(&stat) {
                s.unlink(&target.path).await?;
                return Ok(1);
            }
            if args.recursive {
                return remove_tree(s, &target.path).await;
            }
            if !s.list(&target.path, false, true).await?.is_empty() {
                return Err(fail(
                    Exit::Failure,
                    format!("{}: the directory is not empty (use -r)", target.path),
                ));
            }
            s.rmdir(&target.path).await?;
            Ok(1)
        })
        .await
    })?;
    ctx.out.result(
        String::new,
        || json!({"key": hex::encode(target.key), "path": target.path, "removed": removed}),
    );
    Ok(ExitCode::SUCCESS)
}
