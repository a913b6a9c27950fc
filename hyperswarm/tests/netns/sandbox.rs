//! Network namespaces a test creates and always deletes, and the child
//! processes it runs inside them.
//!
//! Every address used lives only inside these namespaces; nothing is sent
//! from the host's own namespace. A child is this test binary again, run
//! with `ip netns exec <ns>` and `HS_NETNS_ROLE` naming what it does.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use anyhow::{Context, bail};

/// Why the namespace tests cannot run here, if they cannot.
pub fn skip_reason(tools: &[&str]) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if euid != "0" {
        return Some(format!(
            "not root (euid {euid:?}): network namespaces need root"
        ));
    }
    for tool in tools {
        if which(tool).is_none() {
            return Some(format!(
                "`{tool}` not found on PATH (Debian: apt-get install -y {})",
                match *tool {
                    "ip" => "iproute2",
                    other => other,
                }
            ));
        }
    }
    None
}

/// The first `name` on PATH (or in the sbin directories, which a non-login
/// root shell may lack).
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Namespaces deleted (with the links inside them) on drop, panics included.
pub struct Sandbox {
    prefix: String,
    names: Vec<String>,
    ip: std::path::PathBuf,
}

impl Sandbox {
    /// `tag` keeps concurrent tests apart; the pid keeps runs apart.
    pub fn new(tag: &str) -> anyhow::Result<Sandbox> {
        Ok(Sandbox {
            prefix: format!("hs{}{tag}", std::process::id()),
            names: Vec::new(),
            ip: which("ip").context("ip not found")?,
        })
    }

    /// Creates namespace `short` with its loopback up; returns its name.
    pub fn add(&mut self, short: &str) -> anyhow::Result<String> {
        let name = format!("{}{short}", self.prefix);
        run(Command::new(&self.ip).args(["netns", "add", &name]))?;
        self.names.push(name.clone());
        self.ip(&name, "link set lo up")?;
        Ok(name)
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, ns: &str, args: &str) -> anyhow::Result<()> {
        run(Command::new(&self.ip)
            .args(["-n", ns])
            .args(args.split_whitespace()))
    }

    /// Runs a program inside `ns`.
    pub fn exec(&self, ns: &str, prog: &str, args: &str) -> anyhow::Result<()> {
        run(Command::new(&self.ip)
            .args(["netns", "exec", ns, prog])
            .args(args.split_whitespace()))
    }

    /// Turns IPv4 forwarding on inside `ns` (the setting is per namespace).
    pub fn forward(&self, ns: &str) -> anyhow::Result<()> {
        run(Command::new(&self.ip).args([
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        ]))
    }

    /// A veth pair created straight inside the two namespaces (never in
    /// the host's), each end addressed and up.
    pub fn link(&self, a: (&str, &str, &str), b: (&str, &str, &str)) -> anyhow::Result<()> {
        let (a_ns, a_if, _) = a;
        let (b_ns, b_if, _) = b;
        run(Command::new(&self.ip).args([
            "link", "add", a_if, "netns", a_ns, "type", "veth", "peer", "name", b_if, "netns", b_ns,
        ]))?;
        for (ns, ifname, addr) in [a, b] {
            self.ip(ns, &format!("addr add {addr} dev {ifname}"))?;
            self.ip(ns, &format!("link set {ifname} up"))?;
        }
        Ok(())
    }

    /// Starts this test binary inside `ns` in `role`, with `env`.
    pub fn spawn(&self, ns: &str, role: &str, env: &[(&str, String)]) -> anyhow::Result<Guarded> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(&self.ip);
        cmd.args(["netns", "exec", ns])
            .arg(exe)
            .env("HS_NETNS_ROLE", role);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Guarded::spawn(cmd, role)
    }

    /// Starts `prog args` inside `ns`.
    pub fn spawn_prog(
        &self,
        ns: &str,
        label: &str,
        prog: &Path,
        args: &[String],
        env: &[(&str, String)],
    ) -> anyhow::Result<Guarded> {
        let mut cmd = Command::new(&self.ip);
        cmd.args(["netns", "exec", ns]).arg(prog).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Guarded::spawn(cmd, label)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for name in self.names.iter().rev() {
            let r = Command::new(&self.ip)
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
            if !r.is_ok_and(|s| s.success()) {
                eprintln!("netns: could not delete namespace {name}");
            }
        }
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.stdin(Stdio::null()).output().context("spawning")?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A child process killed on drop unless it was waited for.
pub struct Guarded {
    child: Option<Child>,
    label: String,
}

impl Guarded {
    fn spawn(mut cmd: Command, label: &str) -> anyhow::Result<Guarded> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {label}"))?;
        Ok(Guarded {
            child: Some(child),
            label: label.to_owned(),
        })
    }

    /// Reads the child's stdout up to a line starting with `prefix` and
    /// returns it; the child's own time cap ends the wait if it never comes.
    pub fn wait_for_line(&mut self, prefix: &str) -> anyhow::Result<String> {
        use std::io::BufRead;
        let child = self.child.as_mut().context("finished")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line?;
            if line.starts_with(prefix) {
                // keep draining so the child never blocks on a full pipe
                std::thread::spawn(move || lines.for_each(drop));
                return Ok(line);
            }
        }
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        bail!("{} ended before {prefix:?}: {err}", self.label)
    }

    /// Waits for the child (each role bounds its own run time) and returns
    /// its stdout; a failure carries both streams.
    pub fn finish(mut self) -> anyhow::Result<String> {
        let child = self.child.take().context("already finished")?;
        let out: Output = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "{} failed ({}):\n--- stdout\n{}--- stderr\n{}",
                self.label,
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
