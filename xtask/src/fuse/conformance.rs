//! `cargo xtask fuse-conformance`: pjdfstest and a seeded fsx against a mounted folder.
//!
//! ```text
//! cargo xtask fuse-conformance (--mountpoint DIR | --bindfs | --ddrive)
//!     [--only pjdfstest|fsx] [--fsx-ops N] [--seed N] [--fsx-no-mmap]
//! ```
//! - `--mountpoint DIR`: a filesystem mounted elsewhere (as root, with `allow_other` and
//!   `default_permissions`, so pjdfstest's user switches are checked against the mode bits).
//! - `--bindfs`: mounts bindfs over a temp folder (`use_ino`, no attribute cache), the
//!   harness's own check against a FUSE filesystem that passes through to the disk.
//! - `--ddrive`: starts the ddrive daemon with its root drive mounted (`--allow-other`), the
//!   hook the FUSE filesystem plugs into.
//!
//! pjdfstest (the Rust port, crate `pjdfstest`) runs with tests/fuse/pjdfstest.toml in a fresh
//! folder of the mount, with a folder outside the mount as its second filesystem (EXDEV
//! cases); its per-case results are counted per syscall group, and the failures of cases listed
//! in tests/fuse/pjdfstest-excluded.txt (what FUSE itself rules out, each with its reason) are
//! counted as excluded. fsx (crate `fsx`) runs tests/fuse/fsx.toml with a fixed seed for
//! `--fsx-ops` operations (default 100,000) on one file of the mount; any data mismatch fails
//! it. The tools are looked up in `$DDRIVE_TOOLS/bin` (where .ci/run installs them), then
//! on `PATH`. The command fails when a case fails that is not excluded, or fsx fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::mount::{BINDFS_CONFORMANCE, Mount};

/// What a pjdfstest case did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// Counts of one group of cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    passed: usize,
    failed: usize,
    /// Failed, but listed as ruled out by FUSE.
    excluded: usize,
    skipped: usize,
}

struct Options {
    target: Target,
    pjdfstest: bool,
    fsx: bool,
    fsx_ops: u64,
    seed: u64,
    mmap: bool,
}

enum Target {
    Mountpoint(PathBuf),
    Bindfs,
    Ddrive,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let scratch = std::env::temp_dir().join(format!("ddrive-fuse-conf-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = run_in(&options, &scratch);
    // Best effort: the mount is gone by now; a leftover temp folder is harmless.
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_in(options: &Options, scratch: &Path) -> Result<()> {
    let mount = match &options.target {
        Target::Mountpoint(dir) => Mount::external(dir)?,
        Target::Bindfs => {
            let source = scratch.join("bindfs-source");
            std::fs::create_dir_all(&source)?;
            Mount::bindfs(&source, &scratch.join("mnt"), BINDFS_CONFORMANCE)?
        }
        Target::Ddrive => Mount::ddrive(&scratch.join("storage"), &scratch.join("mnt"), true)?,
    };
    println!(
        "fuse-conformance: {} ({})",
        mount.dir.display(),
        mount.fstype
    );
    let mut ok = true;
    if options.pjdfstest {
        ok &= pjdfstest(&mount.dir, scratch)?;
    }
    if options.fsx {
        ok &= fsx(&mount.dir, scratch, options)?;
    }
    drop(mount);
    if !ok {
        bail!("fuse-conformance failed");
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<Options> {
    let mut target = None;
    let mut options = Options {
        target: Target::Bindfs,
        pjdfstest: true,
        fsx: true,
        fsx_ops: 100_000,
        seed: 1,
        mmap: true,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--mountpoint" => target = Some(Target::Mountpoint(value("--mountpoint")?.into())),
            "--bindfs" => target = Some(Target::Bindfs),
            "--ddrive" => target = Some(Target::Ddrive),
            "--only" => match value("--only")?.as_str() {
                "pjdfstest" => options.fsx = false,
                "fsx" => options.pjdfstest = false,
                other => bail!("--only takes pjdfstest or fsx, not {other:?}"),
            },
            "--fsx-ops" => options.fsx_ops = value("--fsx-ops")?.parse()?,
            "--seed" => options.seed = value("--seed")?.parse()?,
            "--fsx-no-mmap" => options.mmap = false,
            other => bail!(
                "unknown argument {other:?}; usage: cargo xtask fuse-conformance \
                 (--mountpoint DIR | --bindfs | --ddrive) [--only pjdfstest|fsx] \
                 [--fsx-ops N] [--seed N] [--fsx-no-mmap]"
            ),
        }
    }
    options.target = target.context("say what to test: --mountpoint DIR, --bindfs or --ddrive")?;
    Ok(options)
}

/// `$DDRIVE_TOOLS/bin/<name>` when it exists, else `<name>` from `PATH`.
pub(crate) fn tool(name: &str) -> PathBuf {
    std::env::var_os("DDRIVE_TOOLS")
        .map(|d| PathBuf::from(d).join("bin").join(name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn pjdfstest(mountpoint: &Path, scratch: &Path) -> Result<bool> {
    let fuse_dir = crate::root().join("tests/fuse");
    let excluded = parse_excluded(&std::fs::read_to_string(
        fuse_dir.join("pjdfstest-excluded.txt"),
    )?)?;
    let work = mountpoint.join(format!("pjdfstest-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    // EXDEV cases need a folder on another filesystem: the scratch folder is outside the mount.
    let second = scratch.join("second-fs");
    std::fs::create_dir_all(&second)?;
    let out = Command::new(tool("pjdfstest"))
        .arg("-c")
        .arg(fuse_dir.join("pjdfstest.toml"))
        .arg("-p")
        .arg(&work)
        .arg("-s")
        .arg(&second)
        .env("NO_COLOR", "1")
        .output()
        .context("starting pjdfstest (cargo install --locked pjdfstest@0.2.2; .ci/run does)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Best effort: what the cases left is of no further use.
    let _ = std::fs::remove_dir_all(&work);
    let cases = parse_cases(&stdout);
    if cases.is_empty() {
        bail!(
            "pjdfstest ran no case ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (groups, failed, listed_passing) = tally(&cases, &excluded);
    println!();
    println!("pjdfstest 0.2.2: {} cases", cases.len());
    println!();
    println!("| group | passed | failed | excluded | skipped |");
    println!("|---|---:|---:|---:|---:|");
    let mut total = Counts::default();
    for (group, c) in &groups {
        println!(
            "| {group} | {} | {} | {} | {} |",
            c.passed, c.failed, c.excluded, c.skipped
        );
        total.passed += c.passed;
        total.failed += c.failed;
        total.excluded += c.excluded;
        total.skipped += c.skipped;
    }
    println!(
        "| **total** | {} | {} | {} | {} |",
        total.passed, total.failed, total.excluded, total.skipped
    );
    for name in &failed {
        println!("FAILED {name}: {}", failure_reason(&stdout, name));
    }
    for (name, _) in cases
        .iter()
        .filter(|(n, o)| *o == Outcome::Skipped && !excluded.contains_key(n))
    {
        println!("skipped {name}: {}", failure_reason(&stdout, name));
    }
    for name in &listed_passing {
        println!("listed in pjdfstest-excluded.txt but passed: {name}");
    }
    println!(
        "{{\"suite\":\"pjdfstest\",\"passed\":{},\"failed\":{},\"excluded\":{},\"skipped\":{}}}",
        total.passed, total.failed, total.excluded, total.skipped
    );
    Ok(failed.is_empty())
}

/// Case name and outcome of every result line pjdfstest prints (`<name> <padding> ok`).
fn parse_cases(stdout: &str) -> Vec<(String, Outcome)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let rest: Vec<&str> = words.collect();
            let outcome = match rest.as_slice() {
                ["ok"] => Outcome::Passed,
                ["FAILED"] | ["PASSED", "UNEXPECTEDLY"] => Outcome::Failed,
                ["failed", "as", "expected"] => Outcome::Failed,
                ["skipped"] => Outcome::Skipped,
                _ => return None,
            };
            name.contains("::").then(|| (name.to_owned(), outcome))
        })
        .collect()
}

/// Counts per group (the case name up to its first `::`), the failures that count, and the
/// listed cases that passed.
fn tally(
    cases: &[(String, Outcome)],
    excluded: &BTreeMap<String, String>,
) -> (BTreeMap<String, Counts>, Vec<String>, Vec<String>) {
    let mut groups: BTreeMap<String, Counts> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut listed_passing = Vec::new();
    for (name, outcome) in cases {
        let group = name.split("::").next().unwrap_or(name).to_owned();
        let c = groups.entry(group).or_default();
        match outcome {
            Outcome::Passed => {
                c.passed += 1;
                if excluded.contains_key(name) {
                    listed_passing.push(name.clone());
                }
            }
            Outcome::Skipped => c.skipped += 1,
            Outcome::Failed if excluded.contains_key(name) => c.excluded += 1,
            Outcome::Failed => {
                c.failed += 1;
                failed.push(name.clone());
            }
        }
    }
    (groups, failed, listed_passing)
}

/// The excluded list: case name, then its reason; `#` starts a comment line.
fn parse_excluded(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if reason.trim().is_empty() {
            bail!("pjdfstest-excluded.txt: {name} has no reason");
        }
        out.insert(name.to_owned(), reason.trim().to_owned());
    }
    Ok(out)
}

/// The first line pjdfstest printed under a failed or skipped case (its assertion or reason).
fn failure_reason(stdout: &str, name: &str) -> String {
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if line.split_whitespace().next() == Some(name) {
            return lines
                .next()
                .map(|l| l.trim().to_owned())
                .unwrap_or_default();
        }
    }
    String::new()
}

fn fsx(mountpoint: &Path, scratch: &Path, options: &Options) -> Result<bool> {
    let mut config = std::fs::read_to_string(crate::root().join("tests/fuse/fsx.toml"))?;
    if !options.mmap {
        config = config
            .replace("mapread = 10", "mapread = 0")
            .replace("mapwrite = 10", "mapwrite = 0");
    }
    let config_path = scratch.join("fsx.toml");
    std::fs::write(&config_path, config)?;
    let artifacts = scratch.join("fsx-artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let file = mountpoint.join(format!("fsx-{}.bin", std::process::id()));
    let started = std::time::Instant::now();
    let out = Command::new(tool("fsx"))
        .arg("-N")
        .arg(options.fsx_ops.to_string())
        .arg("-S")
        .arg(options.seed.to_string())
        .arg("-f")
        .arg(&config_path)
        .arg("-P")
        .arg(&artifacts)
        .arg(&file)
        .output()
        .context("starting fsx (cargo install --locked fsx@0.3.2; .ci/run does)")?;
    let secs = started.elapsed().as_secs_f64();
    // Best effort: the file is of no further use.
    let _ = std::fs::remove_file(&file);
    let ok = out.status.success();
    println!();
    println!(
        "fsx 0.3.2: {} operations, seed {}, mmap {}: {} in {secs:.0} s",
        options.fsx_ops,
        options.seed,
        if options.mmap { "on" } else { "off" },
        if ok { "no mismatch" } else { "FAILED" }
    );
    if !ok {
        let tail = |b: &[u8]| {
            let s = String::from_utf8_lossy(b).into_owned();
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        println!("{}\n{}", tail(&out.stdout), tail(&out.stderr));
    }
    println!(
        "{{\"suite\":\"fsx\",\"ops\":{},\"seed\":{},\"passed\":{ok}}}",
        options.fsx_ops, options.seed
    );
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cases_per_group_and_sets_listed_failures_apart() {
        let stdout = "\
chmod::erofs_named                                                        FAILED
\tcalled `Result::unwrap()` on an `Err` value: Failed to remount
chmod::enoent_comp                                                            ok
link::share_metadata::fifo                                                FAILED
\tassertion `left == right` failed
link::remove_link::fifo                                                       ok
rename::exdev_target                                                     skipped
\tNo secondary file-system has been configured.
mkdir::erofs_new_file                                                         ok
Summary: 2 failed, 1 skipped, 3 passed, 0 expected failures, 6 total
";
        let cases = parse_cases(stdout);
        assert_eq!(cases.len(), 6);
        let excluded = parse_excluded(
            "# comment\nchmod::erofs_named   reason one\nmkdir::erofs_new_file  reason two\n",
        )
        .expect("list parses");
        let (groups, failed, listed_passing) = tally(&cases, &excluded);
        assert_eq!(
            groups["chmod"],
            Counts {
                passed: 1,
                excluded: 1,
                ..Counts::default()
            }
        );
        assert_eq!(groups["link"].failed, 1);
        assert_eq!(groups["rename"].skipped, 1);
        assert_eq!(failed, ["link::share_metadata::fifo"]);
        assert_eq!(listed_passing, ["mkdir::erofs_new_file"]);
        assert_eq!(
            failure_reason(stdout, "link::share_metadata::fifo"),
            "assertion `left == right` failed"
        );
        assert!(parse_excluded("a::b\n").is_err(), "a reason is required");
    }

    #[test]
    fn the_committed_lists_parse() {
        let dir = crate::root().join("tests/fuse");
        let text = std::fs::read_to_string(dir.join("pjdfstest-excluded.txt")).expect("list");
        let excluded = parse_excluded(&text).expect("parses");
        assert!(excluded.keys().all(|k| k.contains("::")));
        assert!(dir.join("pjdfstest.toml").is_file());
        assert!(dir.join("fsx.toml").is_file());
    }
}
