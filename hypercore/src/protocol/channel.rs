//! The channel table: one entry per discovery key, bound to my local id and the remote's id.

use std::collections::HashMap;

use super::extensions::Extensions;

/// A feed's channel within a session.
#[derive(Default)]
pub(crate) struct Channel {
    /// The feed key, known once we opened the channel ourselves.
    pub key: Option<[u8; 32]>,
    /// My id for the channel while I have it open.
    pub local_id: Option<u64>,
    /// The remote's id while it has it open.
    pub remote_id: Option<u64>,
    /// The capability of the remote's `Open` (always 32 bytes: other lengths end the session).
    pub remote_capability: Option<[u8; 32]>,
    /// Channel-level (feed) extensions.
    pub extensions: Extensions,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The feed key is the read capability of the feed: never printed.
        f.debug_struct("Channel")
            .field("key", &self.key.map(|_| "<redacted>"))
            .field("local_id", &self.local_id)
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

/// All channels of a session. Local ids are never reused, as in JS (its allocator always
/// appends), so ids only grow.
#[derive(Debug)]
pub(crate) struct Channels {
    by_key: HashMap<[u8; 32], Channel>,
    local: HashMap<u64, [u8; 32]>,
    remote: HashMap<u64, [u8; 32]>,
    next_local: u64,
}

impl Default for Channels {
    fn default() -> Self {
        // Channel 0 is reserved for stream-level messages.
        Channels {
            by_key: HashMap::new(),
            local: HashMap::new(),
            remote: HashMap::new(),
            next_local: 1,
        }
    }
}

impl Channels {
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn get(&self, dk: &[u8; 32]) -> Option<&Channel> {
        self.by_key.get(dk)
    }

    pub fn get_mut(&mut self, dk: &[u8; 32]) -> Option<&mut Channel> {
        self.by_key.get_mut(dk)
    }

    pub fn get_or_create(&mut self, dk: [u8; 32]) -> &mut Channel {
        self.by_key.entry(dk).or_default()
    }

    /// A fresh local id (also used for `Close{discoveryKey}` of a feed never opened).
    pub fn alloc_local(&mut self) -> u64 {
        let id = self.next_local;
        self.next_local += 1;
        id
    }

    pub fn attach_local(&mut self, dk: [u8; 32]) -> u64 {
        let id = self.alloc_local();
        self.local.insert(id, dk);
        self.get_or_create(dk).local_id = Some(id);
        id
    }

    /// Binds the remote's channel `id` to `dk`; `false` (and nothing changed) when `id` still
    /// names another open channel: a peer must close an id before reusing it.
    pub fn attach_remote(&mut self, dk: [u8; 32], id: u64) -> bool {
        if self.remote.get(&id).is_some_and(|other| *other != dk) {
            return false;
        }
        let ch = self.by_key.entry(dk).or_default();
        if let Some(old) = ch.remote_id.replace(id)
            && old != id
        {
            self.remote.remove(&old);
        }
        self.remote.insert(id, dk);
        true
    }

    /// The discovery key the remote's channel `id` refers to.
    pub fn by_remote(&self, id: u64) -> Option<[u8; 32]> {
        self.remote.get(&id).copied()
    }

    pub fn forget_remote(&mut self, id: u64) {
        if let Some(dk) = self.remote.remove(&id)
            && let Some(ch) = self.by_key.get_mut(&dk)
            && ch.remote_id == Some(id)
        {
            ch.remote_id = None;
        }
    }

    /// Removes the channel and both of its ids.
    pub fn remove(&mut self, dk: &[u8; 32]) -> Option<Channel> {
        let ch = self.by_key.remove(dk)?;
        if let Some(id) = ch.local_id {
            self.local.remove(&id);
        }
        if let Some(id) = ch.remote_id {
            self.remote.remove(&id);
        }
        Some(ch)
    }

    pub fn clear(&mut self) {
        self.by_key.clear();
        self.local.clear();
        self.remote.clear();
    }
}
