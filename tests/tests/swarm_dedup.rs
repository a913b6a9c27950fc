//! What a daemon does with every swarm connection: run a replication session on it with the
//! node's Noise key pair, wait for the handshake, hand both static keys to
//! `Swarm::deduplicate`, and cancel the session of the duplicate. Two swarms on 127.0.0.1 that
//! dial each other end with one session each, on the same connection, which replicates.
//! Needs no Node.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use hypercore::protocol::{NoiseKeyPair, SessionConfig};
use hypercore::replicate::{ReplicationHandle, ReplicatorConfig, SharedFeed, replicate};
use hypercore::{Feed, KeyPair, MemoryStorage};
use hyperswarm::{ConnectionId, Dht, JoinOptions, Swarm, SwarmConfig, SwarmError};

/// Bounds a wait only a broken implementation reaches; never a timing assertion.
const BOUND: Duration = Duration::from_secs(60);
const BOTH: JoinOptions = JoinOptions {
    announce: true,
    lookup: true,
};

fn any() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

async fn swarm(boot: &Dht, seed: u64) -> Result<Swarm> {
    Ok(Swarm::bind(SwarmConfig {
        bind: any(),
        bootstrap: vec![boot.local_addr()],
        seed: Some(seed),
        utp: false,
        ..SwarmConfig::default()
    })
    .await?)
}

/// One connection's session, as a daemon keeps it.
struct Session {
    id: ConnectionId,
    initiator: bool,
    handle: ReplicationHandle,
    task: tokio::task::JoinHandle<Result<(), hypercore::replicate::ReplicateError>>,
}

/// Takes the swarm's next connection and starts a session on it with the node's key pair.
async fn accept(
    swarm: &mut Swarm,
    node: &NoiseKeyPair,
    feed: &SharedFeed<MemoryStorage>,
) -> Result<Session> {
    let conn = tokio::time::timeout(BOUND, swarm.next_connection())
        .await
        .context("no connection")?
        .context("swarm closed")?;
    let info = *conn.info();
    let mut config = SessionConfig::new(info.initiator);
    config.live = true;
    config.keypair = Some(node.clone());
    let session = replicate(conn, config, std::slice::from_ref(feed)).remote_addr(info.peer);
    let handle = session.handle();
    Ok(Session {
        id: info.id,
        initiator: info.initiator,
        handle,
        task: tokio::spawn(session),
    })
}

/// After each handshake, the swarm's verdict; the duplicates' sessions are cancelled. A
/// connection the remote already dropped as its duplicate is gone from the swarm by then (its
/// session ended and released it): nothing to decide about it.
async fn dedup(swarm: &Swarm, sessions: &[Session]) -> Result<Vec<ConnectionId>> {
    let mut dropped = Vec::new();
    for s in sessions {
        let peer = tokio::time::timeout(BOUND, s.handle.handshake()).await??;
        let decision = match swarm
            .deduplicate(s.id, peer.local_public_key, peer.remote_public_key)
            .await
        {
            Ok(d) => d,
            Err(SwarmError::UnknownConnection) => {
                ensure!(
                    s.handle.is_ended(),
                    "a running session's connection is unknown"
                );
                dropped.push(s.id);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(dup) = decision.duplicate {
            let d = sessions
                .iter()
                .find(|x| x.id == dup)
                .context("the duplicate is one of ours")?;
            d.handle.cancel();
            dropped.push(dup);
        }
    }
    Ok(dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_keep_one_session_on_the_connection_the_smaller_key_dialled() -> Result<()> {
    let boot = Dht::bootstrap_node(any()).await?;
    let topic = [42u8; 32];
    let mut a = swarm(&boot, 21).await?;
    let mut b = swarm(&boot, 22).await?;
    let (ka, kb) = (
        NoiseKeyPair::from_secret([1; 32]),
        NoiseKeyPair::from_secret([2; 32]),
    );
    let a_is_smaller = ka.public < kb.public;

    let mut writer = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[3; 32]))
        .open()?;
    writer.append_batch(&[b"zero".as_slice(), b"one", b"two"])?;
    let key = *writer.key();
    let fa = SharedFeed::new(writer, ReplicatorConfig::default());
    let fb = SharedFeed::new(
        Feed::builder(MemoryStorage::new()).key(key).open()?,
        ReplicatorConfig::default(),
    );
    fb.set_get_timeout(BOUND);

    // Both announce and look up, and a looks again once b is announced: a connection each way.
    a.join(topic, BOTH).await?;
    b.join(topic, BOTH).await?;
    a.join(topic, BOTH).await?;
    let mut sa = Vec::new();
    let mut sb = Vec::new();
    for _ in 0..2 {
        sa.push(accept(&mut a, &ka, &fa).await?);
        sb.push(accept(&mut b, &kb, &fb).await?);
    }
    ensure!(
        sa.iter().filter(|s| s.initiator).count() == 1
            && sb.iter().filter(|s| s.initiator).count() == 1,
        "one connection each way"
    );
    // The keys each handshake gave are the ones the other node holds.
    for s in &sa {
        let p = s.handle.handshake().await?;
        assert_eq!(
            (p.local_public_key, p.remote_public_key),
            (ka.public, kb.public)
        );
    }

    // a decides while both connections are up: one of them is its duplicate.
    let dropped_a = dedup(&a, &sa).await?;
    assert_eq!(dropped_a.len(), 1);
    // By the time b decides, a's cancel may have ended the duplicate on b's side too (and the
    // swarm forgot it): b drops at most that one.
    let dropped_b = dedup(&b, &sb).await?;
    assert!(dropped_b.len() <= 1);

    // Both sides keep the connection the smaller key dialled: the same TCP connection.
    let keep_a = |s: &&Session| s.initiator == a_is_smaller;
    let keep_b = |s: &&Session| s.initiator != a_is_smaller;
    let a_keep = sa
        .iter()
        .find(keep_a)
        .context("a's survivor")?
        .handle
        .clone();
    let b_keep = sb
        .iter()
        .find(keep_b)
        .context("b's survivor")?
        .handle
        .clone();
    let a_dup = sa.iter().find(|s| !keep_a(s)).context("a's duplicate")?;
    let b_dup = sb.iter().find(|s| !keep_b(s)).context("b's duplicate")?;
    assert_eq!(dropped_a, vec![a_dup.id]);
    assert!(dropped_b.iter().all(|id| *id == b_dup.id));
    // The duplicate's session ends on both sides; the survivors replicate.
    for s in [a_dup, b_dup] {
        tokio::time::timeout(BOUND, s.handle.ended()).await?;
    }
    assert!(!a_keep.is_ended() && !b_keep.is_ended());
    assert_eq!(fb.get(2).await?, b"two");
    assert_eq!(b_keep.info().total.downloaded_blocks, 1);
    assert_eq!(a_keep.info().total.uploaded_blocks, 1);
    assert_eq!(b_keep.info().remote_public_key, Some(ka.public));
    assert_eq!(
        fa.stats().peers,
        1,
        "only the survivor is a peer of the feed"
    );

    for s in sa.into_iter().chain(sb) {
        s.handle.cancel();
        let _ = tokio::time::timeout(BOUND, s.task).await?;
    }
    for s in [a, b] {
        s.shutdown().await;
    }
    boot.shutdown().await;
    Ok(())
}
