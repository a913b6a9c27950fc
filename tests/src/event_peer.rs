//! A Node peer script run as a child process that reports JSON-line events on stdout
//! (`{"event": "ready", ...}`) and may take commands on stdin: the shape of the interop tests'
//! long-running peers (`js/store-session-peer.js`, `js/drive-replicate-peer.js`).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Events that end a wait with the event's line as the error.
const FAILURES: &[&str] = &["error", "timeout", "stream-error"];

/// A running Node peer; killed when dropped.
pub struct EventPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Lines<BufReader<ChildStdout>>,
    /// How long one event may take: only a broken implementation waits this long.
    wait: Duration,
}

impl EventPeer {
    /// Starts `tests/js/<script>` with `args` and the pinned packages on `NODE_PATH` (`node`,
    /// or `$DDRIVE_NODE`). With `commands`, its stdin is a pipe for [`command`](Self::command).
    pub fn spawn<A: AsRef<OsStr>>(
        script: &str,
        args: &[A],
        commands: bool,
        wait: Duration,
    ) -> Result<Self> {
        let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
        let node = std::env::var_os("DDRIVE_NODE").unwrap_or_else(|| "node".into());
        let mut child = Command::new(node)
            .arg(js.join(script))
            .args(args)
            .env("NODE_PATH", js.join("node_modules"))
            .stdin(if commands {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting node (install Node and `cd tests/js && npm ci`)")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("node stdout")?;
        Ok(EventPeer {
            child,
            stdin,
            events: BufReader::new(stdout).lines(),
            wait,
        })
    }

    /// The next event named `name`; fails on an error event, when Node exits, or after the
    /// wait.
    pub async fn expect(&mut self, name: &str) -> Result<Value> {
        loop {
            let line = tokio::time::timeout(self.wait, self.events.next_line())
                .await
                .with_context(|| format!("waiting for Node's {name:?}"))??
                .with_context(|| format!("Node exited before {name:?}"))?;
            let v: Value = serde_json::from_str(&line).with_context(|| line.clone())?;
            match v["event"].as_str() {
                Some(e) if e == name => return Ok(v),
                Some(e) if FAILURES.contains(&e) => bail!("Node peer: {line}"),
                _ => {}
            }
        }
    }

    /// Sends one command line.
    pub async fn command(&mut self, line: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .context("this peer was started without commands")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        Ok(self.child.wait().await?)
    }
}
