//! The runner of `cargo xtask crash daemon`: seeded SIGKILL trials of the ddrive daemon (see
//! tests/crash/mod.rs), or, with `--throughput`, the write rate the trials' clients get.
//!
//! ```text
//! crash_trials <ddrive binary> [--trials N] [--seed S]
//! crash_trials <ddrive binary> --throughput [--files N] [--clients C] [--size BYTES]
//! ```
//!
//! The last line printed is one JSON object of the figures.

#[path = "../tests/crash/mod.rs"]
mod crash;

use std::path::PathBuf;
use std::time::Instant;

use crash::BoxError;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, BoxError> {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let v = args.get(i + 1).ok_or(format!("{name} needs a value"))?;
            let v = v.strip_prefix("0x").map_or_else(
                || v.parse::<T>().map_err(|_| format!("{name} {v}")),
                |hex| {
                    u64::from_str_radix(hex, 16)
                        .map_err(|_| format!("{name} {v}"))
                        .and_then(|n| {
                            n.to_string()
                                .parse::<T>()
                                .map_err(|_| format!("{name} {v}"))
                        })
                },
            )?;
            Ok(v)
        }
        None => Ok(default),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ddrive = PathBuf::from(
        args.first()
            .ok_or("usage: crash_trials <ddrive binary> …")?,
    );
    if args.iter().any(|a| a == "--throughput") {
        return throughput(&ddrive, &args).await;
    }
    let trials: u64 = arg(&args, "--trials", 200)?;
    let seed: u64 = arg(&args, "--seed", 1)?;
    let started = Instant::now();
    let tally = crash::run(&ddrive, seed, trials, |i, t| {
        if (i + 1) % 20 == 0 {
            eprintln!(
                "crash: {} trials, {} acknowledged writes checked, {} failures",
                t.trials,
                t.acked_checked,
                t.failures.len()
            );
        }
    })
    .await?;
    for f in &tally.failures {
        println!("FAILED {f}");
    }
    println!(
        "crash daemon: {} trials (seed {seed}), {} acknowledged writes read back intact, \
         {} in-flight writes whole and {} absent, {} cores audited ({} blocks), {} failures, \
         {:.0} s",
        tally.trials,
        tally.acked_checked,
        tally.in_flight_whole,
        tally.in_flight_absent,
        tally.cores_audited,
        tally.blocks_audited,
        tally.failures.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{{\"trials\":{},\"seed\":{seed},\"acked_checked\":{},\"in_flight_whole\":{},\
         \"in_flight_absent\":{},\"cores_audited\":{},\"blocks_audited\":{},\"failures\":{}}}",
        tally.trials,
        tally.acked_checked,
        tally.in_flight_whole,
        tally.in_flight_absent,
        tally.cores_audited,
        tally.blocks_audited,
        tally.failures.len()
    );
    if tally.failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} failed checks", tally.failures.len()).into())
    }
}

/// Files written per second through gRPC by `clients` concurrent clients, each RPC answered
/// only once durable (or not, where the daemon was started with the measurement switch).
async fn throughput(ddrive: &std::path::Path, args: &[String]) -> Result<(), BoxError> {
    let files: u64 = arg(args, "--files", 2000)?;
    let clients: u64 = arg(args, "--clients", 1)?;
    let size: usize = arg(args, "--size", 1024)?;
    let dir = tempfile::tempdir()?;
    let mut daemon = crash::start(ddrive, dir.path()).await?;
    let (id, _) = daemon.open(Vec::new()).await?;
    let data = crash::content(7, 0, 0, size);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut w = daemon.writer();
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            for i in (c..files).step_by(usize::try_from(clients).unwrap_or(1)) {
                w.write(id, &format!("/t/c{c}/f{i}"), &data).await?;
            }
            Ok::<(), tonic::Status>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    daemon.kill()?;
    println!(
        "{{\"files\":{files},\"clients\":{clients},\"size\":{size},\"files_per_s\":{:.1}}}",
        files as f64 / secs
    );
    Ok(())
}
