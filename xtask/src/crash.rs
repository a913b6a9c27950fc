//! `cargo xtask crash daemon [--trials N] [--seed S]`: seeded SIGKILL trials of the ddrive
//! daemon (default 200 trials, seed 1): clients write files through gRPC, the daemon is
//! killed at a seeded moment and restarted; every core must audit clean, every acknowledged
//! write must read back byte for byte, and no write in flight may be torn. The trials live in
//! ddrive-cli/tests/crash (shared with `cargo test`'s few), run by the `crash_trials` example
//! (built `--release`, with the `ddrive` binary it starts). Prints the trials, the writes
//! checked and every failure with its trial's seed, and fails when any check failed.
//!
//! `cargo xtask crash daemon --throughput [--files N] [--clients C]` instead prints the write
//! rate (1 KiB files/s) with the per-RPC durability flush, for the record of what durable
//! writes cost.

use anyhow::{Result, bail};

pub(crate) fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("daemon") => daemon(&args[1..]),
        _ => bail!("usage: cargo xtask crash daemon [--trials N] [--seed S] | --throughput"),
    }
}

fn daemon(args: &[String]) -> Result<()> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--trials" | "--seed" | "--files" | "--clients" | "--size" => {
                let v = it.next();
                if v.and_then(|v| parse_number(v)).is_none() {
                    bail!("{a} needs a number");
                }
            }
            "--throughput" => {}
            other => bail!("unknown argument {other:?}"),
        }
    }
    let root = crate::root();
    crate::sh(
        &root,
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "ddrive-cli",
            "--bin",
            "ddrive",
            "--example",
            "crash_trials",
        ],
    )?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let ddrive = target.join("release/ddrive");
    let runner = target.join("release/examples/crash_trials");
    let mut cmd_args = vec![ddrive.display().to_string()];
    cmd_args.extend(args.iter().cloned());
    let refs: Vec<&str> = cmd_args.iter().map(String::as_str).collect();
    crate::sh(&root, &runner.display().to_string(), &refs)
}

fn parse_number(v: &str) -> Option<u64> {
    v.strip_prefix("0x")
        .map_or_else(|| v.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_decimal_and_hex() {
        assert_eq!(parse_number("200"), Some(200));
        assert_eq!(parse_number("0x5eed"), Some(0x5eed));
        assert_eq!(parse_number("many"), None);
    }

    #[test]
    fn refuses_unknown_targets_and_arguments() {
        assert!(run(&["fuse".to_owned()]).is_err());
        assert!(daemon(&["--trails".to_owned(), "3".to_owned()]).is_err());
        assert!(daemon(&["--trials".to_owned()]).is_err());
    }
}
