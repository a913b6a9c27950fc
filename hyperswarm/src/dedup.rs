//! Deduplication of double connections, as hyperswarm 2's
//! `info.deduplicate(localKey, remoteKey)` (`lib/queue.js`).
//!
//! Two peers that find each other both dial, so they may end up with two
//! connections (one each way, or TCP and uTP). After the Noise handshake the
//! application compares the two static public keys (one key pair per node):
//! * same transport: the connection dialled by the node with the smaller key
//!   (byte-wise) survives;
//! * different transports: TCP survives, uTP is the duplicate;
//! * our own key on both ends: a connection to ourselves, to be dropped.
//!
//! Node keys its table by the key pair *as passed* (local, remote) and, for
//! equal transports, looks only at who dialled the *current* connection.
//! Both are reproduced exactly so that the two sides agree.

use std::collections::HashMap;
use std::hash::Hash;

/// The transport of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// uTP (libutp).
    Utp,
}

/// One connection as the rule sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionSide {
    /// We dialled it.
    pub initiator: bool,
    /// Its transport.
    pub transport: Transport,
}

/// The outcome of [`resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Both keys are equal: we are connected to ourselves.
    SelfConnection,
    /// No earlier connection between these keys: keep it.
    Unique,
    /// The new connection is the duplicate; the earlier one survives.
    CurrentIsDuplicate,
    /// The earlier connection is the duplicate; the new one survives.
    EarlierIsDuplicate,
}

/// The Node rule for a `current` connection between `local` and `remote`
/// static keys, given the `earlier` one still open between the same keys.
pub fn resolve(
    local: &[u8; 32],
    remote: &[u8; 32],
    earlier: Option<ConnectionSide>,
    current: ConnectionSide,
) -> Verdict {
    let cmp = local.cmp(remote);
    if cmp.is_eq() {
        return Verdict::SelfConnection;
    }
    let Some(earlier) = earlier else {
        return Verdict::Unique;
    };
    let earlier_is_duplicate = if earlier.transport == current.transport {
        if cmp.is_lt() {
            current.initiator
        } else {
            !current.initiator
        }
    } else {
        earlier.transport == Transport::Utp
    };
    if earlier_is_duplicate {
        Verdict::EarlierIsDuplicate
    } else {
        Verdict::CurrentIsDuplicate
    }
}

/// What [`Deduplicator::add`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision<C> {
    /// The rule's verdict.
    pub verdict: Verdict,
    /// The connection to drop, if any.
    pub duplicate: Option<C>,
    /// The surviving connection, if any.
    pub survivor: Option<C>,
}

/// The table of surviving connections per key pair (Node's `_dedup` map).
#[derive(Debug)]
pub struct Deduplicator<C> {
    by_keys: HashMap<([u8; 32], [u8; 32]), (C, ConnectionSide)>,
    keys_of: HashMap<C, ([u8; 32], [u8; 32])>,
}

impl<C: Copy + Eq + Hash> Default for Deduplicator<C> {
    fn default() -> Self {
        Deduplicator {
            by_keys: HashMap::new(),
            keys_of: HashMap::new(),
        }
    }
}

impl<C: Copy + Eq + Hash> Deduplicator<C> {
    /// Records connection `conn` after its handshake and applies the rule.
    pub fn add(
        &mut self,
        local: &[u8; 32],
        remote: &[u8; 32],
        conn: C,
        side: ConnectionSide,
    ) -> Decision<C> {
        let key = (*local, *remote);
        let earlier = self.by_keys.get(&key).copied();
        let verdict = resolve(local, remote, earlier.map(|(_, s)| s), side);
        let (duplicate, survivor) = match verdict {
            Verdict::SelfConnection => (Some(conn), None),
            Verdict::Unique => (None, Some(conn)),
            Verdict::CurrentIsDuplicate => (Some(conn), earlier.map(|(c, _)| c)),
            Verdict::EarlierIsDuplicate => (earlier.map(|(c, _)| c), Some(conn)),
        };
        if let Some(s) = survivor {
            let s_side = if s == conn {
                side
            } else {
                earlier.map_or(side, |(_, x)| x)
            };
            if let Some((old, _)) = self.by_keys.insert(key, (s, s_side))
                && old != s
            {
                self.keys_of.remove(&old);
            }
            self.keys_of.insert(s, key);
        }
        Decision {
            verdict,
            duplicate,
            survivor,
        }
    }

    /// Forgets a closed connection (only if it is the recorded survivor).
    pub fn remove(&mut self, conn: C) {
        if let Some(key) = self.keys_of.remove(&conn)
            && self.by_keys.get(&key).is_some_and(|(c, _)| *c == conn)
        {
            self.by_keys.remove(&key);
        }
    }

    /// Surviving connections recorded.
    pub fn len(&self) -> usize {
        self.by_keys.len()
    }

    /// Whether none is recorded.
    pub fn is_empty(&self) -> bool {
        self.by_keys.is_empty()
    }
}
