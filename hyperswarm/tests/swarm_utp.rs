//! Swarms connecting over uTP on the DHT's UDP socket (127.0.0.1): with TCP
//! switched off on one side, the dial falls to uTP after the holepunch
//! through the bootstrap node, on the very socket that runs the DHT.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::Context;
use hyperswarm::{Connection, Dht, JoinOptions, Swarm, SwarmConfig, SwarmError, Transport};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Guards against a hang; no test relies on timing.
const LIMIT: Duration = Duration::from_secs(60);
const ANNOUNCE: JoinOptions = JoinOptions {
    announce: true,
    lookup: false,
};
const LOOKUP: JoinOptions = JoinOptions {
    announce: false,
    lookup: true,
};

fn any() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

async fn swarm(boot: &Dht, seed: u64, tcp: bool) -> anyhow::Result<Swarm> {
    Ok(Swarm::bind(SwarmConfig {
        bind: any(),
        bootstrap: vec![boot.local_addr()],
        seed: Some(seed),
        tcp,
        ..SwarmConfig::default()
    })
    .await?)
}

async fn next(s: &mut Swarm) -> anyhow::Result<Connection> {
    tokio::time::timeout(LIMIT, s.next_connection())
        .await
        .context("no connection")?
        .context("swarm closed")
}

/// Sends `data` one way and reads it back on the other side, concurrently
/// (so a payload larger than the windows cannot deadlock).
async fn transfer(from: &mut Connection, to: &mut Connection, data: &[u8]) -> anyhow::Result<()> {
    let mut got = vec![0u8; data.len()];
    let (w, r) = tokio::join!(
        async {
            from.write_all(data).await?;
            from.flush().await
        },
        to.read_exact(&mut got)
    );
    w?;
    r?;
    anyhow::ensure!(got == data, "payload differs");
    Ok(())
}

async fn utp_between_swarms(seed: u64) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let boot = Dht::bootstrap_node(any()).await?;
    let topic: [u8; 32] = rng.r#gen();
    // a has no TCP listener: only uTP reaches it
    let mut a = swarm(&boot, rng.r#gen(), false).await?;
    let mut b = swarm(&boot, rng.r#gen(), true).await?;
    anyhow::ensure!(
        std::net::TcpStream::connect(a.local_addr()).is_err(),
        "a listens on TCP"
    );

    a.join(topic, ANNOUNCE).await?;
    b.join(topic, LOOKUP).await?;
    let mut out = next(&mut b).await?;
    let mut inc = next(&mut a).await?;
    assert_eq!(out.info().transport, Transport::Utp);
    assert_eq!(inc.info().transport, Transport::Utp);
    assert!(out.info().initiator);
    assert_eq!(out.info().peer, SocketAddr::V4(a.local_addr()));
    assert_eq!(out.info().topic, Some(topic));
    assert!(!inc.info().initiator);
    // uTP runs on b's DHT socket: the peer a sees is b's one port
    assert_eq!(inc.info().peer, SocketAddr::V4(b.local_addr()));

    // more than one window (1 MiB) each way
    let mut ab = vec![0u8; 3 << 20];
    let mut ba = vec![0u8; 1 << 20];
    rng.fill_bytes(&mut ab);
    rng.fill_bytes(&mut ba);
    transfer(&mut out, &mut inc, &ab).await?;
    transfer(&mut inc, &mut out, &ba).await?;

    let sa = a.stats().await?;
    let sb = b.stats().await?;
    assert_eq!((sa.peers, sa.server, sa.client), (1, 1, 0));
    assert_eq!((sb.peers, sb.server, sb.client), (1, 0, 1));

    // the DHT still answers on the shared socket while uTP runs on it
    b.leave(topic).await?;
    b.join(topic, LOOKUP).await?;

    // dropping one end (a FIN) is an end of stream on the other
    drop(out);
    let mut buf = [0u8; 1];
    assert_eq!(tokio::time::timeout(LIMIT, inc.read(&mut buf)).await??, 0);
    drop(inc);
    assert_eq!(a.stats().await?.peers, 0);

    a.shutdown().await;
    b.shutdown().await;
    boot.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn two_swarms_connect_over_utp_when_tcp_is_off() -> anyhow::Result<()> {
    let seed: u64 = rand::random();
    utp_between_swarms(seed)
        .await
        .with_context(|| format!("seed {seed}"))
}

#[tokio::test]
async fn a_swarm_needs_a_transport() -> anyhow::Result<()> {
    let r = Swarm::bind(SwarmConfig {
        bind: any(),
        tcp: false,
        utp: false,
        ..SwarmConfig::default()
    })
    .await;
    assert!(matches!(r, Err(SwarmError::NoTransport)));
    Ok(())
}
