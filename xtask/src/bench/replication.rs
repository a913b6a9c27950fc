//! `cargo xtask bench replication [--rounds N] [--quick]`: drive replication over loopback
//! TCP between Node hyperdrive@10 and ddrive, in all four seeder -> clone pairs.
//!
//! Node's side is `bench/js/repl/{setup,seed,clone}.js`, ours the `bench_replication` example (built `--release`), which takes the same
//! arguments and prints the same JSON lines, so either clone runs against either seeder:
//! Node -> Node, ddrive -> ddrive, ddrive -> Node and Node -> ddrive (seeder -> clone). Each
//! pair and mode is a fresh seeder process and a fresh clone process: a full clone of 10k x
//! 1 KiB files + a 256 MiB file (64 KiB blocks), and the time to first byte of a sparse 1 KiB
//! read of the big file from a fresh clone, then five warm random reads (the same offsets for
//! every pair of a round). Each side's source drive is built once by its own `setup` and kept
//! under `<target>/bench-cache/replication/`; both must have the same shape (checked).
//! `--quick`: a 32 MiB big file. Rounds alternate which pairs go first. The table shows medians
//! over the rounds with min-max and ratios to Node -> Node; the last line is one JSON object
//! with the medians and ratios.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};

use super::common::{
    Figures, Scratch, Stat, build_example, ensure_node_modules, last_json_line, node_scripts_dir,
    node_version, num, output, parse_last_line,
};

/// (label, key, unit); keys are `<mode>.<field of that mode's clone and seeder lines>`.
const ROWS: [(&str, &str, &str); 9] = [
    ("full clone", "full.full_download_ms", "ms"),
    ("full clone throughput", "full.full_download_MBps", "MB/s"),
    (
        "sparse 1 KiB read, first byte from connect",
        "ttfb.ttfb_from_connect_ms",
        "ms",
    ),
    (
        "warm random 1 KiB read (median of 5)",
        "ttfb.warm_random_read_median_ms",
        "ms",
    ),
    (
        "seeder CPU user+sys, full clone",
        "full.seeder_cpu_ms",
        "ms",
    ),
    ("clone CPU user+sys, full clone", "full.clone_cpu_ms", "ms"),
    // User time alone: the system time of page-cache writes swings 3x between identical runs on
    // this VM (first touches of guest pages), the user time does not.
    (
        "seeder CPU user, full clone",
        "full.seeder_cpu_user_ms",
        "ms",
    ),
    ("clone CPU user, full clone", "full.clone_cpu_user_ms", "ms"),
    ("clone ready (open the store)", "full.ready_ms", "ms"),
];

const MODES: [&str; 2] = ["full", "ttfb"];

/// Content chunk of the big file, in KiB: Node's `createWriteStream` makes each a block.
const CHUNK_KIB: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Node,
    Ours,
}

/// A seeder -> clone pairing: the column title and the JSON prefix of its medians.
struct Pair {
    seeder: Side,
    clone: Side,
    title: &'static str,
    json: &'static str,
}

/// Node -> Node first: it is what the ratios are against.
const PAIRS: [Pair; 4] = [
    Pair {
        seeder: Side::Node,
        clone: Side::Node,
        title: "Node->Node",
        json: "node",
    },
    Pair {
        seeder: Side::Ours,
        clone: Side::Ours,
        title: "ddrive->ddrive",
        json: "ddrive",
    },
    Pair {
        seeder: Side::Ours,
        clone: Side::Node,
        title: "ddrive->Node",
        json: "ddrive_to_node",
    },
    Pair {
        seeder: Side::Node,
        clone: Side::Ours,
        title: "Node->ddrive",
        json: "node_to_ddrive",
    },
];

/// How to start one side's processes, and the source drive it serves.
struct Runner {
    node_modules: PathBuf,
    js: PathBuf,
    ours: PathBuf,
    /// Each side's source folder and the setup line its `setup` printed (the clone's
    /// SETUP_JSON argument).
    sources: [(PathBuf, String); 2],
}

impl Runner {
    fn command(&self, side: Side, script: &str) -> Command {
        match side {
            Side::Node => {
                let mut cmd = Command::new("node");
                cmd.arg(self.js.join("repl").join(format!("{script}.js")))
                    .current_dir(&self.js)
                    .env("NODE_PATH", &self.node_modules);
                cmd
            }
            Side::Ours => {
                let mut cmd = Command::new(&self.ours);
                cmd.arg(script);
                cmd
            }
        }
    }

    fn source(&self, side: Side) -> &(PathBuf, String) {
        &self.sources[usize::from(side == Side::Ours)]
    }
}

/// Runs all pairs `rounds` times and prints the table and the ratios.
pub(crate) fn run(rounds: usize, quick: bool) -> Result<()> {
    let (files, big_mib) = if quick { (10_000, 32) } else { (10_000, 256) };
    let root = crate::root();
    let js = node_scripts_dir(&root, "repl/clone.js")?;
    let node_modules = ensure_node_modules(&root, "hyperdrive")?;
    let ours = build_example(&root, "hyperdrive", "bench_replication")?;
    let scratch = Scratch::new("replication")?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let cache = target.join("bench-cache/replication");
    std::fs::create_dir_all(&cache)?;
    let node_version = node_version()?;

    eprintln!(
        "xtask bench replication: source drives (built once, kept in {})",
        cache.display()
    );
    let mut runner = Runner {
        node_modules,
        js,
        ours,
        sources: Default::default(),
    };
    for side in [Side::Node, Side::Ours] {
        let name = if side == Side::Node { "node" } else { "ddrive" };
        let src = cache.join(format!("{name}-src-{files}-{big_mib}"));
        let mut cmd = runner.command(side, "setup");
        cmd.arg(&src).args([
            files.to_string(),
            "1024".into(),
            big_mib.to_string(),
            CHUNK_KIB.to_string(),
        ]);
        let line = last_json_line(&output(&mut cmd)?)?.to_owned();
        eprintln!("{name} source: {line}");
        runner.sources[usize::from(side == Side::Ours)] = (src, line);
    }
    same_shape(&runner.sources[0].1, &runner.sources[1].1)?;

    let mut runs: [Vec<Figures>; 4] = Default::default();
    for round in 0..rounds {
        eprintln!("xtask bench replication: round {} of {rounds}", round + 1);
        // Alternate who goes first: the pairs in order, then in reverse.
        let mut order: Vec<usize> = (0..PAIRS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let mut all = Figures::new();
            for mode in MODES {
                if mode == "full" {
                    recycle_page_cache(&scratch.0, (big_mib + 16) << 20)?;
                }
                let figures = run_pair(&runner, &PAIRS[i], mode, &scratch.0, 1000 + round)?;
                all.extend(figures.into_iter().map(|(k, v)| (format!("{mode}.{k}"), v)));
                scratch.clear()?;
            }
            runs[i].push(all);
        }
    }

    print_table(&runs, files, big_mib, rounds, &node_version);
    Ok(())
}

/// Writes and deletes `bytes` of a file in `dir`, so that the page-cache pages the next clone
/// writes into are ones this VM's guest has touched before.
///
/// On this virtual machine the first touch of a guest page costs a hypervisor fault: writing
/// 282 MB into a new file took 1.0 s of system time on never-used memory and 0.07 s on recycled
/// pages. Which clone met fresh pages was luck (clone system time 0.54-1.11 s between identical
/// runs); recycling before every full clone, whichever side clones, takes the luck out for both.
fn recycle_page_cache(dir: &Path, bytes: usize) -> Result<()> {
    use std::io::Write as _;
    let path = dir.join("recycle-pages");
    let mut f = std::fs::File::create(&path)?;
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..bytes.div_ceil(chunk.len()) {
        f.write_all(&chunk)?;
    }
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(())
}

fn print_table(
    runs: &[Vec<Figures>; 4],
    files: usize,
    big_mib: usize,
    rounds: usize,
    node_version: &str,
) {
    println!(
        "\nreplication over 127.0.0.1 TCP: {files} x 1 KiB files + {big_mib} MiB file in \
         {CHUNK_KIB} KiB blocks (node {node_version}, {rounds} round(s); median (min-max); \
         seeder->clone; ratio = pair / Node->Node; page cache recycled before each full clone)"
    );
    print!("{:<42}", "");
    for (i, pair) in PAIRS.iter().enumerate() {
        print!(" {:>22}", pair.title);
        if i > 0 {
            print!(" {:>7}", "ratio");
        }
    }
    println!();
    let mut json = BTreeMap::new();
    for (label, key, unit) in ROWS {
        print!("{label:<42}");
        let base = Stat::of(&runs[0], key);
        for (i, pair) in PAIRS.iter().enumerate() {
            let stat = Stat::of(&runs[i], key);
            let cell = stat.map_or("-".into(), |s| format!("{} {unit}", s.show(rounds)));
            print!(" {cell:>22}");
            json.insert(
                format!("{}.{key}", pair.json),
                stat.map_or("null".into(), |s| num(s.median)),
            );
            if i > 0 {
                let ratio = match (base, stat) {
                    (Some(b), Some(s)) if b.median != 0.0 => s.median / b.median,
                    _ => f64::NAN,
                };
                let shown = if ratio.is_finite() {
                    format!("{ratio:.3}x")
                } else {
                    "-".into()
                };
                print!(" {shown:>7}");
                // `ratio.<key>` stays ddrive->ddrive against Node->Node, as before the
                // mixed pairs.
                let name = if pair.json == "ddrive" {
                    format!("ratio.{key}")
                } else {
                    format!("ratio.{}.{key}", pair.json)
                };
                json.insert(name, num(ratio));
            }
        }
        println!();
    }
    let body: Vec<String> = json.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    println!(
        "{{\"bench\":\"replication\",\"files\":{files},\"big_mib\":{big_mib},\"rounds\":{rounds},{}}}",
        body.join(",")
    );
}

/// Both sources must have the same blocks for the comparison to be like with like: file
/// count, feed lengths, content bytes and where the big file starts and how many blocks it
/// has. (Metadata bytes may differ by a varint of a timestamp, so they are only reported.)
fn same_shape(node: &str, ours: &str) -> Result<()> {
    let (n, o): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(node)?, serde_json::from_str(ours)?);
    let fields = [
        "metadata_length",
        "content_length",
        "content_byte_length",
        "big_blocks",
        "big_offset",
    ];
    for field in fields {
        if n[field] != o[field] {
            bail!(
                "the source drives differ in {field} (Node {}, ddrive {}): not comparable",
                n[field],
                o[field]
            );
        }
    }
    for field in ["files", "file_size", "big_mib", "chunk"] {
        if n["params"][field] != o["params"][field] {
            bail!("the source drives were built with different {field}");
        }
    }
    if n["metadata_byte_length"] != o["metadata_byte_length"] {
        eprintln!(
            "note: metadata bytes differ: Node {}, ddrive {}",
            n["metadata_byte_length"], o["metadata_byte_length"]
        );
    }
    Ok(())
}

/// A running seeder: its stdout lines; closing its stdin makes it print its CPU line and exit.
struct Seeder {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Seeder {
    fn start(mut cmd: Command) -> Result<(Self, u16, String)> {
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {shown}"))?;
        let stdout = child.stdout.take().context("seeder stdout")?;
        let mut seeder = Seeder {
            child,
            lines: BufReader::new(stdout).lines(),
        };
        let first = seeder.next_line().context("reading the seeder's port")?;
        let info: serde_json::Value = serde_json::from_str(&first)?;
        let port = info["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .context("seeder port")?;
        let key = info["key"].as_str().context("seeder key")?.to_owned();
        Ok((seeder, port, key))
    }

    fn next_line(&mut self) -> Result<String> {
        self.lines
            .next()
            .context("the seeder ended without printing its line")?
            .map_err(Into::into)
    }

    /// Closes stdin and returns the seeder's CPU line.
    fn stop(mut self) -> Result<Figures> {
        drop(self.child.stdin.take());
        let last = self.next_line();
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the seeder exited with {status}");
        }
        parse_last_line(&last?)
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        // Only on an error path (stop() waited otherwise): do not leave it serving.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One mode of one pair: a fresh seeder process and a fresh clone process.
fn run_pair(
    runner: &Runner,
    pair: &Pair,
    mode: &str,
    scratch: &Path,
    ttfb_seed: usize,
) -> Result<Figures> {
    let (src, setup) = runner.source(pair.seeder);
    let mut cmd = runner.command(pair.seeder, "seed");
    cmd.arg(src);
    let (seeder, port, key) = Seeder::start(cmd)?;
    let mut cmd = runner.command(pair.clone, "clone");
    cmd.arg(mode)
        .arg(port.to_string())
        .arg(&key)
        .arg(scratch.join(format!("dst-{}-{mode}", pair.json)))
        .arg(setup)
        .env("TTFB_SEED", ttfb_seed.to_string());
    let clone = output(&mut cmd);
    let seeder = seeder.stop();
    let mut figures = parse_last_line(&clone?)?;
    let bad = |flag: &str, good: f64| figures.get(flag).is_some_and(|v| *v != good);
    if bad("complete", 1.0)
        || bad("first_read_ok", 1.0)
        || bad("small_ok", 1.0)
        || bad("warm_read_bad", 0.0)
    {
        bail!(
            "{} {mode}: the clone got incomplete or wrong data: {figures:?}",
            pair.title
        );
    }
    figures.extend(seeder?);
    for who in ["seeder", "clone"] {
        let user = figures.get(&format!("{who}_cpu_user_ms")).copied();
        let sys = figures.get(&format!("{who}_cpu_sys_ms")).copied();
        if let (Some(user), Some(sys)) = (user, sys) {
            figures.insert(format!("{who}_cpu_ms"), user + sys);
        }
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = r#"{"params":{"files":10000,"file_size":1024,"big_mib":32,"chunk":65536,"v":2},"key":"c2","metadata_length":10002,"metadata_byte_length":1096825,"content_length":10512,"content_byte_length":43794432,"big_blocks":512,"big_offset":10000}"#;

    #[test]
    fn sources_of_the_same_shape_compare() {
        let ours = NODE
            .replace(r#""key":"c2""#, r#""key":"1e""#)
            .replace("1096825", "1096826");
        same_shape(NODE, &ours).expect("same blocks, other key and timestamps");
    }

    #[test]
    fn a_big_file_in_larger_blocks_does_not_compare() {
        // What the runner built before: the 32 MiB file in 512 KiB blocks.
        let ours = NODE
            .replace(r#""big_blocks":512"#, r#""big_blocks":64"#)
            .replace("10512", "10064");
        let err = same_shape(NODE, &ours).expect_err("different layouts");
        assert!(format!("{err:#}").contains("content_length"), "{err:#}");
    }

    #[test]
    fn the_setup_line_is_the_last_json_line() {
        let stdout = format!("building\n{NODE}\n\n");
        let line = last_json_line(&stdout).expect("found");
        assert_eq!(line, NODE);
        assert!(last_json_line("nothing").is_err());
    }
}
