//! A hostile peer: one that speaks the real protocol but abuses it. Each test sends one abuse
//! (floods of `Have`, `Want`, `Request`, `Data` nobody asked for, `Unhave`s over huge ranges,
//! huge lengths and indices, channels by the ten thousand, long capabilities, reused channel
//! ids, a reader that never reads) and checks, by counting (messages queued, pages held, page
//! operations, channels kept, bytes the peer managed to push into us), that what it costs us is
//! bounded, that the peer ends with a clear error, and that other peers are still served.
//!
//! The replicator and the session are sans-IO, so most tests drive them with crafted messages;
//! the tokio tests put a scripted [`Session`] on the other end of an in-memory pipe, with paused
//! time so that timeouts fire without waiting.

mod protocol_common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hypercore::protocol::{
    Close, Data, DataNode, Have, Message, Open, Request, Session, SessionConfig, Unhave, Want,
    bitfield_rle,
};
use hypercore::replicate::{Outgoing, PeerId, Replicator, ReplicatorConfig, ReplicatorEvent};
use hypercore::{Feed, KeyPair, MemoryStorage};
use protocol_common::RawPeer;

/// 2^53: the most blocks a peer may claim.
const MAX_REMOTE_LENGTH: u64 = 1 << 53;
/// Pages (8192 blocks) one message may make the replicator visit: one 2^20-block region.
const PAGES_PER_MESSAGE: u64 = 128;
/// Messages queued for one peer at most (`MAX_OUTBOX`), plus the channel's close.
const MAX_QUEUED: usize = 4096 + 1;

/// What a peer costs the replicator, from its counters.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    /// Pages of the peer's bitfield we keep (1 KiB each).
    pages: usize,
    /// Pages visited on its behalf.
    page_ops: u64,
    /// Messages, `Want`s and requests queued for it.
    queued: usize,
}

fn cost(rep: &Replicator, peer: PeerId) -> Cost {
    rep.peer_footprint(peer)
        .map_or_else(Cost::default, |f| Cost {
            pages: f.remote_pages,
            page_ops: f.page_ops,
            queued: f.outbox + f.want_answers + f.uploads,
        })
}

fn block(i: u64) -> Vec<u8> {
    format!("block {i}").into_bytes()
}

fn writer(n: u64) -> Result<Feed<MemoryStorage>> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[7; 32]))
        .open()?;
    let blocks: Vec<Vec<u8>> = (0..n).map(block).collect();
    for batch in blocks.chunks(3) {
        feed.append_batch(batch)?;
    }
    Ok(feed)
}

/// One feed and its replicator, driven by hand.
struct Bench {
    feed: Feed<MemoryStorage>,
    rep: Replicator,
    now: Instant,
}

impl Bench {
    /// A writer with `n` blocks, uploading.
    fn seeder(n: u64) -> Result<Self> {
        Ok(Bench {
            feed: writer(n)?,
            rep: Replicator::new(ReplicatorConfig::default()),
            now: Instant::now(),
        })
    }

    /// An empty clone of the writer, downloading.
    fn clone_of_writer() -> Result<Self> {
        let key = *writer(0)?.key();
        Ok(Bench {
            feed: Feed::builder(MemoryStorage::new()).key(key).open()?,
            rep: Replicator::new(ReplicatorConfig::default()),
            now: Instant::now(),
        })
    }

    fn peer(&mut self) -> PeerId {
        let p = self.rep.add_peer(&mut self.feed, self.now);
        self.drain(p); // what a new peer is sent first
        p
    }

    fn send(&mut self, peer: PeerId, message: Message) -> Result<()> {
        Ok(self
            .rep
            .on_message(&mut self.feed, peer, message, self.now)?)
    }

    /// Everything queued for `peer`, as a transport that keeps up would take it.
    fn drain(&mut self, peer: PeerId) -> Vec<Outgoing> {
        let mut out = Vec::new();
        while let Ok(Some(o)) = self.rep.poll_transmit(&mut self.feed, peer) {
            out.push(o);
            if out.len() > 10_000_000 {
                break;
            }
        }
        out
    }

    /// Why peers failed, in order.
    fn failures(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.rep.poll_event())
            .filter_map(|e| match e {
                ReplicatorEvent::PeerFailed { error, .. } => Some(error.to_string()),
                _ => None,
            })
            .collect()
    }
}

fn have(start: u64, length: Option<u64>) -> Message {
    Message::Have(Have {
        start,
        length,
        bitfield: None,
        ack: None,
    })
}

fn want(start: u64, length: Option<u64>) -> Message {
    Message::Want(Want { start, length })
}

/// Runs `f` on a thread and waits for it: a call that loops for 2^64 steps shows as a failure
/// instead of a hung test run. The limit is a watchdog, not a measurement: what is checked is
/// done in microseconds.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .with_context(|| format!("{what} never returned"))
}

// ----- item 1: lengths a peer names are clamped, and ranges cleared page by page -----

#[test]
fn unhave_after_a_have_of_every_block_returns_at_once() -> Result<()> {
    let (length, cost) = returns("Unhave after Have{0, 2^64 - 1}", || -> Result<_> {
        let mut b = Bench::clone_of_writer()?;
        let p = b.peer();
        b.send(p, have(0, Some(u64::MAX)))?;
        b.send(
            p,
            Message::Unhave(Unhave {
                start: 1,
                length: Some(u64::MAX),
            }),
        )?;
        b.send(
            p,
            Message::Unhave(Unhave {
                start: 1 << 40,
                length: Some(u64::MAX - 7),
            }),
        )?;
        Ok((b.rep.remote_length(p), cost(&b.rep, p)))
    })??;
    let length = length.context("the peer is still there")?;
    ensure!(
        length <= MAX_REMOTE_LENGTH,
        "remote length {length} taken unchecked"
    );
    // Block 0 is all that is left of the peer's claim: one page, a few page operations.
    ensure!(cost.pages <= 1, "{cost:?}");
    ensure!(cost.page_ops <= 2 * PAGES_PER_MESSAGE, "{cost:?}");
    Ok(())
}

#[test]
fn haves_of_huge_ranges_cost_at_most_a_region_each() -> Result<()> {
    let mut b = Bench::clone_of_writer()?;
    let p = b.peer();
    let honest = b.peer();
    for i in 0..100u64 {
        b.send(p, have(i * 4096, Some(u64::MAX - i)))?;
        b.send(p, have(u64::MAX - i, Some(u64::MAX)))?; // starts past any length
    }
    // A bitfield of 2^20 blocks in a handful of bytes (RLE), a hundred times.
    let ones = bitfield_rle::encode(&vec![0xff; 1 << 17]);
    ensure!(ones.len() < 16, "{}", ones.len());
    for _ in 0..100 {
        b.send(
            p,
            Message::Have(Have {
                start: 0,
                length: Some(1 << 20),
                bitfield: Some(ones.clone()),
                ack: None,
            }),
        )?;
    }
    let c = cost(&b.rep, p);
    ensure!(c.page_ops <= 300 * PAGES_PER_MESSAGE, "{c:?}");
    ensure!(
        c.pages <= 1024,
        "{c:?}: more than 8 Mi blocks of bitfield kept"
    );
    ensure!(b.rep.remote_length(p) == Some(MAX_REMOTE_LENGTH));
    // It asked for nothing odd, so it stays; the honest peer is untouched.
    ensure!(b.failures().is_empty());
    ensure!(cost(&b.rep, honest).page_ops == 0);
    Ok(())
}

// ----- item 2: answers come from pages, queues are bounded, floods fail the peer -----

#[test]
fn a_flood_of_wants_fails_the_peer_with_bounded_answers() -> Result<()> {
    let mut b = Bench::seeder(40)?;
    let p = b.peer();
    let honest = b.peer();
    let mut most = 0;
    for i in 0..10_000u64 {
        b.send(
            p,
            want((i % 4) * 8192, if i % 2 == 0 { None } else { Some(8192) }),
        )?;
        most = most.max(cost(&b.rep, p).queued);
    }
    let answers = b.drain(p);
    ensure!(
        answers.len() <= 64 + 2,
        "{} answers held for one peer",
        answers.len()
    );
    ensure!(most <= 64 + 2, "{most} queued");
    let failures = b.failures();
    ensure!(
        failures.iter().any(|f| f.contains("Wants")),
        "no clear error: {failures:?}"
    );
    // The honest peer's Want is answered from the bitfield: all 40 blocks.
    b.send(honest, want(0, Some(8192)))?;
    let out = b.drain(honest);
    let Some(Outgoing::Message(Message::Have(h))) = out.last() else {
        anyhow::bail!("no answer: {out:?}");
    };
    let bits = bitfield_rle::decode(h.bitfield.as_deref().context("a bitfield")?, 1 << 17)?;
    ensure!(
        bits[..5] == [0xff; 5] && bits[5..].iter().all(|&b| b == 0),
        "{bits:?}"
    );
    Ok(())
}

#[test]
fn a_flood_of_requests_fails_the_peer() -> Result<()> {
    let mut b = Bench::seeder(40)?;
    let p = b.peer();
    for i in 0..5_000u64 {
        // Blocks we have, blocks we do not, and indices no feed reaches.
        let index = match i % 3 {
            0 => i % 40,
            1 => 40 + i,
            _ => u64::MAX - i,
        };
        b.send(p, Message::Request(Request::new(index, i % 2 == 0, 0)))?;
        ensure!(cost(&b.rep, p).queued <= 1024, "{:?}", cost(&b.rep, p));
    }
    let failures = b.failures();
    ensure!(
        failures.iter().any(|f| f.contains("requests")),
        "no clear error: {failures:?}"
    );
    ensure!(b.drain(p).len() <= 2);
    Ok(())
}

#[test]
fn requests_for_blocks_we_lack_are_not_answered() -> Result<()> {
    let mut b = Bench::seeder(10)?;
    let p = b.peer();
    for index in [10, 11, 1 << 40, u64::MAX] {
        b.send(p, Message::Request(Request::new(index, false, 0)))?;
        b.send(p, Message::Request(Request::new(index, true, u64::MAX)))?;
    }
    let out = b.drain(p);
    ensure!(
        !out.iter()
            .any(|o| matches!(o, Outgoing::Message(Message::Data(_)))),
        "{out:?}"
    );
    ensure!(b.failures().is_empty());
    Ok(())
}

#[test]
fn data_nobody_asked_for_is_refused_with_bounded_unhaves() -> Result<()> {
    let mut b = Bench::clone_of_writer()?;
    let p = b.peer();
    // The peer subscribes (so refusals go back to it) and then pushes blocks.
    b.send(p, want(0, Some(1 << 20)))?;
    let mut most = 0;
    for i in 0..10_000u64 {
        let data = Data {
            index: if i % 2 == 0 { i } else { u64::MAX - i },
            value: Some(block(i)),
            nodes: vec![DataNode {
                index: 2 * i,
                hash: vec![0; 32],
                size: 7,
            }],
            signature: Some(vec![0; 64]),
        };
        b.send(p, Message::Data(data))?;
        most = most.max(cost(&b.rep, p).queued);
    }
    ensure!(
        most <= MAX_QUEUED,
        "{most} messages queued for a peer that does not read"
    );
    let out = b.drain(p);
    ensure!(out.len() <= MAX_QUEUED, "{} messages held", out.len());
    let failures = b.failures();
    ensure!(
        failures.iter().any(|f| f.contains("does not read")),
        "no clear error: {failures:?}"
    );
    ensure!(
        b.feed.is_empty() && b.feed.downloaded(0, 10_000) == 0,
        "an unverified block was stored"
    );
    Ok(())
}

#[test]
fn huge_indices_and_lengths_neither_panic_nor_allocate() -> Result<()> {
    let mut b = Bench::clone_of_writer()?;
    let p = b.peer();
    let messages = vec![
        have(u64::MAX, None),
        have(u64::MAX - 3, Some(u64::MAX)),
        Message::Have(Have {
            start: u64::MAX - 7,
            length: Some(0),
            bitfield: Some(bitfield_rle::encode(&[0xff; 64])),
            ack: Some(true),
        }),
        Message::Have(Have {
            start: 3, // not byte-aligned
            length: Some(8),
            bitfield: Some(bitfield_rle::encode(&[0xff])),
            ack: None,
        }),
        Message::Unhave(Unhave {
            start: u64::MAX,
            length: Some(u64::MAX),
        }),
        want(u64::MAX - u64::MAX % 8192, Some(u64::MAX - u64::MAX % 8192)),
        want(0, Some(0)),
        Message::Request(Request::new(u64::MAX, true, u64::MAX)),
    ];
    for m in messages {
        b.send(p, m)?;
    }
    b.drain(p);
    let c = cost(&b.rep, p);
    ensure!(c.pages <= 1 && c.queued == 0, "{c:?}");
    Ok(())
}

// ----- item 3: channels -----

fn open(dk: [u8; 32], capability: Option<Vec<u8>>) -> Message {
    Message::Open(Open {
        discovery_key: dk.to_vec(),
        capability,
    })
}

fn responder() -> (Session, RawPeer, Instant) {
    let now = Instant::now();
    let mut session = Session::new(SessionConfig::new(false), now);
    let mut raw = RawPeer::initiator();
    if let Err(e) = raw.handshake(&mut session, now) {
        panic!("handshake: {e}");
    }
    (session, raw, now)
}

fn dk(i: u32) -> [u8; 32] {
    let mut dk = [0u8; 32];
    dk[..4].copy_from_slice(&i.to_be_bytes());
    dk
}

#[test]
fn a_capability_that_is_not_32_bytes_ends_the_session() -> Result<()> {
    let (mut session, mut raw, now) = responder();
    let frame = raw.frame(1, &open(dk(1), Some(vec![0xab; 1 << 20])));
    let Err(err) = session.handle_input(now, &frame) else {
        anyhow::bail!(
            "a 1 MiB capability was kept: {} channels",
            session.channel_count()
        );
    };
    ensure!(err.to_string().contains("capability"), "{err}");
    ensure!(session.is_closed() && session.channel_count() == 0);
    Ok(())
}

#[test]
fn refused_channels_leave_nothing_behind() -> Result<()> {
    let (mut session, mut raw, now) = responder();
    for i in 0..20_000u32 {
        let cap = raw.capability(&[i as u8; 32]).to_vec();
        session.handle_input(now, &raw.frame(u64::from(i) + 1, &open(dk(i), Some(cap))))?;
        // We do not have that feed: refuse it, as replication does.
        session.close(&dk(i))?;
        ensure!(
            session.channel_count() <= 1,
            "{} kept",
            session.channel_count()
        );
        let _ = raw.read(&mut session, now)?;
        while session.poll_event().is_some() {}
    }
    // The peer's answers to the refusals find nothing, and change nothing.
    for i in 0..100u64 {
        session.handle_input(now, &raw.frame(i + 1, &Message::Close(Close::default())))?;
    }
    ensure!(session.channel_count() == 0 && !session.is_closed());
    Ok(())
}

#[test]
fn channels_past_the_limit_end_the_session() -> Result<()> {
    let (mut session, mut raw, now) = responder();
    let mut result = Ok(());
    let mut opened = 0u32;
    for i in 0..70_000u32 {
        result = session.handle_input(now, &raw.frame(u64::from(i) + 1, &open(dk(i), None)));
        if result.is_err() {
            break;
        }
        opened += 1;
        while session.poll_event().is_some() {}
    }
    let err = result.err().context("70,000 channels kept")?;
    ensure!(err.to_string().contains("channels"), "{err}");
    ensure!(opened == 65_536, "{opened}");
    ensure!(
        session.channel_count() == 0,
        "a closed session keeps nothing"
    );
    Ok(())
}

#[test]
fn a_channel_id_reused_while_open_ends_the_session() -> Result<()> {
    let (mut session, mut raw, now) = responder();
    session.handle_input(now, &raw.frame(1, &open(dk(1), None)))?;
    // Reopening the same feed on the same id is harmless; another feed on it is not.
    session.handle_input(now, &raw.frame(1, &open(dk(1), None)))?;
    let err = session
        .handle_input(now, &raw.frame(1, &open(dk(2), None)))
        .err()
        .context("channel id 1 rebound to another feed")?;
    ensure!(err.to_string().contains("reused"), "{err}");
    Ok(())
}

// ----- item 6: no secret in Debug -----

#[test]
fn debug_shows_no_session_key() -> Result<()> {
    let (session, raw, _) = responder();
    let (tx, rx) = raw.keys().context("handshake done")?;
    let shown = format!("{session:?}{session:#?}");
    for key in [tx, rx] {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let decimal = format!("{:?}", &key[..]).replace(['[', ']'], "");
        let pretty = format!("{:#?}", &key[..]).replace(['[', ']'], "");
        for r in [hex, decimal, pretty] {
            ensure!(!shown.contains(&r), "{r} in {shown}");
        }
    }
    Ok(())
}

// ----- over a pipe: backpressure, stalled readers, extensions -----

#[cfg(feature = "tokio")]
mod over_a_pipe {
    use super::*;
    use hypercore::protocol::{Event, Extension, Options, Status};
    use hypercore::replicate::{ReplicateError, SharedFeed, replicate};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::task::JoinHandle;

    fn config(initiator: bool) -> SessionConfig {
        let mut c = SessionConfig::new(initiator);
        c.live = true;
        c
    }

    fn serve(
        io: DuplexStream,
        feed: &SharedFeed<MemoryStorage>,
    ) -> JoinHandle<Result<(), ReplicateError>> {
        let feeds = [feed.clone()];
        tokio::spawn(async move { replicate(io, config(false), &feeds).await })
    }

    /// The scripted peer: a real session on our end of the pipe, driven by hand.
    struct Hostile {
        session: Session,
        io: DuplexStream,
        buf: Vec<u8>,
    }

    impl Hostile {
        /// Connects, opens `key` and waits until both sides have it open.
        async fn open(io: DuplexStream, key: &hypercore::PublicKey) -> Result<Self> {
            let mut h = Hostile {
                session: Session::new(config(true), Instant::now()),
                io,
                buf: vec![0; 64 * 1024],
            };
            h.session.open(key)?;
            let dk = key.discovery_key();
            loop {
                h.flush().await?;
                let events = h.read().await?;
                if events.contains(&Event::ChannelOpen { discovery_key: dk }) {
                    return Ok(h);
                }
            }
        }

        async fn flush(&mut self) -> Result<usize> {
            let mut sent = 0;
            while let Some(bytes) = self.session.poll_transmit(Instant::now()) {
                self.io.write_all(&bytes).await?;
                sent += bytes.len();
            }
            Ok(sent)
        }

        async fn read(&mut self) -> Result<Vec<Event>> {
            let n = self.io.read(&mut self.buf).await?;
            ensure!(n > 0, "the stream ended");
            self.session.handle_input(Instant::now(), &self.buf[..n])?;
            Ok(std::iter::from_fn(|| self.session.poll_event()).collect())
        }

        fn send(&mut self, key: &hypercore::PublicKey, m: Message) -> Result<()> {
            Ok(self.session.send(&key.discovery_key(), m)?)
        }
    }

    fn big_writer() -> Result<SharedFeed<MemoryStorage>> {
        let mut feed = Feed::builder(MemoryStorage::new())
            .key_pair(KeyPair::from_seed(&[9; 32]))
            .open()?;
        for i in 0..40u8 {
            feed.append(&vec![i; 16 * 1024])?;
        }
        Ok(SharedFeed::new(feed, ReplicatorConfig::default()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_is_cut_off_while_others_are_served() -> Result<()> {
        let w = big_writer()?;
        let key = *w.key();
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let served = serve(ours, &w);
        let mut h = Hostile::open(theirs, &key).await?;
        // Ask for every block (640 KiB, ten times the pipe), then never read again, but keep
        // talking so that the session never idles out.
        for i in 0..40 {
            h.send(&key, Message::Request(Request::new(i, false, 0)))?;
        }
        h.flush().await?;
        // An honest reader on the same feed meanwhile.
        let mut c = ReplicatorConfig::default();
        c.download = Some(true);
        let reader = SharedFeed::new(Feed::builder(MemoryStorage::new()).key(key).open()?, c);
        let (x, y) = tokio::io::duplex(64 * 1024);
        let _w2 = serve(x, &w);
        let feeds = [reader.clone()];
        let _r = tokio::spawn(async move { replicate(y, config(true), &feeds).await });
        ensure!(reader.get(39).await? == vec![39u8; 16 * 1024]);
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if h.send(&key, Message::Status(Status::new(false, true)))
                .is_err()
                || h.flush().await.is_err()
            {
                break;
            }
        }
        let ended = tokio::time::timeout(Duration::from_secs(60), served)
            .await
            .context("the connection of a peer that never reads never ended")??;
        let err = ended.err().context("it ended without an error")?;
        ensure!(matches!(err, ReplicateError::WriteStalled { .. }), "{err}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn extension_messages_wait_in_a_bounded_queue() -> Result<()> {
        let w = big_writer()?;
        let key = *w.key();
        let mut rx = w.register_extension("x")?;
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let _served = serve(ours, &w);
        let mut h = Hostile::open(theirs, &key).await?;
        h.send(
            &key,
            Message::Options(Options {
                extensions: vec!["x".into()],
                ack: None,
            }),
        )?;
        for i in 0..5_000u32 {
            h.send(
                &key,
                Message::Extension(Extension {
                    id: 0,
                    payload: i.to_be_bytes().to_vec(),
                }),
            )?;
            if i % 256 == 0 {
                h.flush().await?;
            }
        }
        // A Want after them: its answer means every message before it was handled.
        h.send(&key, want(0, Some(8192)))?;
        h.flush().await?;
        loop {
            let events = h.read().await?;
            if events.iter().any(|e| {
                matches!(e, Event::Message { message: Message::Have(h), .. } if h.bitfield.is_some())
            }) {
                break;
            }
        }
        let mut held = 0;
        while rx.try_recv().is_ok() {
            held += 1;
        }
        ensure!(
            held <= 256,
            "{held} extension messages queued for a slow application"
        );
        ensure!(held > 0, "none delivered");
        ensure!(w.stats().extension_messages_dropped == 5_000 - held as u64);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_opens_without_reading_is_held_to_its_pace() -> Result<()> {
        let w = big_writer()?;
        let key = *w.key();
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let served = serve(ours, &w);
        let mut h = Hostile::open(theirs, &key).await?;
        // Open a feed we do not have, again and again: each costs us a Close, which the peer
        // never reads. Without backpressure those Closes pile up without end.
        let mut pushed = 0usize;
        let budget = 48 << 20;
        let mut stuck = false;
        let other = KeyPair::from_seed(&[1; 32]).public;
        let mut raw = Vec::new();
        while pushed < budget {
            // A real Open for a feed we lack, through the peer's own session.
            h.session.open(&other)?;
            h.session.close(&other.discovery_key())?;
            while let Some(bytes) = h.session.poll_transmit(Instant::now()) {
                raw.extend_from_slice(&bytes);
            }
            if raw.len() < 64 * 1024 {
                continue;
            }
            match tokio::time::timeout(Duration::from_secs(1), h.io.write_all(&raw)).await {
                Ok(Ok(())) => pushed += raw.len(),
                Ok(Err(_)) => break, // the connection ended
                Err(_) => {
                    stuck = true; // our side stopped reading
                    break;
                }
            }
            raw.clear();
        }
        ensure!(stuck, "{pushed} bytes pushed into a peer that never read");
        ensure!(
            pushed < 32 << 20,
            "{pushed} bytes taken before reading stopped"
        );
        // It then ends for not reading, with a clear error.
        let ended = tokio::time::timeout(Duration::from_secs(60), served)
            .await
            .context("never ended")??;
        ensure!(
            matches!(ended, Err(ReplicateError::WriteStalled { .. })),
            "{ended:?}"
        );
        Ok(())
    }
}
