//! A holepunch through a relay between two peers behind simulated NATs.
//!
//! ```text
//!  ns a  10.78.1.2 ─ 10.78.1.1 [ns na: MASQUERADE] 10.77.1.2 ─ 10.77.1.1 ┐
//!                                                                 ns w: relay :49737
//!  ns b  10.78.2.2 ─ 10.78.2.1 [ns nb: MASQUERADE] 10.77.2.2 ─ 10.77.2.1 ┘
//! ```
//!
//! `w` routes between the two public subnets but knows no route to the
//! private ones, so a peer is reachable only through its NAT's mappings.
//! `b` (ephemeral, so the relay never hands it out as a DHT node) announces
//! a topic; `a` looks it up, learns b's public address with the relay as
//! referrer, and then:
//! 1. pings b directly: NAT b has no mapping for a, so it times out;
//! 2. runs `_holepunch` through the relay: b answers a straight away;
//! 3. pings b directly again: now it passes, and b saw a's public address.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Context, ensure};
use hyperswarm::{Config, Dht, FoundPeers, NodeId, RpcError};

use crate::sandbox::Sandbox;

const LIMIT: Duration = Duration::from_secs(90);
const RELAY_PORT: u16 = 49737;
const A_PORT: u16 = 40001;
const B_PORT: u16 = 40000;
const A_PUBLIC: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
const B_PUBLIC: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);
const TOPIC: [u8; 32] = [0x68; 32];

pub fn through_a_relay_between_two_nats() -> anyhow::Result<()> {
    let mut sb = Sandbox::new("h")?;
    let w = sb.add("w")?;
    sb.forward(&w)?;
    for side in [1u8, 2] {
        let nat = sb.add(&format!("n{side}"))?;
        let host = sb.add(&format!("p{side}"))?;
        sb.link(
            (&w, &format!("pub{side}"), &format!("10.77.{side}.1/24")),
            (&nat, "wan0", &format!("10.77.{side}.2/24")),
        )?;
        sb.link(
            (&nat, "lan0", &format!("10.78.{side}.1/24")),
            (&host, "lan0", &format!("10.78.{side}.2/24")),
        )?;
        sb.ip(&nat, &format!("route add default via 10.77.{side}.1"))?;
        sb.ip(&host, &format!("route add default via 10.78.{side}.1"))?;
        sb.forward(&nat)?;
        sb.exec(
            &nat,
            "iptables",
            "-t nat -A POSTROUTING -o wan0 -j MASQUERADE",
        )?;
        // a home router's firewall: nothing on the router itself answers
        // UDP from outside. Dropping in INPUT also keeps conntrack from
        // confirming an entry for an unsolicited packet, which would
        // otherwise take the mapping's port and make the NAT rewrite the
        // inside peer's reply to another port (the punch would miss)
        sb.exec(&nat, "iptables", "-A INPUT -i wan0 -p udp -j DROP")?;
    }
    let p1 = format!("{}p1", prefix(&w));
    let p2 = format!("{}p2", prefix(&w));

    let _relay = sb.spawn(&w, "hp-relay", &[])?;
    let mut b = sb.spawn(
        &p2,
        "hp-announcer",
        &[("HS_RELAY", format!("10.77.2.1:{RELAY_PORT}"))],
    )?;
    let announced = b.wait_for_line("announced")?;
    let a = sb.spawn(
        &p1,
        "hp-dialer",
        &[("HS_RELAY", format!("10.77.1.1:{RELAY_PORT}"))],
    )?;
    let out = a.finish()?;
    println!("{announced}\n{out}");
    ensure!(out.contains("direct path open"), "{out}");
    Ok(())
}

/// The sandbox prefix, from the wan namespace's name (`<prefix>w`).
fn prefix(w: &str) -> &str {
    w.strip_suffix('w').unwrap_or(w)
}

fn relay_addr() -> anyhow::Result<SocketAddrV4> {
    Ok(std::env::var("HS_RELAY")?.parse()?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Child in `w`: a persistent bootstrap node, alive until killed or LIMIT.
pub fn relay_role() -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let dht = Dht::bootstrap_node(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, RELAY_PORT)).await?;
        println!("relay {}", dht.local_addr());
        tokio::time::sleep(LIMIT).await;
        dht.shutdown().await;
        Ok(())
    })
}

fn ephemeral(port: u16) -> anyhow::Result<(SocketAddrV4, Config)> {
    let relay = relay_addr()?;
    Ok((
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port),
        Config {
            ephemeral: true,
            bootstrap: vec![relay],
            ..Config::default()
        },
    ))
}

/// Child in `p2`: announces TOPIC through the relay, then stays up.
pub fn announcer_role() -> anyhow::Result<()> {
    let (bind, config) = ephemeral(B_PORT)?;
    runtime()?.block_on(async {
        let dht = Dht::bind(bind, config).await?;
        tokio::time::timeout(LIMIT, dht.ready())
            .await
            .context("bootstrap timed out")??;
        let out = dht.announce(NodeId(TOPIC), None).await?;
        let stats = out.result?;
        println!("announced ({stats:?})");
        tokio::time::sleep(LIMIT).await;
        dht.shutdown().await;
        Ok(())
    })
}

/// Child in `p1`: finds b, proves the NAT blocks it, holepunches, and
/// proves the direct path.
pub fn dialer_role() -> anyhow::Result<()> {
    let (bind, config) = ephemeral(A_PORT)?;
    runtime()?.block_on(async {
        tokio::time::timeout(LIMIT, run_dialer(bind, config))
            .await
            .context("dialer timed out")?
    })
}

async fn run_dialer(bind: SocketAddrV4, config: Config) -> anyhow::Result<()> {
    let dht = Dht::bind(bind, config).await?;
    dht.ready().await?;
    let out = dht.lookup(NodeId(TOPIC), None).await?;
    out.result.clone()?;
    let mut found = None;
    for r in &out.replies {
        let Some(f) = FoundPeers::from_value(r.value.as_deref(), None) else {
            continue;
        };
        if let Some(p) = f.peers.first() {
            found = Some((*p, r.from));
        }
    }
    let (peer, referrer) = found.context("topic not found")?;
    println!("found {peer} through {referrer}");
    // b is seen through its NAT: its public address, not 10.78.2.2
    ensure!(*peer.ip() == B_PUBLIC, "peer {peer}");

    let before = dht.ping(peer).await;
    println!("direct ping before holepunch: {before:?}");
    ensure!(
        matches!(before, Err(RpcError::Timeout)),
        "the NAT let an unsolicited ping through: {before:?}"
    );

    dht.holepunch(peer, referrer).await?;
    println!("holepunch through {referrer}: ok");

    let seen = dht.ping(peer).await?;
    println!("direct ping after holepunch: b saw us as {seen}");
    ensure!(*seen.ip() == A_PUBLIC, "b saw {seen}");
    println!("direct path open");
    dht.shutdown().await;
    Ok(())
}
