//! `ddrive stats`: a drive's cores, blocks, bytes and peers (over gRPC, no FUSE needed).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use ddrive_daemon::proto;
use serde_json::{Value, json};

use super::{Ctx, resolve_drive, with_session};

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The drive: its key, hyper://<key>, or a folder with an import/export key file.
    drive: Option<String>,
    /// The drive's key (the original CLI's flag; same as the argument).
    #[arg(long, conflicts_with = "drive")]
    key: Option<String>,
}

fn core(c: &proto::CoreStats) -> Value {
    json!({"key": hex::encode(&c.key), "peers": c.peers, "total_blocks": c.total_blocks,
           "downloaded_blocks": c.downloaded_blocks, "total_bytes": c.total_bytes,
           "uploaded_bytes": c.uploaded_bytes, "downloaded_bytes": c.downloaded_bytes})
}

fn core_text(name: &str, c: &proto::CoreStats) -> String {
    format!(
        "  {name}: {}\n    blocks {}/{} local, {} bytes, {} peers, {} B up, {} B down\n",
        hex::encode(&c.key),
        c.downloaded_blocks,
        c.total_blocks,
        c.total_bytes,
        c.peers,
        c.uploaded_bytes,
        c.downloaded_bytes
    )
}

pub(crate) fn run(ctx: &Ctx, args: StatsArgs) -> Result<ExitCode> {
    let target = resolve_drive(args.key.as_deref().or(args.drive.as_deref()))?;
    let rsp = ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), None, async |s| s.stats().await).await
    })?;
    let mounts = rsp.stats.map(|s| s.stats).unwrap_or_default();
    let network = rsp.network.unwrap_or_default();
    ctx.out.result(
        || {
            let mut t = format!("Drive {}\n", hex::encode(target.key));
            for m in &mounts {
                t.push_str(&format!("Mount {}\n", m.path));
                if let Some(c) = &m.metadata {
                    t.push_str(&core_text("metadata", c));
                }
                if let Some(c) = &m.content {
                    t.push_str(&core_text("content", c));
                }
            }
            t.push_str(&format!(
                "Network: lookup {}, announce {}, remembered {}",
                network.lookup, network.announce, network.remember
            ));
            t
        },
        || {
            let mounts: Vec<Value> = mounts
                .iter()
                .map(|m| {
                    json!({"path": m.path, "metadata": m.metadata.as_ref().map(core),
                           "content": m.content.as_ref().map(core)})
                })
                .collect();
            json!({"key": hex::encode(target.key), "mounts": mounts,
                   "network": {"lookup": network.lookup, "announce": network.announce,
                               "remember": network.remember}})
        },
    );
    Ok(ExitCode::SUCCESS)
}
