//! Stream-level extensions for one replication session (JS `stream.registerExtension`): names
//! announced on channel 0, messages to and from the one peer at the other end of the stream.

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::error::ReplicateError;

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
    pub(crate) outgoing: UnboundedReceiver<(String, Vec<u8>)>,
    pub(crate) incoming: UnboundedSender<StreamExtensionMessage>,
}

/// Sends stream extension messages into a running session; cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamExtensionSender {
    names: Vec<String>,
    tx: UnboundedSender<(String, Vec<u8>)>,
}

impl StreamExtensionSender {
    /// Sends `payload` under `name` (JS `ext.send(message)`). Our names are announced first
    /// with an `Options` on channel 0 whenever they changed since the last announcement, as JS.
    pub fn send(&self, name: &str, payload: &[u8]) -> Result<(), ReplicateError> {
        if !self.names.iter().any(|n| n == name) {
            return Err(ReplicateError::UnknownExtension(name.into()));
        }
        self.tx
            .send((name.to_owned(), payload.to_vec()))
            .map_err(|_| ReplicateError::SessionEnded)
    }
}

/// Stream extensions named `names` for one session: pass the first value to
/// [`replicate_with_extensions`](super::replicate_with_extensions), send with the second and
/// receive with the third (messages of names not registered here are ignored, as in JS).
pub fn stream_extensions<N: AsRef<str>>(
    names: &[N],
) -> Result<
    (
        StreamExtensions,
        StreamExtensionSender,
        UnboundedReceiver<StreamExtensionMessage>,
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
    let (out_tx, out_rx) = unbounded_channel();
    let (in_tx, in_rx) = unbounded_channel();
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
