//! `ddrive mkdir`: a directory in a drive.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Ctx, resolve_drive, with_session};
use crate::exit::{Exit, fail};

#[derive(Debug, Args)]
pub(crate) struct MkdirArgs {
    /// The drive: key or hyper://<key>, optionally followed by /path.
    drive: String,
    /// The directory to make (default: the path in the URL).
    path: Option<String>,
    /// No error if it exists.
    #[arg(short, long)]
    parents: bool,
}

pub(crate) fn run(ctx: &Ctx, args: MkdirArgs) -> Result<ExitCode> {
    let target = resolve_drive(Some(&args.drive))?.join(args.path.as_deref());
    if target.path == "/" {
        return Err(fail(Exit::Failure, "mkdir: name a directory to make"));
    }
    ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), None, async |s| {
            s.require_writable()?;
            if args.parents && s.stat(&target.path, true).await.is_ok() {
                return Ok(());
            }
            s.mkdir(&target.path, 0).await
        })
        .await
    })?;
    ctx.out.result(
        String::new,
        || json!({"key": hex::encode(target.key), "path": target.path}),
    );
    Ok(ExitCode::SUCCESS)
}
