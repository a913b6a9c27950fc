//! A daemon killed with SIGKILL while a shell sits inside its mount and a write is under way:
//! the next start finds the dead mount, aborts and detaches it, mounts again with no manual
//! step, and what fsync returned for is there.

mod fuse_support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fuse_support::{TestResult, blocking, config, fuse_ready, start};

const CHILD_DIR: &str = "DDRIVE_FUSE_TEST_CHILD_DIR";

/// The daemon to kill, in a process of its own: this test binary run again with only this
/// test, which serves until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by sigkill_while_writing_then_restart in a child process"]
async fn daemon_child() -> TestResult {
    let dir = std::env::var(CHILD_DIR).map_err(|_| format!("{CHILD_DIR} is not set"))?;
    let daemon = ddrive_daemon::Daemon::start(config(Path::new(&dir))).await?;
    if daemon.mountpoint().is_none() {
        return Err("the child daemon did not mount".into());
    }
    println!("MOUNTED");
    std::future::pending::<()>().await;
    Ok(())
}

fn mounted(mnt: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&mnt.display().to_string()))
}

/// Waits (at most 60 s) for `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

struct Reap(Vec<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_writing_then_restart() -> TestResult {
    if !fuse_ready("sigkill_while_writing_then_restart") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mnt = dir.path().join("mnt");
    let mut daemon = Command::new(std::env::current_exe()?)
        .args(["--ignored", "--exact", "daemon_child", "--nocapture"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::null())
        .spawn()?;
    let m = mnt.clone();
    let (shell, writer) = blocking(move || -> std::io::Result<(Child, Child)> {
        wait_for("the child's mount", || mounted(&m)).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(m.join("durable.txt"))?;
        f.write_all(b"fsync returned for this")?;
        f.sync_all()?;
        drop(f);
        let shell = Command::new("bash")
            .args(["-c", "sleep 600"])
            .current_dir(&m)
            .spawn()?;
        let writer = Command::new("dd")
            .args(["if=/dev/zero", "of=inflight", "bs=64k", "count=1000000"])
            .current_dir(&m)
            .stderr(Stdio::null())
            .spawn()?;
        let target = m.join("inflight");
        wait_for("the write in flight", || {
            std::fs::metadata(&target).is_ok_and(|md| md.len() > 0)
        })
        .map_err(std::io::Error::other)?;
        Ok((shell, writer))
    })
    .await?;
    let _reap = Reap(vec![shell, writer]);
    daemon.kill()?; // SIGKILL
    daemon.wait()?;
    assert!(mounted(&mnt), "the killed daemon leaves its mount behind");

    let (daemon, mnt) = start(dir.path()).await?;
    let text = blocking(move || std::fs::read(mnt.join("durable.txt"))).await?;
    assert_eq!(text, b"fsync returned for this");
    daemon.shutdown().await?;
    Ok(())
}
