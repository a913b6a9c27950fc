//! `ddrive diff` (what changed between two versions) and `ddrive log` (the versions, newest
//! first, each with what it changed).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use ddrive_daemon::proto;
use serde_json::{Value, json};

use super::{Ctx, resolve_drive, with_session};
use crate::client::DaemonClient;

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The drive: key or hyper://<key>, optionally followed by /path (a prefix to compare).
    drive: String,
    /// The older version.
    #[arg(long)]
    from: u64,
    /// The newer version (default: the latest).
    #[arg(long)]
    to: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// The drive: key or hyper://<key>, optionally followed by /path (a prefix to follow).
    drive: String,
    /// How many versions to show, newest first.
    #[arg(short = 'n', long, default_value_t = 20)]
    count: u64,
}

fn sign(kind: &str) -> &'static str {
    match kind {
        "put" => "+",
        "del" => "-",
        "mount" => "M",
        "unmount" => "U",
        _ => "?",
    }
}

fn change_json(c: &proto::DiffStreamResponse) -> Value {
    let stat = c.value.as_ref().and_then(|v| v.stat.as_ref());
    json!({"type": c.r#type, "path": format!("/{}", c.name),
           "size": stat.and_then(|s| s.size), "mtime": stat.and_then(|s| s.mtime)})
}

fn change_text(c: &proto::DiffStreamResponse) -> String {
    format!("{} /{}", sign(&c.r#type), c.name)
}

/// The changes of the drive between `from` and `to` (the latest when `None`) under `prefix`.
async fn changes(
    client: &DaemonClient,
    key: [u8; 32],
    from: u64,
    to: Option<u64>,
    prefix: &str,
) -> Result<(u64, Vec<proto::DiffStreamResponse>)> {
    with_session(client, Some(key), to, async |s| {
        let to = match to {
            Some(v) => v,
            None => s.current_version().await?,
        };
        Ok((to, s.diff(from, prefix).await?))
    })
    .await
}

pub(crate) fn diff(ctx: &Ctx, args: DiffArgs) -> Result<ExitCode> {
    let target = resolve_drive(Some(&args.drive))?;
    let (to, list) = ctx.block_on(async {
        let client = ctx.client().await?;
        changes(&client, target.key, args.from, args.to, &target.path).await
    })?;
    ctx.out.result(
        || list.iter().map(change_text).collect::<Vec<_>>().join("\n"),
        || {
            json!({"key": hex::encode(target.key), "from": args.from, "to": to,
                   "changes": list.iter().map(change_json).collect::<Vec<_>>()})
        },
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn log(ctx: &Ctx, args: LogArgs) -> Result<ExitCode> {
    let target = resolve_drive(Some(&args.drive))?;
    let versions = ctx.block_on(async {
        let client = ctx.client().await?;
        let latest = with_session(&client, Some(target.key), None, async |s| {
            s.current_version().await
        })
        .await?;
        let mut out = Vec::new();
        let mut v = latest;
        // Version 1 is the drive's header alone: nothing to show before it.
        while v > 1 && (out.len() as u64) < args.count {
            let (_, list) = changes(&client, target.key, v - 1, Some(v), &target.path).await?;
            if !list.is_empty() {
                out.push((v, list));
            }
            v -= 1;
        }
        Ok(out)
    })?;
    ctx.out.result(
        || {
            let mut t = String::new();
            for (v, list) in &versions {
                t.push_str(&format!("version {v}\n"));
                for c in list {
                    t.push_str(&format!("  {}\n", change_text(c)));
                }
            }
            t
        },
        || {
            let list: Vec<Value> = versions
                .iter()
                .map(|(v, list)| {
                    json!({"version": v,
                           "changes": list.iter().map(change_json).collect::<Vec<_>>()})
                })
                .collect();
            json!({"key": hex::encode(target.key), "versions": list})
        },
    );
    Ok(ExitCode::SUCCESS)
}
