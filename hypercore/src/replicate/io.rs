//! Runs one protocol session over a tokio transport, replicating any number of shared feeds.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{self, Receiver};

use super::error::ReplicateError;
use super::handle::{
    EndGuard, ExtensionChange, ExtensionCommands, Replication, ReplicationHandle, SessionEnd,
};
use super::peer::Outgoing;
use super::replicator::{PeerId, Transmit};
use super::shared::{SharedFeed, now};
use super::stream_extensions::{StreamExtensionMessage, StreamExtensions};
use super::trace::{describe, short, trace_event};
use crate::protocol::{Data, Event, Message, NoiseKeyPair, Session, SessionConfig};
use crate::storage::Storage;

/// Most bytes one read takes. What one read brings is stored as one batch, so when blocks queue
/// up in the socket a large read hands over several content blocks (64-512 KiB each) at once: they
/// hash four at a time in SIMD lanes, and the loop runs once for all of them (a full clone
/// measured ~20% less CPU than with 64 KiB reads).
const READ_CHUNK: usize = 1024 * 1024;
/// Queued pieces handed to one vectored write.
const WRITE_SLICES: usize = 16;
/// Stop pulling messages (and so answering requests) while this much is unwritten: the transport
/// sets the pace of uploads, and memory stays bounded by this plus one block.
const HIGH_WATER: usize = 256 * 1024;
/// How long a cancelled session waits for its transport to shut down: the remote may not be
/// reading, and a cancel must end the session promptly all the same.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// Stop reading while this much is unwritten. Uploads stop at [`HIGH_WATER`] plus one block, so
/// only what the peer makes us answer directly (`Close`s for its `Open`s, ...) gets here: a peer
/// that sends without reading is held to the pace it reads at, and two honest peers uploading
/// to each other never both stop reading.
const READ_PAUSE: usize = HIGH_WATER + crate::MAX_BLOCK_SIZE as usize + 64 * 1024;
/// Stop reading while a feed has this many messages, `Want`s and requests queued for the peer
/// (see [`SharedFeed::backlog`]); honest peers keep at most a few hundred requests in flight.
const PAUSE_BACKLOG: usize = 512;
/// Messages handed to a feed under one lock: one read can carry ~170,000 small frames, and
/// readers of the feed should not wait for all of them.
const MESSAGES_PER_LOCK: usize = 1024;

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

/// Opens `feed` on the session with its extension names. Before the remote has opened it, the
/// `Want`s a new peer gets go out right behind the `Open` ([`Replicator::opening_wants`]).
///
/// [`Replicator::opening_wants`]: super::Replicator::opening_wants
fn open_feed<S: Storage>(
    session: &mut Session,
    dk: &[u8; 32],
    ch: &mut Channel<S>,
) -> Result<(), ReplicateError> {
    tracing::trace!(target: "ddrive::wire", dk = %short(dk), "open");
    session.open(ch.feed.key())?;
    sync_extensions(session, dk, ch)?;
    if session.is_open(dk) && !session.is_remote_open(dk) {
        for want in ch.feed.opening_wants() {
            tracing::trace!(target: "ddrive::wire", dk = %short(dk), message = %describe(&Message::Want(want.clone())), "send before the remote opened");
            session.send(dk, Message::Want(want))?;
        }
    }
    Ok(())
}

/// Replicates `feeds` with the peer at the other end of `io` until the transport ends (or, for a
/// non-live session, until every channel closed).
///
/// Every feed is opened on the session; a feed the remote opens that is not in `feeds` is
/// refused with `Close{discoveryKey}`. A peer that sends invalid data or stalls is dropped from
/// that feed (its channel is closed) and its requests go to the feed's other peers.
///
/// Nothing runs until the returned [`Replication`] is awaited or spawned; its
/// [`handle`](Replication::handle) tells who the peer is, counts what moved, and cancels.
pub fn replicate<T, S>(
    io: T,
    config: SessionConfig,
    feeds: &[SharedFeed<S>],
) -> Replication<impl Future<Output = Result<(), ReplicateError>> + use<T, S>>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
{
    replicate_with(io, config, feeds, None, |_: &[u8; 32]| None)
}

/// [`replicate`] with a set of feeds that grows during the session (corestore's replication):
/// every feed received on `added` is opened on the session, and a feed the remote opens by
/// discovery key is looked up with `find` and replicated if it returns one. Otherwise a
/// non-live session refuses it with `Close{discoveryKey}` (its end waits for every channel to
/// close), and a live one leaves the remote's channel half open: a feed with that key received
/// on `added` later (a drive's content feed once its header arrives) then opens at once, with
/// its first `Want` in the same write, instead of after a `Close`, a fresh remote `Open` and a
/// round trip. A feed that is already replicated is ignored.
///
/// `added` is bounded: the session takes feeds from it whenever it runs, whatever its transport
/// is doing, so it only fills while the session's task is starved. What a full channel means is
/// the sender's choice (corestore ends the session, which a daemon's swarm then redials:
/// holding every feed for a session that does not run would let the store's loads grow memory
/// without a bound).
pub fn replicate_with<T, S, F>(
    io: T,
    config: SessionConfig,
    feeds: &[SharedFeed<S>],
    added: Option<Receiver<SharedFeed<S>>>,
    find: F,
) -> Replication<impl Future<Output = Result<(), ReplicateError>> + use<T, S, F>>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
    F: FnMut(&[u8; 32]) -> Option<SharedFeed<S>>,
{
    replicate_with_extensions(io, config, feeds, added, find, None)
}

/// [`replicate_with`] plus stream-level extensions (JS `stream.registerExtension`), made by
/// [`stream_extensions`](super::stream_extensions): registered on the session before it starts,
/// sent on channel 0 (after an `Options` announcing the sorted names, lazily as JS does), and
/// received from the remote when it registered the same name.
///
/// A `config` without a key pair gets a fresh one here, so the handle knows our static key
/// before the session starts.
pub fn replicate_with_extensions<T, S, F>(
    io: T,
    mut config: SessionConfig,
    feeds: &[SharedFeed<S>],
    added: Option<Receiver<SharedFeed<S>>>,
    find: F,
    extensions: Option<StreamExtensions>,
) -> Replication<impl Future<Output = Result<(), ReplicateError>> + use<T, S, F>>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
    F: FnMut(&[u8; 32]) -> Option<SharedFeed<S>>,
{
    let local = config
        .keypair
        .get_or_insert_with(NoiseKeyPair::generate)
        .public;
    let names = extensions
        .as_ref()
        .map(|e| e.names.clone())
        .unwrap_or_default();
    let (handle, commands) = ReplicationHandle::new(config.initiator, local, &names);
    let mut channels: HashMap<[u8; 32], Channel<S>> = feeds
        .iter()
        .map(|f| (f.key().discovery_key(), Channel::new(f.clone())))
        .collect();
    // Made outside the future, so a session dropped before its first poll is marked too.
    let guard = EndGuard(handle.clone());
    let future = async move {
        let guard = guard;
        let tracker = &guard.0;
        let wake = Arc::new(Notify::new());
        let mut dynamic = Dynamic {
            added,
            find,
            stream: extensions,
            commands,
            registered: HashMap::new(),
        };
        let result = run(io, config, &mut channels, &wake, &mut dynamic, tracker).await;
        let at = now();
        for (dk, ch) in channels.iter_mut() {
            if let Some(peer) = ch.peer.take() {
                release(tracker, dk, ch, peer, at);
            }
        }
        // The feeds go now, not when the future is dropped.
        drop(channels);
        drop(dynamic);
        tracker.on_end(match &result {
            Ok(()) => SessionEnd::Done,
            Err(ReplicateError::Cancelled) => SessionEnd::Cancelled,
            Err(e) => SessionEnd::Failed(e.to_string()),
        });
        result
    };
    Replication::from_parts(handle, future)
}

/// Removes this session's peer from a feed whose channel closed.
fn release<S: Storage>(
    tracker: &ReplicationHandle,
    dk: &[u8; 32],
    ch: &Channel<S>,
    peer: PeerId,
    at: Instant,
) {
    tracker.on_feed_closed(dk);
    ch.feed.remove_peer(peer, at);
}

/// Where feeds not given up front come from, and the stream extensions.
struct Dynamic<S: Storage, F> {
    added: Option<Receiver<SharedFeed<S>>>,
    find: F,
    stream: Option<StreamExtensions>,
    /// Registrations and messages from the handle's [`StreamExtension`]s.
    ///
    /// [`StreamExtension`]: super::StreamExtension
    commands: ExtensionCommands,
    /// Where each name registered through the handle delivers.
    registered: HashMap<String, mpsc::Sender<Vec<u8>>>,
}

async fn next_stream_message(stream: &mut Option<StreamExtensions>) -> Option<(String, Vec<u8>)> {
    match stream {
        Some(s) => s.outgoing.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_added<S: Storage>(
    added: &mut Option<Receiver<SharedFeed<S>>>,
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
    tracker: &ReplicationHandle,
) -> Result<(), ReplicateError>
where
    T: AsyncRead + AsyncWrite,
    S: Storage,
    F: FnMut(&[u8; 32]) -> Option<SharedFeed<S>>,
{
    // Only a live session that can still gain feeds has a use for a channel it cannot open yet.
    let keep_unknown = config.live && dynamic.added.is_some();
    let stall_timeout = config.timeout.filter(|t| !t.is_zero());
    // When the queued output was last empty or last shrank.
    let mut write_progress = now();
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
    let mut eof = false;
    let mut finished = false;
    loop {
        if tracker.is_cancelled() {
            return cancel(&mut session, &mut wr).await;
        }
        let at = now();
        // Consecutive messages of one channel go to its feed together, so the blocks one read
        // delivered are verified and stored as one batch.
        let mut batch: Option<([u8; 32], Vec<Message>)> = None;
        while let Some(event) = session.poll_event() {
            trace_event(&event);
            let event = match event {
                Event::Message {
                    discovery_key,
                    message,
                } => {
                    match &mut batch {
                        Some((dk, messages)) if *dk == discovery_key => messages.push(message),
                        _ => {
                            deliver(channels, batch.take(), at, tracker)?;
                            batch = Some((discovery_key, vec![message]));
                        }
                    }
                    continue;
                }
                other => {
                    deliver(channels, batch.take(), at, tracker)?;
                    other
                }
            };
            if let Event::Handshake { remote_public_key } = &event {
                tracker.on_handshake(*remote_public_key);
            }
            if let Event::DiscoveryKey { discovery_key } = &event
                && !channels.contains_key(discovery_key)
                && !refused.contains(discovery_key)
                && let Some(feed) = (dynamic.find)(discovery_key)
                && feed.key().discovery_key() == *discovery_key
            {
                channels.insert(*discovery_key, Channel::new(feed));
            }
            if let Event::StreamExtension { name, payload } = event {
                if let Some(tx) = dynamic.registered.get(&name) {
                    // A full queue drops the peer's message: what it sends never grows
                    // memory; a closed one means the extension is being unregistered.
                    if tx.try_send(payload).is_err() {
                        tracing::debug!(%name, "stream extension message dropped");
                    }
                } else if let Some(stream) = &dynamic.stream {
                    // A full queue means the application reads slower than the peer sends: the
                    // message is dropped (see `stream_extensions`); a dropped receiver only means
                    // nobody listens any more.
                    if let Err(TrySendError::Full(m)) = stream
                        .incoming
                        .try_send(StreamExtensionMessage { name, payload })
                    {
                        tracing::debug!(name = %m.name, "stream extension queue full: message dropped");
                    }
                }
                continue;
            }
            finished |= on_event(
                &mut session,
                channels,
                &refused,
                keep_unknown,
                Links { wake, tracker },
                event,
                at,
            )?;
        }
        deliver(channels, batch.take(), at, tracker)?;
        pull(&mut session, channels, &mut refused, at, tracker)?;
        if session.transmit_len() == 0 {
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
        if session.transmit_len() == 0 {
            write_progress = now();
        }
        // A peer that does not read would otherwise hold us (and what we queued) for good.
        let stall_at = stall_timeout
            .filter(|_| session.transmit_len() > 0)
            .map(|t| tokio::time::Instant::from_std(write_progress + t));
        let deadline = deadline.into_iter().chain(stall_at).min();
        // Backpressure: what the peer makes us answer waits in its socket, not in our memory.
        let reading = !eof
            && session.transmit_len() < READ_PAUSE
            && !channels
                .values()
                .any(|c| c.peer.is_some_and(|p| c.feed.backlog(p) >= PAUSE_BACKLOG));
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let queued = session.transmit_slices(&mut slices);
        tokio::select! {
            r = wr.write_vectored(&slices[..queued]), if queued > 0 => {
                match r {
                    Ok(0) => return Err(ReplicateError::Io("transport wrote nothing".into())),
                    Ok(n) => {
                        tracing::trace!(target: "ddrive::wire", bytes = n, "wrote");
                        tracker.on_sent(n);
                        write_progress = now();
                        session.advance_transmit(n, write_progress);
                    }
                    Err(e) => {
                        session.destroy();
                        return Err(ReplicateError::Io(e.to_string()));
                    }
                }
            }
            r = rd.read(&mut buf), if reading => {
                match r {
                    Ok(0) => {
                        eof = true;
                        session.handle_eof()?;
                    }
                    Ok(n) => {
                        tracing::trace!(target: "ddrive::wire", bytes = n, "read");
                        tracker.on_received(n);
                        // Names registered before these bytes were sent must map them.
                        for (dk, ch) in channels.iter_mut() {
                            sync_extensions(&mut session, dk, ch)?;
                        }
                        while let Ok(change) = dynamic.commands.changes.try_recv() {
                            apply(&mut session, &mut dynamic.registered, change);
                        }
                        session.handle_input_mut(now(), &mut buf[..n])?;
                    }
                    Err(e) => {
                        session.destroy();
                        return Err(ReplicateError::Io(e.to_string()));
                    }
                }
            }
            _ = wake.notified() => {}
            () = tracker.cancelled() => {}
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
            msg = next_stream_message(&mut dynamic.stream),
                if dynamic.stream.is_some() && session.transmit_len() < HIGH_WATER =>
            {
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
            change = dynamic.commands.changes.recv() => {
                // `None` cannot come: the handle in this future holds the sender.
                if let Some(change) = change {
                    apply(&mut session, &mut dynamic.registered, change);
                }
            }
            msg = dynamic.commands.outgoing.recv(), if session.transmit_len() < HIGH_WATER => {
                // A message's registration went out before it: apply any still queued.
                while let Ok(change) = dynamic.commands.changes.try_recv() {
                    apply(&mut session, &mut dynamic.registered, change);
                }
                if let Some((name, payload)) = msg
                    && dynamic.registered.contains_key(&name)
                {
                    session.send_extension(&name, &payload)?;
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                let at = now();
                if let Some(timeout) = stall_timeout
                    && session.transmit_len() > 0
                    && at.saturating_duration_since(write_progress) >= timeout
                {
                    session.destroy();
                    return Err(ReplicateError::WriteStalled { timeout });
                }
                session.handle_timeout(at)?;
                for ch in channels.values() {
                    ch.feed.handle_timeout(at);
                }
            }
        }
    }
}

/// Applies a stream extension registered or dropped through the handle.
fn apply(
    session: &mut Session,
    registered: &mut HashMap<String, mpsc::Sender<Vec<u8>>>,
    change: ExtensionChange,
) {
    match change {
        ExtensionChange::Register { name, incoming } => {
            session.register_extension(&name);
            registered.insert(name, incoming);
        }
        ExtensionChange::Unregister(name) => {
            registered.remove(&name);
            // Withdrawn from what the session announces, so its slot is free again.
            session.unregister_extension(&name);
        }
    }
}

/// Ends a cancelled session: nothing more is sent, and the transport is shut down (at most
/// [`SHUTDOWN_TIMEOUT`]) so the remote sees it end.
async fn cancel<W: AsyncWrite + Unpin>(
    session: &mut Session,
    wr: &mut W,
) -> Result<(), ReplicateError> {
    session.destroy();
    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, wr.shutdown()).await;
    Err(ReplicateError::Cancelled)
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
    tracker: &ReplicationHandle,
) -> Result<(), ReplicateError> {
    if let Some((dk, messages)) = batch
        && let Some(ch) = channels.get(&dk)
        && let Some(peer) = ch.peer
    {
        let mut messages = messages.into_iter().peekable();
        while messages.peek().is_some() {
            let chunk: Vec<Message> = messages.by_ref().take(MESSAGES_PER_LOCK).collect();
            ch.feed.on_messages(peer, chunk, at, |stats| {
                tracker.on_peer_stats(&dk, stats);
            })?;
        }
    }
    Ok(())
}

/// What a new peer is woken through, and the session's handle.
struct Links<'a> {
    wake: &'a Arc<Notify>,
    tracker: &'a ReplicationHandle,
}

/// Applies one session event; returns whether the session finished.
fn on_event<S: Storage>(
    session: &mut Session,
    channels: &mut HashMap<[u8; 32], Channel<S>>,
    refused: &HashSet<[u8; 32]>,
    keep_unknown: bool,
    Links { wake, tracker }: Links<'_>,
    event: Event,
    at: Instant,
) -> Result<bool, ReplicateError> {
    match event {
        Event::DiscoveryKey { discovery_key } => match channels.get_mut(&discovery_key) {
            Some(ch) if !refused.contains(&discovery_key) => {
                open_feed(session, &discovery_key, ch)?;
            }
            None if keep_unknown => {
                tracing::trace!(target: "ddrive::wire", dk = %short(&discovery_key), "left half open");
            }
            _ => {
                tracing::trace!(target: "ddrive::wire", dk = %short(&discovery_key), "refuse");
                session.close(&discovery_key)?;
            }
        },
        Event::ChannelOpen { discovery_key } => {
            if let Some(ch) = channels.get_mut(&discovery_key)
                && ch.peer.is_none()
            {
                tracker.on_feed_open(&discovery_key, *ch.feed.key());
                ch.peer = Some(ch.feed.add_peer(Arc::clone(wake), at));
            }
        }
        Event::ChannelClosed { discovery_key } | Event::ChannelRejected { discovery_key } => {
            if let Some(ch) = channels.get_mut(&discovery_key)
                && let Some(peer) = ch.peer.take()
            {
                release(tracker, &discovery_key, ch, peer, at);
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
    at: Instant,
    tracker: &ReplicationHandle,
) -> Result<(), ReplicateError> {
    for (dk, ch) in channels.iter_mut() {
        sync_extensions(session, dk, ch)?;
        let Some(peer) = ch.peer else { continue };
        while session.transmit_len() < HIGH_WATER {
            match ch.feed.poll_transmit_deferred(peer)? {
                None => break,
                Some(Transmit::Block { data, size }) => {
                    tracing::trace!(target: "ddrive::wire", dk = %short(dk), index = data.index, size, "send block");
                    if send_block(session, dk, &ch.feed, &data, size)? {
                        tracker.on_upload(dk, size);
                    }
                }
                Some(Transmit::Outgoing(Outgoing::Message(m))) => {
                    tracing::trace!(target: "ddrive::wire", dk = %short(dk), message = %describe(&m), "send");
                    session.send(dk, m)?;
                }
                Some(Transmit::Outgoing(Outgoing::Close)) => {
                    session.close(dk)?;
                    release(tracker, dk, ch, peer, at);
                    ch.peer = None;
                    refused.insert(*dk);
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Why a served block could not be read into its frame.
enum ReadFailed {
    /// Our storage failed.
    Local(ReplicateError),
    /// It went between serving and reading (the feed was cleared): the request goes unanswered,
    /// as one for a block we lack.
    Gone,
}

impl From<crate::protocol::Error> for ReadFailed {
    fn from(e: crate::protocol::Error) -> Self {
        ReadFailed::Local(e.into())
    }
}

/// Sends the answer `data` with block `data.index` (`size` bytes) read straight into its frame;
/// whether it was sent.
fn send_block<S: Storage>(
    session: &mut Session,
    dk: &[u8; 32],
    feed: &SharedFeed<S>,
    data: &Data,
    size: usize,
) -> Result<bool, ReplicateError> {
    let read = |buf: &mut [u8]| {
        feed.get_into(data.index, buf).map_err(|e| match e {
            crate::Error::NotStored(_)
            | crate::Error::OutOfRange { .. }
            | crate::Error::BlockSize { .. } => ReadFailed::Gone,
            e => ReadFailed::Local(e.into()),
        })
    };
    match session.send_data_with(dk, data, size, read) {
        Ok(()) => Ok(true),
        Err(ReadFailed::Local(e)) => Err(e),
        Err(ReadFailed::Gone) => {
            tracing::debug!(index = data.index, "a served block went before it was sent");
            Ok(false)
        }
    }
}
