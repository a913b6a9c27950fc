//! `cargo xtask bench multidrive [--rounds N] [--quick]`: multi-hyperdrive@1.1.4 against our
//! union, in the same invocation.
//!
//! Each round runs our Node script `bench/js/bench-multidrive.js` (in this repository: Node's
//! shared anchors have no multi-hyperdrive benchmark) and our `bench_multidrive` runner (built
//! `--release`) on the same workloads, alternating which goes first: three drives of 10,000
//! files each (`--quick`: 1,000), union `stat` of every file in a shuffled order, `readdir` of
//! a 1,000-entry directory, `read_file` of every file in another shuffled order, and 1,000
//! rewrites that each erase a tombstone. The table shows medians over the rounds with
//! min-max; the last line is one JSON object with the ratios (ddrive / Node) and the raw
//! medians.

use std::process::Command;

use anyhow::Result;

use super::common::{
    Figures, Scratch, Stat, build_example, compare, ensure_node_modules, in_turn, node_scripts_dir,
    node_version, num, output, parse_last_line, print_table_head, print_table_row,
};

struct Metric {
    label: &'static str,
    unit: &'static str,
    key: &'static str,
    json_key: &'static str,
    /// `(at least, ratio)` or `(at most, ratio)` of ddrive / Node.
    target: Option<(bool, f64)>,
}

const METRICS: &[Metric] = &[
    Metric {
        label: "union stat of every file, shuffled",
        unit: "stats/s",
        key: "stat_per_s",
        json_key: "stat",
        target: Some((true, 20.0)),
    },
    Metric {
        label: "union readdir of a directory (entries below)",
        unit: "entries/s",
        key: "readdir_per_s",
        json_key: "readdir",
        target: None,
    },
    Metric {
        label: "union read_file of every file, shuffled",
        unit: "files/s",
        key: "read_per_s",
        json_key: "read",
        target: Some((true, 20.0)),
    },
    Metric {
        label: "union rewrites erasing a tombstone each",
        unit: "writes/s",
        key: "rewrite_per_s",
        json_key: "rewrite",
        target: None,
    },
    Metric {
        label: "peak RSS",
        unit: "MiB",
        key: "peak_rss_mib",
        json_key: "rss",
        target: Some((false, 0.2)),
    },
];

/// Runs the multidrive benchmark `rounds` times on each side and prints the table and ratios.
pub(crate) fn run(rounds: usize, quick: bool) -> Result<()> {
    let (files, rewrites) = if quick {
        ("1000", "200")
    } else {
        ("10000", "1000")
    };
    let root = crate::root();
    let js = node_scripts_dir(&root, "bench-multidrive.js")?;
    let node_modules = ensure_node_modules(&root, "multi-hyperdrive")?;
    let runner = build_example(&root, "multidrive", "bench_multidrive")?;
    let scratch = Scratch::new("multidrive")?;
    let node_version = node_version()?;

    let node = || -> Result<Figures> {
        let mut cmd = Command::new("node");
        cmd.arg("bench-multidrive.js")
            .args([files, rewrites])
            .current_dir(&js)
            .env("NODE_PATH", &node_modules)
            .env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        scratch.clear()?;
        figures(&out?)
    };
    let ours = || -> Result<Figures> {
        let mut cmd = Command::new(&runner);
        cmd.args([files, rewrites]).env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        scratch.clear()?;
        figures(&out?)
    };

    let (mut node_runs, mut our_runs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("xtask bench multidrive: round {} of {rounds}", round + 1);
        let (n, o) = in_turn(round, node, ours)?;
        node_runs.push(n);
        our_runs.push(o);
    }

    println!();
    println!(
        "multidrive: Node {node_version} multi-hyperdrive@1.1.4 over hyperdrive@10.21.0 vs \
         ddrive, file storage in a temp dir, 3 drives x {files} files of 256 B, one operation \
         at a time; median (min-max) of {rounds} round(s)"
    );
    println!();
    print_table_head();
    let mut fields = vec![
        "\"bench\":\"multidrive\"".to_owned(),
        format!("\"rounds\":{rounds}"),
        format!("\"files\":{files}"),
        format!("\"node\":\"{node_version}\""),
    ];
    let mut met = Vec::new();
    for m in METRICS {
        let n = Stat::of(&node_runs, m.key);
        let o = Stat::of(&our_runs, m.key);
        let (ratio, verdict, ok) = compare(n, o, m.target);
        met.extend(ok.map(|ok| (m.json_key, ok)));
        print_table_row((m.label, m.unit), (n, o), ratio, &verdict, rounds);
        if let Some(r) = ratio {
            fields.push(format!("\"{}_ratio\":{}", m.json_key, num(r)));
        }
        for (side, s) in [("node", n), ("ddrive", o)] {
            if let Some(s) = s {
                fields.push(format!("\"{}_{side}\":{}", m.json_key, num(s.median)));
            }
        }
    }
    println!();
    println!("ratio = ddrive / Node (higher is better for rates; lower for RSS)");
    println!();
    fields.extend(met.iter().map(|(k, ok)| format!("\"{k}_target_met\":{ok}")));
    println!("{{{}}}", fields.join(","));
    Ok(())
}

/// The numbers of the last JSON line, plus `readdir_per_s` derived from the entries listed
/// and the time taken.
fn figures(stdout: &str) -> Result<Figures> {
    let mut out = parse_last_line(stdout)?;
    if let (Some(&n), Some(&ms)) = (out.get("readdir_entries"), out.get("readdir_ms"))
        && ms > 0.0
    {
        out.insert("readdir_per_s".into(), n * 1000.0 / ms);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_line_and_derives_the_readdir_rate() {
        let line = r#"{"bench":"multidrive","files":1000,"stat_per_s":1287.88,"readdir_entries":100,"readdir_ms":143.38,"peak_rss_mib":124.56,"node":"v20.20.2"}"#;
        let f = figures(line).expect("parses");
        assert_eq!(f.get("stat_per_s"), Some(&1287.88));
        let rate = f.get("readdir_per_s").copied().expect("derived");
        assert!((rate - 100.0 * 1000.0 / 143.38).abs() < 1e-9);
        assert!(figures("nothing").is_err());
    }
}
