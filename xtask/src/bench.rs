//! `cargo xtask bench [hypercore] [hypertrie] [hyperdrive] [replication] [multidrive]
//! [contention] [daemon] [fuse] [--rounds N] [--quick] [--mountpoint DIR | --mount-cmd CMD |
//! --ddrive]`: our benchmarks beside Node's (`bench/js`, run with the packages of tests/js), in
//! one invocation, so both sides see the same machine at the same time; `contention` is ours
//! alone (clone throughput with readers on the drive) (`--quick`:
//! scaled-down workloads where a module has
//! them, for a smoke run). Each prints a table (medians over the rounds, with min-max) and one
//! JSON line of ratios (ddrive / Node) and raw medians. `fuse` compares a mount (the last
//! three options; see `bench/fuse.rs`) with bindfs instead of Node.

mod common;
mod contention;
mod daemon;
mod fuse;
mod hypercore;
mod hyperdrive;
mod hypertrie;
mod multidrive;
mod replication;

use anyhow::{Context, Result, bail};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut rounds = 3usize;
    let mut quick = false;
    let mut names = Vec::new();
    let mut fuse_target = fuse::Target::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => {
                let n = it.next().context("--rounds needs a number")?;
                rounds = n.parse().with_context(|| format!("--rounds {n}"))?;
                if rounds == 0 {
                    bail!("--rounds must be at least 1");
                }
            }
            "--quick" => quick = true,
            "--mountpoint" => {
                let dir = it.next().context("--mountpoint needs a folder")?;
                fuse_target = fuse::Target::Mountpoint(dir.into());
            }
            "--mount-cmd" => {
                let cmd = it.next().context("--mount-cmd needs a command")?;
                fuse_target = fuse::Target::Command(cmd.clone());
            }
            "--ddrive" => fuse_target = fuse::Target::Ddrive,
            name => names.push(name.to_owned()),
        }
    }
    if names.is_empty() {
        names = vec!["hypercore".to_owned(), "hypertrie".to_owned()];
    }
    for name in &names {
        match name.as_str() {
            "hypercore" => hypercore::run(rounds)?,
            "hypertrie" => hypertrie::run(rounds)?,
            "hyperdrive" => hyperdrive::run(rounds, quick)?,
            "replication" => replication::run(rounds, quick)?,
            "multidrive" => multidrive::run(rounds, quick)?,
            "contention" => contention::run(rounds, quick)?,
            "daemon" => daemon::run(rounds, quick)?,
            "fuse" => fuse::run(rounds, quick, &fuse_target)?,
            other => bail!(
                "unknown bench {other:?}; known: hypercore, hypertrie, hyperdrive, replication, \
                 multidrive, contention, daemon, fuse"
            ),
        }
    }
    Ok(())
}
