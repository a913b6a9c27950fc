//! `cargo xtask bench hypercore`: hypercore@9 against our feed.
//!
//! Each round runs Node's `bench/js/bench-hypercore.js` and our `bench_hypercore` runner
//! (built `--release`) on the same workloads, alternating which goes first (the first writer of
//! a round pays for fresh page-cache pages on this VM). Our runner also hashes the blocks it
//! appended with plain BLAKE2b-256 (blake2b_simd, one thread) right after appending them, so
//! "share of BLAKE2b" compares two figures taken under the same load. The table shows medians
//! over the rounds with min-max; the last line is one JSON object with the ratios and the raw
//! medians.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::Result;

use super::common::{
    Figures, Scratch, Stat, build_example, ensure_node_modules, in_turn, node_scripts_dir,
    node_version, num, output, parse_last_line, print_table_head, print_table_row, verdict,
};

/// Node's full-size arguments: 100k x 1 KiB in batches of 1000, 10k gets, 10k single appends.
const SMALL: [&str; 5] = ["100000", "1024", "1000", "10000", "10000"];
/// 4096 x 64 KiB, one block per append call; no gets, no single appends (Node's script has no
/// such line, so it runs a second time with these arguments).
const LARGE: [&str; 5] = ["4096", "65536", "1", "0", "0"];
/// The same 64 KiB blocks 16 per append call (1 MiB), the way a write stream batches them.
const LARGE_BATCHED: [&str; 5] = ["4096", "65536", "16", "0", "0"];

/// Runs the hypercore benchmark `rounds` times on each side and prints the table and ratios.
pub(crate) fn run(rounds: usize) -> Result<()> {
    let root = crate::root();
    let js = node_scripts_dir(&root, "bench-hypercore.js")?;
    let node_modules = ensure_node_modules(&root, "hypercore")?;
    let runner = build_example(&root, "hypercore", "bench_hypercore")?;
    let scratch = Scratch::new("hypercore")?;
    let node_version = node_version()?;

    let node = |a: &[&str]| -> Result<Figures> {
        let mut cmd = Command::new("node");
        cmd.arg("bench-hypercore.js")
            .args(a)
            .current_dir(&js)
            .env("NODE_PATH", &node_modules)
            .env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        // Node leaves its feeds behind; freeing their page cache now gives the next run, on
        // either side, the same pool of free pages.
        scratch.clear()?;
        parse_last_line(&out?)
    };
    let ours = |a: &[&str]| -> Result<Figures> {
        let mut cmd = Command::new(&runner);
        cmd.arg("feed").args(a).env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        scratch.clear()?;
        parse_last_line(&out?)
    };

    let mut runs: BTreeMap<String, Vec<Figures>> = BTreeMap::new();
    for round in 0..rounds {
        eprintln!("xtask bench hypercore: round {} of {rounds}", round + 1);
        for (label, args) in [
            ("small", SMALL),
            ("large", LARGE),
            ("large_batched", LARGE_BATCHED),
        ] {
            let (a, b) = in_turn(round, || node(&args), || ours(&args))?;
            runs.entry(format!("node_{label}")).or_default().push(a);
            runs.entry(format!("ddrive_{label}")).or_default().push(b);
        }
    }

    let report = Report::new(&runs, rounds);
    report.print_table(rounds, &node_version);
    println!("{}", report.json(rounds, &node_version));
    Ok(())
}

/// One table row: a metric measured on both sides (or on ours only).
struct Row {
    metric: &'static str,
    unit: &'static str,
    node: Option<Stat>,
    ours: Option<Stat>,
    /// ddrive / Node of the medians, when both exist.
    ratio: Option<f64>,
    target: String,
    met: Option<bool>,
    json_key: &'static str,
}

struct Report {
    rows: Vec<Row>,
    /// Per round, our append rate over the BLAKE2b rate of the same run, by row.
    shares: BTreeMap<&'static str, Stat>,
}

impl Report {
    fn new(runs: &BTreeMap<String, Vec<Figures>>, rounds: usize) -> Self {
        let get = |set: &str, key: &str| runs.get(set).and_then(|r| Stat::of(r, key));
        let ratio = |a: Option<Stat>, b: Option<Stat>| match (a, b) {
            (Some(n), Some(o)) if n.median > 0.0 => Some(o.median / n.median),
            _ => None,
        };
        let blake2b = get("ddrive_large", "blake2b_MBps");
        let share = |set: &str| {
            let per_round: Vec<Figures> = runs
                .get(set)
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    let share = r.get("append_MBps")? / r.get("blake2b_MBps")?;
                    Some(Figures::from([("share".to_owned(), share)]))
                })
                .collect();
            Stat::of(&per_round, "share")
        };
        let mut shares = BTreeMap::new();
        for (key, set) in [
            ("append_64k", "ddrive_large"),
            ("append_64k_batch16", "ddrive_large_batched"),
        ] {
            if let Some(s) = share(set) {
                shares.insert(key, s);
            }
        }
        let mut rows = Vec::new();
        let mut both = |metric, unit, set_node: &str, set_ours: &str, key, json_key| {
            let node = get(set_node, key);
            let ours = get(set_ours, key);
            rows.push(Row {
                metric,
                unit,
                node,
                ours,
                ratio: ratio(node, ours),
                target: String::new(),
                met: None,
                json_key,
            });
        };
        both(
            "append 100k x 1 KiB, batches of 1000",
            "MB/s",
            "node_small",
            "ddrive_small",
            "append_MBps",
            "append_1k",
        );
        both(
            "random get 10k, 1 outstanding",
            "gets/s",
            "node_small",
            "ddrive_small",
            "get_seq_per_s",
            "get",
        );
        both(
            "random get latency",
            "us/get",
            "node_small",
            "ddrive_small",
            "get_seq_us_per_op",
            "get_latency",
        );
        both(
            "append 4096 x 64 KiB, 1 block per append",
            "MB/s",
            "node_large",
            "ddrive_large",
            "append_MBps",
            "append_64k",
        );
        both(
            "append 4096 x 64 KiB, 16 blocks per append",
            "MB/s",
            "node_large_batched",
            "ddrive_large_batched",
            "append_MBps",
            "append_64k_batch16",
        );
        both(
            "append 10k x 1 KiB, 1 block per append",
            "appends/s",
            "node_small",
            "ddrive_small",
            "single_append_per_s",
            "single_append",
        );
        both(
            "peak RSS, 1 KiB run",
            "MiB",
            "node_small",
            "ddrive_small",
            "peak_rss_mib",
            "rss_1k",
        );
        both(
            "peak RSS, 64 KiB run",
            "MiB",
            "node_large",
            "ddrive_large",
            "peak_rss_mib",
            "rss_64k",
        );
        both(
            "on-disk bytes / payload bytes",
            "x",
            "node_small",
            "ddrive_small",
            "disk_overhead_ratio",
            "disk_overhead",
        );
        both(
            "random get 10k, 64 outstanding (Node only)",
            "gets/s",
            "node_small",
            "none",
            "get_par64_per_s",
            "get_par64",
        );

        // Our durable figure is compared with Node's unsynced one: Node never syncs.
        let node_append = get("node_small", "append_MBps");
        let durable = get("ddrive_small", "append_flush_MBps");
        rows.insert(
            1,
            Row {
                metric: "  same + 1 flush() at the end (durable; Node: no sync)",
                unit: "MB/s",
                node: node_append,
                ours: durable,
                ratio: ratio(node_append, durable),
                target: String::new(),
                met: None,
                json_key: "append_1k_durable",
            },
        );
        rows.insert(
            6,
            Row {
                metric: "BLAKE2b-256 of the same 64 KiB blocks (blake2b_simd, 1 thread)",
                unit: "MB/s",
                node: None,
                ours: blake2b,
                ratio: None,
                target: String::new(),
                met: None,
                json_key: "blake2b_64k",
            },
        );

        for row in &mut rows {
            match row.json_key {
                "append_1k" => {
                    row.target = ">= 10x".into();
                    row.met = row.ratio.map(|r| r >= 10.0);
                }
                "get" => {
                    row.target = ">= 20x".into();
                    row.met = row.ratio.map(|r| r >= 20.0);
                }
                "append_64k" => {
                    let share = shares.get("append_64k");
                    row.target = match share {
                        Some(s) => format!(">= 70% of BLAKE2b: {}", percent(*s, rounds)),
                        None => ">= 70% of BLAKE2b".into(),
                    };
                    row.met = share.map(|s| s.median >= 0.7);
                }
                "append_64k_batch16" => {
                    if let Some(s) = shares.get("append_64k_batch16") {
                        row.target = format!("(no target) {} of BLAKE2b", percent(*s, rounds));
                    }
                }
                _ => {}
            }
        }
        Report { rows, shares }
    }

    fn print_table(&self, rounds: usize, node_version: &str) {
        println!();
        println!(
            "hypercore: Node {node_version} hypercore@9.12.0 vs ddrive, FileStorage in a temp \
             dir, no fsync in timed loops; median (min-max) of {rounds} round(s)"
        );
        println!();
        print_table_head();
        for row in &self.rows {
            print_table_row(
                (row.metric, row.unit),
                (row.node, row.ours),
                row.ratio,
                &verdict(&row.target, row.met),
                rounds,
            );
        }
        println!();
        println!(
            "ratio = ddrive / Node (higher is better for rates; lower for latency, RSS and disk)"
        );
        println!();
    }

    fn json(&self, rounds: usize, node_version: &str) -> String {
        let mut fields = vec![
            ("bench".to_owned(), "\"hypercore\"".to_owned()),
            ("rounds".to_owned(), rounds.to_string()),
            ("node".to_owned(), format!("\"{node_version}\"")),
        ];
        for row in &self.rows {
            if let Some(r) = row.ratio {
                fields.push((format!("{}_ratio", row.json_key), num(r)));
            }
        }
        for (key, share) in &self.shares {
            fields.push((format!("{key}_share_of_blake2b"), num(share.median)));
        }
        for row in &self.rows {
            if let Some(s) = row.node {
                fields.push((format!("{}_node", row.json_key), num(s.median)));
            }
            if let Some(s) = row.ours {
                fields.push((format!("{}_ddrive", row.json_key), num(s.median)));
            }
        }
        for row in self.rows.iter().filter(|r| r.met.is_some()) {
            fields.push((
                format!("{}_target_met", row.json_key),
                row.met.unwrap_or(false).to_string(),
            ));
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    }
}

/// A share as percent: the median, and the range over the rounds.
fn percent(s: Stat, rounds: usize) -> String {
    if rounds == 1 {
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
