//! `cargo xtask vectors [--check]`: writes tests/vectors/*.json with the pinned Node packages
//! (`tests/js/vectors/gen.js`), or with `--check` writes them into a temporary folder and fails
//! if the committed files differ. The generator is deterministic (fixed seeds and master key,
//! a pinned clock), so a difference means the files were edited by hand or the generator
//! changed without the files being rewritten.
//!
//! The wire traces in tests/traces are not covered: they hold random keys and timing-dependent
//! frames (see the headers of tests/js/traces/*.js).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask vectors [--check]"),
    };
    let root = crate::root();
    crate::test::install_node_stack(&root)?;
    if check {
        self::check(&root)
    } else {
        generate(&root, &root.join("tests/vectors"))
    }
}

/// Regenerates into a temporary folder and compares with tests/vectors, file by file.
pub(crate) fn check(root: &Path) -> Result<()> {
    let scratch = TempDir::new()?;
    generate(root, &scratch.0)?;
    let committed = json_files(&root.join("tests/vectors"))?;
    let fresh = json_files(&scratch.0)?;
    let mut problems = Vec::new();
    for (name, bytes) in &fresh {
        match committed.get(name) {
            None => problems.push(format!("{name} is not committed")),
            Some(old) if old != bytes => problems.push(format!("{name} differs")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|n| !fresh.contains_key(*n)) {
        problems.push(format!("{name} is no longer generated"));
    }
    if !problems.is_empty() {
        bail!(
            "tests/vectors is not what tests/js/vectors/gen.js writes ({}); run `cargo xtask \
             vectors` and commit the result",
            problems.join(", ")
        );
    }
    println!("xtask: tests/vectors matches its generator");
    Ok(())
}

fn generate(root: &Path, out: &Path) -> Result<()> {
    let out = out.to_str().context("output folder is not UTF-8")?;
    crate::sh(root, "node", &["tests/js/vectors/gen.js", out])
        .context("generating the vectors (needs node and tests/js/node_modules)")
}

/// The `*.json` files of a folder, by name.
fn json_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("file name")?
                .to_owned();
            out.insert(name, std::fs::read(&path)?);
        }
    }
    Ok(out)
}

/// A folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("ddrive-vectors-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
