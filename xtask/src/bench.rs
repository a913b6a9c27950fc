//! `cargo xtask bench [hypercore] [hypertrie] [hyperdrive] [replication] [multidrive] [daemon]
//! [--rounds N] [--quick]`: our benchmarks beside Node's (`bench/js`, run with the packages of
//! tests/js), in one invocation, so both sides see the same machine at the same time (`--quick`:
//! scaled-down workloads where a module has
//! them, for a smoke run). Each prints a table (medians over the rounds, with min-max) and one
//! JSON line of ratios (ddrive / Node) and raw medians.

mod common;
mod daemon;
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
            "daemon" => daemon::run(rounds, quick)?,
            other => bail!(
                "unknown bench {other:?}; known: hypercore, hypertrie, hyperdrive, replication, \
                 multidrive, daemon"
            ),
        }
    }
    Ok(())
}
