//! `cargo xtask bench fuse [--mountpoint DIR | --mount-cmd CMD | --ddrive] [--quick]
//! [--rounds N]`: filesystem workloads on a FUSE mount beside bindfs over the same disk, in
//! one run.
//!
//! The baseline is bindfs (`--multithreaded -o big_writes,max_write=1048576`) over a folder in
//! the scratch folder (`$BENCH_DIR`, else the temp dir); the measured side is one of:
//! - `--mountpoint DIR`: a filesystem mounted elsewhere;
//! - `--mount-cmd CMD`: `sh -c CMD`, started with `MOUNTPOINT` (where to mount) and
//!   `STORAGE` (a fresh folder beside bindfs's, on the same disk) in its environment, serving
//!   the mount until the run unmounts it;
//! - `--ddrive`: the ddrive daemon with its root drive mounted (the hook: `ddrive --storage S
//!   start --foreground --mountpoint DIR`);
//! - nothing: the scratch folder itself, no FUSE, which shows what bindfs costs and checks the
//!   harness.
//!
//! Each round runs both sides in turn (alternating which goes first): dd of 1 GiB (`--quick`:
//! 64 MiB) from /dev/zero, buffered and with `conv=fsync`; dd reads of that file, cold (after
//! `sync` and dropping the page cache, as root) and warm; 10,000 (1,000) files of 1 KiB
//! created in 10 folders, stat'ed (each stat timed, for the 99th percentile), listed with
//! `ls -lR`, opened and read, and renamed; and `tar -x` of a source tree (this repository's
//! sources, packed once outside the mounts). The table shows medians over the rounds (min-max);
//! ratio = measured / bindfs; the last line is one JSON object.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::common::{Figures, Stat, compare, in_turn, num, print_table_row};
use crate::fuse::mount::{BINDFS_BENCH, Mount};

/// What the measured side is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Target {
    /// The scratch folder itself (no FUSE).
    #[default]
    Disk,
    /// Mounted elsewhere.
    Mountpoint(PathBuf),
    /// `sh -c CMD` mounts at `$MOUNTPOINT`.
    Command(String),
    /// The ddrive daemon.
    Ddrive,
}

struct Metric {
    label: &'static str,
    unit: &'static str,
    key: &'static str,
    /// `(at least, ratio)` or `(at most, ratio)` of measured / bindfs (the targets).
    target: Option<(bool, f64)>,
}

const BULK: Option<(bool, f64)> = Some((true, 0.8));
const SMALL: Option<(bool, f64)> = Some((true, 0.7));

const METRICS: &[Metric] = &[
    Metric {
        label: "dd write, buffered",
        unit: "MB/s",
        key: "write_MBps",
        target: BULK,
    },
    Metric {
        label: "dd write, conv=fsync",
        unit: "MB/s",
        key: "write_fsync_MBps",
        target: BULK,
    },
    Metric {
        label: "dd read, cold cache",
        unit: "MB/s",
        key: "read_cold_MBps",
        target: BULK,
    },
    Metric {
        label: "dd read, warm cache",
        unit: "MB/s",
        key: "read_warm_MBps",
        target: BULK,
    },
    Metric {
        label: "create 1 KiB files",
        unit: "files/s",
        key: "create_per_s",
        target: SMALL,
    },
    Metric {
        label: "stat them",
        unit: "stats/s",
        key: "stat_per_s",
        target: SMALL,
    },
    Metric {
        label: "ls -lR",
        unit: "entries/s",
        key: "ls_per_s",
        target: SMALL,
    },
    Metric {
        label: "open+read them",
        unit: "files/s",
        key: "read_per_s",
        target: SMALL,
    },
    Metric {
        label: "untar a source tree",
        unit: "files/s",
        key: "untar_per_s",
        target: SMALL,
    },
    Metric {
        label: "rename them",
        unit: "renames/s",
        key: "rename_per_s",
        target: SMALL,
    },
    Metric {
        label: "stat latency, 99th percentile",
        unit: "us",
        key: "stat_p99_us",
        target: Some((false, 2.0)),
    },
];

/// Sizes of one run.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    mib: u64,
    files: usize,
}

/// Runs the FUSE benchmark and prints the table and the JSON line.
pub(crate) fn run(rounds: usize, quick: bool, target: &Target) -> Result<()> {
    let sizes = if quick {
        Sizes {
            mib: 64,
            files: 1_000,
        }
    } else {
        Sizes {
            mib: 1_024,
            files: 10_000,
        }
    };
    let base = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let scratch = Scratch(base.join(format!("ddrive-bench-fuse-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let tarball = scratch.0.join("tree.tar");
    let tar_entries = pack_tree(&tarball)?;
    let root_user = is_root();
    if !root_user {
        eprintln!("xtask bench fuse: not root, so cold reads are skipped (no drop_caches)");
    }

    let bindfs_source = scratch.0.join("bindfs-source");
    std::fs::create_dir_all(&bindfs_source)?;
    let bindfs = Mount::bindfs(&bindfs_source, &scratch.0.join("bindfs-mnt"), BINDFS_BENCH)?;
    let storage = scratch.0.join("measured-storage");
    std::fs::create_dir_all(&storage)?;
    let measured_mnt = scratch.0.join("measured-mnt");
    let (measured, label): (Option<Mount>, String) = match target {
        Target::Disk => (None, "disk (no FUSE)".into()),
        Target::Mountpoint(dir) => {
            let m = Mount::external(dir)?;
            let label = m.fstype.clone();
            (Some(m), label)
        }
        Target::Command(cmd) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(cmd)
                .env("MOUNTPOINT", &measured_mnt)
                .env("STORAGE", &storage);
            let m = Mount::serve(c, &measured_mnt)?;
            let label = m.fstype.clone();
            (Some(m), label)
        }
        Target::Ddrive => (
            Some(Mount::ddrive(&storage, &measured_mnt, false)?),
            "ddrive".into(),
        ),
    };
    let measured_dir = measured.as_ref().map_or(storage.clone(), |m| m.dir.clone());

    let side = |dir: &Path| -> Result<Figures> {
        let work = dir.join(format!("bench-{}", std::process::id()));
        std::fs::create_dir_all(&work)?;
        let figures = workloads(&work, sizes, &tarball, tar_entries, root_user);
        // Best effort: the next round starts in a fresh folder anyway.
        let _ = std::fs::remove_dir_all(&work);
        figures
    };
    let (mut base_runs, mut our_runs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("xtask bench fuse: round {} of {rounds}", round + 1);
        let (b, o) = in_turn(round, || side(&bindfs.dir), || side(&measured_dir))?;
        base_runs.push(b);
        our_runs.push(o);
    }
    drop(measured);
    drop(bindfs);

    println!();
    println!(
        "fuse: bindfs {} vs {label}, both over {} on the same disk; {} MiB dd, {} files of \
         1 KiB, a {tar_entries}-entry tar; median (min-max) of {rounds} round(s)",
        BINDFS_BENCH.join(" "),
        base.display(),
        sizes.mib,
        sizes.files,
    );
    println!();
    println!("| metric | unit | bindfs | {label} | ratio | target |");
    println!("|---|---|---:|---:|---:|---|");
    let mut fields = vec![
        "\"bench\":\"fuse\"".to_owned(),
        format!("\"rounds\":{rounds}"),
        format!("\"mib\":{}", sizes.mib),
        format!("\"files\":{}", sizes.files),
        format!("\"measured\":\"{label}\""),
    ];
    for m in METRICS {
        let b = Stat::of(&base_runs, m.key);
        let o = Stat::of(&our_runs, m.key);
        let (ratio, verdict, met) = compare(b, o, m.target);
        print_table_row((m.label, m.unit), (b, o), ratio, &verdict, rounds);
        if let Some(r) = ratio {
            fields.push(format!("\"{}_ratio\":{}", m.key, num(r)));
        }
        for (side, s) in [("bindfs", b), ("measured", o)] {
            if let Some(s) = s {
                fields.push(format!("\"{}_{side}\":{}", m.key, num(s.median)));
            }
        }
        if let Some(met) = met {
            fields.push(format!("\"{}_target_met\":{met}", m.key));
        }
    }
    println!();
    println!("ratio = measured / bindfs (higher is better, except for the latency row)");
    println!();
    println!("{{{}}}", fields.join(","));
    Ok(())
}

/// The scratch folder, removed at the end (after the mounts in it are gone).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every workload once in `work`.
fn workloads(
    work: &Path,
    sizes: Sizes,
    tarball: &Path,
    tar_entries: usize,
    drop_caches: bool,
) -> Result<Figures> {
    let mut f = Figures::new();
    let bytes = sizes.mib * 1024 * 1024;
    let big = work.join("big");
    let count = format!("count={}", sizes.mib);
    let of = format!("of={}", big.display());
    let ms = timed(|| dd(&["if=/dev/zero", &of, "bs=1M", &count]))?;
    f.insert("write_MBps".into(), mbps(bytes, ms));
    let of_sync = format!("of={}", work.join("big-fsync").display());
    let ms = timed(|| dd(&["if=/dev/zero", &of_sync, "bs=1M", &count, "conv=fsync"]))?;
    f.insert("write_fsync_MBps".into(), mbps(bytes, ms));
    std::fs::remove_file(work.join("big-fsync"))?;
    let input = format!("if={}", big.display());
    if drop_caches {
        sh_ok("sync", &[])?;
        std::fs::write("/proc/sys/vm/drop_caches", "3\n").context("dropping the page cache")?;
        let ms = timed(|| dd(&[&input, "of=/dev/null", "bs=1M"]))?;
        f.insert("read_cold_MBps".into(), mbps(bytes, ms));
    }
    let ms = timed(|| dd(&[&input, "of=/dev/null", "bs=1M"]))?;
    f.insert("read_warm_MBps".into(), mbps(bytes, ms));
    std::fs::remove_file(&big)?;

    let files = small_files(work, sizes.files);
    for dir in files
        .iter()
        .filter_map(|p| p.parent())
        .collect::<std::collections::BTreeSet<_>>()
    {
        std::fs::create_dir_all(dir)?;
    }
    let content = pattern(1024);
    let n = files.len() as u64;
    let started = Instant::now();
    for path in &files {
        std::fs::write(path, &content).with_context(|| format!("writing {}", path.display()))?;
    }
    f.insert("create_per_s".into(), rate(n, ms_since(started)));

    let mut latencies = Vec::with_capacity(files.len());
    let started = Instant::now();
    for path in &files {
        let one = Instant::now();
        let meta = std::fs::metadata(path)?;
        latencies.push(one.elapsed().as_secs_f64() * 1e6);
        if meta.len() != 1024 {
            bail!("{} is {} bytes, not 1024", path.display(), meta.len());
        }
    }
    f.insert("stat_per_s".into(), rate(n, ms_since(started)));
    f.insert("stat_p99_us".into(), percentile(&mut latencies, 0.99));

    let small = work.join("small");
    let ms = timed(|| {
        let status = Command::new("ls")
            .arg("-lR")
            .arg(&small)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("ls -lR failed: {status}");
        }
        Ok(())
    })?;
    f.insert("ls_per_s".into(), rate(n, ms));

    let started = Instant::now();
    for path in &files {
        if std::fs::read(path)? != content {
            bail!("{} reads back different bytes", path.display());
        }
    }
    f.insert("read_per_s".into(), rate(n, ms_since(started)));

    let started = Instant::now();
    for path in &files {
        std::fs::rename(path, path.with_extension("moved"))?;
    }
    f.insert("rename_per_s".into(), rate(n, ms_since(started)));

    let untar = work.join("untar");
    std::fs::create_dir_all(&untar)?;
    let ms = timed(|| {
        sh_ok(
            "tar",
            &[
                "-xf",
                &tarball.to_string_lossy(),
                "-C",
                &untar.to_string_lossy(),
            ],
        )
    })?;
    f.insert("untar_per_s".into(), rate(tar_entries as u64, ms));
    Ok(f)
}

/// `count` paths of small files, spread over 10 folders.
fn small_files(work: &Path, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| work.join(format!("small/d{}/f{i:05}.txt", i % 10)))
        .collect()
}

/// Deterministic bytes (a xorshift stream): not all zeros, so nothing can skip them.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Packs this repository's crate sources (no build output) into `tarball`; returns its
/// entry count.
fn pack_tree(tarball: &Path) -> Result<usize> {
    let root = crate::root();
    let dirs = [
        "benchkit",
        "corestore",
        "ddrive-cli",
        "ddrive-daemon",
        "docs",
        "hypercore",
        "hyperdrive",
        "hyperswarm",
        "hypertrie",
        "multidrive",
        "protowire",
        "tests",
        "xtask",
    ];
    let mut args = vec![
        "-cf".to_owned(),
        tarball.to_string_lossy().into_owned(),
        "--exclude=target".to_owned(),
        "--exclude=node_modules".to_owned(),
        "-C".to_owned(),
        root.to_string_lossy().into_owned(),
    ];
    args.extend(
        dirs.iter()
            .filter(|d| root.join(d).is_dir())
            .map(|d| (*d).to_owned()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sh_ok("tar", &args)?;
    let listing = super::common::output(Command::new("tar").arg("-tf").arg(tarball))?;
    Ok(listing.lines().count())
}

fn dd(args: &[&str]) -> Result<()> {
    let out = Command::new("dd")
        .args(args)
        .stdout(Stdio::null())
        .output()
        .context("starting dd")?;
    if !out.status.success() {
        bail!(
            "dd {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn sh_ok(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("{program} {} failed: {status}", args.join(" "));
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
            .unwrap_or(false)
    })
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    f()?;
    Ok(ms_since(started))
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn mbps(bytes: u64, ms: f64) -> f64 {
    bytes as f64 / 1e6 / (ms / 1000.0)
}

fn rate(n: u64, ms: f64) -> f64 {
    n as f64 / (ms / 1000.0)
}

/// The `q` quantile (nearest rank) of `values`.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        v.reverse();
        assert_eq!(percentile(&mut v, 0.99), 99.0);
        assert_eq!(percentile(&mut v, 1.0), 100.0);
        assert_eq!(percentile(&mut [5.0], 0.99), 5.0);
        assert!(percentile(&mut [], 0.99).is_nan());
    }

    #[test]
    fn the_workloads_run_on_a_plain_folder() {
        let dir = std::env::temp_dir().join(format!("ddrive-xtask-fuse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let tarball = dir.join("t.tar");
        let entries = pack_tree(&tarball).expect("tar");
        assert!(entries > 10);
        let work = dir.join("work");
        std::fs::create_dir_all(&work).expect("work");
        let f = workloads(&work, Sizes { mib: 1, files: 20 }, &tarball, entries, false)
            .expect("workloads");
        let _ = std::fs::remove_dir_all(&dir);
        for m in METRICS {
            if m.key == "read_cold_MBps" {
                assert!(
                    !f.contains_key(m.key),
                    "no cold read without dropping caches"
                );
            } else {
                assert!(f.get(m.key).is_some_and(|v| *v > 0.0), "{}", m.key);
            }
        }
    }
}
