//! `ddrive cat`: a file of a drive to stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::{Ctx, resolve_drive, with_session};

#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    /// The drive: key or hyper://<key>, optionally followed by /path.
    drive: String,
    /// The file in the drive (default: the path in the URL).
    path: Option<String>,
    /// Read the file as it was at this version.
    #[arg(long)]
    version: Option<u64>,
}

pub(crate) fn run(ctx: &Ctx, args: CatArgs) -> Result<ExitCode> {
    let target = resolve_drive(Some(&args.drive))?.join(args.path.as_deref());
    let json = ctx.out.json;
    let held = ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), args.version, async |s| {
            let mut chunks = s.read(&target.path).await?;
            let mut held = Vec::new();
            let mut stdout = std::io::stdout().lock();
            while let Some(c) = chunks.next().await? {
                if json {
                    held.extend_from_slice(&c);
                } else {
                    stdout.write_all(&c).context("cannot write to stdout")?;
                }
            }
            stdout.flush().context("cannot write to stdout")?;
            Ok(held)
        })
        .await
    })?;
    if json {
        let size = held.len();
        let doc = match String::from_utf8(held) {
            Ok(text) => json!({"key": hex::encode(target.key), "path": target.path,
                               "size": size, "content": text}),
            Err(e) => json!({"key": hex::encode(target.key), "path": target.path,
                             "size": size, "content_hex": hex::encode(e.into_bytes())}),
        };
        println!("{doc}");
    }
    Ok(ExitCode::SUCCESS)
}
