//! A daemon started through the `ddrive` binary on a scratch storage folder (no DHT), and
//! helpers to run the binary against it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_ddrive");

/// A scratch folder in memory when the machine has one: the daemon syncs every write, and a
/// disk's syncs would make a tree of thousands of files take minutes.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("ddrive-cli-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("a scratch folder")
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub storage: PathBuf,
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_in(scratch())
    }

    /// A daemon whose storage is in `dir`.
    pub fn start_in(dir: tempfile::TempDir) -> Daemon {
        let storage = dir.path().join("storage");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
            .to_string();
        let d = Daemon { dir, storage };
        let out = d.run(&["start", "--port", &port, "--bootstrap", "none"]);
        assert!(out.status.success(), "start failed: {}", text(&out));
        d
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--storage")
            .arg(&self.storage)
            .args(args)
            .env_remove("DDRIVE_TOKEN")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("the ddrive binary runs")
    }

    /// Runs and asserts success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ddrive {args:?} failed: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with `--json` and asserts success; the one JSON document.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// A new drive's key.
    pub fn create(&self) -> String {
        self.ok(&["create"]).trim().to_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.run(&["stop"]);
    }
}

/// stdout and stderr, for failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts `fields` are in a JSON object.
pub fn has_fields(v: &serde_json::Value, fields: &[&str]) {
    for f in fields {
        assert!(v.get(f).is_some(), "no {f:?} in {v}");
    }
}
