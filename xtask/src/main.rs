//! `cargo xtask`: the project's tasks.
//!
//! - `cargo xtask test`: installs the pinned Node reference stack (tests/js), checks that
//!   tests/vectors is what its generator writes, and runs every test, interop included.
//! - `cargo xtask vectors [--check]`: rewrites tests/vectors with the Node packages, or checks
//!   that the committed files are what they would write.
//! - `cargo xtask bench [hypercore] [hypertrie] [hyperdrive] [replication] [multidrive]
//!   [contention] [daemon]`: runs our benchmarks and Node's anchors side by side and prints a
//!   table and one JSON line of ratios per benchmark; `cargo xtask bench fuse [--mountpoint DIR
//!   | --mount-cmd CMD | --ddrive]` compares a FUSE mount with bindfs over the same disk.
//! - `cargo xtask fuse-conformance (--mountpoint DIR | --bindfs | --ddrive)`: pjdfstest and a
//!   seeded fsx against a mounted folder (tests/fuse holds their configuration and the cases
//!   FUSE itself rules out).
//! - `cargo xtask crash daemon [--trials N] [--seed S]`: seeded SIGKILL trials of the daemon.

#![forbid(unsafe_code)]

mod bench;
mod crash;
mod fuse;
mod test;
mod vectors;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("vectors") => vectors::run(&args[1..]),
        Some("fuse-conformance") => fuse::conformance::run(&args[1..]),
        Some("crash") => crash::run(&args[1..]),
        _ => bail!(
            "usage: cargo xtask <test|vectors [--check]|bench [hypercore …]|fuse-conformance|\
             crash daemon>"
        ),
    }
}

/// The workspace root (the parent of xtask/).
pub(crate) fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Runs a command in `dir`, failing if it fails.
pub(crate) fn sh(dir: &std::path::Path, program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("{program} {} failed: {status}", args.join(" "));
    }
    Ok(())
}
