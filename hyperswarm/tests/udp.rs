//! The tokio glue over real UDP sockets on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddrV4};

use hyperswarm::{Config, Dht, NodeId, RpcError};

fn any_port() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

#[tokio::test]
async fn announce_lookup_unannounce_over_udp() -> anyhow::Result<()> {
    let boot = Dht::bootstrap_node(any_port()).await?;
    boot.ready().await?;
    let bootstrap = vec![boot.local_addr()];
    let mut nodes = Vec::new();
    for _ in 0..5 {
        let n = Dht::bind(
            any_port(),
            Config {
                bootstrap: bootstrap.clone(),
                ..Config::default()
            },
        )
        .await?;
        n.ready().await?;
        nodes.push(n);
    }
    let eph = Config {
        bootstrap: bootstrap.clone(),
        ephemeral: true,
        ..Config::default()
    };
    let announcer = Dht::bind(any_port(), eph.clone()).await?;
    let seeker = Dht::bind(any_port(), eph).await?;
    announcer.ready().await?;
    seeker.ready().await?;

    let topic = NodeId([42; 32]);
    let out = announcer.announce(topic, None).await?;
    assert!(out.result?.updates >= 1);
    let found = seeker.lookup(topic, None).await?;
    assert_eq!(found.peers(None), vec![announcer.local_addr()]);
    // replies tell us our own address as seen by the DHT
    assert!(
        found
            .replies
            .iter()
            .all(|r| r.to == Some(seeker.local_addr()))
    );

    announcer.unannounce(topic, None).await?.result?;
    let found = seeker.lookup(topic, None).await?;
    assert!(found.peers(None).is_empty());

    assert_eq!(seeker.ping(boot.local_addr()).await?, seeker.local_addr());
    for n in nodes {
        n.shutdown().await;
    }
    announcer.shutdown().await;
    seeker.shutdown().await;
    boot.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn unreachable_bootstrap_is_an_error_not_a_hang() -> anyhow::Result<()> {
    // a port nobody listens on
    let dead = std::net::UdpSocket::bind(any_port())?;
    let dead_addr = match dead.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        other => anyhow::bail!("{other}"),
    };
    drop(dead);
    let n = Dht::bind(
        any_port(),
        Config {
            bootstrap: vec![dead_addr],
            ..Config::default()
        },
    )
    .await?;
    assert_eq!(n.ready().await, Err(RpcError::NoNodesResponded));
    let topic = NodeId([1; 32]);
    assert_eq!(
        n.lookup(topic, None).await?.result,
        Err(RpcError::NoNodesResponded)
    );
    n.shutdown().await;
    Ok(())
}
