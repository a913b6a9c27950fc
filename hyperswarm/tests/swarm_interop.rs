//! ddrive swarms against a Node hyperswarm 2.15.3 peer (tests/js/swarm-peer.js)
//! over a ddrive bootstrap node on 127.0.0.1: each side finds the other
//! through the DHT and connects over TCP, or, with ddrive's TCP switched
//! off, over uTP after a holepunch through the bootstrap node. Needs `node` and `npm install` in
//! the workspace's tests/js; run with
//! `cargo test -p hyperswarm --features interop --test swarm_interop`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use hyperswarm::{Connection, Dht, JoinOptions, Swarm, SwarmConfig, Transport};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Guards against a hang; no test relies on timing.
const LIMIT: Duration = Duration::from_secs(60);

struct NodeSwarm {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    port: u16,
}

impl NodeSwarm {
    async fn start(bootstrap: SocketAddrV4) -> anyhow::Result<NodeSwarm> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("node")
            .arg(root.join("tests/js/swarm-peer.js"))
            .arg(bootstrap.port().to_string())
            .env("NODE_PATH", root.join("../tests/js/node_modules"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting node")?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut n = NodeSwarm {
            child,
            stdin,
            lines,
            port: 0,
        };
        let hello = n.read().await?;
        n.port = hello["port"].as_u64().context("port")? as u16;
        Ok(n)
    }

    async fn read(&mut self) -> anyhow::Result<Value> {
        let line = tokio::time::timeout(LIMIT, self.lines.next_line())
            .await
            .context("node silent")??
            .context("node exited")?;
        Ok(serde_json::from_str(&line)?)
    }

    async fn cmd(&mut self, c: &str) -> anyhow::Result<Value> {
        self.stdin.write_all(format!("{c}\n").as_bytes()).await?;
        self.read().await
    }

    async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = tokio::time::timeout(LIMIT, self.child.wait()).await;
    }
}

fn any() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

async fn next(s: &mut Swarm) -> anyhow::Result<Connection> {
    tokio::time::timeout(LIMIT, s.next_connection())
        .await
        .context("no connection")?
        .context("swarm closed")
}

/// Sends a line, reads Node's answer line.
async fn talk(c: &mut Connection, line: &str) -> anyhow::Result<String> {
    c.write_all(format!("{line}\n").as_bytes()).await?;
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while got.last() != Some(&b'\n') {
        anyhow::ensure!(c.read(&mut b).await? == 1, "eof");
        got.push(b[0]);
    }
    Ok(String::from_utf8(got)?.trim().to_owned())
}

#[tokio::test]
#[cfg_attr(not(feature = "interop"), ignore)]
async fn node_and_ddrive_swarms_connect_both_ways() -> anyhow::Result<()> {
    let boot = Dht::bootstrap_node(any()).await?;
    let mut js = NodeSwarm::start(boot.local_addr()).await?;
    let node_addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, js.port));
    let mut ours = Swarm::bind(SwarmConfig {
        bind: any(),
        bootstrap: vec![boot.local_addr()],
        seed: Some(11),
        // TCP only: with uTP on, Node's dial races TCP against holepunch +
        // uTP and either may win (the loser is closed at once)
        utp: false,
        ..SwarmConfig::default()
    })
    .await?;

    // Node announces, ddrive looks up and dials Node over TCP
    let t1 = [0x31u8; 32];
    let r = js.cmd(&format!("announce {}", hex::encode(t1))).await?;
    assert_eq!(r["joined"], hex::encode(t1), "{r}");
    ours.join(t1, JoinOptions::default()).await?;
    let mut c = next(&mut ours).await?;
    assert!(c.info().initiator);
    assert_eq!(c.info().peer, node_addr);
    assert_eq!(c.info().topic, Some(t1));
    assert_eq!(talk(&mut c, "ddrive dialled").await?, "node server");
    let r = js.read().await?;
    assert_eq!(r["connection"]["client"], false, "{r}");
    assert_eq!(r["connection"]["type"], "tcp", "{r}");
    assert_eq!(r["connection"]["got"], "ddrive dialled", "{r}");
    drop(c);
    ours.leave(t1).await?;

    // ddrive announces, Node looks up and dials ddrive
    let t2 = [0x32u8; 32];
    ours.join(
        t2,
        JoinOptions {
            announce: true,
            lookup: false,
        },
    )
    .await?;
    js.stdin
        .write_all(format!("lookup {}\n", hex::encode(t2)).as_bytes())
        .await?;
    let mut c = next(&mut ours).await?;
    assert!(!c.info().initiator);
    assert_eq!(c.info().peer.ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(talk(&mut c, "ddrive accepted").await?, "node client");
    // Node's lines: the join callback and the connection, in either order
    let mut conn = None;
    for _ in 0..2 {
        let r = js.read().await?;
        if !r["connection"].is_null() {
            conn = Some(r);
        }
    }
    let r = conn.context("no connection report")?;
    assert_eq!(r["connection"]["client"], true, "{r}");
    assert_eq!(r["connection"]["type"], "tcp", "{r}");
    assert_eq!(
        r["connection"]["remote"],
        ours.local_addr().to_string(),
        "{r}"
    );
    assert_eq!(c.info().transport, Transport::Tcp);

    js.quit().await;
    ours.shutdown().await;
    boot.shutdown().await;
    Ok(())
}

/// The peer's lines after a lookup: the join callback and the connection,
/// in either order; returns the connection report.
async fn connection_report(js: &mut NodeSwarm) -> anyhow::Result<Value> {
    let mut conn = None;
    for _ in 0..2 {
        let r = js.read().await?;
        if !r["connection"].is_null() {
            conn = Some(r);
        }
    }
    conn.context("no connection report")
}

#[tokio::test]
#[cfg_attr(not(feature = "interop"), ignore)]
async fn node_and_ddrive_swarms_connect_over_utp() -> anyhow::Result<()> {
    let boot = Dht::bootstrap_node(any()).await?;
    let mut js = NodeSwarm::start(boot.local_addr()).await?;
    let node_addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, js.port));
    // no TCP on our side: neither listener nor TCP dials
    let mut ours = Swarm::bind(SwarmConfig {
        bind: any(),
        bootstrap: vec![boot.local_addr()],
        seed: Some(12),
        tcp: false,
        ..SwarmConfig::default()
    })
    .await?;

    // Node announces; ddrive holepunches through the bootstrap node and
    // dials Node's utp-native on its shared port
    let t1 = [0x41u8; 32];
    let r = js.cmd(&format!("announce {}", hex::encode(t1))).await?;
    assert_eq!(r["joined"], hex::encode(t1), "{r}");
    ours.join(t1, JoinOptions::default()).await?;
    let mut c = next(&mut ours).await?;
    assert!(c.info().initiator);
    assert_eq!(c.info().transport, Transport::Utp);
    assert_eq!(c.info().peer, node_addr);
    assert_eq!(talk(&mut c, "ddrive dialled utp").await?, "node server");
    let r = js.read().await?;
    assert_eq!(r["connection"]["client"], false, "{r}");
    assert_eq!(r["connection"]["type"], "utp", "{r}");
    assert_eq!(r["connection"]["got"], "ddrive dialled utp", "{r}");
    drop(c);
    ours.leave(t1).await?;

    // ddrive announces; Node's TCP dial is refused, its holepunch + uTP
    // dial reaches our DHT socket
    let t2 = [0x42u8; 32];
    ours.join(
        t2,
        JoinOptions {
            announce: true,
            lookup: false,
        },
    )
    .await?;
    js.stdin
        .write_all(format!("lookup {}\n", hex::encode(t2)).as_bytes())
        .await?;
    let mut c = next(&mut ours).await?;
    assert!(!c.info().initiator);
    assert_eq!(c.info().transport, Transport::Utp);
    assert_eq!(c.info().peer, node_addr);
    assert_eq!(talk(&mut c, "ddrive accepted utp").await?, "node client");
    let r = connection_report(&mut js).await?;
    assert_eq!(r["connection"]["client"], true, "{r}");
    assert_eq!(r["connection"]["type"], "utp", "{r}");
    assert_eq!(r["connection"]["got"], "ddrive accepted utp", "{r}");
    drop(c);
    // not `quit`: Node's close would wait ~30 s for libutp to give up
    // re-sending FINs that librqbit-utp, its streams gone, never acks
    js.kill().await;
    ours.shutdown().await;
    boot.shutdown().await;
    Ok(())
}
