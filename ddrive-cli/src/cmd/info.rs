//! `ddrive info`: a drive's key, version, writability and network configuration.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Ctx, resolve_drive, url, with_session};
use crate::exit::{Exit, fail};

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// The drive: its key, hyper://<key>, or a folder with an import/export key file
    /// (default: the current folder).
    drive: Option<String>,
    /// Show the private root drive (the FUSE mount's drive; needs `ddrive mount`).
    #[arg(long)]
    root: bool,
    /// Show the drive as it was at this version (read-only).
    #[arg(long)]
    version: Option<u64>,
}

pub(crate) fn run(ctx: &Ctx, args: InfoArgs) -> Result<ExitCode> {
    if args.root {
        return Err(fail(
            Exit::Failure,
            "The root drive belongs to the FUSE mount; this build has no FUSE mount to ask. \
             Name a drive by its key instead.",
        ));
    }
    let target = resolve_drive(args.drive.as_deref())?;
    let (s, latest, network) = ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), args.version, async |s| {
            let latest = s.current_version().await?;
            let stats = s.stats().await?;
            Ok((s.clone(), latest, stats.network))
        })
        .await
    })?;
    let (lookup, announce) = network
        .as_ref()
        .map_or((false, false), |n| (n.lookup, n.announce));
    let remember = network.as_ref().is_some_and(|n| n.remember);
    let writable = s.writable && s.checkout.is_none();
    ctx.out.result(
        || {
            format!(
                "Drive Info:\n  Key:           {}\n  URL:           {}\n  Discovery Key: {}\n  \
                 Version:       {latest}\n  Writable:      {writable}\n  Seeding:       \
                 lookup {lookup}, announce {announce}, remembered {remember}",
                s.key_hex(),
                url(&s.key),
                hex::encode(&s.discovery_key),
            )
        },
        || {
            json!({"key": s.key_hex(), "url": url(&s.key),
                   "discovery_key": hex::encode(&s.discovery_key), "version": latest,
                   "writable": writable,
                   "network": {"lookup": lookup, "announce": announce, "remember": remember}})
        },
    );
    Ok(ExitCode::SUCCESS)
}
