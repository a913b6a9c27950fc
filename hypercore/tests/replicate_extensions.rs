//! Feed- and stream-level extensions between two ddrive sessions over an in-memory pipe (no
//! sockets): sorted names in `Options`, ids mapped through the sender's list, send, broadcast,
//! receive, late registration, and names only one side knows being ignored.
#![cfg(feature = "tokio")]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hypercore::protocol::{Extension, Message, Options, SessionConfig};
use hypercore::replicate::{
    FeedExtensionMessage, Outgoing, ReplicateError, Replicator, ReplicatorConfig, SharedFeed,
    StreamExtensionMessage, replicate, replicate_with_extensions, stream_extensions,
};
use hypercore::{Feed, KeyPair, MemoryStorage};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

/// A guard against a hang, not a timing assertion.
const LIMIT: Duration = Duration::from_secs(10);

fn writer() -> Result<SharedFeed<MemoryStorage>> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[9; 32]))
        .open()?;
    feed.append(b"block 0")?;
    Ok(SharedFeed::new(feed, ReplicatorConfig::default()))
}

fn clone_of(w: &SharedFeed<MemoryStorage>) -> Result<SharedFeed<MemoryStorage>> {
    let feed = Feed::builder(MemoryStorage::new()).key(*w.key()).open()?;
    Ok(SharedFeed::new(feed, ReplicatorConfig::default()))
}

fn live(initiator: bool) -> SessionConfig {
    let mut c = SessionConfig::new(initiator);
    c.live = true;
    c
}

fn connect(a: &SharedFeed<MemoryStorage>, b: &SharedFeed<MemoryStorage>) -> [JoinHandle<()>; 2] {
    let (x, y) = tokio::io::duplex(64 * 1024);
    let run = |io, initiator, feed: &SharedFeed<MemoryStorage>| {
        let feeds = [feed.clone()];
        tokio::spawn(async move {
            if let Err(err) = replicate(io, live(initiator), &feeds).await {
                tracing::debug!(%err, "connection ended");
            }
        })
    };
    [run(x, true, a), run(y, false, b)]
}

async fn until_peer(feed: &SharedFeed<MemoryStorage>) -> Result<()> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let changed = feed.changed();
        if feed.stats().peers > 0 {
            return Ok(());
        }
        tokio::time::timeout_at(deadline, changed)
            .await
            .context("no peer")?;
    }
}

async fn recv<T>(rx: &mut Receiver<T>) -> Result<T> {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .context("waiting for an extension message")?
        .context("extension channel closed")
}

#[test]
fn options_carry_the_sorted_names_and_ids_are_positions() -> Result<()> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[3; 32]))
        .open()?;
    let mut r = Replicator::new(ReplicatorConfig::default());
    assert!(r.register_extension("zeta"));
    assert!(r.register_extension("alpha"));
    assert!(!r.register_extension("zeta"));
    let now = Instant::now();
    let peer = r.add_peer(&mut feed, now);
    let first = r.poll_transmit(&mut feed, peer)?;
    let options = Options {
        extensions: vec!["alpha".into(), "zeta".into()],
        ack: Some(false),
    };
    assert_eq!(first, Some(Outgoing::Message(Message::Options(options))));
    while r.poll_transmit(&mut feed, peer)?.is_some() {}
    r.send_extension(peer, "zeta", b"z")?;
    let sent = Extension {
        id: 1,
        payload: b"z".to_vec(),
    };
    assert_eq!(
        r.poll_transmit(&mut feed, peer)?,
        Some(Outgoing::Message(Message::Extension(sent)))
    );
    // A later registration is announced again, with every name.
    assert!(r.register_extension("mid"));
    let again = Options {
        extensions: vec!["alpha".into(), "mid".into(), "zeta".into()],
        ack: Some(false),
    };
    assert_eq!(
        r.poll_transmit(&mut feed, peer)?,
        Some(Outgoing::Message(Message::Options(again)))
    );
    assert!(matches!(
        r.send_extension(peer, "nope", b""),
        Err(ReplicateError::UnknownExtension(_))
    ));
    Ok(())
}

#[tokio::test]
async fn feed_extensions_both_ways_with_different_name_lists() -> Result<()> {
    let w = writer()?;
    let r = clone_of(&w)?;
    // Different lists, so "shared" has id 1 on the writer and id 2 on the clone.
    let mut w_shared = w.register_extension("shared")?;
    let _w_alpha = w.register_extension("alpha")?;
    let _r_b = r.register_extension("b-only-clone")?;
    let _r_a = r.register_extension("a-only-clone")?;
    let mut r_shared = r.register_extension("shared")?;
    assert!(matches!(
        r.register_extension("shared"),
        Err(ReplicateError::DuplicateExtension(_))
    ));
    assert_eq!(w.extension_names(), ["alpha", "shared"]);
    let _c = connect(&w, &r);
    until_peer(&r).await?;
    // The writer does not know this name: ignored there, the session goes on.
    ensure!(r.broadcast_extension("a-only-clone", b"dropped")?);
    ensure!(r.broadcast_extension("shared", b"hello writer")?);
    let FeedExtensionMessage { peer, payload, .. } = recv(&mut w_shared).await?;
    assert_eq!(payload, b"hello writer");
    w.send_extension("shared", peer, b"hello clone")?;
    assert_eq!(recv(&mut r_shared).await?.payload, b"hello clone");
    ensure!(w_shared.try_recv().is_err(), "nothing else arrived");
    // Replication still works alongside.
    assert_eq!(r.get(0).await?, b"block 0");
    Ok(())
}

#[tokio::test]
async fn a_feed_extension_registered_after_open_is_announced() -> Result<()> {
    let w = writer()?;
    let r = clone_of(&w)?;
    let _c = connect(&w, &r);
    until_peer(&r).await?;
    until_peer(&w).await?;
    let mut w_late = w.register_extension("late")?;
    let mut r_late = r.register_extension("late")?;
    // The writer's new Options goes out before the message, and the clone registered the name
    // before the writer sent it: mapped on the first try.
    ensure!(w.broadcast_extension("late", b"ping")?);
    let got = recv(&mut r_late).await?;
    assert_eq!(got.payload, b"ping");
    r.send_extension("late", got.peer, b"pong")?;
    assert_eq!(recv(&mut w_late).await?.payload, b"pong");
    Ok(())
}

#[tokio::test]
async fn stream_extensions_both_ways() -> Result<()> {
    let w = writer()?;
    let r = clone_of(&w)?;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (ext_a, send_a, mut recv_a) = stream_extensions(&["zz-common", "a-only"])?;
    let (ext_b, send_b, mut recv_b) = stream_extensions(&["b0", "b1", "zz-common"])?;
    assert!(matches!(
        stream_extensions(&["x", "x"]),
        Err(ReplicateError::DuplicateExtension(_))
    ));
    let none = |_: &[u8; 32]| None;
    let feeds_a = [w.clone()];
    let feeds_b = [r.clone()];
    let _a = tokio::spawn(async move {
        replicate_with_extensions(x, live(true), &feeds_a, None, none, Some(ext_a)).await
    });
    let _b = tokio::spawn(async move {
        replicate_with_extensions(y, live(false), &feeds_b, None, none, Some(ext_b)).await
    });
    send_a.send("a-only", b"ignored by b")?;
    send_a.send("zz-common", b"to b")?;
    let got = recv(&mut recv_b).await?;
    assert_eq!(
        (got.name.as_str(), got.payload.as_slice()),
        ("zz-common", &b"to b"[..])
    );
    send_b.send("zz-common", b"to a")?;
    let StreamExtensionMessage { name, payload, .. } = recv(&mut recv_a).await?;
    assert_eq!(
        (name.as_str(), payload.as_slice()),
        ("zz-common", &b"to a"[..])
    );
    assert!(matches!(
        send_b.send("unknown", b""),
        Err(ReplicateError::UnknownExtension(_))
    ));
    assert_eq!(r.get(0).await?, b"block 0");
    ensure!(recv_b.try_recv().is_err(), "the unknown name was dropped");
    Ok(())
}
