//! `ddrive create`: a new writable drive, seeded unless `--no-seed`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Ctx, url, with_session};

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Keep the drive off the network (seed it later with `ddrive seed`).
    #[arg(long)]
    no_seed: bool,
}

pub(crate) fn run(ctx: &Ctx, args: CreateArgs) -> Result<ExitCode> {
    let (key, version) = ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, None, None, async |s| {
            if !args.no_seed {
                s.configure_network(true, true, true).await?;
            }
            Ok((s.key, s.version))
        })
        .await
    })?;
    let seeding = !args.no_seed;
    ctx.out.result(
        || hex::encode(key),
        || {
            json!({"key": hex::encode(key), "url": url(&key), "version": version,
                   "writable": true, "seeding": seeding})
        },
    );
    if !seeding {
        ctx.out.note(&format!(
            "The drive is not seeded; publish it with `ddrive seed {}`.",
            hex::encode(key)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
