//! The tokio glue: ddrive to ddrive over in-memory pipes (sparse, full, live, three peers), and
//! fake uploaders that stall or send bad blocks, with paused time for the timeouts.
#![cfg(feature = "tokio")]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hypercore::protocol::io::SessionStream;
use hypercore::protocol::{
    Data, DataNode, Event, Have, Message, Session, SessionConfig, bitfield_rle,
};
use hypercore::replicate::{
    Mode, ReplicateError, ReplicatorConfig, SharedFeed, replicate, replicate_with,
};
use hypercore::{Feed, KeyPair, MemoryStorage, ProofRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const N: u64 = 40;

fn block(i: u64) -> Vec<u8> {
    format!("block {i}").into_bytes()
}

fn writer_feed(seed: u8) -> Result<Feed<MemoryStorage>> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[seed; 32]))
        .open()?;
    let blocks: Vec<Vec<u8>> = (0..N).map(block).collect();
    for batch in blocks.chunks(3) {
        feed.append_batch(batch)?;
    }
    Ok(feed)
}

fn shared(feed: Feed<MemoryStorage>, mode: Mode) -> SharedFeed<MemoryStorage> {
    let mut c = ReplicatorConfig::default();
    c.mode = mode;
    c.request_timeout = Duration::from_secs(5);
    SharedFeed::new(feed, c)
}

fn clone_of(w: &SharedFeed<MemoryStorage>, mode: Mode) -> Result<SharedFeed<MemoryStorage>> {
    let feed = Feed::builder(MemoryStorage::new()).key(*w.key()).open()?;
    Ok(shared(feed, mode))
}

fn live(initiator: bool) -> SessionConfig {
    let mut c = SessionConfig::new(initiator);
    c.live = true;
    c
}

/// Runs one side of a connection in the background.
fn run(io: DuplexStream, initiator: bool, feed: &SharedFeed<MemoryStorage>) -> JoinHandle<()> {
    let feeds = [feed.clone()];
    tokio::spawn(async move {
        if let Err(err) = replicate(io, live(initiator), &feeds).await {
            tracing::debug!(%err, "connection ended");
        }
    })
}

/// Connects two shared feeds through a pipe.
fn connect(a: &SharedFeed<MemoryStorage>, b: &SharedFeed<MemoryStorage>) -> [JoinHandle<()>; 2] {
    let (x, y) = tokio::io::duplex(64 * 1024);
    [run(x, true, a), run(y, false, b)]
}

#[tokio::test]
async fn sparse_read_then_live_append() -> Result<()> {
    let w = shared(writer_feed(1)?, Mode::Sparse);
    let r = clone_of(&w, Mode::Sparse)?;
    let _c = connect(&w, &r);
    assert_eq!(r.get(5).await?, block(5));
    assert_eq!(r.with_feed(|f| (f.len(), f.downloaded(0, N))), (N, 1));
    let waiting = tokio::spawn({
        let r = r.clone();
        async move { r.get(N).await }
    });
    w.append(b"appended")?;
    assert_eq!(waiting.await??, b"appended");
    let stats = r.stats();
    assert_eq!(stats.total.downloaded_blocks, 2);
    assert_eq!(stats.total.downloaded_bytes, 7 + 8);
    assert_eq!(w.stats().total.uploaded_blocks, 2);
    assert_eq!(r.peer_stats().len(), 1);
    Ok(())
}

#[tokio::test]
async fn full_download_and_a_three_peer_relay() -> Result<()> {
    let w = shared(writer_feed(2)?, Mode::Sparse);
    let m = clone_of(&w, Mode::Full)?;
    let r = clone_of(&w, Mode::Sparse)?;
    let _wm = connect(&w, &m);
    let all = |f: &mut Feed<MemoryStorage>| f.len() == N && f.downloaded(0, N) == N;
    ensure!(
        m.wait_until(Duration::from_secs(30), all).await,
        "full download"
    );
    assert_eq!(m.with_feed(|f| f.audit())?.invalid, 0);
    // The reader only knows the middle, which got everything from the writer.
    let _mr = connect(&m, &r);
    assert_eq!(r.get(17).await?, block(17));
    assert_eq!(
        w.stats().total.uploaded_blocks,
        N,
        "the writer served only the middle"
    );
    assert_eq!(m.stats().total.uploaded_blocks, 1);
    // Live through the middle.
    let waiting = tokio::spawn({
        let r = r.clone();
        async move { r.get(N).await }
    });
    w.append(b"relayed")?;
    assert_eq!(waiting.await??, b"relayed");
    Ok(())
}

/// A peer that claims every block of `feed` and answers requests wrongly (`tamper`) or never.
async fn fake_uploader(
    io: DuplexStream,
    mut feed: Feed<MemoryStorage>,
    tamper: bool,
    requested: mpsc::UnboundedSender<u64>,
) -> Result<()> {
    let key = *feed.key();
    let dk = key.discovery_key();
    let mut config = SessionConfig::new(false);
    config.timeout = None;
    config.live = true;
    let mut s = SessionStream::new(io, config);
    s.session_mut().open(&key)?;
    while let Some(event) = s.next_event().await? {
        let Event::Message { message, .. } = event else {
            continue;
        };
        match message {
            Message::Want(want) => {
                let bits = vec![0xff; feed.len().div_ceil(8) as usize];
                let have = Have {
                    start: want.start,
                    length: want.length,
                    bitfield: Some(bitfield_rle::encode(&bits)),
                    ack: None,
                };
                s.session_mut().send(&dk, Message::Have(have))?;
            }
            Message::Request(r) => {
                let _ = requested.send(r.index);
                if !tamper {
                    continue; // stall
                }
                let proof = feed.proof(
                    r.index,
                    ProofRequest {
                        digest: r.nodes(),
                        hash: false,
                    },
                )?;
                let mut value = feed.get(r.index)?;
                value[0] ^= 1;
                let data = Data {
                    index: r.index,
                    value: Some(value),
                    nodes: proof
                        .nodes
                        .iter()
                        .map(|n| DataNode {
                            index: n.index,
                            hash: n.hash.to_vec(),
                            size: n.size,
                        })
                        .collect(),
                    signature: proof.signature.map(|s| s.0.to_vec()),
                };
                s.session_mut().send(&dk, Message::Data(data))?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn spawn_fake(
    reader: &SharedFeed<MemoryStorage>,
    seed: u8,
    tamper: bool,
) -> Result<mpsc::UnboundedReceiver<u64>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (x, y) = tokio::io::duplex(64 * 1024);
    let feed = writer_feed(seed)?;
    tokio::spawn(async move {
        if let Err(err) = fake_uploader(y, feed, tamper, tx).await {
            tracing::debug!(%err, "fake peer ended");
        }
    });
    run(x, true, reader);
    Ok(rx)
}

#[tokio::test(start_paused = true)]
async fn stalled_peer_times_out_and_another_peer_serves() -> Result<()> {
    let w = shared(writer_feed(3)?, Mode::Sparse);
    let r = clone_of(&w, Mode::Sparse)?;
    let mut requested = spawn_fake(&r, 3, false)?;
    let get = tokio::spawn({
        let r = r.clone();
        async move { r.get(3).await }
    });
    assert_eq!(
        requested.recv().await,
        Some(3),
        "the staller got the request"
    );
    let _good = connect(&w, &r); // block 3 is reserved for the staller until it times out
    assert_eq!(get.await??, block(3));
    let stats = r.stats();
    assert_eq!(stats.peer_failures, 1);
    let why = r.last_peer_error().context("a peer error")?;
    assert!(
        why.contains("did not answer the request for block 3"),
        "{why}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn stalled_only_peer_gives_a_clear_get_error() -> Result<()> {
    let w = shared(writer_feed(4)?, Mode::Sparse);
    let r = clone_of(&w, Mode::Sparse)?;
    r.set_get_timeout(Duration::from_secs(30));
    let mut requested = spawn_fake(&r, 4, false)?;
    let err = r.get(3).await.expect_err("nobody delivers");
    assert_eq!(requested.recv().await, Some(3));
    assert!(
        matches!(err, ReplicateError::GetTimeout { index: 3, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("block 3 was not received within 30s"),
        "{text}"
    );
    assert!(text.contains("did not answer"), "{text}");
    assert!(!r.with_feed(|f| f.has(3)));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn bad_blocks_are_refused_and_fetched_elsewhere() -> Result<()> {
    let w = shared(writer_feed(5)?, Mode::Sparse);
    let r = clone_of(&w, Mode::Sparse)?;
    let mut requested = spawn_fake(&r, 5, true)?;
    let get = tokio::spawn({
        let r = r.clone();
        async move { r.get(8).await }
    });
    assert_eq!(requested.recv().await, Some(8));
    let _good = connect(&w, &r);
    assert_eq!(get.await??, block(8));
    assert_eq!(r.stats().peer_failures, 1);
    let why = r.last_peer_error().context("a peer error")?;
    assert!(why.contains("invalid proof"), "{why}");
    assert_eq!(
        r.with_feed(|f| f.downloaded(0, N)),
        1,
        "only the good copy is stored"
    );
    Ok(())
}

/// What the remote does about a feed we opened before it had loaded it, once it loads it: the
/// first event our session sees for that channel after the handshake, and whether a `Want`
/// followed the remote's `Open` with nothing asked of us in between.
async fn late_feed_on_remote(live_session: bool) -> Result<(Event, bool)> {
    let w = writer_feed(6)?;
    let key = *w.key();
    let dk = key.discovery_key();
    let late = clone_of(&shared(w, Mode::Sparse), Mode::Sparse)?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (asked_tx, mut asked) = mpsc::unbounded_channel();
    let (add, added) = mpsc::channel(4);
    let mut config = live(false);
    config.live = live_session;
    let remote = tokio::spawn(async move {
        let find = move |dk: &[u8; 32]| {
            let _ = asked_tx.send(*dk);
            None
        };
        replicate_with(y, config, &[], Some(added), find).await
    });
    let mut s = SessionStream::new(x, live(true));
    s.session_mut().open(&key)?;
    // Our Open goes out with the last handshake message, before this event.
    while !matches!(s.next_event().await?, Some(Event::Handshake { .. })) {}
    // The remote looked the key up and found nothing: its answer (if any) is on its way.
    ensure!(asked.recv().await == Some(dk));
    add.try_send(late).ok().context("remote session gone")?;
    let first = s.next_event().await?.context("stream ended")?;
    let want = match s.next_event().await? {
        Some(Event::Message {
            discovery_key,
            message: Message::Want(_),
        }) => discovery_key == dk,
        _ => false,
    };
    remote.abort();
    Ok((first, want))
}

#[tokio::test]
async fn a_live_session_opens_a_late_feed_on_the_remote_half_open_channel() -> Result<()> {
    let (first, want) = late_feed_on_remote(true).await?;
    let dk = writer_feed(6)?.key().discovery_key();
    assert_eq!(first, Event::ChannelOpen { discovery_key: dk });
    assert!(want, "the Want came with the Open, before we sent anything");
    Ok(())
}

#[tokio::test]
async fn a_non_live_session_refuses_a_feed_it_does_not_have() -> Result<()> {
    let (first, _) = late_feed_on_remote(false).await?;
    let dk = writer_feed(6)?.key().discovery_key();
    assert_eq!(first, Event::ChannelClosed { discovery_key: dk });
    Ok(())
}

/// Feeds `remote` what arrives on `io` until a `Want` comes; writes back only what the
/// remote queued for `io` when `answer` is set (else its handshake reply alone). Paused time
/// ends a wait for a `Want` that never comes.
async fn until_want(
    remote: &mut Session,
    io: &mut DuplexStream,
    answer: bool,
) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    let wait = async {
        loop {
            let handshaking = !remote.is_handshake_complete();
            while (answer || handshaking)
                && let Some(bytes) = remote.poll_transmit(Instant::now())
            {
                io.write_all(&bytes).await?;
            }
            let n = io.read(&mut buf).await?;
            ensure!(n > 0, "stream ended");
            remote.handle_input(Instant::now(), &buf[..n])?;
            while let Some(event) = remote.poll_event() {
                let want = matches!(
                    event,
                    Event::Message {
                        message: Message::Want(_),
                        ..
                    }
                );
                events.push(event);
                if want {
                    return Ok(());
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .context("no Want came")??;
    Ok(events)
}

#[tokio::test(start_paused = true)]
async fn wants_go_out_with_the_open_and_again_once_the_remote_opens() -> Result<()> {
    let w = shared(writer_feed(8)?, Mode::Sparse);
    let key = *w.key();
    let dk = key.discovery_key();
    let r = clone_of(&w, Mode::Sparse)?;
    let (mut io, theirs) = tokio::io::duplex(64 * 1024);
    let _ours = run(theirs, true, &r);
    // A seeder that opened the feed before the handshake: its Open waits in its queue.
    let mut remote = Session::new(live(false), Instant::now());
    remote.open(&key)?;
    let events = until_want(&mut remote, &mut io, false).await?;
    assert!(
        events.contains(&Event::ChannelOpen { discovery_key: dk }),
        "{events:?}"
    );
    // Now the remote's Open goes out: the peer's own Want follows, for a remote that had
    // dropped the first one.
    let events = until_want(&mut remote, &mut io, true).await?;
    assert!(
        matches!(events.last(), Some(Event::Message { discovery_key, .. }) if *discovery_key == dk),
        "{events:?}"
    );
    Ok(())
}
