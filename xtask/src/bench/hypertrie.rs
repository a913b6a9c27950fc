//! `cargo xtask bench hypertrie [--rounds N]`: Node's `bench/js/bench-hypertrie.js`
//! beside our `bench_hypertrie` runner (built `--release`), on the same workloads in the same
//! invocation, so both sides see the same machine at the same time.
//!
//! Each round runs both, alternating which goes first. The table shows medians over the rounds
//! with min-max; the last line is one JSON object with the ratios (ddrive / Node) and the raw
//! medians.

use std::process::Command;

use anyhow::Result;

use super::common::{
    Figures, Scratch, Stat, build_example, compare, ensure_node_modules, in_turn, node_scripts_dir,
    node_version, num, output, parse_last_line, print_table_head, print_table_row,
};

/// One table row: `key` in both runs' lines (or derived), and the target on ddrive / Node.
struct Metric {
    label: &'static str,
    unit: &'static str,
    key: &'static str,
    json_key: &'static str,
    /// `(at least, ratio)` or `(at most, ratio)`.
    target: Option<(bool, f64)>,
}

const METRICS: &[Metric] = &[
    Metric {
        label: "put 100k keys one by one (1 append + signature each)",
        unit: "puts/s",
        key: "put_seq_per_s",
        json_key: "put_seq",
        target: Some((true, 10.0)),
    },
    Metric {
        label: "put 100k keys in batches of 1000",
        unit: "puts/s",
        key: "put_batch_per_s",
        json_key: "put_batch",
        target: None,
    },
    Metric {
        label: "get 100k random keys, one at a time",
        unit: "gets/s",
        key: "get_random_per_s",
        json_key: "get",
        target: Some((true, 30.0)),
    },
    Metric {
        label: "list dir7 (1,000 keys), recursive",
        unit: "keys/s",
        key: "list_dir_per_s",
        json_key: "list_dir",
        target: None,
    },
    Metric {
        label: "iterate all 100k keys",
        unit: "keys/s",
        key: "iterate_per_s",
        json_key: "iterate",
        target: Some((true, 10.0)),
    },
    Metric {
        label: "peak RSS",
        unit: "MiB",
        key: "peak_rss_mib",
        json_key: "rss",
        target: Some((false, 0.125)),
    },
    Metric {
        label: "feed bytes on disk after the 100k puts",
        unit: "bytes",
        key: "disk_bytes_seq",
        json_key: "disk",
        target: None,
    },
];

/// Runs the hypertrie benchmark `rounds` times on each side and prints the table and ratios.
pub(crate) fn run(rounds: usize) -> Result<()> {
    let root = crate::root();
    let js = node_scripts_dir(&root, "bench-hypertrie.js")?;
    let node_modules = ensure_node_modules(&root, "hypertrie")?;
    let runner = build_example(&root, "hypertrie", "bench_hypertrie")?;
    let scratch = Scratch::new("hypertrie")?;
    let node_version = node_version()?;

    let node = || -> Result<Figures> {
        let mut cmd = Command::new("node");
        cmd.arg("bench-hypertrie.js")
            .current_dir(&js)
            .env("NODE_PATH", &node_modules)
            .env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        scratch.clear()?;
        figures(&out?)
    };
    let ours = || -> Result<Figures> {
        let mut cmd = Command::new(&runner);
        cmd.env("BENCH_DIR", &scratch.0);
        let out = output(&mut cmd);
        scratch.clear()?;
        figures(&out?)
    };

    let (mut node_runs, mut our_runs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("xtask bench hypertrie: round {} of {rounds}", round + 1);
        let (n, o) = in_turn(round, node, ours)?;
        node_runs.push(n);
        our_runs.push(o);
    }

    println!();
    println!(
        "hypertrie: Node {node_version} hypertrie@5.1.3 vs ddrive, FileStorage in a temp dir, \
         100k keys 'dir{{i%100}}/file{{i}}' with 64-byte values; median (min-max) of {rounds} \
         round(s)"
    );
    println!();
    print_table_head();
    let mut ratios = Vec::new();
    let mut medians = Vec::new();
    let mut met = Vec::new();
    for m in METRICS {
        let n = Stat::of(&node_runs, m.key);
        let o = Stat::of(&our_runs, m.key);
        let (ratio, verdict, ok) = compare(n, o, m.target);
        met.extend(ok.map(|ok| (m.json_key, ok)));
        print_table_row((m.label, m.unit), (n, o), ratio, &verdict, rounds);
        if let Some(r) = ratio {
            ratios.push(format!("\"{}_ratio\":{}", m.json_key, num(r)));
        }
        for (side, s) in [("node", n), ("ddrive", o)] {
            if let Some(s) = s {
                medians.push(format!("\"{}_{side}\":{}", m.json_key, num(s.median)));
            }
        }
    }
    println!();
    println!("ratio = ddrive / Node (higher is better for rates; lower for RSS and disk)");
    println!();
    let mut fields = vec![
        "\"bench\":\"hypertrie\"".to_owned(),
        format!("\"rounds\":{rounds}"),
        format!("\"node\":\"{node_version}\""),
    ];
    fields.extend(ratios);
    fields.extend(medians);
    fields.extend(met.iter().map(|(k, ok)| format!("\"{k}_target_met\":{ok}")));
    println!("{{{}}}", fields.join(","));
    Ok(())
}

/// The numbers of the last JSON line of `stdout`, plus `list_dir_per_s` derived from the
/// list's key count and time (neither script prints it as a rate).
fn figures(stdout: &str) -> Result<Figures> {
    let mut out = parse_last_line(stdout)?;
    if let (Some(&keys), Some(&ms)) = (out.get("list_dir_keys"), out.get("list_dir_ms"))
        && ms > 0.0
    {
        out.insert("list_dir_per_s".into(), keys * 1000.0 / ms);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_sides_lines_and_derives_the_list_rate() {
        let node = r#"{"bench":"hypertrie","keys":100000,"put_seq_per_s":3153,"list_dir_keys":1000,"list_dir_ms":29.7,"node":"v20.20.2","peak_rss_mib":436.2,"ts":"2026-11-21T06:27:23.940Z"}"#;
        let f = figures(node).expect("parses");
        assert_eq!(f.get("put_seq_per_s"), Some(&3153.0));
        assert_eq!(f.get("peak_rss_mib"), Some(&436.2));
        let rate = f.get("list_dir_per_s").copied().expect("derived");
        assert!((rate - 1000.0 * 1000.0 / 29.7).abs() < 1e-6);
        assert!(!f.contains_key("bench") && !f.contains_key("ts"));
        assert!(figures("no json here").is_err());
    }
}
