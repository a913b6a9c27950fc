//! A network of feeds and sessions wired back to back, no sockets: each node is a feed with its
//! replicator, each link a pair of sessions between two nodes.
#![allow(dead_code)] // each test crate uses a different subset

use std::time::Instant;

use anyhow::{Result, bail};
use hypercore::protocol::{Event, Message, Session, SessionConfig};
use hypercore::replicate::{Outgoing, PeerId, Replicator, ReplicatorConfig, ReplicatorEvent};
use hypercore::{Feed, KeyPair, MemoryStorage};

pub struct NodeState {
    pub feed: Feed<MemoryStorage>,
    pub rep: Replicator,
    pub events: Vec<String>,
}

/// Decides, per message a node sends on a link, whether it goes out (and may change it).
pub type Filter = Box<dyn FnMut(&mut Message) -> bool>;

pub struct Link {
    pub ends: [usize; 2],
    pub sessions: [Session; 2],
    pub peers: [Option<PeerId>; 2],
    pub filters: [Option<Filter>; 2],
}

pub struct Net {
    pub nodes: Vec<NodeState>,
    pub links: Vec<Link>,
    pub now: Instant,
}

/// A writer with `n` blocks `"block {i}"`, appended in batches of 3 (signatures at batch ends).
pub fn writer(seed: u8, n: u64) -> Result<Feed<MemoryStorage>> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&[seed; 32]))
        .open()?;
    let blocks: Vec<Vec<u8>> = (0..n).map(block).collect();
    for batch in blocks.chunks(3) {
        feed.append_batch(batch)?;
    }
    Ok(feed)
}

pub fn block(i: u64) -> Vec<u8> {
    format!("block {i}").into_bytes()
}

pub fn clone_of(feed: &Feed<MemoryStorage>) -> Result<Feed<MemoryStorage>> {
    Ok(Feed::builder(MemoryStorage::new())
        .key(*feed.key())
        .open()?)
}

impl Net {
    pub fn new() -> Self {
        Net {
            nodes: Vec::new(),
            links: Vec::new(),
            now: Instant::now(),
        }
    }

    pub fn node(&mut self, feed: Feed<MemoryStorage>, config: ReplicatorConfig) -> usize {
        self.nodes.push(NodeState {
            feed,
            rep: Replicator::new(config),
            events: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Connects two nodes; both open the feed.
    pub fn link(&mut self, a: usize, b: usize) -> Result<usize> {
        let key = *self.nodes[a].feed.key();
        let mut sessions = [
            Session::new(SessionConfig::new(true), self.now),
            Session::new(SessionConfig::new(false), self.now),
        ];
        sessions[0].open(&key)?;
        sessions[1].open(&key)?;
        // The session maps incoming extension ids to the names the replicator registered.
        let dk = key.discovery_key();
        for (session, node) in sessions.iter_mut().zip([a, b]) {
            for name in self.nodes[node].rep.extensions().names() {
                session.register_channel_extension(&dk, name)?;
            }
        }
        self.links.push(Link {
            ends: [a, b],
            sessions,
            peers: [None, None],
            filters: [None, None],
        });
        Ok(self.links.len() - 1)
    }

    /// Runs everything until no session has anything to send.
    pub fn pump(&mut self) -> Result<()> {
        for _ in 0..100_000 {
            let mut moved = false;
            for l in 0..self.links.len() {
                for side in 0..2 {
                    moved |= self.step(l, side)?;
                }
            }
            if !moved {
                return Ok(());
            }
        }
        bail!("the network never went quiet")
    }

    fn step(&mut self, l: usize, side: usize) -> Result<bool> {
        let now = self.now;
        let link = &mut self.links[l];
        let node = &mut self.nodes[link.ends[side]];
        let dk = node.feed.discovery_key();
        let mut moved = false;
        // Consecutive messages go to the replicator together, as a connection delivers what
        // one read brought (blocks among them are stored as one batch).
        let mut batch = Vec::new();
        while let Some(event) = link.sessions[side].poll_event() {
            moved = true;
            if let Event::Message { message, .. } = event {
                batch.push(message);
                continue;
            }
            if let Some(p) = link.peers[side] {
                node.rep
                    .on_messages(&mut node.feed, p, std::mem::take(&mut batch), now)?;
            }
            batch.clear();
            match event {
                Event::ChannelOpen { .. } if link.peers[side].is_none() => {
                    link.peers[side] = Some(node.rep.add_peer(&mut node.feed, now));
                }
                Event::ChannelClosed { .. } => {
                    if let Some(p) = link.peers[side].take() {
                        node.rep.remove_peer(&mut node.feed, p, now);
                    }
                }
                Event::ChannelExtension { name, payload, .. } => {
                    if let Some(p) = link.peers[side] {
                        node.rep.on_extension(p, &name, payload);
                    }
                }
                _ => {}
            }
        }
        if let Some(p) = link.peers[side] {
            node.rep.on_messages(&mut node.feed, p, batch, now)?;
        }
        while let Some(e) = node.rep.poll_event() {
            node.events.push(match e {
                ReplicatorEvent::PeerFailed { error, .. } => format!("failed: {error}"),
                other => format!("{other:?}"),
            });
        }
        if let Some(p) = link.peers[side] {
            while let Some(out) = node.rep.poll_transmit(&mut node.feed, p)? {
                moved = true;
                match out {
                    Outgoing::Message(mut m) => {
                        let keep = link.filters[side].as_mut().is_none_or(|f| f(&mut m));
                        if keep && !link.sessions[side].is_closed() {
                            link.sessions[side].send(&dk, m)?;
                        }
                    }
                    Outgoing::Close => {
                        link.sessions[side].close(&dk)?;
                        node.rep.remove_peer(&mut node.feed, p, now);
                        link.peers[side] = None;
                        break;
                    }
                    _ => {}
                }
            }
        }
        while let Some(bytes) = link.sessions[side].poll_transmit(now) {
            moved = true;
            if !link.sessions[1 - side].is_closed() {
                link.sessions[1 - side].handle_input(now, &bytes)?;
            }
        }
        Ok(moved)
    }

    /// Advances the clock and fires every replicator's timers.
    pub fn advance(&mut self, by: std::time::Duration) -> Result<()> {
        self.now += by;
        for n in &mut self.nodes {
            if n.rep.poll_timeout().is_some_and(|t| t <= self.now) {
                n.rep.handle_timeout(&mut n.feed, self.now);
            }
        }
        self.pump()
    }

    pub fn want(&mut self, node: usize, index: u64) -> Result<()> {
        let n = &mut self.nodes[node];
        n.rep.want(&mut n.feed, index, self.now);
        self.pump()
    }

    pub fn append(&mut self, node: usize, blocks: &[Vec<u8>]) -> Result<u64> {
        let n = &mut self.nodes[node];
        let start = n.feed.append_batch(blocks)?;
        n.rep.announce(start, blocks.len() as u64);
        self.pump()?;
        Ok(start)
    }
}
