//! ddrive's DHT against Node @hyperswarm/dht 4 on 127.0.0.1. Needs `node`
//! and `npm install` in the workspace's tests/js; run with
//! `cargo test -p hyperswarm --features interop --test interop`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use hyperswarm::{Config, Dht, NodeId};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

struct NodePeer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodePeer {
    async fn start() -> anyhow::Result<(NodePeer, Value)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("node")
            .arg(root.join("tests/js/dht-peer.js"))
            .env("NODE_PATH", root.join("../tests/js/node_modules"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting node")?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut p = NodePeer {
            child,
            stdin,
            lines,
        };
        let hello = p.read().await?;
        Ok((p, hello))
    }

    async fn read(&mut self) -> anyhow::Result<Value> {
        let line = self.lines.next_line().await?.context("node exited")?;
        Ok(serde_json::from_str(&line)?)
    }

    async fn cmd(&mut self, c: &str) -> anyhow::Result<Value> {
        self.stdin.write_all(format!("{c}\n").as_bytes()).await?;
        self.read().await
    }
}

fn local(port: u64) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port as u16)
}

#[tokio::test]
#[cfg_attr(not(feature = "interop"), ignore)]
async fn ddrive_and_node_find_each_other_through_a_node_bootstrap() -> anyhow::Result<()> {
    let (mut js, hello) = NodePeer::start().await?;
    let boot = local(hello["bootstrap"].as_u64().context("bootstrap port")?);
    let js_client = local(hello["client"].as_u64().context("client port")?);
    let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);

    // a persistent ddrive node enters the Node bootstrap's routing table
    let persistent = Dht::bind(
        any,
        Config {
            bootstrap: vec![boot],
            ..Config::default()
        },
    )
    .await?;
    persistent.ready().await?;
    let nodes = js.cmd("nodes").await?;
    let pid = hex::encode(persistent.id().0);
    assert!(
        nodes["nodes"]
            .as_array()
            .context("nodes")?
            .iter()
            .any(|n| n["id"] == pid.as_str()),
        "{nodes}"
    );

    // ddrive announces, Node looks up
    let eph = Config {
        bootstrap: vec![boot],
        ephemeral: true,
        ..Config::default()
    };
    let ours = Dht::bind(any, eph).await?;
    ours.ready().await?;
    let t1 = NodeId([0x11; 32]);
    ours.announce(t1, None).await?.result?;
    let r = js.cmd(&format!("lookup {}", hex::encode(t1.0))).await?;
    assert_eq!(r["err"], Value::Null, "{r}");
    assert!(
        r["peers"]
            .as_array()
            .context("peers")?
            .iter()
            .any(|p| p == ours.local_addr().to_string().as_str()),
        "Node did not find ddrive: {r}"
    );

    // Node announces, ddrive looks up
    let t2 = NodeId([0x22; 32]);
    let r = js.cmd(&format!("announce {}", hex::encode(t2.0))).await?;
    assert_eq!(r["err"], Value::Null, "{r}");
    let found = ours.lookup(t2, None).await?;
    assert_eq!(found.peers(None), vec![js_client]);

    // unannounce from ddrive removes the record from the Node nodes
    ours.unannounce(t1, None).await?.result?;
    let r = js.cmd(&format!("lookup {}", hex::encode(t1.0))).await?;
    assert!(r["peers"].as_array().context("peers")?.is_empty(), "{r}");

    let _ = js.stdin.write_all(b"quit\n").await;
    let _ = js.child.wait().await;
    ours.shutdown().await;
    persistent.shutdown().await;
    Ok(())
}
