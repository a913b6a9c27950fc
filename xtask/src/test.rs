//! `cargo xtask test`.

use anyhow::Result;

pub(crate) fn run(_args: &[String]) -> Result<()> {
    let root = crate::root();
    crate::sh(
        &root.join("tests/js"),
        "npm",
        &["install", "--no-audit", "--no-fund"],
    )?;
    crate::sh(&root, "cargo", &["test", "--workspace"])
}
