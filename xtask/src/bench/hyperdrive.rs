//! `cargo xtask bench hyperdrive [--rounds N] [--quick]`: hyperdrive@10 against our drive.
//!
//! Each round runs Node's `bench/js/bench-hyperdrive.js` and our `bench_hyperdrive
//! drive` runner (built `--release`) on the same workloads, alternating which goes first, then
//! the open-time benchmark: Node's `bench-open.js` (its own fresh `node` processes) and our
//! runner's `open` mode as fresh processes, stat'ing the same random files. Both sides' many-file
//! drives are built once and kept under `<target>/bench-cache/hyperdrive/`, keyed by their
//! parameters (Node's takes ~130 s to build). Each open is timed with the page cache warm, and
//! also right after dropping it when we run as root (Node's script drops it whenever it can).
//! `--quick` scales everything down for a smoke run. The table shows medians over the rounds
//! with min-max; the last line is one JSON object with the ratios and the raw medians.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use super::common::{
    Figures, Scratch, Stat, build_example, ensure_node_modules, in_turn, node_scripts_dir,
    node_version, num, output, parse_last_line, print_table_head, print_table_row, verdict,
};

/// The workload sizes of one invocation.
struct Sizes {
    /// Node's `bench-hyperdrive.js` arguments: files, file size, dirs, big MiB, chunk KiB.
    drive: [&'static str; 5],
    /// Files in the open-time drive (1 KiB each, 100 dirs, as Node's `open/setup.js`).
    open_files: u64,
    /// Fresh processes per round and cache state.
    open_reps: usize,
}

/// The full-size arguments: `node bench-hyperdrive.js 10000 1024 100 1024 64`,
/// `node bench-open.js 100000 5`.
const FULL: Sizes = Sizes {
    drive: ["10000", "1024", "100", "1024", "64"],
    open_files: 100_000,
    open_reps: 5,
};

/// A smoke run: 1k files, a 64 MiB big file, a 10k-file drive to open.
const QUICK: Sizes = Sizes {
    drive: ["1000", "1024", "100", "64", "64"],
    open_files: 10_000,
    open_reps: 3,
};

/// Runs the hyperdrive benchmarks `rounds` times on each side and prints the table and ratios.
pub(crate) fn run(rounds: usize, quick: bool) -> Result<()> {
    let sizes = if quick { &QUICK } else { &FULL };
    let root = crate::root();
    let js = node_scripts_dir(&root, "bench-hyperdrive.js")?;
    let node_modules = ensure_node_modules(&root, "hyperdrive")?;
    let runner = build_example(&root, "hyperdrive", "bench_hyperdrive")?;
    let scratch = Scratch::new("hyperdrive")?;
    let node_version = node_version()?;
    let cache = target_dir(&root).join("bench-cache/hyperdrive");
    let tag = format!("{}x1024-d100", sizes.open_files);
    let node_cache = cache.join(format!("node-open-{tag}"));
    let our_cache = cache.join(format!("ddrive-open-{tag}"));
    std::fs::create_dir_all(&node_cache)?;
    let root_user = effective_uid_is_root();

    let node_drive = || -> Result<Figures> {
        let mut cmd = Command::new("node");
        cmd.arg("bench-hyperdrive.js")
            .args(sizes.drive)
            .current_dir(&js)
            .env("NODE_PATH", &node_modules)
            .env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        // Node leaves its drive behind; freeing its page cache now gives the next run, on
        // either side, the same pool of free pages.
        scratch.clear()?;
        parse_last_line(&out?)
    };
    let our_drive = || -> Result<Figures> {
        let mut cmd = Command::new(&runner);
        cmd.arg("drive")
            .args(sizes.drive)
            .env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        scratch.clear()?;
        our_drive_figures(&out?)
    };
    let node_open = |seed: u32| -> Result<Figures> {
        let mut cmd = Command::new("node");
        cmd.arg("bench-open.js")
            .args([sizes.open_files.to_string(), sizes.open_reps.to_string()])
            .current_dir(&js)
            .env("NODE_PATH", &node_modules)
            .env("BENCH_DIR", &node_cache)
            .env("OPEN_SEED", seed.to_string());
        parse_last_line(&output(&mut cmd)?)
    };

    // Build (or find) both many-file drives before any timing.
    eprintln!(
        "xtask bench hyperdrive: the {}-file drives (built once, kept in {})",
        sizes.open_files,
        cache.display()
    );
    let our_setup = {
        let mut cmd = Command::new(&runner);
        cmd.arg("setup").arg(&our_cache).args([
            sizes.open_files.to_string(),
            "1024".into(),
            "100".into(),
        ]);
        parse_last_line(&output(&mut cmd)?)?
    };
    let mut node_setup_cmd = Command::new("node");
    node_setup_cmd
        .arg("open/setup.js")
        .arg(node_cache.join("open-100k"))
        .arg(sizes.open_files.to_string())
        .current_dir(&js)
        .env("NODE_PATH", &node_modules);
    output(&mut node_setup_cmd)?;

    let mut runs: BTreeMap<&str, Vec<Figures>> = BTreeMap::new();
    for round in 0..rounds {
        eprintln!("xtask bench hyperdrive: round {} of {rounds}", round + 1);
        let (node, ours) = in_turn(round, node_drive, our_drive)?;
        runs.entry("node_drive").or_default().push(node);
        runs.entry("ddrive_drive").or_default().push(ours);

        // One seed per round for both sides: the same files are stat'ed.
        let seed = 1000 + round as u32;
        let node = node_open(seed)?;
        let mut ours = our_open(&runner, &our_cache, sizes, seed, root_user)?;
        ours.extend(our_setup.iter().map(|(k, v)| (format!("setup.{k}"), *v)));
        runs.entry("node_open").or_default().push(node);
        runs.entry("ddrive_open").or_default().push(ours);
    }

    let dropped = |set: &str| {
        runs.get(set)
            .is_some_and(|r| r.iter().all(|f| f.get("page_cache_dropped") == Some(&1.0)))
    };
    let report = Report::new(&runs);
    report.print_table(
        rounds,
        &node_version,
        sizes,
        (dropped("node_open"), dropped("ddrive_open")),
    );
    println!("{}", report.json(rounds, &node_version, quick));
    Ok(())
}

/// Our runner's line, plus `writefile_per_cpu_s`: files per second of our thread's CPU time,
/// the rate with the machine to ourselves (other agents share its 2 cores).
fn our_drive_figures(stdout: &str) -> Result<Figures> {
    let mut out = parse_last_line(stdout)?;
    if let (Some(&files), Some(&cpu_ms)) = (out.get("files"), out.get("writefile_cpu_ms"))
        && cpu_ms > 0.0
    {
        out.insert("writefile_per_cpu_s".into(), files * 1000.0 / cpu_ms);
    }
    Ok(out)
}

/// Our open-time runs, as Node's `bench-open.js`: per rep a random file of the drive, a fresh
/// process after dropping the page cache (as root only) and one with it warm; medians.
fn our_open(
    runner: &Path,
    cache: &Path,
    sizes: &Sizes,
    seed: u32,
    root_user: bool,
) -> Result<Figures> {
    let store = cache.join("store");
    let mut rng = Mulberry32(seed);
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut dropped = root_user;
    for _ in 0..sizes.open_reps {
        let i = (rng.next_f64() * sizes.open_files as f64) as u64;
        let file = format!("/dir{}/file{i}", i % 100);
        let timed = || -> Result<Figures> {
            let mut cmd = Command::new(runner);
            cmd.arg("open").arg(&store).arg(&file);
            let t0 = Instant::now();
            let out = output(&mut cmd)?;
            let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
            let mut f = parse_last_line(&out)?;
            f.insert("wall_ms".into(), wall_ms);
            Ok(f)
        };
        if root_user {
            dropped = drop_caches() && dropped;
            cold.push(timed()?);
        }
        warm.push(timed()?);
    }
    let mut out = Figures::new();
    for (prefix, reps) in [("cold_cache", &cold), ("warm_cache", &warm)] {
        let keys: Vec<String> = reps
            .first()
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            if let Some(s) = Stat::of(reps, &key) {
                out.insert(format!("{prefix}.{key}"), s.median);
            }
        }
    }
    out.insert("page_cache_dropped".into(), f64::from(u8::from(dropped)));
    Ok(out)
}

/// `sync`, then drops the page cache, dentries and inodes; false when not permitted.
fn drop_caches() -> bool {
    let synced = Command::new("sync").status().is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Whether this process runs as root (from /proc, as the workspace forbids libc's `unsafe`).
fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
            .unwrap_or(false)
    })
}

/// Where cargo builds: `$CARGO_TARGET_DIR` or `<workspace>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Node's `rng` helper (mulberry32 scaled to [0, 1)): `bench-open.js` picks its files with it.
struct Mulberry32(u32);

impl Mulberry32 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x6D2B_79F5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }
}

/// What a row is held to.
#[derive(Clone, Copy)]
enum Target {
    None,
    /// ddrive / Node at least this.
    AtLeast(f64),
    /// ddrive / Node at most this.
    AtMost(f64),
    /// ddrive's median below this many ms.
    BelowMs(f64),
    /// ddrive's figure over its BLAKE2b figure of the same run, at least this.
    ShareOfBlake2b(f64),
}

/// One table row: `key` of set `<side>_<set>` on each side (ours only when `node` is false).
struct Metric {
    label: &'static str,
    unit: &'static str,
    set: &'static str,
    key: &'static str,
    node: bool,
    json_key: &'static str,
    target: Target,
}

const METRICS: &[Metric] = &[
    Metric {
        label: "writeFile small files one by one, 100 dirs",
        unit: "files/s",
        set: "drive",
        key: "writefile_per_s",
        node: true,
        json_key: "writefile",
        target: Target::AtLeast(12.0),
    },
    Metric {
        label: "  same, per second of our thread's CPU time (no wait for a core)",
        unit: "files/s",
        set: "drive",
        key: "writefile_per_cpu_s",
        node: false,
        json_key: "writefile_cpu",
        target: Target::None,
    },
    Metric {
        label: "readdir each dir",
        unit: "ms/dir",
        set: "drive",
        key: "readdir_ms_per_dir",
        node: true,
        json_key: "readdir",
        target: Target::None,
    },
    Metric {
        label: "stat all",
        unit: "stats/s",
        set: "drive",
        key: "stat_per_s",
        node: true,
        json_key: "stat",
        target: Target::AtLeast(10.0),
    },
    Metric {
        label: "readFile all (random order)",
        unit: "files/s",
        set: "drive",
        key: "readfile_per_s",
        node: true,
        json_key: "readfile",
        target: Target::AtLeast(10.0),
    },
    Metric {
        label: "big file write stream, 64 KiB writes",
        unit: "MB/s",
        set: "drive",
        key: "big_write_MBps",
        node: true,
        json_key: "big_write",
        target: Target::ShareOfBlake2b(0.7),
    },
    Metric {
        label: "  BLAKE2b-256 of the same 64 KiB chunks (blake2b_simd, 1 thread)",
        unit: "MB/s",
        set: "drive",
        key: "blake2b_MBps",
        node: false,
        json_key: "blake2b_64k",
        target: Target::None,
    },
    Metric {
        label: "  same, per second of CPU time of all our threads (hash and write overlap)",
        unit: "MB/s",
        set: "drive",
        key: "big_write_MBps_per_cpu_s",
        node: false,
        json_key: "big_write_cpu",
        target: Target::None,
    },
    Metric {
        label: "  content blocks of the big file",
        unit: "blocks",
        set: "drive",
        key: "big_blocks",
        node: true,
        json_key: "big_blocks",
        target: Target::None,
    },
    Metric {
        label: "big file read stream",
        unit: "MB/s",
        set: "drive",
        key: "big_read_MBps",
        node: true,
        json_key: "big_read",
        target: Target::AtLeast(3.0),
    },
    Metric {
        label: "peak RSS after the small-file phase",
        unit: "MiB",
        set: "drive",
        key: "peak_rss_mib_after_small",
        node: true,
        json_key: "rss_small",
        target: Target::None,
    },
    Metric {
        label: "peak RSS, whole run",
        unit: "MiB",
        set: "drive",
        key: "peak_rss_mib",
        node: true,
        json_key: "rss",
        target: Target::AtMost(0.25),
    },
    Metric {
        label: "bytes on disk after the small files",
        unit: "bytes",
        set: "drive",
        key: "disk_bytes_small",
        node: true,
        json_key: "disk_small",
        target: Target::None,
    },
    Metric {
        label: "open many-file drive + stat 1 file, fresh process, warm cache",
        unit: "ms",
        set: "open",
        key: "warm_cache.open_plus_stat_ms",
        node: true,
        json_key: "open_stat_warm",
        target: Target::BelowMs(20.0),
    },
    Metric {
        label: "  whole process (spawn to exit), warm cache",
        unit: "ms",
        set: "open",
        key: "warm_cache.wall_ms",
        node: true,
        json_key: "open_process_warm",
        target: Target::None,
    },
    Metric {
        label: "open many-file drive + stat 1 file, page cache dropped",
        unit: "ms",
        set: "open",
        key: "cold_cache.open_plus_stat_ms",
        node: true,
        json_key: "open_stat_cold",
        target: Target::None,
    },
    Metric {
        label: "  whole process (spawn to exit), page cache dropped",
        unit: "ms",
        set: "open",
        key: "cold_cache.wall_ms",
        node: true,
        json_key: "open_process_cold",
        target: Target::None,
    },
    Metric {
        label: "  peak RSS of the opening process, warm",
        unit: "MiB",
        set: "open",
        key: "warm_cache.peak_rss_mib",
        node: true,
        json_key: "open_rss",
        target: Target::None,
    },
    Metric {
        label: "writeFile while building the many-file drive (when it was built)",
        unit: "files/s",
        set: "open",
        key: "setup.writefile_per_s",
        node: true,
        json_key: "setup_writefile",
        target: Target::None,
    },
];

/// A row's figures and verdict.
struct Row {
    metric: &'static Metric,
    node: Option<Stat>,
    ours: Option<Stat>,
    ratio: Option<f64>,
    target: String,
    met: Option<bool>,
}

struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn new(runs: &BTreeMap<&str, Vec<Figures>>) -> Self {
        let get = |set: String, key: &str| runs.get(set.as_str()).and_then(|r| Stat::of(r, key));
        let rows = METRICS
            .iter()
            .map(|m| {
                let node = if m.node {
                    get(format!("node_{}", m.set), m.key)
                } else {
                    None
                };
                let ours = get(format!("ddrive_{}", m.set), m.key);
                let ratio = match (node, ours) {
                    (Some(n), Some(o)) if n.median > 0.0 => Some(o.median / n.median),
                    _ => None,
                };
                let (target, met) = match m.target {
                    Target::None => (String::new(), None),
                    Target::AtLeast(t) => (format!(">= {t}x"), ratio.map(|r| r >= t)),
                    Target::AtMost(t) => (format!("<= {t}x"), ratio.map(|r| r <= t)),
                    Target::BelowMs(t) => (format!("< {t} ms"), ours.map(|o| o.median < t)),
                    Target::ShareOfBlake2b(t) => {
                        let share = share_of_blake2b(runs.get("ddrive_drive"), m.key);
                        match share {
                            Some(s) => (
                                format!(">= {:.0}% of BLAKE2b: {}", t * 100.0, percent(s)),
                                Some(s.median >= t),
                            ),
                            None => (format!(">= {:.0}% of BLAKE2b", t * 100.0), None),
                        }
                    }
                };
                Row {
                    metric: m,
                    node,
                    ours,
                    ratio,
                    target,
                    met,
                }
            })
            .collect();
        Report { rows }
    }

    fn print_table(
        &self,
        rounds: usize,
        node_version: &str,
        sizes: &Sizes,
        (node_dropped, ours_dropped): (bool, bool),
    ) {
        let [files, size, dirs, big, chunk] = sizes.drive;
        println!();
        println!(
            "hyperdrive: Node {node_version} hyperdrive@10.21.0 (corestore@5) vs ddrive \
             (Corestore folder); {files} files x {size} B in {dirs} dirs, a {big} MiB file \
             written in {chunk} KiB writes; open: a {}-file drive, {} fresh processes per \
             round; median (min-max) of {rounds} round(s)",
            sizes.open_files, sizes.open_reps
        );
        println!(
            "page cache dropped before the cold opens: Node {}, ddrive {}",
            yes_no(node_dropped),
            yes_no(ours_dropped)
        );
        println!();
        print_table_head();
        for row in &self.rows {
            print_table_row(
                (row.metric.label, row.metric.unit),
                (row.node, row.ours),
                row.ratio,
                &verdict(&row.target, row.met),
                rounds,
            );
        }
        println!();
        println!(
            "ratio = ddrive / Node (higher is better for rates; lower for times, RSS and disk). \
             Our writer cuts 512 KiB blocks whatever the write size; Node's write stream makes \
             one block per write."
        );
        println!();
    }

    fn json(&self, rounds: usize, node_version: &str, quick: bool) -> String {
        let mut fields = vec![
            "\"bench\":\"hyperdrive\"".to_owned(),
            format!("\"rounds\":{rounds}"),
            format!("\"quick\":{quick}"),
            format!("\"node\":\"{node_version}\""),
        ];
        for row in &self.rows {
            if let Some(r) = row.ratio {
                fields.push(format!("\"{}_ratio\":{}", row.metric.json_key, num(r)));
            }
        }
        for row in &self.rows {
            for (side, s) in [("node", row.node), ("ddrive", row.ours)] {
                if let Some(s) = s {
                    fields.push(format!(
                        "\"{}_{side}\":{}",
                        row.metric.json_key,
                        num(s.median)
                    ));
                }
            }
        }
        for row in &self.rows {
            if let Some(ok) = row.met {
                fields.push(format!("\"{}_target_met\":{ok}", row.metric.json_key));
            }
        }
        format!("{{{}}}", fields.join(","))
    }
}

/// Per round, `key` over `blake2b_MBps` of the same run.
fn share_of_blake2b(runs: Option<&Vec<Figures>>, key: &str) -> Option<Stat> {
    let per_round: Vec<Figures> = runs
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let share = r.get(key)? / r.get("blake2b_MBps")?;
            Some(Figures::from([("share".to_owned(), share)]))
        })
        .collect();
    Stat::of(&per_round, "share")
}

/// A share as percent: the median, and the range over the rounds when they differ.
fn percent(s: Stat) -> String {
    if s.min == s.max {
        format!("{:.0}%", s.median * 100.0)
    } else {
        format!(
            "{:.0}% ({:.0}-{:.0}%)",
            s.median * 100.0,
            s.min * 100.0,
            s.max * 100.0
        )
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_bench_open_lines() {
        let node = r#"{"bench":"open","files":100000,"setup":{"params":{"files":100000},"writefile_per_s":764.2},"page_cache_dropped":true,"cold_cache":{"wall_ms":516.1,"open_plus_stat_ms":36.1},"warm_cache":{"wall_ms":383,"open_plus_stat_ms":30},"node":"v20.20.2"}"#;
        let f = parse_last_line(&format!("noise\n{node}\n")).expect("parses");
        assert_eq!(f.get("warm_cache.open_plus_stat_ms"), Some(&30.0));
        assert_eq!(f.get("cold_cache.wall_ms"), Some(&516.1));
        assert_eq!(f.get("setup.writefile_per_s"), Some(&764.2));
        assert_eq!(f.get("setup.params.files"), Some(&100000.0));
        assert_eq!(f.get("page_cache_dropped"), Some(&1.0));
        assert!(!f.contains_key("node") && !f.contains_key("bench"));
        assert!(parse_last_line("no json").is_err());
    }

    #[test]
    fn picks_the_files_node_picks() {
        // node -e "r = require('./lib').rng(1000); [0,1,2].map(() => Math.floor(r() * 100000))"
        let mut r = Mulberry32(1000);
        let picks: Vec<u64> = (0..3).map(|_| (r.next_f64() * 100_000.0) as u64).collect();
        assert_eq!(picks, [79519, 82768, 69151]);
    }

    #[test]
    fn share_target_uses_each_rounds_own_blake2b() {
        let runs: Vec<Figures> = [(500.0, 1000.0), (600.0, 800.0), (100.0, 1000.0)]
            .iter()
            .map(|&(w, b)| {
                Figures::from([
                    ("big_write_MBps".to_owned(), w),
                    ("blake2b_MBps".to_owned(), b),
                ])
            })
            .collect();
        let s = share_of_blake2b(Some(&runs), "big_write_MBps").expect("present");
        assert_eq!((s.median, s.min, s.max), (0.5, 0.1, 0.75));
    }
}
