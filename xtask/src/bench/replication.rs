//! `cargo xtask bench replication [--rounds N] [--quick]`: drive replication over loopback
//! TCP, Node hyperdrive@10 against ddrive.
//!
//! Each round runs Node's `shared/bench/js/bench-replication.js full,ttfb <bigMiB>` (a seeder
//! process and a fresh clone process per mode) and the same with our `bench_replication`
//! runner (built `--release`): a full clone of 10k x 1 KiB files + a 256 MiB file, and the time
//! to first byte of a sparse 1 KiB read of the big file from a fresh clone, then five warm
//! random reads. Both source drives are built once and kept under
//! `<target>/bench-cache/replication/`. `--quick`: a 32 MiB big file. The table shows medians
//! over the rounds with min-max; the last line is one JSON object with ratios and medians.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::common::{
    Figures, Scratch, Stat, anchors_dir, build_example, ensure_node_modules, node_version, num,
    output, parse_last_line,
};

/// (label, Node's key, our key, unit)
const ROWS: [(&str, &str, &str, &str); 6] = [
    (
        "full clone",
        "full.full_download_ms",
        "full.full_download_ms",
        "ms",
    ),
    (
        "full clone throughput",
        "full.full_download_MBps",
        "full.full_download_MBps",
        "MB/s",
    ),
    (
        "sparse 1 KiB read, first byte from connect",
        "ttfb.ttfb_from_connect_ms",
        "ttfb.ttfb_from_connect_ms",
        "ms",
    ),
    (
        "warm random 1 KiB read (median of 5)",
        "ttfb.warm_random_read_median_ms",
        "ttfb.warm_random_read_median_ms",
        "ms",
    ),
    (
        "seeder CPU user, full clone",
        "full.seeder_cpu_user_ms",
        "full.seeder_cpu_user_ms",
        "ms",
    ),
    (
        "clone ready (open the store)",
        "full.ready_ms",
        "full.ready_ms",
        "ms",
    ),
];

/// Runs both sides `rounds` times and prints the table and the ratios.
pub(crate) fn run(rounds: usize, quick: bool) -> Result<()> {
    let (files, big_mib) = if quick { (10_000, 32) } else { (10_000, 256) };
    let root = crate::root();
    let js = anchors_dir(&root, "bench-replication.js")?;
    let node_modules = ensure_node_modules(&root, "hyperdrive")?;
    let runner = build_example(&root, "hyperdrive", "bench_replication")?;
    let scratch = Scratch::new("replication")?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let cache = target.join("bench-cache/replication");
    std::fs::create_dir_all(&cache)?;
    let node_version = node_version()?;

    let src = cache.join(format!("ddrive-src-{files}-{big_mib}"));
    eprintln!(
        "xtask bench replication: source drives (built once, kept in {})",
        cache.display()
    );
    let setup = output(Command::new(&runner).arg("setup").arg(&src).args([
        files.to_string(),
        "1024".into(),
        big_mib.to_string(),
    ]))?;
    eprintln!("ddrive source: {}", setup.trim());

    let mut node_runs: Vec<Figures> = Vec::new();
    let mut our_runs: Vec<Figures> = Vec::new();
    for round in 0..rounds {
        eprintln!("xtask bench replication: round {} of {rounds}", round + 1);
        let node = || -> Result<Figures> {
            let mut cmd = Command::new("node");
            cmd.arg("bench-replication.js")
                .args(["full,ttfb", &big_mib.to_string()])
                .current_dir(&js)
                .env("NODE_PATH", &node_modules)
                .env("BENCH_DIR", &cache)
                .env("TTFB_SEED", (1000 + round).to_string());
            parse_last_line(&output(&mut cmd)?)
        };
        let ours = || -> Result<Figures> {
            let mut all = Figures::new();
            for mode in ["full", "ttfb"] {
                let figures = our_mode(&runner, &src, &scratch.0, mode, 1000 + round)?;
                all.extend(figures.into_iter().map(|(k, v)| (format!("{mode}.{k}"), v)));
                scratch.clear()?;
            }
            Ok(all)
        };
        // Alternate who goes first.
        if round % 2 == 0 {
            node_runs.push(node()?);
            our_runs.push(ours()?);
        } else {
            our_runs.push(ours()?);
            node_runs.push(node()?);
        }
    }

    println!(
        "\nreplication over 127.0.0.1 TCP: {files} x 1 KiB files + {big_mib} MiB file \
         (node {node_version}, {rounds} round(s); median (min-max))"
    );
    println!("{:<44} {:>22} {:>22} {:>8}", "", "Node", "ddrive", "ratio");
    let mut json = BTreeMap::new();
    for (label, node_key, our_key, unit) in ROWS {
        let (n, o) = (Stat::of(&node_runs, node_key), Stat::of(&our_runs, our_key));
        let show = |s: Option<Stat>| s.map_or("-".into(), |s| format!("{} {unit}", s.show(rounds)));
        let ratio = match (n, o) {
            (Some(n), Some(o)) if n.median != 0.0 => o.median / n.median,
            _ => f64::NAN,
        };
        println!(
            "{label:<44} {:>22} {:>22} {:>8}",
            show(n),
            show(o),
            num(ratio)
        );
        json.insert(format!("ratio.{our_key}"), num(ratio));
        json.insert(
            format!("node.{node_key}"),
            n.map_or("null".into(), |s| num(s.median)),
        );
        json.insert(
            format!("ddrive.{our_key}"),
            o.map_or("null".into(), |s| num(s.median)),
        );
    }
    let body: Vec<String> = json.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    println!("{{\"bench\":\"replication\",{}}}", body.join(","));
    Ok(())
}

/// One mode of ours: a fresh seeder process, a fresh clone process, the seeder's CPU time.
fn our_mode(runner: &Path, src: &Path, scratch: &Path, mode: &str, seed: usize) -> Result<Figures> {
    let mut seeder = Command::new(runner)
        .arg("seed")
        .arg(src)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting our seeder")?;
    let mut lines = BufReader::new(seeder.stdout.take().context("seeder stdout")?).lines();
    let first = lines.next().context("seeder printed nothing")??;
    let info: serde_json::Value = serde_json::from_str(&first)?;
    let port = info["port"].as_u64().context("seeder port")?.to_string();
    let key = info["key"].as_str().context("seeder key")?.to_owned();
    let clone = output(
        Command::new(runner)
            .arg("clone")
            .arg(mode)
            .arg(&port)
            .arg(&key)
            .arg(scratch.join(format!("dst-{mode}")))
            .arg(seed.to_string()),
    );
    // Closing stdin makes the seeder print its CPU time and exit.
    if let Some(mut stdin) = seeder.stdin.take() {
        let _ = stdin.flush();
    }
    let last = lines
        .next()
        .context("seeder ended without its CPU line")??;
    seeder.wait()?;
    let mut figures = parse_last_line(&clone?)?;
    if let Some(false) = figures.get("complete").map(|v| *v == 1.0) {
        bail!("our {mode} clone was incomplete");
    }
    figures.extend(parse_last_line(&last)?);
    Ok(figures)
}
