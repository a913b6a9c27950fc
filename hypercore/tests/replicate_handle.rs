//! The handle on a replication session: the handshake's keys, counters that match what moved,
//! and cancelling (over in-memory pipes and TCP on 127.0.0.1).
#![cfg(feature = "tokio")]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use hypercore::protocol::{NoiseKeyPair, SessionConfig};
use hypercore::replicate::{
    Mode, ReplicateError, ReplicationHandle, ReplicatorConfig, SessionEnd, SessionState,
    SharedFeed, replicate,
};
use hypercore::{Feed, KeyPair, MemoryStorage};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;

type Shared = SharedFeed<MemoryStorage>;
type Task = JoinHandle<Result<(), ReplicateError>>;

/// Bounds a wait that only a broken implementation reaches; never a timing assertion.
const BOUND: Duration = Duration::from_secs(20);

/// Block `i` of a feed seeded `seed`: sizes differ, so byte counts check which blocks moved.
fn block(seed: u8, i: u64) -> Vec<u8> {
    vec![seed; 10 + i as usize]
}

fn writer(seed: u8, blocks: u64) -> Result<Shared> {
    writer_with(seed, blocks, ReplicatorConfig::default())
}

fn writer_with(seed: u8, blocks: u64, config: ReplicatorConfig) -> Result<Shared> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[seed; 32]))
        .open()?;
    let data: Vec<Vec<u8>> = (0..blocks).map(|i| block(seed, i)).collect();
    feed.append_batch(&data)?;
    Ok(SharedFeed::new(feed, config))
}

fn clone_of(w: &Shared, mode: Mode) -> Result<Shared> {
    let feed = Feed::builder(MemoryStorage::new()).key(*w.key()).open()?;
    let mut c = ReplicatorConfig::default();
    c.mode = mode;
    let feed = SharedFeed::new(feed, c);
    feed.set_get_timeout(BOUND);
    Ok(feed)
}

fn config(initiator: bool, live: bool, keypair: Option<NoiseKeyPair>) -> SessionConfig {
    let mut c = SessionConfig::new(initiator);
    c.live = live;
    c.keypair = keypair;
    c
}

/// Spawns one side over `io`; returns its handle and its task.
fn spawn<T>(io: T, config: SessionConfig, feeds: &[Shared]) -> (ReplicationHandle, Task)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let session = replicate(io, config, feeds);
    let handle = session.handle();
    (handle, tokio::spawn(session))
}

async fn finish(task: Task) -> Result<Result<(), ReplicateError>> {
    tokio::time::timeout(BOUND, task)
        .await
        .context("the session did not end")?
        .context("the session task panicked")
}

#[tokio::test]
async fn the_handshake_names_the_static_keys_each_side_holds() -> Result<()> {
    let w = writer(1, 3)?;
    let r = clone_of(&w, Mode::Sparse)?;
    let ka = NoiseKeyPair::from_secret([7; 32]);
    let kb = NoiseKeyPair::from_secret([9; 32]);
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (ha, ta) = spawn(x, config(true, true, Some(ka.clone())), &[w]);
    // No key pair given: the session makes one, and the handle knows it before the handshake.
    let (hb, tb) = spawn(y, config(false, true, None), std::slice::from_ref(&r));
    let b_local = hb.info().local_public_key;
    assert_ne!(b_local, kb.public);

    let pa = ha.handshake().await?;
    let pb = hb.handshake().await?;
    assert_eq!(pa.local_public_key, ka.public);
    assert_eq!(pa.remote_public_key, b_local);
    assert!(pa.initiator);
    assert_eq!(pb.local_public_key, b_local);
    assert_eq!(pb.remote_public_key, ka.public);
    assert!(!pb.initiator);
    assert_eq!(ha.info().state, SessionState::Open);
    assert_eq!(ha.info().remote_public_key, Some(b_local));

    // Still replicating after the handshake was read.
    assert_eq!(r.get(2).await?, block(1, 2));
    ha.cancel();
    hb.cancel();
    finish(ta).await?.ok();
    finish(tb).await?.ok();
    Ok(())
}

#[tokio::test]
async fn the_peer_over_tcp_has_its_address_and_the_dialler_is_the_initiator() -> Result<()> {
    let w = writer(2, 4)?;
    let r = clone_of(&w, Mode::Sparse)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let dialled = tokio::net::TcpStream::connect(addr).await?;
    let (accepted, from) = listener.accept().await?;
    let ka = NoiseKeyPair::from_secret([3; 32]);
    let kb = NoiseKeyPair::from_secret([4; 32]);

    let sa = replicate(dialled, config(true, true, Some(ka.clone())), &[w]).remote_addr(addr);
    let sb = replicate(
        accepted,
        config(false, true, Some(kb.clone())),
        std::slice::from_ref(&r),
    )
    .remote_addr(from);
    let (ha, hb) = (sa.handle(), sb.handle());
    let (ta, tb) = (tokio::spawn(sa), tokio::spawn(sb));

    let pa = ha.handshake().await?;
    assert_eq!(pa.remote_addr, Some(addr));
    assert_eq!(pa.remote_public_key, kb.public);
    assert!(pa.initiator);
    let pb = hb.handshake().await?;
    assert_eq!(pb.remote_addr, Some(from));
    assert_eq!(pb.remote_public_key, ka.public);
    assert!(!pb.initiator);
    assert_eq!(hb.info().remote_addr, Some(from));

    assert_eq!(r.get(3).await?, block(2, 3));
    assert_eq!(hb.info().total.downloaded_blocks, 1);
    ha.cancel();
    assert!(matches!(finish(ta).await?, Err(ReplicateError::Cancelled)));
    // The remote sees its transport end.
    finish(tb).await?.ok();
    assert!(hb.is_ended());
    Ok(())
}

#[tokio::test]
async fn counters_match_the_blocks_and_bytes_that_moved() -> Result<()> {
    const A: u64 = 40;
    const B: u64 = 9;
    let wa = writer(5, A)?;
    let wb = writer(6, B)?;
    let ra = clone_of(&wa, Mode::Full)?;
    let rb = clone_of(&wb, Mode::Sparse)?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (hw, tw) = spawn(x, config(true, true, None), &[wa.clone(), wb.clone()]);
    let (hr, tr) = spawn(y, config(false, true, None), &[ra.clone(), rb.clone()]);

    let all = |f: &mut Feed<MemoryStorage>| f.len() == A && f.downloaded(0, A) == A;
    ensure!(ra.wait_until(BOUND, all).await, "full clone");
    for i in [0, 4, 8] {
        assert_eq!(rb.get(i).await?, block(6, i));
    }

    let bytes = |seed: u8, idx: &[u64]| idx.iter().map(|&i| block(seed, i).len() as u64).sum();
    let a_bytes: u64 = bytes(5, &(0..A).collect::<Vec<_>>());
    let b_bytes: u64 = bytes(6, &[0, 4, 8]);
    let reader = hr.info();
    let writer_info = hw.info();
    assert_eq!(reader.feeds.len(), 2);
    let feed = |info: &hypercore::replicate::SessionInfo, key| {
        info.feeds
            .iter()
            .find(|f| f.key == key)
            .copied()
            .context("feed missing from the session info")
    };
    let (fa, fb) = (feed(&reader, *wa.key())?, feed(&reader, *wb.key())?);
    assert!(fa.open && fb.open);
    assert_eq!(
        (fa.stats.downloaded_blocks, fa.stats.downloaded_bytes),
        (A, a_bytes)
    );
    assert_eq!(
        (fb.stats.downloaded_blocks, fb.stats.downloaded_bytes),
        (3, b_bytes)
    );
    assert_eq!((fa.stats.uploaded_blocks, fb.stats.uploaded_blocks), (0, 0));
    assert_eq!(reader.total.downloaded_blocks, A + 3);
    assert_eq!(reader.total.downloaded_bytes, a_bytes + b_bytes);
    let (ga, gb) = (
        feed(&writer_info, *wa.key())?,
        feed(&writer_info, *wb.key())?,
    );
    assert_eq!(
        (ga.stats.uploaded_blocks, ga.stats.uploaded_bytes),
        (A, a_bytes)
    );
    assert_eq!(
        (gb.stats.uploaded_blocks, gb.stats.uploaded_bytes),
        (3, b_bytes)
    );
    assert_eq!(writer_info.total.downloaded_blocks, 0);
    // The session's numbers are the feeds' own, for this one peer.
    assert_eq!(wa.stats().total.uploaded_blocks, A);
    assert_eq!(ra.stats().total.downloaded_bytes, a_bytes);

    // Transport bytes: everything one side wrote, the other read, once both are at rest.
    hw.cancel();
    assert!(matches!(finish(tw).await?, Err(ReplicateError::Cancelled)));
    finish(tr).await?.ok();
    let (w_end, r_end) = (hw.info(), hr.info());
    assert_eq!(w_end.wire.sent_bytes, r_end.wire.received_bytes);
    assert!(w_end.wire.sent_bytes > a_bytes + b_bytes);
    assert!(r_end.wire.sent_bytes > 0);
    assert_eq!(r_end.wire.sent_bytes, w_end.wire.received_bytes);
    // Closed channels keep their counts.
    assert!(r_end.feeds.iter().all(|f| !f.open));
    assert_eq!(r_end.total.downloaded_blocks, A + 3);
    Ok(())
}

#[tokio::test]
async fn a_non_live_session_ends_by_itself_with_its_counts() -> Result<()> {
    const N: u64 = 12;
    let mut c = ReplicatorConfig::default();
    c.live = false;
    let w = writer_with(8, N, c.clone())?;
    c.mode = Mode::Full;
    let r = SharedFeed::new(Feed::builder(MemoryStorage::new()).key(*w.key()).open()?, c);
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (hw, tw) = spawn(x, config(true, false, None), &[w]);
    let (hr, tr) = spawn(y, config(false, false, None), std::slice::from_ref(&r));
    let (rw, rr) = (finish(tw).await?, finish(tr).await?);
    // The side that finishes first drops the pipe; the other may still be writing its last
    // `Close` into it. Either way, nothing else goes wrong.
    assert!(rw.is_ok() || rr.is_ok(), "{rw:?} {rr:?}");
    for r in [&rw, &rr] {
        assert!(matches!(r, Ok(()) | Err(ReplicateError::Io(_))), "{r:?}");
    }
    assert!(hw.is_ended() && hr.is_ended());
    assert_eq!(r.with_feed(|f| f.downloaded(0, N)), N);
    let (wi, ri) = (hw.info(), hr.info());
    assert_eq!(wi.total.uploaded_blocks, N);
    assert_eq!(ri.total.downloaded_blocks, N);
    assert_eq!(
        ri.total.downloaded_bytes,
        (0..N).map(|i| block(8, i).len() as u64).sum::<u64>()
    );
    assert_eq!(ri.total.uploaded_blocks + wi.total.downloaded_blocks, 0);
    Ok(())
}

#[tokio::test]
async fn cancel_ends_both_sides_and_releases_the_feeds() -> Result<()> {
    let w = writer(10, 5)?;
    let r = clone_of(&w, Mode::Sparse)?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (hw, tw) = spawn(x, config(true, true, None), std::slice::from_ref(&w));
    let (hr, tr) = spawn(y, config(false, true, None), std::slice::from_ref(&r));
    // Only the session holds the reader's second handle; the test keeps a weak one.
    let weak = r.downgrade();
    assert_eq!(r.get(1).await?, block(10, 1));
    assert_eq!((w.stats().peers, r.stats().peers), (1, 1));
    drop(r);
    assert!(!weak.is_dropped(), "the running session holds the feed");

    hw.cancel();
    assert!(matches!(finish(tw).await?, Err(ReplicateError::Cancelled)));
    assert_eq!(hw.ended().await, SessionEnd::Cancelled);
    assert_eq!(w.stats().peers, 0);
    // The remote sees the end: its session returns too, and its feed is released.
    finish(tr).await?.ok();
    assert!(matches!(
        hr.ended().await,
        SessionEnd::Done | SessionEnd::Failed(_)
    ));
    assert!(weak.is_dropped(), "the ended session released the feed");
    // A handshake asked for after the end still names the peer it had.
    assert!(hw.handshake().await.is_ok());
    Ok(())
}

#[tokio::test]
async fn cancel_before_the_handshake_ends_a_session_whose_peer_is_silent() -> Result<()> {
    let w = writer(11, 2)?;
    let (x, mut silent) = tokio::io::duplex(1024);
    let (h, t) = spawn(x, config(false, true, None), &[w]);
    let waiting = tokio::spawn({
        let h = h.clone();
        async move { h.handshake().await }
    });
    h.cancel();
    assert!(matches!(finish(t).await?, Err(ReplicateError::Cancelled)));
    assert!(matches!(waiting.await?, Err(ReplicateError::SessionEnded)));
    assert_eq!(h.info().state, SessionState::Ended(SessionEnd::Cancelled));
    // The silent end reads EOF: the transport was shut down and dropped.
    let mut rest = Vec::new();
    tokio::time::timeout(BOUND, silent.read_to_end(&mut rest)).await??;
    Ok(())
}

#[tokio::test]
async fn a_dropped_session_reports_itself_abandoned() -> Result<()> {
    let w = writer(12, 2)?;
    let (x, _y) = tokio::io::duplex(1024);
    let session = replicate(x, config(true, true, None), &[w]);
    let h = session.handle();
    drop(session);
    // Never polled: nothing ran, and nobody waits forever on it.
    assert_eq!(h.ended().await, SessionEnd::Abandoned);
    assert!(matches!(
        h.handshake().await,
        Err(ReplicateError::SessionEnded)
    ));
    Ok(())
}

#[tokio::test]
async fn stream_extensions_registered_on_running_sessions_go_both_ways() -> Result<()> {
    let w = writer(13, 3)?;
    let r = clone_of(&w, Mode::Sparse)?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (ha, ta) = spawn(x, config(true, true, None), &[w]);
    let (hb, tb) = spawn(y, config(false, true, None), std::slice::from_ref(&r));
    // Registered after the handshake, while feeds replicate.
    ha.handshake().await?;
    assert_eq!(r.get(0).await?, block(13, 0));
    let mut a_topic = ha.register_extension("topic/one")?;
    let a_only = ha.register_extension("a-only")?;
    let mut b_topic = hb.register_extension("topic/one")?;
    assert!(matches!(
        ha.register_extension("topic/one"),
        Err(ReplicateError::DuplicateExtension(_))
    ));

    // A name the other side did not register is dropped there.
    a_only.send(b"lost").await?;
    a_topic.send(b"from a").await?;
    let got = tokio::time::timeout(BOUND, b_topic.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"from a"[..]));
    b_topic.send(b"from b").await?;
    let got = tokio::time::timeout(BOUND, a_topic.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"from b"[..]));

    // A second name registered later on both sides gets its own messages, in order.
    let mut a_two = ha.register_extension("topic/two")?;
    let b_two = hb.register_extension("topic/two")?;
    for i in 0..3u8 {
        b_two.send(&[i]).await?;
    }
    b_topic.send(b"again").await?;
    for i in 0..3u8 {
        let got = tokio::time::timeout(BOUND, a_two.recv()).await?;
        assert_eq!(got, Some(vec![i]));
    }
    let got = tokio::time::timeout(BOUND, a_topic.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"again"[..]));

    // Dropped on one side: its messages go nowhere there, and the name can be taken again.
    drop(a_two);
    b_two.send(b"unheard").await?;
    b_topic.send(b"heard").await?;
    let got = tokio::time::timeout(BOUND, a_topic.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"heard"[..]));
    let mut a_two = ha.register_extension("topic/two")?;
    b_two.send(b"heard again").await?;
    let got = tokio::time::timeout(BOUND, a_two.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"heard again"[..]));

    // The session ends: receivers end, senders and registrations fail.
    ha.cancel();
    finish(ta).await?.ok();
    finish(tb).await?.ok();
    assert_eq!(a_topic.recv().await, None);
    assert_eq!(tokio::time::timeout(BOUND, b_topic.recv()).await?, None);
    assert!(matches!(
        b_topic.send(b"late").await,
        Err(ReplicateError::SessionEnded)
    ));
    assert!(matches!(
        hb.register_extension("topic/three"),
        Err(ReplicateError::SessionEnded)
    ));
    Ok(())
}

#[tokio::test]
async fn a_peer_flooding_a_stream_extension_fills_only_its_bounded_queue() -> Result<()> {
    use hypercore::replicate::STREAM_EXTENSION_QUEUE;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (ha, ta) = spawn(x, config(true, true, None), &[]);
    let (hb, tb) = spawn(y, config(false, true, None), &[]);
    let a = ha.register_extension("flood")?;
    let mut b = hb.register_extension("flood")?;
    let marker = ha.register_extension("marker")?;
    let mut b_marker = hb.register_extension("marker")?;
    // Both names are known on b before anything is sent: its loop takes registrations in
    // order, and "sync" comes back only after b registered everything above.
    let sync = hb.register_extension("sync")?;
    let mut a_sync = ha.register_extension("sync")?;
    sync.send(b"ready").await?;
    tokio::time::timeout(BOUND, a_sync.recv()).await?;
    let extra = 10;
    for i in 0..(STREAM_EXTENSION_QUEUE + extra) as u32 {
        a.send(&i.to_be_bytes()).await?;
    }
    // The marker, sent last on another name, proves every flood message reached b.
    marker.send(b"done").await?;
    tokio::time::timeout(BOUND, b_marker.recv()).await?;
    let mut held = 0;
    while let Some(m) = b.try_recv() {
        assert_eq!(m, (held as u32).to_be_bytes());
        held += 1;
    }
    assert_eq!(held, STREAM_EXTENSION_QUEUE);
    ha.cancel();
    finish(ta).await?.ok();
    finish(tb).await?.ok();
    Ok(())
}

#[tokio::test]
async fn names_dropped_on_a_running_session_are_withdrawn_from_it() -> Result<()> {
    use hypercore::protocol::MAX_EXTENSIONS;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (ha, ta) = spawn(x, config(true, true, None), &[]);
    let (hb, tb) = spawn(y, config(false, true, None), &[]);
    // More names than one session announces at once, each dropped before the next: a daemon
    // joining and leaving topics for weeks.
    for i in 0..MAX_EXTENSIONS + 10 {
        let ext = ha.register_extension(&format!("topic/{i}"))?;
        ext.send(b"short-lived").await?;
        drop(ext);
    }
    let a_last = ha.register_extension("topic/last")?;
    let mut b_last = hb.register_extension("topic/last")?;
    // b knows the name before a sends under it: a waits for b's message first.
    let mut a_back = ha.register_extension("back")?;
    let b_back = hb.register_extension("back")?;
    b_back.send(b"ready").await?;
    let got = tokio::time::timeout(BOUND, a_back.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"ready"[..]));
    a_last.send(b"still heard").await?;
    let got = tokio::time::timeout(BOUND, b_last.recv()).await?;
    assert_eq!(got.as_deref(), Some(&b"still heard"[..]));
    ha.cancel();
    finish(ta).await?.ok();
    finish(tb).await?.ok();
    Ok(())
}
