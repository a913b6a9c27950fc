//! Stream-level extensions for one replication session (JS `stream.registerExtension`): names
//! announced on channel 0, messages to and from the one peer at the other end of the stream.
//!
//! Both queues are bounded ([`EXTENSION_QUEUE`] messages). Sending into a full queue fails with
//! [`ReplicateError::Backlog`] (the session writes them as the transport drains; try again
//! later). Messages from the peer that arrive while the application's receiver is full are
//! dropped and logged: a slow application never stalls replication or grows memory, and
//! extension messages are best-effort (JS gives no delivery guarantee either).

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender, channel};

use super::error::ReplicateError;

/// Messages each extension queue holds (stream extensions, and each feed extension's receiver).
pub const EXTENSION_QUEUE: usize = 256;

/// A message of a stream extension, from the peer at the other end of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamExtensionMessage {
    /// The extension name.
    pub name: String,
    /// The payload, as the extension encodes it.
    pub payload: Vec<u8>,
}

/// What [`replicate_with_extensions`](super::replicate_with_extensions) takes: the names to
/// register on the session and the ends of its message queues. Made by [`stream_extensions`].
#[derive(Debug)]
pub struct StreamExtensions {
    pub(crate) names: Vec<String>,
    pub(crate) outgoing: Receiver<(String, Vec<u8>)>,
    pub(crate) incoming: Sender<StreamExtensionMessage>,
}

/// Sends stream extension messages into a running session; cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamExtensionSender {
    names: Vec<String>,
    tx: Sender<(String, Vec<u8>)>,
}

impl StreamExtensionSender {
    /// Sends `payload` under `name` (JS `ext.send(message)`). Our names are announced first
    /// with an `Options` on channel 0 whenever they changed since the last announcement, as JS.
    /// [`ReplicateError::Backlog`] when [`EXTENSION_QUEUE`] messages wait to be written already.
    pub fn send(&self, name: &str, payload: &[u8]) -> Result<(), ReplicateError> {
        if !self.names.iter().any(|n| n == name) {
            return Err(ReplicateError::UnknownExtension(name.into()));
        }
        self.tx
            .try_send((name.to_owned(), payload.to_vec()))
            .map_err(|e| match e {
                TrySendError::Full(_) => ReplicateError::Backlog {
                    limit: EXTENSION_QUEUE,
                },
                TrySendError::Closed(_) => ReplicateError::SessionEnded,
            })
    }
}

/// Stream extensions named `names` for one session: pass the first value to
/// [`replicate_with_extensions`](super::replicate_with_extensions), send with the second and
/// receive with the third (messages of names not registered here are ignored, as in JS; at most
/// [`EXTENSION_QUEUE`] wait there, and later ones are dropped until the application reads).
pub fn stream_extensions<N: AsRef<str>>(
    names: &[N],
) -> Result<
    (
        StreamExtensions,
        StreamExtensionSender,
        Receiver<StreamExtensionMessage>,
    ),
    ReplicateError,
> {
    let mut list: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        let n = n.as_ref();
        if list.iter().any(|m| m == n) {
            return Err(ReplicateError::DuplicateExtension(n.into()));
        }
        list.push(n.to_owned());
    }
    let (out_tx, out_rx) = channel(EXTENSION_QUEUE);
    let (in_tx, in_rx) = channel(EXTENSION_QUEUE);
    let ext = StreamExtensions {
        names: list.clone(),
        outgoing: out_rx,
        incoming: in_tx,
    };
    let sender = StreamExtensionSender {
        names: list,
        tx: out_tx,
    };
    Ok((ext, sender, in_rx))
}
