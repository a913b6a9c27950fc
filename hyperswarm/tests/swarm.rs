//! Swarms over a local bootstrap node on 127.0.0.1: discovery, TCP dial and
//! accept on the DHT's port, leave, max peers, shutdown.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::Context;
use hyperswarm::{Connection, Dht, JoinOptions, NodeId, Swarm, SwarmConfig, SwarmError};
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

/// A TCP-only swarm: these tests check the TCP path, and with uTP on as well a dial races both
/// transports (tests/swarm_utp.rs covers uTP).
async fn swarm(boot: &Dht, seed: u64) -> anyhow::Result<Swarm> {
    Ok(Swarm::bind(SwarmConfig {
        bind: any(),
        bootstrap: vec![boot.local_addr()],
        seed: Some(seed),
        utp: false,
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

/// Who announces `topic` according to a fresh lookup.
async fn announced(boot: &Dht, topic: [u8; 32]) -> anyhow::Result<Vec<SocketAddrV4>> {
    let probe = Dht::bind(
        any(),
        hyperswarm::Config {
            bootstrap: vec![boot.local_addr()],
            ephemeral: true,
            ..hyperswarm::Config::default()
        },
    )
    .await?;
    probe.ready().await?;
    let peers = probe.lookup(NodeId(topic), None).await?.peers(None);
    probe.shutdown().await;
    Ok(peers)
}

#[tokio::test]
async fn two_swarms_find_each_other_and_connect_over_tcp() -> anyhow::Result<()> {
    let boot = Dht::bootstrap_node(any()).await?;
    let topic = [7u8; 32];
    let mut a = swarm(&boot, 1).await?;
    let mut b = swarm(&boot, 2).await?;
    // TCP listens on the DHT's UDP port number
    std::net::TcpStream::connect(a.local_addr()).context("TCP on the DHT port")?;
    let probe = next(&mut a).await?;
    drop(probe);

    a.join(topic, ANNOUNCE).await?;
    assert_eq!(announced(&boot, topic).await?, vec![a.local_addr()]);
    b.join(topic, LOOKUP).await?;

    let mut out = next(&mut b).await?;
    let mut inc = next(&mut a).await?;
    assert!(out.info().initiator);
    assert_eq!(out.info().peer, SocketAddr::V4(a.local_addr()));
    assert_eq!(out.info().topic, Some(topic));
    assert!(!inc.info().initiator);
    assert_eq!(inc.info().topic, None);
    assert_eq!(inc.info().peer.ip(), Ipv4Addr::LOCALHOST);

    out.write_all(b"hello from b").await?;
    let mut buf = [0u8; 12];
    inc.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hello from b");
    inc.write_all(b"hi").await?;
    let mut buf = [0u8; 2];
    out.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hi");

    let sa = a.stats().await?;
    let sb = b.stats().await?;
    assert_eq!((sa.peers, sa.server, sa.client), (1, 1, 0));
    assert_eq!((sb.peers, sb.server, sb.client), (1, 0, 1));

    // dropping a connection frees the slot on both sides
    drop(out);
    let n = inc.read(&mut buf).await?;
    assert_eq!(n, 0);
    drop(inc);
    assert_eq!(a.stats().await?.peers, 0);

    // leave unannounces: a new lookup finds nobody, a new swarm dials nobody
    b.leave(topic).await?;
    a.leave(topic).await?;
    assert_eq!(announced(&boot, topic).await?, vec![]);
    assert_eq!(a.stats().await?.topics, 0);
    let c = swarm(&boot, 3).await?;
    c.join(topic, LOOKUP).await?;
    let sc = c.stats().await?;
    assert_eq!((sc.peers, sc.queued), (0, 0));

    // shutdown unannounces too
    c.join(topic, ANNOUNCE).await?;
    assert_eq!(announced(&boot, topic).await?, vec![c.local_addr()]);
    c.shutdown().await;
    assert_eq!(announced(&boot, topic).await?, vec![]);

    a.shutdown().await;
    b.shutdown().await;
    boot.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn max_peers_refuses_extra_connections() -> anyhow::Result<()> {
    let boot = Dht::bootstrap_node(any()).await?;
    let topic = [8u8; 32];
    let mut a = Swarm::bind(SwarmConfig {
        bind: any(),
        bootstrap: vec![boot.local_addr()],
        max_peers: 1,
        seed: Some(4),
        utp: false,
        ..SwarmConfig::default()
    })
    .await?;
    a.join(topic, ANNOUNCE).await?;
    let mut b = swarm(&boot, 5).await?;
    b.join(topic, LOOKUP).await?;
    let _b_out = next(&mut b).await?;
    let _a_in = next(&mut a).await?;
    let mut c = swarm(&boot, 6).await?;
    c.join(topic, LOOKUP).await?;
    // the TCP connect succeeds, then a closes it at once
    let mut c_out = next(&mut c).await?;
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(LIMIT, c_out.read(&mut buf)).await??;
    assert_eq!(n, 0);
    let sa = a.stats().await?;
    assert_eq!((sa.peers, sa.server), (1, 1));
    for s in [a, b, c] {
        s.shutdown().await;
    }
    boot.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn isolated_swarm_and_bad_join() -> anyhow::Result<()> {
    // an empty bootstrap list: joins complete, nothing is found
    let s = Swarm::bind(SwarmConfig {
        bind: any(),
        seed: Some(7),
        ..SwarmConfig::default()
    })
    .await?;
    s.join([1; 32], ANNOUNCE).await?;
    s.join([2; 32], LOOKUP).await?;
    assert!(matches!(
        s.join(
            [3; 32],
            JoinOptions {
                announce: false,
                lookup: false
            }
        )
        .await,
        Err(SwarmError::JoinOptions)
    ));
    let st = s.stats().await?;
    assert_eq!((st.topics, st.peers, st.queued), (2, 0, 0));
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dedup_through_the_swarm() -> anyhow::Result<()> {
    let boot = Dht::bootstrap_node(any()).await?;
    let topic = [9u8; 32];
    let mut a = swarm(&boot, 8).await?;
    let b = swarm(&boot, 9).await?;
    a.join(
        topic,
        JoinOptions {
            announce: true,
            lookup: true,
        },
    )
    .await?;
    b.join(
        topic,
        JoinOptions {
            announce: true,
            lookup: true,
        },
    )
    .await?;
    // b found a; a re-joins to look b up too: two connections each way
    a.join(
        topic,
        JoinOptions {
            announce: true,
            lookup: true,
        },
    )
    .await?;
    let (ka, kb) = ([1u8; 32], [2u8; 32]);
    let mut conns = Vec::new();
    let mut dups = Vec::new();
    for _ in 0..2 {
        let c = next(&mut a).await?;
        let d = a.deduplicate(c.info().id, ka, kb).await?;
        dups.extend(d.duplicate);
        conns.push(c);
    }
    // a has the smaller key: the connection a dialled survives, the one b
    // dialled is the duplicate, whichever arrived first
    let incoming = conns
        .iter()
        .find(|c| !c.info().initiator)
        .context("incoming")?;
    assert!(conns.iter().any(|c| c.info().initiator));
    assert_eq!(dups, vec![incoming.info().id]);
    assert!(matches!(
        a.deduplicate(hyperswarm::ConnectionId(999), ka, kb).await,
        Err(SwarmError::UnknownConnection)
    ));
    for s in [a, b] {
        s.shutdown().await;
    }
    boot.shutdown().await;
    Ok(())
}
