//! The connection queue of hyperswarm 2 (`lib/queue.js`, `lib/peer-info.js`,
//! `lib/bulk-timer.js`), sans-IO: time is passed in.
//!
//! Peers are keyed by `host:port@topic`. Dial order: highest priority first,
//! random within a level. Initial priority: LAN peers 3; peers behind our own
//! public address (`to.ip == host`) 1 with the retry budget already spent
//! (one attempt only); others 2. A failed or closed peer is re-queued after
//! ≈1 s, 5 s, 15 s (each timer fires every 0.66 × its delay and a peer waits
//! one to two ticks), at priority 5, 4, 1 for the first, second and third
//! retry, or 0 if it never connected. Peers that cannot be re-queued are
//! forgotten after ≈7.5 s; banned ones are remembered (never dialled again).

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PROVEN: u8 = 0b1;
const RECONNECT: u8 = 0b10;
const BANNED: u8 = 0b100;
const ACTIVE: u8 = 0b1000;
const TRIED: u8 = 0b1_0000;
const FIREWALLED: u8 = 0b10_0000;

/// Retries after which a peer is dropped.
const MAX_RETRIES: u8 = 3;
/// Default re-queue delays of hyperswarm 2.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(15),
];
/// Default delay before an unresponsive peer is forgotten.
pub const FORGET_UNRESPONSIVE: Duration = Duration::from_millis(7500);
/// Default cap on remembered peers (Node has none); adds beyond it are
/// ignored until peers are forgotten.
pub const MAX_KNOWN: usize = 16_384;

/// A peer as discovery reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Where to dial.
    pub addr: SocketAddrV4,
    /// Found on the LAN (mDNS or a DHT `localPeers` record).
    pub local: bool,
    /// The DHT node that told us (can relay a holepunch).
    pub referrer: Option<SocketAddrV4>,
    /// Our address as that DHT node saw it.
    pub to: Option<SocketAddrV4>,
    /// The topic it was found under.
    pub topic: Option<[u8; 32]>,
}

/// A peer's handle in a [`PeerQueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// What the queue knows of a peer (for callers and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Current priority level.
    pub priority: u8,
    /// Retries used.
    pub retries: u8,
    /// Banned: never dialled again.
    pub banned: bool,
    /// Waiting in the dial queue now.
    pub queued: bool,
    /// Has connected at least once.
    pub proven: bool,
    /// Being dialled or connected.
    pub active: bool,
}

/// Timings of a [`PeerQueue`].
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Re-queue delays for the 1st, 2nd and 3rd retry.
    pub backoff: [Duration; 3],
    /// Delay before a peer that cannot be retried is forgotten.
    pub forget_unresponsive: Duration,
    /// Cap on remembered peers.
    pub max_known: usize,
    /// Seeds the shuffle; random when `None`.
    pub seed: Option<u64>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            backoff: BACKOFF,
            forget_unresponsive: FORGET_UNRESPONSIVE,
            max_known: MAX_KNOWN,
            seed: None,
        }
    }
}

#[derive(Clone, Debug)]
struct Info {
    peer: Peer,
    priority: u8,
    status: u8,
    retries: u8,
    queued: bool,
}

impl Info {
    fn new(peer: Peer) -> Info {
        let behind_our_nat = peer.to.is_some_and(|to| to.ip() == peer.addr.ip());
        let priority = if peer.local {
            3
        } else if behind_our_nat {
            1
        } else {
            2
        };
        Info {
            peer,
            priority,
            status: RECONNECT | FIREWALLED,
            retries: if priority == 1 { MAX_RETRIES } else { 0 },
            queued: false,
        }
    }

    fn has(&self, bit: u8) -> bool {
        self.status & bit != 0
    }

    fn compute_priority(&self) -> u8 {
        if self.has(TRIED) && !self.has(PROVEN) {
            return 0;
        }
        match self.retries {
            3 => 1,
            2 => 4,
            1 => 5,
            _ if self.peer.local => 3,
            _ => 2,
        }
    }

    /// Whether it may be queued; refreshes the priority (peer-info `update`).
    fn update(&mut self) -> bool {
        if self.has(BANNED | ACTIVE) || self.retries > MAX_RETRIES {
            return false;
        }
        self.priority = self.compute_priority();
        true
    }

    /// Which backoff timer to use, or None to drop it (peer-info `requeue`).
    fn requeue(&mut self) -> Option<usize> {
        if self.has(BANNED) || !self.has(RECONNECT) {
            return None;
        }
        if self.retries >= MAX_RETRIES {
            // past 3 so that `update` refuses it from now on
            self.retries += 1;
            return None;
        }
        self.retries += 1;
        Some(usize::from(self.retries - 1))
    }
}

/// hyperswarm's bulk timer: items pushed during one tick fire at the end of
/// the next, so they wait between 0.66 and 1.32 × the nominal delay.
#[derive(Clone, Debug)]
struct BulkTimer {
    period: Duration,
    next: Vec<PeerId>,
    pending: Vec<PeerId>,
    tick_at: Option<Instant>,
}

impl BulkTimer {
    fn new(delay: Duration) -> BulkTimer {
        BulkTimer {
            period: delay.mul_f64(0.66).max(Duration::from_millis(1)),
            next: Vec::new(),
            pending: Vec::new(),
            tick_at: None,
        }
    }

    fn push(&mut self, id: PeerId, now: Instant) {
        if self.tick_at.is_none() {
            self.tick_at = Some(now + self.period);
        }
        self.pending.push(id);
    }

    /// Runs due ticks; returns what fired.
    fn fire(&mut self, now: Instant) -> Vec<PeerId> {
        let mut fired = Vec::new();
        while let Some(at) = self.tick_at
            && at <= now
        {
            fired.append(&mut self.next);
            self.next = std::mem::take(&mut self.pending);
            self.tick_at = (!self.next.is_empty()).then_some(at + self.period);
        }
        fired
    }
}

/// The dial queue of one swarm.
#[derive(Debug)]
pub struct PeerQueue {
    infos: HashMap<PeerId, Info>,
    keys: HashMap<(SocketAddrV4, Option<[u8; 32]>), PeerId>,
    /// Queued ids per priority level.
    levels: Vec<Vec<PeerId>>,
    requeue_timers: Vec<BulkTimer>,
    forget_timer: BulkTimer,
    max_known: usize,
    rng: StdRng,
    next_id: u64,
}

impl PeerQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> PeerQueue {
        let rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        PeerQueue {
            infos: HashMap::new(),
            keys: HashMap::new(),
            levels: Vec::new(),
            requeue_timers: config.backoff.iter().map(|d| BulkTimer::new(*d)).collect(),
            forget_timer: BulkTimer::new(config.forget_unresponsive),
            max_known: config.max_known,
            rng,
            next_id: 0,
        }
    }

    /// Adds a discovered peer (queue `add`): known peers keep their state and
    /// are queued again only if idle and within their retry budget.
    pub fn add(&mut self, peer: Peer) -> Option<PeerId> {
        let key = (peer.addr, peer.topic);
        let id = match self.keys.get(&key) {
            Some(id) => *id,
            None => {
                if self.infos.len() >= self.max_known {
                    return None;
                }
                let id = PeerId(self.next_id);
                self.next_id += 1;
                self.keys.insert(key, id);
                self.infos.insert(id, Info::new(peer));
                id
            }
        };
        self.enqueue(id);
        Some(id)
    }

    fn enqueue(&mut self, id: PeerId) {
        let Some(info) = self.infos.get_mut(&id) else {
            return;
        };
        if info.queued || !info.update() {
            return;
        }
        info.queued = true;
        let p = usize::from(info.priority);
        if self.levels.len() <= p {
            self.levels.resize_with(p + 1, Vec::new);
        }
        self.levels[p].push(id);
    }

    fn unqueue(&mut self, id: PeerId) {
        let Some(info) = self.infos.get_mut(&id) else {
            return;
        };
        if !info.queued {
            return;
        }
        info.queued = false;
        if let Some(level) = self.levels.get_mut(usize::from(info.priority))
            && let Some(i) = level.iter().position(|x| *x == id)
        {
            level.swap_remove(i);
        }
    }

    /// Takes the next peer to dial: highest priority, random within it.
    /// It is marked active and tried.
    pub fn shift(&mut self) -> Option<(PeerId, Peer)> {
        let level = self.levels.iter_mut().rev().find(|l| !l.is_empty())?;
        let i = self.rng.gen_range(0..level.len());
        let id = level.swap_remove(i);
        let info = self.infos.get_mut(&id)?;
        info.queued = false;
        info.status |= ACTIVE | TRIED;
        Some((id, info.peer))
    }

    /// A dial to `id` connected (`tcp` = over TCP).
    pub fn connected(&mut self, id: PeerId, tcp: bool) {
        if let Some(info) = self.infos.get_mut(&id) {
            if tcp {
                info.status &= !FIREWALLED;
            }
            info.status |= PROVEN;
            info.retries = 0;
        }
    }

    /// A dial failed or a connection closed: schedule a retry, or forget the
    /// peer when its budget is spent. Returns whether a retry is scheduled.
    pub fn requeue(&mut self, id: PeerId, now: Instant) -> bool {
        let Some(info) = self.infos.get_mut(&id) else {
            return false;
        };
        match info.requeue() {
            Some(level) => {
                if let Some(t) = self.requeue_timers.get_mut(level) {
                    t.push(id, now);
                }
                true
            }
            None => {
                // the attempt is over; nothing will dial it again
                info.status &= !ACTIVE;
                if !info.has(BANNED) {
                    self.forget_timer.push(id, now);
                }
                false
            }
        }
    }

    /// Bans a peer: it is never queued again.
    pub fn ban(&mut self, id: PeerId) {
        self.unqueue(id);
        if let Some(info) = self.infos.get_mut(&id) {
            info.status |= BANNED;
        }
    }

    /// Forgets a peer (a later `add` starts it afresh).
    pub fn remove(&mut self, id: PeerId) {
        self.unqueue(id);
        if let Some(info) = self.infos.remove(&id) {
            self.keys.remove(&(info.peer.addr, info.peer.topic));
        }
    }

    /// Forgets a peer and adds it again at its initial priority (hyperswarm
    /// does this to a banned duplicate once the surviving connection closes).
    pub fn readd(&mut self, id: PeerId) -> Option<PeerId> {
        let peer = self.infos.get(&id)?.peer;
        self.remove(id);
        self.add(peer)
    }

    /// The peer behind `id`.
    pub fn peer(&self, id: PeerId) -> Option<Peer> {
        self.infos.get(&id).map(|i| i.peer)
    }

    /// What the queue knows of `id`.
    pub fn status(&self, id: PeerId) -> Option<PeerStatus> {
        self.infos.get(&id).map(|i| PeerStatus {
            priority: i.priority,
            retries: i.retries,
            banned: i.has(BANNED),
            queued: i.queued,
            proven: i.has(PROVEN),
            active: i.has(ACTIVE),
        })
    }

    /// Peers waiting to be dialled.
    pub fn len(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Whether no peer waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Peers remembered (queued, active, waiting on a timer or banned).
    pub fn known(&self) -> usize {
        self.infos.len()
    }

    /// Waiting peers at priority 2 or more (hyperswarm `prioritised`).
    pub fn prioritised(&self) -> usize {
        self.levels.iter().skip(2).map(Vec::len).sum()
    }

    /// When [`PeerQueue::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.requeue_timers
            .iter()
            .chain(std::iter::once(&self.forget_timer))
            .filter_map(|t| t.tick_at)
            .min()
    }

    /// Fires due timers: re-queues backed-off peers, forgets dropped ones.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut back = Vec::new();
        for t in &mut self.requeue_timers {
            back.extend(t.fire(now));
        }
        for id in back {
            let Some(info) = self.infos.get_mut(&id) else {
                continue;
            };
            info.status &= !ACTIVE;
            if info.queued {
                continue;
            }
            if info.update() {
                self.enqueue(id);
            } else if !info.has(BANNED) {
                self.forget_timer.push(id, now);
            }
        }
        for id in self.forget_timer.fire(now) {
            // a peer re-added and dialled meanwhile is not forgotten under it
            if self
                .infos
                .get(&id)
                .is_some_and(|i| !i.queued && !i.has(ACTIVE))
            {
                self.remove(id);
            }
        }
    }
}
