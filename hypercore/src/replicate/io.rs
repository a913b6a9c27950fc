//! Runs one protocol session over a tokio transport, replicating any number of shared feeds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::ReplicateError;
use super::peer::Outgoing;
use super::replicator::PeerId;
use super::shared::{SharedFeed, now};
use super::stream_extensions::{StreamExtensionMessage, StreamExtensions};
use crate::protocol::{Event, Message, Session, SessionConfig};
use crate::storage::Storage;

/// Most bytes one read takes. What one read brings is stored as one batch, so when blocks queue
/// up in the socket a large read hands over several drive blocks (512 KiB each) at once: they
/// hash four at a time in SIMD lanes, and the loop runs once for all of them (a full clone
/// measured ~20% less CPU than with 64 KiB reads).
const READ_CHUNK: usize = 1024 * 1024;
/// Stop pulling messages (and so answering requests) while this much is unwritten: the transport
/// sets the pace of uploads, and memory stays bounded by this plus one block.
const HIGH_WATER: usize = 256 * 1024;

struct Channel<S: Storage> {
    feed: SharedFeed<S>,
    peer: Option<PeerId>,
    /// The feed's extension change count last registered on the session's channel.
    extensions_seen: u64,
}

impl<S: Storage> Channel<S> {
    fn new(feed: SharedFeed<S>) -> Self {
        Channel {
            feed,
            peer: None,
            extensions_seen: 0,
        }
    }
}

/// Registers the feed's extension names on our open channel, so the session maps the remote's
/// extension ids to them; done right after opening, before any remote message can arrive.
fn sync_extensions<S: Storage>(
    session: &mut Session,
    dk: &[u8; 32],
    ch: &mut Channel<S>,
) -> Result<(), ReplicateError> {
    if !session.is_open(dk) {
        return Ok(());
    }
    if let Some((seen, names)) = ch.feed.extensions_since(ch.extensions_seen) {
        for name in &names {
            session.register_channel_extension(dk, name)?;
        }
        ch.extensions_seen = seen;
    }
    Ok(())
}

/// Opens `feed` on the session with its extension names.
fn open_feed<S: Storage>(
    session: &mut Session,
    dk: &[u8; 32],
    ch: &mut Channel<S>,
) -> Result<(), ReplicateError> {
    session.open(ch.feed.key())?;
    sync_extensions(session, dk, ch)
}

/// Replicates `feeds` with the peer at the other end of `io` until the transport ends (or, for a
/// non-live session, until every channel closed).
///
/// Every feed is opened on the session; a feed the remote opens that is not in `feeds` is
/// refused with `Close{discoveryKey}`. A peer that sends invalid data or stalls is dropped from
/// that feed (its channel is closed) and its requests go to the feed's other peers.
pub async fn replicate<T, S>(
    io: T,
    config: SessionConfig,
    feeds: &[SharedFeed<S>],
) -> Result<(), ReplicateError>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
{
    replicate_with(io, config, feeds, None, |_: &[u8; 32]| None).await
}

/// [`replicate`] with a set of feeds that grows during the session (corestore's replication):
/// every feed received on `added` is opened on the session, and a feed the remote opens by
/// discovery key is looked up with `find` and replicated if it returns one (refused with
/// `Close{discoveryKey}` otherwise). A feed that is already replicated is ignored.
pub async fn replicate_with<T, S, F>(
    io: T,
    config: SessionConfig,
    feeds: &[SharedFeed<S>],
    added: Option<UnboundedReceiver<SharedFeed<S>>>,
    find: F,
) -> Result<(), ReplicateError>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
    F: FnMut(&[u8; 32]) -> Option<SharedFeed<S>>,
{
    replicate_with_extensions(io, config, feeds, added, find, None).await
}

/// [`replicate_with`] plus stream-level extensions (JS `stream.registerExtension`), made by
/// [`stream_extensions`](super::stream_extensions): registered on the session before it starts,
/// sent on channel 0 (after an `Options` announcing the sorted names, lazily as JS does), and
/// received from the remote when it registered the same name.
pub async fn replicate_with_extensions<T, S, F>(
    io: T,
    config: SessionConfig,
    feeds: &[SharedFeed<S>],
    added: Option<UnboundedReceiver<SharedFeed<S>>>,
    find: F,
    extensions: Option<StreamExtensions>,
) -> Result<(), ReplicateError>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
    F: FnMut(&[u8; 32]) -> Option<SharedFeed<S>>,
{
    let mut channels: HashMap<[u8; 32], Channel<S>> = feeds
        .iter()
        .map(|f| (f.key().discovery_key(), Channel::new(f.clone())))
        .collect();
    let wake = Arc::new(Notify::new());
    let mut dynamic = Dynamic {
        added,
        find,
        stream: extensions,
    };
    let result = run(io, config, &mut channels, &wake, &mut dynamic).await;
    let at = now();
    for ch in channels.values_mut() {
        if let Some(peer) = ch.peer.take() {
            ch.feed.remove_peer(peer, at);
        }
    }
    result
}

/// Where feeds not given up front come from, and the stream extensions.
struct Dynamic<S: Storage, F> {
    added: Option<UnboundedReceiver<SharedFeed<S>>>,
    find: F,
    stream: Option<StreamExtensions>,
}

async fn next_stream_message(stream: &mut Option<StreamExtensions>) -> Option<(String, Vec<u8>)> {
    match stream {
        Some(s) => s.outgoing.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_added<S: Storage>(
    added: &mut Option<UnboundedReceiver<SharedFeed<S>>>,
) -> Option<SharedFeed<S>> {
    match added {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn run<T, S, F>(
    io: T,
    config: SessionConfig,
    channels: &mut HashMap<[u8; 32], Channel<S>>,
    wake: &Arc<Notify>,
    dynamic: &mut Dynamic<S, F>,
) -> Result<(), ReplicateError>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
    F: FnMut(&[u8; 32]) -> Option<SharedFeed<S>>,
{
    let mut session = Session::new(config, now());
    if let Some(stream) = &dynamic.stream {
        for name in &stream.names {
            session.register_extension(name);
        }
    }
    for (dk, ch) in channels.iter_mut() {
        open_feed(&mut session, dk, ch)?;
    }
    let (rd, wr) = tokio::io::split(io);
    tokio::pin!(rd);
    tokio::pin!(wr);
    let mut refused: HashSet<[u8; 32]> = HashSet::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0usize;
    let mut eof = false;
    let mut finished = false;
    loop {
        let at = now();
        // Consecutive messages of one channel go to its feed together, so the blocks one read
        // delivered are verified and stored as one batch.
        let mut batch: Option<([u8; 32], Vec<Message>)> = None;
        while let Some(event) = session.poll_event() {
            let event = match event {
                Event::Message {
                    discovery_key,
                    message,
                } => {
                    match &mut batch {
                        Some((dk, messages)) if *dk == discovery_key => messages.push(message),
                        _ => {
                            deliver(channels, batch.take(), at)?;
                            batch = Some((discovery_key, vec![message]));
                        }
                    }
                    continue;
                }
                other => {
                    deliver(channels, batch.take(), at)?;
                    other
                }
            };
            if let Event::DiscoveryKey { discovery_key } = &event
                && !channels.contains_key(discovery_key)
                && !refused.contains(discovery_key)
                && let Some(feed) = (dynamic.find)(discovery_key)
                && feed.key().discovery_key() == *discovery_key
            {
                channels.insert(*discovery_key, Channel::new(feed));
            }
            if let Event::StreamExtension { name, payload } = event {
                if let Some(stream) = &dynamic.stream {
                    // A dropped receiver only means nobody listens any more.
                    let _ = stream
                        .incoming
                        .send(StreamExtensionMessage { name, payload });
                }
                continue;
            }
            finished |= on_event(&mut session, channels, &refused, wake, event, at)?;
        }
        deliver(channels, batch.take(), at)?;
        pull(&mut session, channels, &mut refused, &mut out, written, at)?;
        while let Some(bytes) = session.poll_transmit(at) {
            out.extend_from_slice(&bytes);
        }
        if written == out.len() {
            out.clear();
            written = 0;
            if finished || session.is_closed() {
                let _ = wr.flush().await;
                let _ = wr.shutdown().await;
                return Ok(());
            }
            if eof {
                return Ok(());
            }
        }
        let deadline = channels
            .values()
            .filter_map(|c| c.feed.poll_timeout())
            .chain(session.poll_timeout())
            .min()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            r = wr.write(&out[written..]), if written < out.len() => {
                match r {
                    Ok(0) => return Err(ReplicateError::Io("transport wrote nothing".into())),
                    Ok(n) => written += n,
                    Err(e) => {
                        session.destroy();
                        return Err(ReplicateError::Io(e.to_string()));
                    }
                }
            }
            r = rd.read(&mut buf), if !eof => {
                match r {
                    Ok(0) => {
                        eof = true;
                        session.handle_eof()?;
                    }
                    Ok(n) => {
                        // Names registered before these bytes were sent must map them.
                        for (dk, ch) in channels.iter_mut() {
                            sync_extensions(&mut session, dk, ch)?;
                        }
                        session.handle_input(now(), &buf[..n])?;
                    }
                    Err(e) => {
                        session.destroy();
                        return Err(ReplicateError::Io(e.to_string()));
                    }
                }
            }
            _ = wake.notified() => {}
            added = next_added(&mut dynamic.added), if dynamic.added.is_some() => {
                match added {
                    Some(feed) => {
                        let dk = feed.key().discovery_key();
                        if !channels.contains_key(&dk) && !refused.contains(&dk) {
                            let ch = channels.entry(dk).or_insert(Channel::new(feed));
                            open_feed(&mut session, &dk, ch)?;
                        }
                    }
                    None => dynamic.added = None,
                }
            }
            msg = next_stream_message(&mut dynamic.stream), if dynamic.stream.is_some() => {
                match msg {
                    Some((name, payload)) => session.send_extension(&name, &payload)?,
                    // Every sender dropped: receiving goes on.
                    None => {
                        if let Some(s) = dynamic.stream.as_mut() {
                            s.outgoing.close();
                        }
                    }
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                let at = now();
                session.handle_timeout(at)?;
                for ch in channels.values() {
                    ch.feed.handle_timeout(at);
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d).await;
    }
}

/// Hands a channel's queued messages to its feed.
fn deliver<S: Storage>(
    channels: &HashMap<[u8; 32], Channel<S>>,
    batch: Option<([u8; 32], Vec<Message>)>,
    at: Instant,
) -> Result<(), ReplicateError> {
    if let Some((dk, messages)) = batch
        && let Some(ch) = channels.get(&dk)
        && let Some(peer) = ch.peer
    {
        ch.feed.on_messages(peer, messages, at)?;
    }
    Ok(())
}

/// Applies one session event; returns whether the session finished.
fn on_event<S: Storage>(
    session: &mut Session,
    channels: &mut HashMap<[u8; 32], Channel<S>>,
    refused: &HashSet<[u8; 32]>,
    wake: &Arc<Notify>,
    event: Event,
    at: Instant,
) -> Result<bool, ReplicateError> {
    match event {
        Event::DiscoveryKey { discovery_key } => match channels.get_mut(&discovery_key) {
            Some(ch) if !refused.contains(&discovery_key) => {
                open_feed(session, &discovery_key, ch)?;
            }
            _ => session.close(&discovery_key)?,
        },
        Event::ChannelOpen { discovery_key } => {
            if let Some(ch) = channels.get_mut(&discovery_key)
                && ch.peer.is_none()
            {
                ch.peer = Some(ch.feed.add_peer(Arc::clone(wake), at));
            }
        }
        Event::ChannelClosed { discovery_key } | Event::ChannelRejected { discovery_key } => {
            if let Some(ch) = channels.get_mut(&discovery_key)
                && let Some(peer) = ch.peer.take()
            {
                ch.feed.remove_peer(peer, at);
            }
        }
        // Messages go through `deliver`, in batches.
        Event::ChannelExtension {
            discovery_key,
            name,
            payload,
        } => {
            if let Some(ch) = channels.get(&discovery_key)
                && let Some(peer) = ch.peer
            {
                ch.feed.on_extension(peer, &name, payload);
            }
        }
        Event::Finished => return Ok(true),
        _ => {}
    }
    Ok(false)
}

/// Moves what the replicators have for this session into it, while the unwritten bytes stay
/// under [`HIGH_WATER`].
fn pull<S: Storage>(
    session: &mut Session,
    channels: &mut HashMap<[u8; 32], Channel<S>>,
    refused: &mut HashSet<[u8; 32]>,
    out: &mut Vec<u8>,
    written: usize,
    at: Instant,
) -> Result<(), ReplicateError> {
    for (dk, ch) in channels.iter_mut() {
        sync_extensions(session, dk, ch)?;
        let Some(peer) = ch.peer else { continue };
        while out.len() - written < HIGH_WATER {
            match ch.feed.poll_transmit(peer)? {
                None => break,
                Some(Outgoing::Message(m)) => session.send(dk, m)?,
                Some(Outgoing::Close) => {
                    session.close(dk)?;
                    ch.feed.remove_peer(peer, at);
                    ch.peer = None;
                    refused.insert(*dk);
                    break;
                }
            }
            while let Some(bytes) = session.poll_transmit(at) {
                out.extend_from_slice(&bytes);
            }
        }
    }
    Ok(())
}
