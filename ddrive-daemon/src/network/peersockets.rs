//! Peersockets: named topics that carry messages between the clients of connected daemons
//! (Node's `peersockets@0.3` under hyperdrive-daemon's `Peersockets.join`).
//!
//! A topic is a stream extension named `peersockets/v0/<topic>` on every replication session:
//! registered on every connection when a client first joins the topic, on every new connection
//! while it is joined, and dropped (unregistered) when its last client leaves. A message from a
//! peer goes to every client handle of the topic with the peer's key; a client's message goes
//! to the one peer it names. Delivery is best-effort, as in Node: a handle whose client reads
//! slower than [`HANDLE_QUEUE`] messages loses the extra ones, and a peer link whose send
//! queue is full drops the client's message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use hypercore::replicate::{ReplicationHandle, StreamExtension};
use hyperswarm::ConnectionId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Peers, lock};

/// The extension name prefix (Node's `Peersockets.EXTENSION_PREFIX`).
pub(crate) const EXTENSION_PREFIX: &str = "peersockets/v0/";
/// Longest topic name, in bytes (each name travels in every `Options` message).
pub(crate) const MAX_TOPIC_LEN: usize = 200;
/// Most topics joined at once.
pub(crate) const MAX_TOPICS: usize = 64;
/// Most client handles over every topic.
pub(crate) const MAX_HANDLES: usize = 256;
/// Largest message, in bytes.
pub(crate) const MAX_MESSAGE: usize = 1 << 20;
/// Messages held for a client handle.
pub(crate) const HANDLE_QUEUE: usize = 64;
/// Messages queued towards one peer on one topic.
const LINK_QUEUE: usize = 64;
/// How long sending one message into a session may wait.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A message from a peer: its Noise key and the bytes.
pub(crate) type Incoming = ([u8; 32], Vec<u8>);

#[derive(Debug)]
struct Link {
    remote: [u8; 32],
    out: mpsc::Sender<Vec<u8>>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Topic {
    handles: HashMap<u64, mpsc::Sender<Incoming>>,
    links: HashMap<ConnectionId, Link>,
}

#[derive(Debug, Default)]
struct Inner {
    topics: HashMap<String, Topic>,
    /// Sessions that finished their handshake, for topics joined later.
    sessions: HashMap<ConnectionId, ([u8; 32], ReplicationHandle)>,
    next_handle: u64,
    handles: usize,
}

/// The peersocket hub of a daemon.
#[derive(Debug)]
pub(crate) struct Peersockets {
    inner: Mutex<Inner>,
    peers: Arc<Peers>,
    me: Weak<Peersockets>,
}

/// Why a join was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JoinError {
    /// The name is empty or longer than [`MAX_TOPIC_LEN`].
    BadName,
    /// [`MAX_TOPICS`] or [`MAX_HANDLES`] reached.
    Full,
}

impl Peersockets {
    pub(crate) fn new(peers: Arc<Peers>) -> Arc<Self> {
        Arc::new_cyclic(|me| Peersockets {
            inner: Mutex::new(Inner::default()),
            peers,
            me: me.clone(),
        })
    }

    /// The peer registry (for aliases).
    pub(crate) fn peers(&self) -> &Arc<Peers> {
        &self.peers
    }

    /// A client joins `topic`: returns its handle id and where the peers' messages arrive.
    pub(crate) fn join(&self, topic: &str) -> Result<(u64, mpsc::Receiver<Incoming>), JoinError> {
        if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
            return Err(JoinError::BadName);
        }
        let mut inner = lock(&self.inner);
        if inner.handles >= MAX_HANDLES
            || (!inner.topics.contains_key(topic) && inner.topics.len() >= MAX_TOPICS)
        {
            return Err(JoinError::Full);
        }
        inner.next_handle += 1;
        inner.handles += 1;
        let id = inner.next_handle;
        let (tx, rx) = mpsc::channel(HANDLE_QUEUE);
        let Inner {
            topics, sessions, ..
        } = &mut *inner;
        let t = topics.entry(topic.to_owned()).or_insert_with(|| {
            let mut t = Topic::default();
            for (conn, (remote, handle)) in sessions.iter() {
                if let Some(link) = self.link(topic, *remote, handle) {
                    t.links.insert(*conn, link);
                }
            }
            t
        });
        t.handles.insert(id, tx);
        Ok((id, rx))
    }

    /// The client handle `id` leaves `topic`; the topic's extensions go with its last handle.
    pub(crate) fn leave(&self, topic: &str, id: u64) {
        let mut inner = lock(&self.inner);
        let Some(t) = inner.topics.get_mut(topic) else {
            return;
        };
        if t.handles.remove(&id).is_none() {
            return;
        }
        let empty = t.handles.is_empty();
        inner.handles = inner.handles.saturating_sub(1);
        if empty && let Some(t) = inner.topics.remove(topic) {
            for link in t.links.into_values() {
                link.task.abort();
            }
        }
    }

    /// Sends `msg` on `topic` to the peer with Noise key `remote`; whether a link to it exists
    /// and took the message.
    pub(crate) fn send(&self, topic: &str, remote: &[u8; 32], msg: Vec<u8>) -> bool {
        let inner = lock(&self.inner);
        let Some(t) = inner.topics.get(topic) else {
            return false;
        };
        t.links
            .values()
            .find(|l| l.remote == *remote)
            .is_some_and(|l| l.out.try_send(msg).is_ok())
    }

    /// A session finished its handshake: every joined topic gets a link on it.
    pub(crate) fn connected(
        &self,
        conn: ConnectionId,
        remote: [u8; 32],
        handle: &ReplicationHandle,
    ) {
        let mut inner = lock(&self.inner);
        inner.sessions.insert(conn, (remote, handle.clone()));
        let names: Vec<String> = inner.topics.keys().cloned().collect();
        for name in names {
            if let Some(link) = self.link(&name, remote, handle)
                && let Some(t) = inner.topics.get_mut(&name)
                && let Some(old) = t.links.insert(conn, link)
            {
                old.task.abort();
            }
        }
    }

    /// A session ended.
    pub(crate) fn disconnected(&self, conn: ConnectionId) {
        let mut inner = lock(&self.inner);
        inner.sessions.remove(&conn);
        for t in inner.topics.values_mut() {
            if let Some(link) = t.links.remove(&conn) {
                link.task.abort();
            }
        }
    }

    /// Drops every topic (shutdown).
    pub(crate) fn close_all(&self) {
        let mut inner = lock(&self.inner);
        for (_, t) in inner.topics.drain() {
            for link in t.links.into_values() {
                link.task.abort();
            }
        }
        inner.sessions.clear();
        inner.handles = 0;
    }

    fn deliver(&self, topic: &str, remote: [u8; 32], msg: Vec<u8>) {
        let inner = lock(&self.inner);
        if let Some(t) = inner.topics.get(topic) {
            for tx in t.handles.values() {
                if tx.try_send((remote, msg.clone())).is_err() {
                    tracing::debug!(topic, "a peersocket client is behind; message dropped");
                }
            }
        }
    }

    /// Registers the topic's extension on one session and starts the task that moves its
    /// messages.
    fn link(&self, topic: &str, remote: [u8; 32], handle: &ReplicationHandle) -> Option<Link> {
        let ext = match handle.register_extension(&format!("{EXTENSION_PREFIX}{topic}")) {
            Ok(ext) => ext,
            Err(e) => {
                tracing::debug!(topic, error = %e, "cannot register a peersocket topic");
                return None;
            }
        };
        let (out, rx) = mpsc::channel(LINK_QUEUE);
        let task = tokio::spawn(run_link(self.me.clone(), topic.to_owned(), remote, ext, rx));
        Some(Link { remote, out, task })
    }
}

/// Moves one topic's messages on one session both ways until either side ends.
async fn run_link(
    hub: Weak<Peersockets>,
    topic: String,
    remote: [u8; 32],
    mut ext: StreamExtension,
    mut out: mpsc::Receiver<Vec<u8>>,
) {
    loop {
        tokio::select! {
            m = ext.recv() => match m {
                Some(m) if m.len() <= MAX_MESSAGE => match hub.upgrade() {
                    Some(hub) => hub.deliver(&topic, remote, m),
                    None => return,
                },
                Some(_) => tracing::debug!(topic, "an oversize peersocket message dropped"),
                None => return,
            },
            o = out.recv() => match o {
                Some(payload) => {
                    match tokio::time::timeout(SEND_TIMEOUT, ext.send(&payload)).await {
                        Ok(Ok(())) => {}
                        _ => return,
                    }
                }
                None => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn joins_are_bounded_and_the_last_leave_drops_the_topic() {
        let hub = Peersockets::new(Arc::new(Peers::new()));
        assert_eq!(hub.join("").map(|_| ()), Err(JoinError::BadName));
        assert_eq!(
            hub.join(&"x".repeat(MAX_TOPIC_LEN + 1)).map(|_| ()),
            Err(JoinError::BadName)
        );
        let (a, _ra) = hub.join("chat").expect("joined");
        let (b, _rb) = hub.join("chat").expect("joined");
        for i in 1..MAX_TOPICS {
            let _ = hub.join(&format!("t{i}")).expect("joined");
        }
        assert_eq!(hub.join("one-more").map(|_| ()), Err(JoinError::Full));
        hub.leave("chat", a);
        assert!(lock(&hub.inner).topics.contains_key("chat"));
        hub.leave("chat", b);
        assert!(!lock(&hub.inner).topics.contains_key("chat"));
        assert_eq!(lock(&hub.inner).handles, MAX_TOPICS - 1);
        assert!(
            !hub.send("chat", &[0; 32], b"x".to_vec()),
            "no topic, no send"
        );
    }
}
