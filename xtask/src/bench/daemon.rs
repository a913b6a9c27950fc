//! `cargo xtask bench daemon [--rounds N] [--quick]`: the real Node client
//! (hyperdrive-daemon-client@1.16.0, `bench/js/daemon-bench.js`) against ddrive's daemon and
//! against Node's hyperdrive-daemon@1.14.5 (started by tests/js/node-daemon.js: 127.0.0.1, no
//! bootstrap, no multicast, no FUSE), in the same invocation, alternating which goes first.
//!
//! Each side, each round, on fresh storage: the daemon starts (start-to-ready: from the spawn
//! to the first accepted connection on its gRPC port, measured here), then the client takes
//! the daemon's RSS idle and with 100 drives open, writes 10,000 files of 1 KiB (`--quick`:
//! 1,000), reads them, lists their directory, and streams a 1 GiB file (`--quick`: 64 MiB) in
//! and out. The table shows medians (min-max) and the verdict on the targets: 10x
//! Node's files/s, 3x its MB/s, ready in under 50 ms, at most 1/4 of its RSS.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::common::{
    Figures, Scratch, Stat, compare, ensure_node_modules, in_turn, node_scripts_dir, node_version,
    num, output, parse_last_line, print_table_head, print_table_row, verdict,
};

struct Metric {
    label: &'static str,
    unit: &'static str,
    key: &'static str,
    /// `(at least, ratio)` or `(at most, ratio)` of ddrive / Node.
    target: Option<(bool, f64)>,
}

const METRICS: &[Metric] = &[
    Metric {
        label: "writeFile 1 KiB",
        unit: "files/s",
        key: "write_files_per_s",
        target: Some((true, 10.0)),
    },
    Metric {
        label: "readFile 1 KiB",
        unit: "files/s",
        key: "read_files_per_s",
        target: Some((true, 10.0)),
    },
    Metric {
        label: "readdir of the files' directory",
        unit: "entries/s",
        key: "readdir_entries_per_s",
        target: None,
    },
    Metric {
        label: "createWriteStream, 1 MiB writes",
        unit: "MB/s",
        key: "stream_write_MBps",
        target: Some((true, 3.0)),
    },
    Metric {
        label: "createReadStream",
        unit: "MB/s",
        key: "stream_read_MBps",
        target: Some((true, 3.0)),
    },
    Metric {
        label: "RSS idle",
        unit: "MiB",
        key: "idle_rss_mib",
        target: Some((false, 0.25)),
    },
    Metric {
        label: "RSS with 100 drives open",
        unit: "MiB",
        key: "drives100_rss_mib",
        target: Some((false, 0.25)),
    },
    Metric {
        label: "RSS after the workloads",
        unit: "MiB",
        key: "after_rss_mib",
        target: None,
    },
];

/// The start-to-ready target, in milliseconds (absolute, for ddrive).
const READY_TARGET_MS: f64 = 50.0;
/// How long a daemon may take to start before the bench gives up.
const START_WITHIN: Duration = Duration::from_secs(60);

/// Runs the daemon benchmark `rounds` times on each side and prints the table and ratios.
pub(crate) fn run(rounds: usize, quick: bool) -> Result<()> {
    let (files, big) = if quick {
        ("1000", (64u64 << 20).to_string())
    } else {
        ("10000", (1u64 << 30).to_string())
    };
    let root = crate::root();
    let node_modules = ensure_node_modules(&root, "hyperdrive-daemon")?;
    let scripts = node_scripts_dir(&root, "daemon-bench.js")?;
    let launcher = root.join("tests/js/node-daemon.js");
    if !launcher.is_file() {
        bail!(
            "tests/js/node-daemon.js is missing under {}",
            root.display()
        );
    }
    crate::sh(
        &root,
        "cargo",
        &["build", "--release", "-p", "ddrive-cli", "--bin", "ddrive"],
    )?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let ddrive = target.join("release/ddrive");
    let scratch = Scratch::new("daemon")?;
    let node_version = node_version()?;

    let side = |which: Side| -> Result<Figures> {
        let storage = scratch.0.join(which.name());
        std::fs::create_dir_all(&storage)?;
        let port = free_port()?;
        let mut cmd = match which {
            Side::Node => {
                let mut c = Command::new("node");
                c.arg(&launcher).arg(&storage).arg(port.to_string());
                c
            }
            Side::Ddrive => {
                let mut c = Command::new(&ddrive);
                c.arg("--storage")
                    .arg(&storage)
                    .args(["start", "--foreground", "--bootstrap", "none", "--port"])
                    .arg(port.to_string())
                    .env_remove("DDRIVE_TOKEN");
                c
            }
        };
        cmd.env_remove("HYPERDRIVE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let daemon = Killed(cmd.spawn().with_context(|| format!("starting {cmd:?}"))?);
        let ready_ms = wait_ready(port, &storage, started)?;
        let mut client = Command::new("node");
        client
            .arg(scripts.join("daemon-bench.js"))
            .arg(&storage)
            .arg(daemon.0.id().to_string())
            .args([files, big.as_str()])
            .env("NODE_PATH", &node_modules)
            .env_remove("HYPERDRIVE_ENDPOINT")
            .env_remove("HYPERDRIVE_TOKEN");
        let out = output(&mut client);
        drop(daemon);
        scratch.clear()?;
        let mut figures = parse_last_line(&out?)?;
        figures.insert("ready_ms".into(), ready_ms);
        Ok(figures)
    };

    let (mut node_runs, mut our_runs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("xtask bench daemon: round {} of {rounds}", round + 1);
        let (n, o) = in_turn(round, || side(Side::Node), || side(Side::Ddrive))?;
        node_runs.push(n);
        our_runs.push(o);
    }

    println!();
    println!(
        "daemon: the Node client hyperdrive-daemon-client@1.16.0 ({node_version}) against \
         hyperdrive-daemon@1.14.5 and against ddrive's daemon (release), file storage in a temp \
         dir, no bootstrap, one request at a time; {files} files of 1 KiB, a {} MiB stream; \
         median (min-max) of {rounds} round(s)",
        big.parse::<u64>().unwrap_or(0) >> 20
    );
    println!();
    print_table_head();
    let mut fields = vec![
        "\"bench\":\"daemon\"".to_owned(),
        format!("\"rounds\":{rounds}"),
        format!("\"files\":{files}"),
        format!("\"big_bytes\":{big}"),
        format!("\"node\":\"{node_version}\""),
    ];
    let mut met = Vec::new();
    for m in METRICS {
        let n = Stat::of(&node_runs, m.key);
        let o = Stat::of(&our_runs, m.key);
        let (ratio, verdict, ok) = compare(n, o, m.target);
        met.extend(ok.map(|ok| (m.key, ok)));
        print_table_row((m.label, m.unit), (n, o), ratio, &verdict, rounds);
        push_fields(&mut fields, m.key, ratio, n, o);
    }
    let (n, o) = (
        Stat::of(&node_runs, "ready_ms"),
        Stat::of(&our_runs, "ready_ms"),
    );
    let (ratio, _, _) = compare(n, o, None);
    let ready_ok = o.map(|o| o.median < READY_TARGET_MS);
    met.extend(ready_ok.map(|ok| ("ready_ms", ok)));
    print_table_row(
        ("start to ready", "ms"),
        (n, o),
        ratio,
        &verdict(&format!("< {READY_TARGET_MS} ms"), ready_ok),
        rounds,
    );
    push_fields(&mut fields, "ready_ms", ratio, n, o);
    println!();
    println!("ratio = ddrive / Node (higher is better for rates; lower for RSS and time)");
    println!();
    fields.extend(met.iter().map(|(k, ok)| format!("\"{k}_target_met\":{ok}")));
    println!("{{{}}}", fields.join(","));
    Ok(())
}

fn push_fields(
    fields: &mut Vec<String>,
    key: &str,
    ratio: Option<f64>,
    node: Option<Stat>,
    ours: Option<Stat>,
) {
    if let Some(r) = ratio {
        fields.push(format!("\"{key}_ratio\":{}", num(r)));
    }
    for (side, s) in [("node", node), ("ddrive", ours)] {
        if let Some(s) = s {
            fields.push(format!("\"{key}_{side}\":{}", num(s.median)));
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Node,
    Ddrive,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Node => "node",
            Side::Ddrive => "ddrive",
        }
    }
}

/// A daemon process, killed when dropped (its storage is scratch).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Milliseconds from `started` until the daemon's config.json names `port` and the port
/// accepts a connection (both daemons bind their listener last, once ready to serve).
fn wait_ready(port: u16, storage: &Path, started: Instant) -> Result<f64> {
    let config: PathBuf = storage.join("config.json");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        let named = std::fs::read_to_string(&config)
            .map(|t| t.contains(&format!(":{port}\"")))
            .unwrap_or(false);
        if named && TcpStream::connect_timeout(&addr, Duration::from_millis(50)).is_ok() {
            return Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
        if started.elapsed() > START_WITHIN {
            bail!("the daemon did not listen on port {port} within {START_WITHIN:?}");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}
