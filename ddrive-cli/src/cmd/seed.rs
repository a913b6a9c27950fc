//! `ddrive seed` / `ddrive unseed`: a drive's network configuration.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Ctx, resolve_drive, with_session};

#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// The drive: its key, hyper://<key>, or a folder with an import/export key file
    /// (default: the current folder).
    drive: Option<String>,
    /// The drive's key (the original CLI's flag; same as the argument).
    #[arg(long, conflicts_with = "drive")]
    key: Option<String>,
    /// Look the drive up on the network (default).
    #[arg(long, overrides_with = "no_lookup")]
    lookup: bool,
    /// Do not look the drive up.
    #[arg(long)]
    no_lookup: bool,
    /// Announce the drive on the network (default).
    #[arg(long, overrides_with = "no_announce")]
    announce: bool,
    /// Do not announce the drive.
    #[arg(long)]
    no_announce: bool,
    /// Keep the configuration across daemon restarts (default).
    #[arg(long, overrides_with = "no_remember")]
    remember: bool,
    /// Forget the configuration when the daemon stops.
    #[arg(long)]
    no_remember: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UnseedArgs {
    /// The drive: its key, hyper://<key>, or a folder with an import/export key file.
    drive: Option<String>,
    /// The drive's key (the original CLI's flag; same as the argument).
    #[arg(long, conflicts_with = "drive")]
    key: Option<String>,
}

fn configure(
    ctx: &Ctx,
    drive: Option<&str>,
    (lookup, announce, remember): (bool, bool, bool),
    seeding: bool,
) -> Result<ExitCode> {
    let target = resolve_drive(drive)?;
    ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), None, async |s| {
            s.configure_network(lookup, announce, remember).await
        })
        .await
    })?;
    let key = hex::encode(target.key);
    ctx.out.result(
        || {
            if seeding {
                format!("Seeding the drive with key {key}.")
            } else {
                format!("Unseeded the drive with key {key}; its data stays on disk.")
            }
        },
        || json!({"key": key, "lookup": lookup, "announce": announce, "remember": remember}),
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn seed(ctx: &Ctx, args: SeedArgs) -> Result<ExitCode> {
    let drive = args.key.as_deref().or(args.drive.as_deref());
    configure(
        ctx,
        drive,
        (!args.no_lookup, !args.no_announce, !args.no_remember),
        true,
    )
}

pub(crate) fn unseed(ctx: &Ctx, args: UnseedArgs) -> Result<ExitCode> {
    let drive = args.key.as_deref().or(args.drive.as_deref());
    // As the original: remembered, so the drive stays unseeded after a restart.
    configure(ctx, drive, (false, false, true), false)
}
