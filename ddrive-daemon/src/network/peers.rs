//! The connections the swarm handed us, and the small numbers (aliases) clients know peers by.
//!
//! A connection is listed once its Noise handshake named the remote's static key. An alias is
//! a daemon-local `u32` given to a remote key the first time a client or a peersocket message
//! needs one (Node's `PeersManager.getAlias`); the table keeps at most [`MAX_ALIASES`], and when
//! full forgets the oldest alias of a key that is not connected (Node's table only grows).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use hypercore::replicate::ReplicationHandle;
use hyperswarm::{ConnectionId, ConnectionInfo, Transport};
use tokio::sync::broadcast;

use super::lock;

/// Most aliases remembered.
pub(crate) const MAX_ALIASES: usize = 4096;

/// One peer connection, as listed.
#[derive(Clone, Debug)]
pub(crate) struct PeerEntry {
    /// The remote's Noise static key.
    pub(crate) remote_key: [u8; 32],
    /// Where the connection goes.
    pub(crate) addr: SocketAddr,
    /// TCP or uTP.
    pub(crate) transport: Transport,
    /// Its replication session.
    pub(crate) handle: ReplicationHandle,
}

impl PeerEntry {
    /// Whether this session replicates the core with this discovery key right now.
    pub(crate) fn replicates(&self, discovery_key: &[u8; 32]) -> bool {
        self.handle
            .info()
            .feeds
            .iter()
            .any(|f| f.open && f.key.discovery_key() == *discovery_key)
    }

    /// The transport's name, as Node's peer info `type` says it.
    pub(crate) fn kind(&self) -> &'static str {
        match self.transport {
            Transport::Tcp => "tcp",
            Transport::Utp => "utp",
        }
    }
}

#[derive(Debug)]
struct Conn {
    addr: SocketAddr,
    transport: Transport,
    handle: ReplicationHandle,
    remote_key: Option<[u8; 32]>,
}

#[derive(Debug)]
struct Aliases {
    next: u32,
    by_key: HashMap<[u8; 32], u32>,
    by_alias: BTreeMap<u32, [u8; 32]>,
}

/// The peer registry.
#[derive(Debug)]
pub(crate) struct Peers {
    conns: Mutex<HashMap<ConnectionId, Conn>>,
    aliases: Mutex<Aliases>,
    /// Rings whenever a peer connects or leaves (watchers then look again).
    changes: broadcast::Sender<()>,
    /// Set when the network stops: watchers end.
    stopped: AtomicBool,
}

impl Peers {
    pub(crate) fn new() -> Self {
        Peers {
            conns: Mutex::new(HashMap::new()),
            aliases: Mutex::new(Aliases {
                next: 1,
                by_key: HashMap::new(),
                by_alias: BTreeMap::new(),
            }),
            changes: broadcast::channel(16).0,
            stopped: AtomicBool::new(false),
        }
    }

    /// A connection's session started (not listed until its handshake).
    pub(crate) fn opened(&self, info: &ConnectionInfo, handle: ReplicationHandle) {
        lock(&self.conns).insert(
            info.id,
            Conn {
                addr: info.peer,
                transport: info.transport,
                handle,
                remote_key: None,
            },
        );
    }

    /// The handshake named the remote.
    pub(crate) fn handshaken(&self, id: ConnectionId, remote_key: [u8; 32]) {
        if let Some(c) = lock(&self.conns).get_mut(&id) {
            c.remote_key = Some(remote_key);
        }
        let _ = self.changes.send(());
    }

    /// The connection is gone.
    pub(crate) fn closed(&self, id: ConnectionId) {
        let was_listed = lock(&self.conns)
            .remove(&id)
            .is_some_and(|c| c.remote_key.is_some());
        if was_listed {
            let _ = self.changes.send(());
        }
    }

    /// Ends a connection's session (a duplicate).
    pub(crate) fn cancel(&self, id: ConnectionId) {
        if let Some(c) = lock(&self.conns).get(&id) {
            c.handle.cancel();
        }
    }

    /// Whether the network stopped.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Ends every session, for good.
    pub(crate) fn cancel_all(&self) {
        self.stopped.store(true, Ordering::Release);
        let _ = self.changes.send(());
        for c in lock(&self.conns).values() {
            c.handle.cancel();
        }
    }

    /// Connected peers; with a discovery key, those replicating that core.
    pub(crate) fn list(&self, discovery_key: Option<&[u8; 32]>) -> Vec<PeerEntry> {
        let all: Vec<PeerEntry> = lock(&self.conns)
            .values()
            .filter(|c| !c.handle.is_ended())
            .filter_map(|c| {
                Some(PeerEntry {
                    remote_key: c.remote_key?,
                    addr: c.addr,
                    transport: c.transport,
                    handle: c.handle.clone(),
                })
            })
            .collect();
        match discovery_key {
            Some(dk) => all.into_iter().filter(|p| p.replicates(dk)).collect(),
            None => all,
        }
    }

    /// How many peers are connected (handshake done).
    pub(crate) fn count(&self) -> usize {
        lock(&self.conns)
            .values()
            .filter(|c| c.remote_key.is_some() && !c.handle.is_ended())
            .count()
    }

    /// Rings at every connect and leave.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<()> {
        self.changes.subscribe()
    }

    /// The alias of a remote key, given now if it has none.
    pub(crate) fn alias(&self, key: &[u8; 32]) -> u32 {
        let mut a = lock(&self.aliases);
        if let Some(alias) = a.by_key.get(key) {
            return *alias;
        }
        if a.by_key.len() >= MAX_ALIASES {
            let connected: Vec<[u8; 32]> = lock(&self.conns)
                .values()
                .filter_map(|c| c.remote_key)
                .collect();
            let old = a
                .by_alias
                .iter()
                .find(|(_, k)| !connected.contains(k))
                .map(|(alias, k)| (*alias, *k));
            if let Some((alias, k)) = old {
                a.by_alias.remove(&alias);
                a.by_key.remove(&k);
            }
        }
        let alias = a.next;
        a.next = a.next.wrapping_add(1).max(1);
        a.by_key.insert(*key, alias);
        a.by_alias.insert(alias, *key);
        alias
    }

    /// The key an alias stands for.
    pub(crate) fn key_of(&self, alias: u32) -> Option<[u8; 32]> {
        lock(&self.aliases).by_alias.get(&alias).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_stable_and_bounded() {
        let peers = Peers::new();
        let a = peers.alias(&[1; 32]);
        assert_eq!(a, 1, "aliases start at 1, as Node's");
        assert_eq!(peers.alias(&[1; 32]), a);
        assert_eq!(peers.key_of(a), Some([1; 32]));
        assert_eq!(peers.key_of(999), None);
        for i in 0..MAX_ALIASES as u32 + 10 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k[31] = 9;
            peers.alias(&k);
        }
        assert_eq!(lock(&peers.aliases).by_key.len(), MAX_ALIASES);
        assert_eq!(lock(&peers.aliases).by_alias.len(), MAX_ALIASES);
        assert_eq!(
            peers.key_of(a),
            None,
            "the oldest unconnected alias went first"
        );
    }
}
