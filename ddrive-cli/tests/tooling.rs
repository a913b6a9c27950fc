//! The commands around the daemon: the systemd unit and its readiness, fuse-setup,
//! completions and the man page.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use common::{has_fields, stderr, text};

fn ddrive() -> Command {
    let mut c = Command::new(common::BIN);
    c.env_remove("NOTIFY_SOCKET");
    c
}

#[test]
fn service_install_writes_a_notify_unit_and_uninstall_removes_it() {
    let dir = common::scratch();
    let config = dir.path().join("config");
    let storage = dir.path().join("store");
    let empty_path = dir.path().join("bin");
    std::fs::create_dir_all(&empty_path).expect("mkdir");
    let run = |args: &[&str]| {
        ddrive()
            .arg("--storage")
            .arg(&storage)
            .args(args)
            .env("XDG_CONFIG_HOME", &config)
            // No systemctl: the unit is written, nothing is started.
            .env("PATH", &empty_path)
            .output()
            .expect("runs")
    };
    let out = run(&["--json", "service", "install"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    has_fields(&v, &["unit", "installed", "started"]);
    let unit = config.join("systemd/user/ddrive.service");
    assert_eq!(v["unit"], unit.to_str().expect("utf-8"));
    let text = std::fs::read_to_string(&unit).expect("the unit file");
    assert!(text.contains("Type=notify\n"));
    assert!(text.contains(&format!(
        "ExecStart=\"{}\" --storage \"{}\" start --foreground\n",
        common::BIN,
        storage.display()
    )));
    assert!(text.contains("Restart=on-failure\n"));
    assert!(text.contains("WantedBy=default.target\n"));

    let out = run(&["service", "uninstall"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!unit.exists());
    let out = run(&["service", "uninstall"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("is not installed"));
}

#[test]
fn a_foreground_daemon_tells_systemd_it_is_ready() {
    let dir = common::scratch();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
        .to_string();
    let storage = dir.path().join("storage");
    let mut child = Command::new(common::BIN)
        .arg("--storage")
        .arg(&storage)
        .args([
            "start",
            "--foreground",
            "--port",
            &port,
            "--bootstrap",
            "none",
        ])
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("a notification");
    assert_eq!(&buf[..n], b"READY=1\n");
    // Ready means serving.
    let status = ddrive()
        .arg("--storage")
        .arg(&storage)
        .arg("status")
        .output()
        .expect("runs");
    assert!(status.status.success(), "{}", text(&status));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let n = socket.recv(&mut buf).expect("a notification");
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn fuse_setup_says_what_is_missing_and_makes_the_mountpoint() {
    let dir = common::scratch();
    let empty_path = dir.path().join("bin");
    std::fs::create_dir_all(&empty_path).expect("mkdir");
    let out = ddrive()
        .args(["--json", "fuse-setup"])
        .env("HOME", dir.path())
        .env_remove("DDRIVE_MOUNTPOINT")
        .env("PATH", &empty_path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    has_fields(
        &v,
        &[
            "dev_fuse",
            "fusermount3",
            "mountpoint",
            "mountpoint_ready",
            "ready",
            "missing",
        ],
    );
    assert_eq!(v["dev_fuse"], std::path::Path::new("/dev/fuse").exists());
    assert_eq!(v["fusermount3"], serde_json::Value::Null);
    assert_eq!(v["ready"], false);
    assert!(dir.path().join("DDrive").is_dir(), "the mountpoint is made");
    let err = stderr(&out);
    assert!(
        err.contains("fusermount3 is missing: install it with `sudo apt-get install fuse3`"),
        "{err}"
    );

    // With a (fake) setuid-less fusermount3 as root, or any as a user, the rest is reported.
    let fake = empty_path.join("fusermount3");
    std::fs::write(&fake, "#!/bin/sh\n").expect("write");
    let out = ddrive()
        .args(["fuse-setup", "--mountpoint"])
        .arg(dir.path().join("mnt"))
        .env("PATH", &empty_path)
        .output()
        .expect("runs");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(
        seen.contains(&format!("ok      fusermount3 ({})", fake.display())),
        "{seen}"
    );
    assert!(dir.path().join("mnt").is_dir());
}

#[test]
fn completions_and_the_man_page_come_from_the_binary() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ddrive()
            .args(["completions", shell])
            .output()
            .expect("runs");
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for cmd in ["import", "export", "cleanup:remove-readonly-drives"] {
            assert!(script.contains(cmd), "{shell} completions lack {cmd}");
        }
    }
    let out = ddrive().arg("man").output().expect("runs");
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with(".ie"), "{}", &page[..80.min(page.len())]);
    assert!(page.contains(".TH ddrive"));
    assert!(page.contains("import"));
    // The exit code table is in the long help and the man page.
    assert!(page.contains("Exit codes"));
    let help = ddrive().arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("3    the ddrive daemon is not running"));
    assert!(help.contains("130  interrupted"));
}
