//! `cargo xtask bench contention [--rounds N] [--quick]`: a full clone of a drive while two
//! threads loop `readdir` (with stats) and `stat` over it, against the same readers over an
//! unrelated drive (hyperdrive's `bench_contention` example, built `--release`; ddrive only, as
//! Node runs a drive on one thread).
//!
//! The readers take CPU in both phases, so `contended / control` isolates what sharing the
//! drive's feeds costs the clone: the row's target is at least 0.80. The other rows are the
//! clone alone, the readers' rates, and how long each feed's mutex was held and waited for
//! during each phase (summed over every locker), against the phase's wall time: time under the
//! mutex against time outside it. Medians over the rounds, each phase's order rotating.

use std::process::Command;

use anyhow::Result;

use super::common::{
    Figures, Scratch, Stat, build_example, num, output, parse_last_line, print_table_head,
    print_table_row, verdict,
};

/// The clone's throughput with the readers on its drive over the readers elsewhere.
const TARGET: f64 = 0.8;

/// Runs the contention benchmark (`rounds` rounds of its three phases) and prints the table and
/// one JSON line.
pub(crate) fn run(rounds: usize, quick: bool) -> Result<()> {
    let (files, big_mib) = if quick {
        ("1000", "16")
    } else {
        ("5000", "64")
    };
    let root = crate::root();
    let runner = build_example(&root, "hyperdrive", "bench_contention")?;
    let scratch = Scratch::new("contention")?;
    eprintln!("xtask bench contention: {rounds} round(s) of three clones each");
    let mut cmd = Command::new(&runner);
    cmd.args([files, big_mib, &rounds.to_string()])
        .env("BENCH_DIR", &scratch.0);
    let figures = parse_last_line(&output(&mut cmd)?)?;
    print_report(&figures, rounds, files, big_mib);
    Ok(())
}

fn print_report(f: &Figures, rounds: usize, files: &str, big_mib: &str) {
    let one = |key: &str| Stat::of(std::slice::from_ref(f), key);
    println!();
    println!(
        "contention: full clone over 127.0.0.1 TCP of a drive of {files} x 1 KiB files + a \
         {big_mib} MiB file, two reader threads (readdir with stats + stat) on the drive or on \
         another; medians of {rounds} round(s)"
    );
    println!();
    print_table_head();
    let rows = [
        ("full clone, no readers", "MB/s", "alone.clone_MBps"),
        (
            "full clone, readers on another drive",
            "MB/s",
            "control.clone_MBps",
        ),
        (
            "full clone, readers on the cloned drive",
            "MB/s",
            "contended.clone_MBps",
        ),
        (
            "readers on another drive",
            "loops/s",
            "control.reader_loops_per_s",
        ),
        (
            "readers on the cloned drive",
            "loops/s",
            "contended.reader_loops_per_s",
        ),
    ];
    for (label, unit, key) in rows {
        print_table_row((label, unit), (None, one(key)), None, "", 1);
    }
    let ratio = f.get("ratio").copied();
    let met = ratio.map(|r| r >= TARGET);
    print_table_row(
        ("clone with readers on its drive / elsewhere", "ratio"),
        (None, None),
        ratio,
        &verdict(&format!(">= {TARGET}x"), met),
        1,
    );
    for phase in ["alone", "control", "contended"] {
        for feed in ["seed_meta", "seed_content", "clone_meta", "clone_content"] {
            for (what, unit) in [("held", "ms"), ("wait", "ms")] {
                let key = format!("{phase}.{feed}_{what}_ms");
                let label = format!("{phase}: {feed} mutex {what}");
                print_table_row((&label, unit), (None, one(&key)), None, "", 1);
            }
        }
        let key = format!("{phase}.wall_ms");
        print_table_row(
            (&format!("{phase}: wall"), "ms"),
            (None, one(&key)),
            None,
            "",
            1,
        );
    }
    println!();
    println!("ratio = MB/s with the readers on the cloned drive / with them on another drive");
    println!();
    let mut fields = vec![
        "\"bench\":\"contention\"".to_owned(),
        format!("\"rounds\":{rounds}"),
        format!("\"files\":{files}"),
        format!("\"big_mib\":{big_mib}"),
    ];
    for (k, v) in f {
        if !matches!(k.as_str(), "rounds" | "files" | "big_mib") {
            fields.push(format!("\"{k}\":{}", num(*v)));
        }
    }
    if let Some(met) = met {
        fields.push(format!("\"ratio_target_met\":{met}"));
    }
    println!("{{{}}}", fields.join(","));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_line_reads_into_figures() {
        let line = r#"{"alone.clone_MBps":80.0,"bench":"contention","big_mib":64,"contended.clone_MBps":30.0,"control.clone_MBps":28.0,"files":5000,"ratio":1.07,"rounds":3}"#;
        let f = parse_last_line(line).expect("parses");
        assert_eq!(f.get("ratio"), Some(&1.07));
        assert_eq!(f.get("control.clone_MBps"), Some(&28.0));
    }
}
