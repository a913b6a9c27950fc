//! Runs one protocol session over a tokio transport, replicating any number of shared feeds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use super::error::ReplicateError;
use super::peer::Outgoing;
use super::replicator::PeerId;
use super::shared::{SharedFeed, now};
use super::stream_extensions::{StreamExtensionMessage, StreamExtensions};
use crate::protocol::{Event, Message, Session, SessionConfig};
use crate::storage::Storage;

/// Bytes read per syscall.
const READ_CHUNK: usize = 64 * 1024;
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
    S: Storage + 'static,
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
    S: Storage + 'static,
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
    S: Storage + 'static,
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
    S: Storage + 'static,
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
    let mut store = Store::new();
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
                            store.queue(channels, batch.take(), at);
                            batch = Some((discovery_key, vec![message]));
                        }
                    }
                    continue;
                }
                other => {
                    // Opens, closes and the rest see the feed with every earlier block stored.
                    store.queue(channels, batch.take(), at);
                    store.drain().await?;
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
        store.queue(channels, batch.take(), at);
        store.start();
        // While blocks are being stored the feeds are locked: what they have to send (and
        // their timers) waits for the batch, whose end wakes this loop.
        let storing = store.busy();
        if !storing {
            pull(&mut session, channels, &mut refused, &mut out, written, at)?;
        }
        while let Some(bytes) = session.poll_transmit(at) {
            out.extend_from_slice(&bytes);
        }
        if written == out.len() && !storing {
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
        let feeds_deadline = if storing {
            None
        } else {
            channels
                .values()
                .filter_map(|c| c.feed.poll_timeout())
                .min()
        };
        let deadline = feeds_deadline
            .into_iter()
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
            stored = store.finished(), if storing => {
                stored?;
            }
            r = rd.read(&mut buf), if !eof && !store.full() => {
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
                if !storing {
                    for ch in channels.values() {
                        ch.feed.handle_timeout(at);
                    }
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

/// Bytes of blocks queued for storing at which the connection stops reading: the socket holds
/// the rest, and the peer slows down.
const MAX_QUEUED: usize = 4 * 1024 * 1024;

/// Blocks received and not yet stored. Hashing and writing them runs on a blocking thread
/// while this task reads and decrypts what comes next, one batch after the other in arrival
/// order.
struct Store<S: Storage> {
    queued: Vec<Job<S>>,
    queued_bytes: usize,
    running: Option<JoinHandle<Result<(), ReplicateError>>>,
}

/// Messages of one peer on one feed.
struct Job<S: Storage> {
    feed: SharedFeed<S>,
    peer: PeerId,
    messages: Vec<Message>,
    at: Instant,
}

impl<S: Storage + 'static> Store<S> {
    fn new() -> Self {
        Store {
            queued: Vec::new(),
            queued_bytes: 0,
            running: None,
        }
    }

    /// Queues a channel's messages for its feed.
    fn queue(
        &mut self,
        channels: &HashMap<[u8; 32], Channel<S>>,
        batch: Option<([u8; 32], Vec<Message>)>,
        at: Instant,
    ) {
        if let Some((dk, messages)) = batch
            && let Some(ch) = channels.get(&dk)
            && let Some(peer) = ch.peer
        {
            self.queued_bytes += messages
                .iter()
                .map(|m| match m {
                    Message::Data(d) => d.value.as_ref().map_or(0, Vec::len),
                    _ => 0,
                })
                .sum::<usize>();
            // Reads queued behind a running batch make one larger batch.
            match self.queued.last_mut() {
                Some(last) if last.peer == peer && SharedFeed::ptr_eq(&last.feed, &ch.feed) => {
                    last.messages.extend(messages);
                }
                _ => self.queued.push(Job {
                    feed: ch.feed.clone(),
                    peer,
                    messages,
                    at,
                }),
            }
        }
    }

    /// Starts storing what is queued, unless a batch is being stored.
    fn start(&mut self) {
        if self.running.is_some() || self.queued.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.queued);
        self.queued_bytes = 0;
        self.running = Some(tokio::task::spawn_blocking(move || {
            for job in jobs {
                job.feed.on_messages(job.peer, job.messages, job.at)?;
            }
            Ok(())
        }));
    }

    /// Whether blocks are being stored or wait to be.
    fn busy(&self) -> bool {
        self.running.is_some() || !self.queued.is_empty()
    }

    /// Whether reading should pause until the queue shrinks.
    fn full(&self) -> bool {
        self.queued_bytes >= MAX_QUEUED
    }

    /// Resolves when the running batch is stored (never, if none runs), then starts the next.
    async fn finished(&mut self) -> Result<(), ReplicateError> {
        let Some(running) = self.running.as_mut() else {
            return std::future::pending().await;
        };
        let result = running.await;
        self.running = None;
        result.map_err(|e| ReplicateError::Io(format!("storing blocks failed: {e}")))??;
        self.start();
        Ok(())
    }

    /// Stores everything queued before returning.
    async fn drain(&mut self) -> Result<(), ReplicateError> {
        self.start();
        while self.running.is_some() {
            self.finished().await?;
        }
        Ok(())
    }
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
