//! `ddrive cleanup:remove-readonly-drives`: deletes the cores this daemon cannot write (copies
//! of other people's drives), only while the daemon is stopped.
//!
//! A core the store created itself has a `name` file next to its hypercore files (corestore 5's
//! layout, `<storage>/storage/cores/<dk0:2>/<dk2:4>/<dk>/`); a core opened by key has none, as
//! in the original command.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::client::DaemonClient;
use crate::exit::{Exit, fail};

#[derive(Debug, Args)]
pub(crate) struct CleanupArgs {}

/// The core folders under `cores`: `<2 hex>/<2 hex>/<64 hex>`.
fn core_dirs(cores: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let Ok(level1) = std::fs::read_dir(cores) else {
        return Ok(out);
    };
    for a in level1 {
        let a = a.context("cannot list the cores")?.path();
        if !a.is_dir() {
            continue;
        }
        for b in std::fs::read_dir(&a).with_context(|| format!("cannot list {}", a.display()))? {
            let b = b?.path();
            if !b.is_dir() {
                continue;
            }
            for c in
                std::fs::read_dir(&b).with_context(|| format!("cannot list {}", b.display()))?
            {
                let c = c?.path();
                let named = c
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() == 64 && n.bytes().all(|x| x.is_ascii_hexdigit()));
                if named && c.is_dir() {
                    out.push(c);
                }
            }
        }
    }
    Ok(out)
}

pub(crate) fn run(ctx: &Ctx, _: CleanupArgs) -> Result<ExitCode> {
    let running =
        ctx.block_on(async { Ok(DaemonClient::connect(&ctx.storage).await?.is_some()) })?;
    if running {
        return Err(fail(
            Exit::Failure,
            "The ddrive daemon must not be running: stop it with `ddrive stop` first.",
        ));
    }
    let cores = ctx.storage.join("storage").join("cores");
    let mut removed = 0u64;
    for dir in core_dirs(&cores)? {
        if dir.join("name").exists() {
            continue;
        }
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
        removed += 1;
    }
    ctx.out.result(
        || format!("Removed {removed} read-only core(s)."),
        || json!({"removed": removed}),
    );
    Ok(ExitCode::SUCCESS)
}
