//! `ddrive ls`: the entries of a directory in a drive.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use ddrive_daemon::proto;
use serde_json::{Value, json};

use super::{Ctx, resolve_drive, with_session};
use crate::session::{is_dir, is_symlink};

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// The drive: key or hyper://<key>, optionally followed by /path.
    drive: String,
    /// The directory in the drive (default: the root, or the path in the URL).
    path: Option<String>,
    /// List everything below, not only the children.
    #[arg(short, long)]
    recursive: bool,
    /// Show kind, size and modification time.
    #[arg(short, long)]
    long: bool,
    /// List the drive as it was at this version.
    #[arg(long)]
    version: Option<u64>,
}

pub(crate) fn kind(s: &proto::Stat) -> &'static str {
    if is_dir(s) {
        "directory"
    } else if is_symlink(s) {
        "symlink"
    } else {
        "file"
    }
}

pub(crate) fn run(ctx: &Ctx, args: LsArgs) -> Result<ExitCode> {
    let target = resolve_drive(Some(&args.drive))?.join(args.path.as_deref());
    let mut entries = ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), args.version, async |s| {
            s.list(&target.path, args.recursive, false).await
        })
        .await
    })?;
    // The drive lists in trie order; people read sorted names.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    ctx.out.result(
        || {
            let mut t = String::new();
            for (name, s) in &entries {
                if args.long {
                    let link = s
                        .linkname
                        .as_ref()
                        .map(|l| format!(" -> {l}"))
                        .unwrap_or_default();
                    t.push_str(&format!(
                        "{:<9} {:>12} {:>14} {name}{link}\n",
                        kind(s),
                        s.size.unwrap_or(0),
                        s.mtime.unwrap_or(0)
                    ));
                } else if is_dir(s) {
                    t.push_str(&format!("{name}/\n"));
                } else {
                    t.push_str(&format!("{name}\n"));
                }
            }
            t
        },
        || {
            let list: Vec<Value> = entries
                .iter()
                .map(|(name, s)| {
                    json!({"name": name, "type": kind(s), "size": s.size.unwrap_or(0),
                           "mode": s.mode, "mtime": s.mtime.unwrap_or(0),
                           "linkname": s.linkname})
                })
                .collect();
            json!({"key": hex::encode(target.key), "path": target.path, "entries": list})
        },
    );
    Ok(ExitCode::SUCCESS)
}
