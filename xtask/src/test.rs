//! `cargo xtask test [cargo test args]`: installs the pinned Node reference stack in tests/js,
//! checks that tests/vectors is what its generator writes (`cargo xtask vectors --check`), then
//! runs every test of the workspace with the interop tests turned on.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let root = crate::root();
    install_node_stack(&root)?;
    crate::vectors::check(&root)?;
    let features = interop_features(&root)?;
    println!("xtask: interop features: {features}");
    // Every test binary runs even after one fails, so a CI log shows all failures at once.
    let mut cargo = vec![
        "test",
        "--workspace",
        "--no-fail-fast",
        "--features",
        features.as_str(),
    ];
    cargo.extend(args.iter().map(String::as_str));
    crate::sh(&root, "cargo", &cargo)
}

/// `npm ci` in tests/js unless node_modules is already what the manifests say.
pub(crate) fn install_node_stack(root: &Path) -> Result<()> {
    let js = root.join("tests/js");
    if installed(&js) {
        println!("xtask: tests/js/node_modules is up to date");
        return Ok(());
    }
    // `npm ci` installs exactly the lock file's versions; without a lock, `npm install`
    // pins by package.json (exact versions plus the noise-protocol override).
    let install = if js.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    crate::sh(&js, "npm", &[install, "--no-audit", "--no-fund"])
        .context("installing the Node reference stack (needs Node.js 18+ and npm)")
}

/// `pkg/interop` for every workspace member that declares an `interop` feature, so a crate that
/// adds Node interop tests is covered without editing this file.
fn interop_features(root: &Path) -> Result<String> {
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let members = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = ["))
        .context("no one-line `members = [...]` in Cargo.toml")?;
    let mut features = Vec::new();
    for dir in members.trim_end_matches(']').split(',') {
        let dir = dir.trim().trim_matches('"');
        if dir.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(root.join(dir).join("Cargo.toml"))
            .with_context(|| format!("reading {dir}/Cargo.toml"))?;
        let has_interop = text
            .split("\n[")
            .any(|section| section.starts_with("features]") && section.contains("\ninterop ="));
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_owned())
            .with_context(|| format!("no package name in {dir}/Cargo.toml"))?;
        if has_interop {
            features.push(format!("{name}/interop"));
        }
    }
    Ok(features.join(","))
}

/// Whether npm's record of the installed tree is newer than both manifests, so a reinstall
/// (which `npm ci` does from scratch, over the network) would change nothing.
fn installed(js: &Path) -> bool {
    let modified = |p: &Path| -> Option<SystemTime> { p.metadata().ok()?.modified().ok() };
    let Some(tree) = modified(&js.join("node_modules/.package-lock.json")) else {
        return false;
    };
    ["package.json", "package-lock.json"]
        .iter()
        .all(|f| modified(&js.join(f)).is_none_or(|m| m <= tree))
}
