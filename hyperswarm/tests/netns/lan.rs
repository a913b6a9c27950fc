//! LAN discovery over real multicast: two namespaces joined by a veth pair
//! (10.201.0.1/24 and 10.201.0.2/24, a 224.0.0.0/4 route on the veth), a
//! swarm in each with an EMPTY bootstrap list. They must find each other
//! through mDNS alone and talk over TCP, both ways.
//!
//! On every connection the dialler writes `ping <name>\n` and the acceptor
//! answers `pong <name>\n`; a side is done once it dialled and accepted.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use hyperswarm::{Connection, JoinOptions, LanConfig, Swarm, SwarmConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::sandbox::Sandbox;

/// A child's own cap: it exits (failing) rather than hang. mDNS re-queries
/// every 30–60 s, so a lost first packet still fits.
const LIMIT: Duration = Duration::from_secs(100);
const A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);

/// Two namespaces on one veth "LAN" with a multicast route.
fn lan(tag: &str) -> anyhow::Result<(Sandbox, String, String)> {
    let mut sb = Sandbox::new(tag)?;
    let a = sb.add("a")?;
    let b = sb.add("b")?;
    sb.link(
        (&a, "lan0", &format!("{A}/24")),
        (&b, "lan0", &format!("{B}/24")),
    )?;
    for ns in [&a, &b] {
        sb.ip(ns, "route add 224.0.0.0/4 dev lan0")?;
    }
    Ok((sb, a, b))
}

fn ddrive_env(
    name: &str,
    peer: Ipv4Addr,
    peer_name: &str,
    joins: &str,
    iface: Option<Ipv4Addr>,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("HS_NAME", name.to_owned()),
        ("HS_PEER_IP", peer.to_string()),
        ("HS_PEER_NAME", peer_name.to_owned()),
        ("HS_JOINS", joins.to_owned()),
    ];
    if let Some(i) = iface {
        env.push(("HS_IFACE", i.to_string()));
    }
    env
}

/// Two ddrive swarms, no bootstrap, one topic joined announce + lookup.
pub fn two_ddrive_swarms_find_each_other() -> anyhow::Result<()> {
    let (sb, a, b) = lan("l")?;
    let topic = hex::encode([0x6cu8; 32]);
    let joins = format!("both:{topic}");
    // one side joins the group on its address, the other lets the kernel
    // pick by the multicast route: both set-ups must work
    let ca = sb.spawn(&a, "lan-ddrive", &ddrive_env("a", B, "b", &joins, Some(A)))?;
    let cb = sb.spawn(&b, "lan-ddrive", &ddrive_env("b", A, "a", &joins, None))?;
    let out_a = ca.finish()?;
    let out_b = cb.finish()?;
    for (out, me) in [(&out_a, "a"), (&out_b, "b")] {
        ensure!(
            out.contains(&format!("done {me}: dialled+accepted")),
            "{me}: {out}"
        );
    }
    println!("{}{}", out_a, out_b);
    drop(sb);
    Ok(())
}

/// Node hyperswarm 2.15.3 (real multicast-dns) on the same LAN: Node finds
/// the topic ddrive announces and dials it; ddrive finds the topic Node
/// announces and dials it.
pub fn node_and_ddrive_find_each_other() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let node = crate::sandbox::which("node").context("node not found")?;
    let (sb, a, b) = lan("n")?;
    let t1 = hex::encode([0x61u8; 32]);
    let t2 = hex::encode([0x62u8; 32]);
    let ours = sb.spawn(
        &a,
        "lan-ddrive",
        &ddrive_env(
            "ddrive",
            B,
            "node",
            &format!("announce:{t1},lookup:{t2}"),
            Some(A),
        ),
    )?;
    let js = sb.spawn_prog(
        &b,
        "node lan-peer.js",
        &node,
        &[
            root.join("tests/js/lan-peer.js").display().to_string(),
            // Node announces t2 and looks up t1: the mirror of ddrive
            t2.clone(),
            t1.clone(),
        ],
        &[(
            "NODE_PATH",
            root.join("../tests/js/node_modules").display().to_string(),
        )],
    )?;
    let out_ours = ours.finish()?;
    let out_js = js.finish()?;
    ensure!(
        out_ours.contains("done ddrive: dialled+accepted"),
        "{out_ours}"
    );
    // Node dialled ddrive (client) for t1 and accepted ddrive's dial for t2
    let mut seen = HashSet::new();
    for line in out_js.lines() {
        let v: serde_json::Value = serde_json::from_str(line).context("node output")?;
        let c = &v["connection"];
        if c.is_null() {
            continue;
        }
        ensure!(c["type"] == "tcp", "{v}");
        if c["client"] == true {
            ensure!(c["got"] == "pong ddrive", "{v}");
            ensure!(
                c["remote"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(&format!("{A}:"))),
                "{v}"
            );
        } else {
            ensure!(c["got"] == "ping ddrive", "{v}");
        }
        seen.insert(c["client"] == true);
    }
    ensure!(seen.len() == 2, "node output: {out_js}");
    println!("{out_ours}{out_js}");
    drop(sb);
    Ok(())
}

/// Child: a ddrive swarm that dials and accepts once each.
pub fn ddrive_role() -> anyhow::Result<()> {
    let var = |k: &str| std::env::var(k).with_context(|| format!("{k} unset"));
    let name = var("HS_NAME")?;
    let peer_ip: Ipv4Addr = var("HS_PEER_IP")?.parse()?;
    let peer_name = var("HS_PEER_NAME")?;
    let iface = match std::env::var("HS_IFACE") {
        Ok(i) => i.parse()?,
        Err(_) => Ipv4Addr::UNSPECIFIED,
    };
    let mut joins = Vec::new();
    for j in var("HS_JOINS")?.split(',') {
        let (mode, hex) = j.split_once(':').context("join")?;
        let topic: [u8; 32] = hex::decode(hex)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("topic"))?;
        let opts = JoinOptions {
            announce: mode != "lookup",
            lookup: mode != "announce",
        };
        joins.push((topic, opts));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let swarm = Swarm::bind(SwarmConfig {
            bind: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            bootstrap: Vec::new(),
            lan: Some(LanConfig {
                interface: iface,
                seed: None,
            }),
            ..SwarmConfig::default()
        })
        .await?;
        let port = swarm.local_addr().port();
        for (topic, opts) in &joins {
            swarm.join(*topic, *opts).await?;
        }
        let lookups: Vec<[u8; 32]> = joins
            .iter()
            .filter(|(_, o)| o.lookup)
            .map(|(t, _)| *t)
            .collect();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (mut dialled, mut accepted) = (false, false);
        let ctx = Talk {
            name: name.clone(),
            peer_name,
            peer_ip,
            lookups,
        };
        tokio::time::timeout(LIMIT, async {
            while !(dialled && accepted) {
                tokio::select! {
                    c = swarm.next_connection() => {
                        let c = c.context("swarm closed")?;
                        let tx = tx.clone();
                        let ctx = ctx.clone();
                        tokio::spawn(async move {
                            let r = ctx.talk(c).await;
                            let _ = tx.send(r);
                        });
                    }
                    Some(r) = rx.recv() => {
                        let (initiator, line) = r?;
                        println!("{name} (port {port}): {} {line}", if initiator { "dialled" } else { "accepted" });
                        if initiator { dialled = true } else { accepted = true }
                    }
                }
            }
            anyhow::Ok(())
        })
        .await
        .with_context(|| {
            format!("{name}: gave up after {LIMIT:?} (dialled {dialled}, accepted {accepted})")
        })??;
        println!("done {name}: dialled+accepted");
        swarm.shutdown().await;
        Ok(())
    })
}

#[derive(Clone)]
struct Talk {
    name: String,
    peer_name: String,
    peer_ip: Ipv4Addr,
    lookups: Vec<[u8; 32]>,
}

impl Talk {
    /// Returns whether we dialled and the line the peer sent.
    async fn talk(&self, c: Connection) -> anyhow::Result<(bool, String)> {
        let info = *c.info();
        let SocketAddr::V4(from) = info.peer else {
            bail!("v6 peer {}", info.peer);
        };
        ensure!(*from.ip() == self.peer_ip, "connection with {from}");
        let (rd, mut wr) = tokio::io::split(c);
        let mut lines = BufReader::new(rd).lines();
        if info.initiator {
            // a dial comes from the LAN queue: local, with the topic
            ensure!(info.local, "dial not marked local: {info:?}");
            ensure!(
                info.topic.is_some_and(|t| self.lookups.contains(&t)),
                "{info:?}"
            );
            wr.write_all(format!("ping {}\n", self.name).as_bytes())
                .await?;
            let line = lines.next_line().await?.context("eof")?;
            ensure!(line == format!("pong {}", self.peer_name), "got {line:?}");
            Ok((true, line))
        } else {
            let line = lines.next_line().await?.context("eof")?;
            ensure!(line == format!("ping {}", self.peer_name), "got {line:?}");
            wr.write_all(format!("pong {}\n", self.name).as_bytes())
                .await?;
            Ok((false, line))
        }
    }
}
