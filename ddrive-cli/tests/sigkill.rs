//! Crash trials (see tests/crash/mod.rs): clients write files through gRPC while the daemon
//! process is SIGKILLed at a seeded moment; after the kill every core audits clean, and the
//! restarted daemon serves every write whose RPC had returned, byte for byte, and no write
//! torn. `DDRIVE_KILL_TRIALS` sets the number of trials (default 4, kept small for `cargo
//! test`; each trial starts two daemon processes). `cargo xtask crash daemon` runs 200 and
//! more.

mod crash;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_before_a_sigkill_survive_it() -> TestResult {
    let trials: u64 = std::env::var("DDRIVE_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let ddrive = std::path::Path::new(env!("CARGO_BIN_EXE_ddrive"));
    let tally = crash::run(ddrive, 0x5eed, trials, |_, _| {}).await?;
    println!("{tally:?}");
    assert!(
        tally.failures.is_empty(),
        "{} failed checks:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    // The seeds kill after up to 24 acknowledged writes: these trials checked some, and
    // audited the cores of every trial (a drive has at least its metadata core).
    assert!(tally.acked_checked > 0, "{tally:?}");
    assert!(tally.cores_audited >= trials, "{tally:?}");
    Ok(())
}
