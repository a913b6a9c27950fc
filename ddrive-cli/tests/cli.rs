//! `ddrive start`, `status` and `stop` as a person runs them, against a scratch storage folder.

use std::net::TcpListener;
use std::process::{Command, Output};

fn ddrive(storage: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddrive"))
        .arg("--storage")
        .arg(storage)
        .args(args)
        .env_remove("DDRIVE_TOKEN")
        .output()
        .expect("the ddrive binary runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn start_status_stop() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let storage = dir.path();
    // A port that was free a moment ago (the daemon binds it itself).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();

    let status = ddrive(storage, &["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert_eq!(text(&status).trim(), "The ddrive daemon is not running.");

    let start = ddrive(
        storage,
        &["start", "--port", &port, "--bootstrap", "none", "--no-fuse"],
    );
    assert!(
        start.status.success(),
        "{}{}",
        text(&start),
        String::from_utf8_lossy(&start.stderr)
    );
    assert_eq!(
        text(&start).trim(),
        format!("ddrive daemon listening on 127.0.0.1:{port}")
    );

    // A second start finds the running daemon and does nothing.
    let again = ddrive(storage, &["start", "--port", &port]);
    assert!(again.status.success());
    assert!(text(&again).contains("already running"));

    let status = ddrive(storage, &["status"]);
    assert!(status.status.success());
    assert!(text(&status).contains("API Version:        0"));

    let stop = ddrive(storage, &["stop"]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert_eq!(text(&stop).trim(), "The ddrive daemon has been stopped.");
    assert!(!storage.join("daemon.pid").exists());
    let status = ddrive(storage, &["status"]);
    assert_eq!(status.status.code(), Some(1));
}

#[test]
fn force_unmount_of_a_folder_without_a_mount() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let mnt = dir.path().join("mnt");
    let out = ddrive(
        dir.path(),
        &["force-unmount", "--mountpoint", &mnt.display().to_string()],
    );
    assert!(out.status.success());
    assert_eq!(
        text(&out).trim(),
        format!("Nothing is mounted at {}.", mnt.display())
    );
}
