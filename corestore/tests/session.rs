//! A store's replication session as a daemon uses it: the handle's keys and counters, stream
//! extensions both ways, and closing the store ending its sessions.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use corestore::{Corestore, Error, SharedFeed};
use hypercore::protocol::{NoiseKeyPair, SessionConfig};
use hypercore::replicate::{
    ReplicationHandle, SessionEnd, StreamExtensionMessage, stream_extensions,
};
use tokio::task::JoinHandle;

/// Bounds a wait only a broken implementation reaches; never a timing assertion.
const BOUND: Duration = Duration::from_secs(20);

type Task = JoinHandle<corestore::Result<()>>;

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

fn block(name: &str, i: u64) -> Vec<u8> {
    format!("{name} block {i}").into_bytes()
}

fn fill(feed: &SharedFeed, name: &str, blocks: u64) -> Result<()> {
    let data: Vec<Vec<u8>> = (0..blocks).map(|i| block(name, i)).collect();
    feed.append_batch(&data)?;
    Ok(())
}

async fn finish(task: Task) -> Result<corestore::Result<()>> {
    tokio::time::timeout(BOUND, task)
        .await
        .context("the session did not end")?
        .context("the session task panicked")
}

fn spawn_pair(
    a: &Arc<Corestore>,
    b: &Arc<Corestore>,
    ka: Option<NoiseKeyPair>,
) -> ((ReplicationHandle, Task), (ReplicationHandle, Task)) {
    let (x, y) = tokio::io::duplex(64 * 1024);
    let mut ca = session(true);
    ca.keypair = ka;
    let sa = a.replicate(x, ca);
    let sb = b.replicate(y, session(false));
    let (ha, hb) = (sa.handle(), sb.handle());
    ((ha, tokio::spawn(sa)), (hb, tokio::spawn(sb)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handle_names_the_peer_and_counts_every_core() -> Result<()> {
    let a = Arc::new(Corestore::in_memory()?);
    let b = Arc::new(Corestore::in_memory()?);
    let one = a.get_by_name("one")?;
    let two = a.get_by_name("two")?;
    fill(&one, "one", 6)?;
    fill(&two, "two", 4)?;
    let node = NoiseKeyPair::from_secret([5; 32]);
    let ((ha, ta), (hb, tb)) = spawn_pair(&a, &b, Some(node.clone()));

    let pb = hb.handshake().await?;
    assert_eq!(pb.remote_public_key, node.public);
    assert_eq!(ha.handshake().await?.remote_public_key, pb.local_public_key);

    let b_one = b.get_by_key(one.key())?;
    let b_two = b.get_by_key(two.key())?;
    b_one.set_get_timeout(BOUND);
    b_two.set_get_timeout(BOUND);
    for i in [0, 5, 2] {
        assert_eq!(b_one.get(i).await?, block("one", i));
    }
    assert_eq!(b_two.get(3).await?, block("two", 3));

    let info = hb.info();
    let of = |key| {
        info.feeds
            .iter()
            .find(|f| f.key == key)
            .map(|f| (f.stats.downloaded_blocks, f.stats.downloaded_bytes))
    };
    let len = |name, idx: &[u64]| {
        idx.iter()
            .map(|&i| block(name, i).len() as u64)
            .sum::<u64>()
    };
    assert_eq!(of(*one.key()), Some((3, len("one", &[0, 5, 2]))));
    assert_eq!(of(*two.key()), Some((1, len("two", &[3]))));
    assert_eq!(info.total.downloaded_blocks, 4);
    assert_eq!(ha.info().total.uploaded_blocks, 4);
    assert_eq!(
        ha.info().total.uploaded_bytes,
        len("one", &[0, 5, 2]) + len("two", &[3])
    );

    hb.cancel();
    assert!(matches!(
        finish(tb).await?,
        Err(Error::Replicate(
            hypercore::replicate::ReplicateError::Cancelled
        ))
    ));
    finish(ta).await?.ok();
    assert!(ha.is_ended());
    // Cancelling a session leaves the stores open.
    assert!(a.get_by_name("three").is_ok() && b.get_by_name("three").is_ok());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_extensions_go_both_ways_on_a_store_session() -> Result<()> {
    let a = Arc::new(Corestore::in_memory()?);
    let b = Arc::new(Corestore::in_memory()?);
    // Something to replicate beside the extension messages.
    let feed = a.get_by_name("feed")?;
    fill(&feed, "feed", 2)?;
    let (ext_a, send_a, mut recv_a) = stream_extensions(&["peersockets", "a-only"])?;
    let (ext_b, send_b, mut recv_b) = stream_extensions(&["b-only", "peersockets"])?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let sa = a.replicate_with_extensions(x, session(true), ext_a);
    let sb = b.replicate_with_extensions(y, session(false), ext_b);
    let (ha, hb) = (sa.handle(), sb.handle());
    let (ta, tb) = (tokio::spawn(sa), tokio::spawn(sb));

    // A name the other side did not register is dropped there: the first message each side
    // receives is the shared extension's.
    send_a.send("a-only", b"lost")?;
    send_a.send("peersockets", b"hello from a")?;
    send_b.send("b-only", b"lost too")?;
    send_b.send("peersockets", b"hello from b")?;
    let got_b = tokio::time::timeout(BOUND, recv_b.recv())
        .await?
        .context("b's session ended")?;
    let got_a = tokio::time::timeout(BOUND, recv_a.recv())
        .await?
        .context("a's session ended")?;
    let msg = |name: &str, payload: &[u8]| (name.to_owned(), payload.to_vec());
    let pair = |m: StreamExtensionMessage| (m.name, m.payload);
    assert_eq!(pair(got_b), msg("peersockets", b"hello from a"));
    assert_eq!(pair(got_a), msg("peersockets", b"hello from b"));

    // Feeds still replicate on the same session, and more messages follow in order.
    let b_feed = b.get_by_key(feed.key())?;
    b_feed.set_get_timeout(BOUND);
    assert_eq!(b_feed.get(1).await?, block("feed", 1));
    for i in 0..3u8 {
        send_b.send("peersockets", &[i])?;
    }
    for i in 0..3u8 {
        let m = tokio::time::timeout(BOUND, recv_a.recv())
            .await?
            .context("a's session ended")?;
        assert_eq!(pair(m), msg("peersockets", &[i]));
    }

    ha.cancel();
    finish(ta).await?.ok();
    finish(tb).await?.ok();
    assert!(hb.is_ended());
    // The session is gone: sending fails and the receiver ends.
    assert!(send_a.send("peersockets", b"late").is_err());
    assert!(recv_b.recv().await.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_store_ends_its_sessions_and_the_remote_sees_the_end() -> Result<()> {
    let a = Arc::new(Corestore::in_memory()?);
    let b = Arc::new(Corestore::in_memory()?);
    let c = Arc::new(Corestore::in_memory()?);
    let feed = a.get_by_name("feed")?;
    fill(&feed, "feed", 3)?;
    let ((ha, ta), (hb, tb)) = spawn_pair(&a, &b, None);
    // A namespace view's session ends with the store too.
    let ns = Arc::new(a.namespace("ns")?);
    ns.get_by_name("feed")?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let s_ns = ns.replicate(x, session(true));
    let s_c = c.replicate(y, session(false));
    let (h_ns, hc) = (s_ns.handle(), s_c.handle());
    let (t_ns, tc) = (tokio::spawn(s_ns), tokio::spawn(s_c));

    let b_feed = b.get_by_key(feed.key())?;
    b_feed.set_get_timeout(BOUND);
    assert_eq!(b_feed.get(2).await?, block("feed", 2));
    hc.handshake().await?;
    let weak = feed.downgrade();
    drop(feed);

    a.close()?;
    assert!(matches!(finish(ta).await?, Err(Error::Closed)));
    assert!(matches!(finish(t_ns).await?, Err(Error::Closed)));
    assert_eq!(ha.ended().await, SessionEnd::Cancelled);
    assert_eq!(h_ns.ended().await, SessionEnd::Cancelled);
    // The remotes see their transports end, and their stores stay open.
    finish(tb).await?.ok();
    finish(tc).await?.ok();
    assert!(hb.is_ended() && hc.is_ended());
    assert!(b.get_by_name("still open").is_ok());
    assert!(
        weak.is_dropped(),
        "the closed store's sessions released its cores"
    );

    // A session started on a closed store ends at once.
    let (x, _y) = tokio::io::duplex(1024);
    assert!(matches!(
        finish(tokio::spawn(a.replicate(x, session(true)))).await?,
        Err(Error::Closed)
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_extensions_registered_on_running_store_sessions() -> Result<()> {
    let a = Arc::new(Corestore::in_memory()?);
    let b = Arc::new(Corestore::in_memory()?);
    let ((ha, ta), (hb, tb)) = spawn_pair(&a, &b, None);
    hb.handshake().await?;
    // A daemon's peer sockets: one name per topic, joined while the session runs.
    let mut a_chat = ha.register_extension("peersockets/chat")?;
    let mut b_chat = hb.register_extension("peersockets/chat")?;
    a_chat.send(b"hi b").await?;
    let got = tokio::time::timeout(BOUND, b_chat.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"hi b"[..]));
    b_chat.send(b"hi a").await?;
    let got = tokio::time::timeout(BOUND, a_chat.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"hi a"[..]));

    // Closing the store ends the session: the extension's receivers end on both sides.
    a.close()?;
    assert!(matches!(finish(ta).await?, Err(Error::Closed)));
    finish(tb).await?.ok();
    assert_eq!(tokio::time::timeout(BOUND, a_chat.recv()).await?, None);
    assert_eq!(tokio::time::timeout(BOUND, b_chat.recv()).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_session_too_far_behind_the_stores_loads_is_ended() -> Result<()> {
    use corestore::SESSION_LOAD_QUEUE;
    let a = Arc::new(Corestore::in_memory()?);
    let b = Arc::new(Corestore::in_memory()?);
    let (x, y) = tokio::io::duplex(64 * 1024);
    // B's session runs; A's is made but not run yet: a task the runtime starved.
    let tb = tokio::spawn(b.replicate(y, session(false)));
    let sa = a.replicate(x, session(true));
    for i in 0..SESSION_LOAD_QUEUE + 1 {
        drop(a.get_by_name(format!("core {i}"))?);
    }
    // The store ended it at the first core past the queue, rather than queue that one too.
    let ended = tokio::time::timeout(BOUND, sa)
        .await
        .context("A's session did not end")?;
    assert!(matches!(ended, Err(Error::SessionBehind)), "{ended:?}");
    // Later loads no longer reach it, and the store works on.
    a.get_by_name("after")?.append(b"x")?;
    let _ = finish(tb).await?;
    Ok(())
}

#[tokio::test]
async fn a_running_session_holds_the_cores_it_carries_until_it_ends() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let a = Arc::new(Corestore::open(dir.path().join("a"))?);
    let b = Arc::new(Corestore::in_memory()?);
    // Room for one core.
    a.set_open_file_budget(Some(6));
    let ((ha, ta), (_, tb)) = spawn_pair(&a, &b, None);
    ha.handshake().await?;
    for i in 0..5 {
        fill(&a.get_by_name(format!("carried {i}"))?, "carried", 1)?;
    }
    // Every core loaded during the session is in use by it: none closes, whatever the budget.
    let stats = a.stats();
    assert_eq!((stats.loaded, stats.evictions), (5, 0));
    ha.cancel();
    let _ = finish(ta).await?;
    let _ = finish(tb).await?;
    // Ended: they are idle, and the next load closes them as the budget says.
    drop(a.get_by_name("after")?);
    let stats = a.stats();
    assert_eq!((stats.loaded, stats.evictions), (1, 5));
    Ok(())
}
