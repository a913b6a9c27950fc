//! What every side-by-side benchmark shares: where Node's scripts and packages are, building
//! our runner, a scratch folder, running a command, reading a run's JSON line, and medians over
//! the rounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One run's JSON line: numbers by key (strings and nested values are skipped).
pub(crate) type Figures = BTreeMap<String, f64>;

/// `<workspace>/bench/js`, where the Node side of every benchmark lives, checked to hold
/// `script`. The scripts use the pinned packages of tests/js (`ensure_node_modules`).
pub(crate) fn node_scripts_dir(root: &Path, script: &str) -> Result<PathBuf> {
    let js = root.join("bench/js");
    if !js.join(script).is_file() {
        bail!(
            "the Node benchmark script bench/js/{script} is missing under {}",
            root.display()
        );
    }
    Ok(js.canonicalize()?)
}

/// tests/js/node_modules with the pinned reference stack, installing it if `package` is absent.
pub(crate) fn ensure_node_modules(root: &Path, package: &str) -> Result<PathBuf> {
    let js = root.join("tests/js");
    let modules = js.join("node_modules");
    if !modules.join(package).join("package.json").is_file() {
        crate::sh(&js, "npm", &["install", "--no-audit", "--no-fund"])
            .context("installing the Node reference stack in tests/js (needs node and npm)")?;
    }
    Ok(modules)
}

/// Builds `package`'s `example` with `--release` and returns the binary's path.
pub(crate) fn build_example(root: &Path, package: &str, example: &str) -> Result<PathBuf> {
    crate::sh(
        root,
        "cargo",
        &["build", "--release", "-p", package, "--example", example],
    )?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    Ok(target
        .join("release/examples")
        .join(example)
        .with_extension(std::env::consts::EXE_EXTENSION))
}

/// Node's version, for the report.
pub(crate) fn node_version() -> Result<String> {
    Ok(output(Command::new("node").arg("--version"))?
        .trim()
        .to_owned())
}

/// A scratch folder for both sides' files, removed at the end.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("ddrive-bench-{tag}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    /// Removes everything inside the folder, so the next run starts from the same free pages.
    pub(crate) fn clear(&self) -> Result<()> {
        for entry in std::fs::read_dir(&self.0)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command and returns its stdout, failing with its stderr if it fails.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The numbers of the last JSON object line of `stdout` (what every benchmark script prints),
/// nested objects flattened to `outer.inner` keys (`bench-open.js` nests its cold and warm
/// medians) and booleans as 0/1; strings and nulls are skipped.
pub(crate) fn parse_last_line(stdout: &str) -> Result<Figures> {
    let line = last_json_line(stdout)?;
    let value: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("parsing {line}"))?;
    if !value.is_object() {
        bail!("not a JSON object: {line}");
    }
    let mut out = Figures::new();
    flatten("", &value, &mut out);
    Ok(out)
}

/// The last line of `stdout` that is a JSON object, trimmed.
pub(crate) fn last_json_line(stdout: &str) -> Result<&str> {
    stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .map(str::trim)
        .with_context(|| format!("no JSON line in output:\n{stdout}"))
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Figures) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_owned(), x);
            }
        }
        serde_json::Value::Bool(b) => {
            out.insert(prefix.to_owned(), f64::from(u8::from(*b)));
        }
        _ => {}
    }
}

/// Median, min and max of one figure over the rounds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stat {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Stat {
    pub(crate) fn of(runs: &[Figures], key: &str) -> Option<Stat> {
        let mut v: Vec<f64> = runs.iter().filter_map(|r| r.get(key).copied()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    pub(crate) fn show(self, rounds: usize) -> String {
        if rounds == 1 || self.min == self.max {
            fmt(self.median)
        } else {
            format!("{} ({}-{})", fmt(self.median), fmt(self.min), fmt(self.max))
        }
    }
}

/// Prints the head of the markdown table every bench prints.
pub(crate) fn print_table_head() {
    println!("| metric | unit | Node | ddrive | ratio | target |");
    println!("|---|---|---:|---:|---:|---|");
}

/// Prints one row of that table: medians (with min-max over several rounds), the ratio and the
/// target's verdict.
pub(crate) fn print_table_row(
    (metric, unit): (&str, &str),
    (node, ours): (Option<Stat>, Option<Stat>),
    ratio: Option<f64>,
    verdict: &str,
    rounds: usize,
) {
    let show = |s: Option<Stat>| s.map_or("-".into(), |s| s.show(rounds));
    println!(
        "| {metric} | {unit} | {} | {} | {} | {verdict} |",
        show(node),
        show(ours),
        ratio.map_or("-".into(), |r| format!("{r:.2}x")),
    );
}

/// Runs both sides of one round, Node first on even rounds and ours first on odd ones, so
/// neither side always gets the freshly freed pages. Returns (Node's, ours).
pub(crate) fn in_turn<T>(
    round: usize,
    node: impl FnOnce() -> Result<T>,
    ours: impl FnOnce() -> Result<T>,
) -> Result<(T, T)> {
    if round.is_multiple_of(2) {
        let n = node()?;
        Ok((n, ours()?))
    } else {
        let o = ours()?;
        Ok((node()?, o))
    }
}

/// Node's and our medians compared: the ratio ours / Node's, the verdict on `target` (`(true,
/// t)`: at least `t` times Node, for rates; `(false, t)`: at most, for RSS and disk) and
/// whether it was met, when both sides gave the figure.
pub(crate) fn compare(
    node: Option<Stat>,
    ours: Option<Stat>,
    target: Option<(bool, f64)>,
) -> (Option<f64>, String, Option<bool>) {
    let ratio = match (node, ours) {
        (Some(n), Some(o)) if n.median > 0.0 => Some(o.median / n.median),
        _ => None,
    };
    let Some((at_least, t)) = target else {
        return (ratio, String::new(), None);
    };
    let sign = if at_least { ">=" } else { "<=" };
    let met = ratio.map(|r| if at_least { r >= t } else { r <= t });
    (ratio, verdict(&format!("{sign} {t}x"), met), met)
}

/// `target`, marked met or not when that is known.
pub(crate) fn verdict(target: &str, met: Option<bool>) -> String {
    match met {
        Some(true) => format!("{target} (met)"),
        Some(false) => format!("{target} (NOT met)"),
        None => target.to_owned(),
    }
}

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

pub(crate) fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else {
        "null".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_judges_rates_at_least_and_sizes_at_most() {
        let at = |median| {
            Some(Stat {
                median,
                min: median,
                max: median,
            })
        };
        let (ratio, verdict, met) = compare(at(10.0), at(250.0), Some((true, 20.0)));
        assert_eq!(
            (ratio, verdict.as_str(), met),
            (Some(25.0), ">= 20x (met)", Some(true))
        );
        let (_, verdict, met) = compare(at(100.0), at(30.0), Some((false, 0.2)));
        assert_eq!((verdict.as_str(), met), ("<= 0.2x (NOT met)", Some(false)));
        let (ratio, verdict, met) = compare(None, at(3.0), Some((true, 10.0)));
        assert_eq!((ratio, verdict.as_str(), met), (None, ">= 10x", None));
        assert_eq!(compare(at(1.0), at(2.0), None).1, "");
    }

    #[test]
    fn parses_both_sides_lines() {
        let node = r#"{"bench":"hypercore","blocks":100000,"append_MBps":98.5,"disk_bytes_feed":null,"node":"v20.20.2","peak_rss_mib":122.1}"#;
        let f = parse_last_line(&format!("noise\n{node}\n")).expect("parses");
        assert_eq!(f.get("append_MBps"), Some(&98.5));
        assert_eq!(f.get("blocks"), Some(&100000.0));
        assert_eq!(f.get("peak_rss_mib"), Some(&122.1));
        assert!(!f.contains_key("bench") && !f.contains_key("disk_bytes_feed"));
        assert!(parse_last_line("not json").is_err());
        assert!(parse_last_line("{not json").is_err());
    }

    #[test]
    fn missing_script_is_a_clear_error() {
        let root = std::env::temp_dir().join("ddrive-xtask-no-such-workspace/main");
        let err = node_scripts_dir(&root, "bench-hypercore.js").expect_err("no scripts there");
        let msg = format!("{err:#}");
        assert!(msg.contains("bench/js/bench-hypercore.js"), "{msg}");
    }

    #[test]
    fn the_repository_holds_every_node_script_the_benches_run() {
        let root = crate::root();
        for script in [
            "bench-hypercore.js",
            "bench-hypertrie.js",
            "bench-hyperdrive.js",
            "bench-open.js",
            "bench-multidrive.js",
            "open/setup.js",
            "open/child.js",
            "repl/setup.js",
            "repl/seed.js",
            "repl/clone.js",
            "daemon-bench.js",
        ] {
            let dir = node_scripts_dir(&root, script).expect("script in bench/js");
            assert!(
                dir.starts_with(root.canonicalize().expect("root")),
                "{script}"
            );
        }
    }

    #[test]
    fn median_of_even_and_odd() {
        let runs: Vec<Figures> = [3.0, 1.0, 2.0, 10.0]
            .iter()
            .map(|v| Figures::from([("x".to_owned(), *v)]))
            .collect();
        let s = Stat::of(&runs, "x").expect("present");
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        let s = Stat::of(&runs[..3], "x").expect("present");
        assert_eq!(s.median, 2.0);
        assert_eq!(s.show(3), "2.00 (1.00-3.00)");
        assert!(Stat::of(&runs, "y").is_none());
    }
}
