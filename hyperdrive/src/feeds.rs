//! Access to the corestore's shared feeds: the metadata trie, content reads and appends, and
//! waiting for blocks that peers have not sent yet.
//!
//! A feed is a [`SharedFeed`] (the feed and its replicator behind one mutex), shared with the
//! corestore and its replication sessions. The trie runs over the locked feed for one
//! operation at a time ([`Hypertrie::over`]); its node cache and header live in a
//! [`TrieState`] kept with the metadata core in the corestore ([`corestore::Corestore::attachment`])
//! for as long as the core is loaded, so every handle on a drive, and every lookup through a
//! mount, shares one warm cache. A handle finds that state once, when it opens; a trie
//! operation then touches only its own drive's state, whatever else the process has open.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use corestore::{BoxStorage, Corestore, SharedFeed};
use hypercore::replicate::ReplicateError;
use hypercore::{Feed, PublicKey};
use hypertrie::{
    Get, GetOptions, Header, Hypertrie, IterOptions, Iterate, Node, NodeSource, Operation,
    TrieState, node_block,
};

use crate::error::{Error, Result};
use crate::watch::WatchHub;

/// Header subtype of a drive's metadata trie.
pub(crate) const SUBTYPE: &str = "hyperdrive";

/// The trie over a locked metadata feed, for one operation.
pub(crate) type Trie<'a> = Hypertrie<BoxStorage, &'a mut Feed<BoxStorage>>;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Maps a feed error, naming the feed when a block is missing.
pub(crate) fn feed_error(key: &PublicKey, e: hypercore::Error) -> Error {
    match e {
        hypercore::Error::NotStored(index) => Error::NotStored {
            feed: key.to_hex(),
            index,
        },
        hypercore::Error::NotWritable => Error::NotWritable,
        other => Error::Feed(other),
    }
}

/// Maps a trie error the same way.
pub(crate) fn trie_error(key: &PublicKey, e: hypertrie::Error) -> Error {
    match e {
        hypertrie::Error::NotStored(index) => Error::NotStored {
            feed: key.to_hex(),
            index,
        },
        hypertrie::Error::Feed(f) => feed_error(key, f),
        other => other.into(),
    }
}

/// What a process keeps per loaded metadata core, shared by every handle on the drive: kept
/// with the core in its corestore, so it goes when the store closes the core.
#[derive(Default)]
pub(crate) struct DriveState {
    /// The trie's node cache and header.
    trie: Mutex<TrieState>,
    /// The drive's watchers.
    pub(crate) hub: Arc<WatchHub>,
}

/// A drive's metadata feed together with its [`DriveState`]; derefs to the feed.
#[derive(Clone)]
pub(crate) struct MetaFeed {
    feed: SharedFeed,
    state: Arc<DriveState>,
}

impl MetaFeed {
    /// The feed with the state the store keeps for it (a private one when the store no longer
    /// holds the core: a handle made after the store closed).
    pub(crate) fn new(store: &Corestore, feed: SharedFeed) -> Self {
        let state = store
            .attachment(&feed, DriveState::default)
            .unwrap_or_default();
        MetaFeed { feed, state }
    }

    pub(crate) fn hub(&self) -> &Arc<WatchHub> {
        &self.state.hub
    }
}

impl Deref for MetaFeed {
    type Target = SharedFeed;

    fn deref(&self) -> &SharedFeed {
        &self.feed
    }
}

/// One attempt of `f` over the trie in `feed`: a missing header is `NotStored(0)`.
fn attempt<R>(
    feed: &MetaFeed,
    f: impl FnOnce(&mut Trie<'_>) -> Result<R, hypertrie::Error>,
) -> Result<R, hypertrie::Error> {
    // Lock order everywhere: trie state, then the feed.
    let mut state = lock(&feed.state.trie);
    let mut guard = feed.lock();
    if !guard.has(0) {
        return Err(hypertrie::Error::NotStored(0));
    }
    let mut trie = Hypertrie::over(&mut guard, std::mem::take(&mut *state))?;
    let out = f(&mut trie);
    *state = trie.into_state();
    out
}

/// Runs `f` over the trie in `feed` once; a block that is not stored is [`Error::NotStored`].
/// For writes (which never wait) and for watchers.
pub(crate) fn with_trie<R>(
    feed: &MetaFeed,
    f: impl FnOnce(&mut Trie<'_>) -> Result<R, hypertrie::Error>,
) -> Result<R> {
    attempt(feed, f).map_err(|e| trie_error(feed.key(), e))
}

/// Runs the read `f` over the trie in `feed`. When a node it needs is not stored and `wait`
/// says so, waits for the block from peers and runs `f` again (the nodes it read before are
/// in the cache by then, so a walk costs one wait per missing block).
pub(crate) fn read_trie<R>(
    feed: &MetaFeed,
    wait: Wait,
    mut f: impl FnMut(&mut Trie<'_>) -> Result<R, hypertrie::Error>,
) -> Result<R> {
    loop {
        match attempt(feed, &mut f) {
            Err(hypertrie::Error::NotStored(index)) if wait.applies(feed) => {
                wait.block(feed, index)?;
            }
            other => return other.map_err(|e| trie_error(feed.key(), e)),
        }
    }
}

/// Nodes for one read walk, each under its own short lock of the trie state, and of the feed
/// only to read the block of a node that is not cached (decoded with no lock held): a long walk
/// (the listing of a big directory) lets replication, which needs the feed for every batch of
/// blocks it stores or serves, in between its nodes, and a warm one leaves the feed alone.
/// Blocks below the walk's version never change, so the walk sees one version throughout.
struct NodeByNode<'a> {
    feed: &'a MetaFeed,
}

impl NodeSource for NodeByNode<'_> {
    fn node(&mut self, seq: u64) -> Result<Option<Node>, hypertrie::Error> {
        {
            let mut state = lock(&self.feed.state.trie);
            // A warm walk never locks the feed.
            if let Some(node) = state.cached(seq) {
                return Ok(node);
            }
            if state.header().is_none() {
                // The first read of this trie: the header comes with it.
                let mut guard = self.feed.lock();
                let mut trie = Hypertrie::over(&mut guard, std::mem::take(&mut *state))?;
                let node = trie.get_by_seq(seq);
                *state = trie.into_state();
                return node;
            }
        }
        // A cold node: the feed is locked only to read its block, and no lock is held while
        // it decodes. Another walk may decode the same node meanwhile; both keep equal nodes.
        let block = node_block(&mut self.feed.lock(), seq)?;
        let node = TrieState::decode_node(seq, &block)?;
        Ok(lock(&self.feed.state.trie).keep(node))
    }
}

/// Runs the read operation `make(version)` node by node ([`NodeByNode`]) at `version` (the
/// feed's length when `None`), collecting every result until the operation ends; waits for
/// missing blocks as [`read_trie`] does.
fn read_walk<O: Operation<Output = Option<T>>, T>(
    feed: &MetaFeed,
    wait: Wait,
    version: Option<u64>,
    first_only: bool,
    make: impl Fn(u64) -> O,
) -> Result<Vec<T>> {
    let attempt = || -> Result<Vec<T>, hypertrie::Error> {
        let len = {
            let guard = feed.lock();
            if !guard.has(0) {
                return Err(hypertrie::Error::NotStored(0));
            }
            guard.len()
        };
        let mut op = make(version.unwrap_or(len));
        let mut source = NodeByNode { feed };
        let mut out = Vec::new();
        while let Some(item) = hypertrie::run(&mut op, &mut source)? {
            out.push(item);
            if first_only {
                break;
            }
        }
        Ok(out)
    };
    loop {
        match attempt() {
            Err(hypertrie::Error::NotStored(index)) if wait.applies(feed) => {
                wait.block(feed, index)?;
            }
            other => return other.map_err(|e| trie_error(feed.key(), e)),
        }
    }
}

/// A get at `version` (the newest when `None`), node by node.
pub(crate) fn get_node(
    feed: &MetaFeed,
    wait: Wait,
    version: Option<u64>,
    key: &str,
    options: GetOptions,
) -> Result<Option<Node>> {
    let found = read_walk(feed, wait, version, true, |v| Get::new(key, options, v))?;
    Ok(found.into_iter().next())
}

/// A list at `version` (the newest when `None`), node by node.
pub(crate) fn list_nodes(
    feed: &MetaFeed,
    wait: Wait,
    version: Option<u64>,
    prefix: &str,
    options: IterOptions,
) -> Result<Vec<Node>> {
    read_walk(feed, wait, version, false, |v| {
        Iterate::new(prefix, options, v)
    })
}

/// Whether and how long reads wait for blocks that peers have not sent yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wait(pub(crate) Option<Duration>);

impl Wait {
    /// Waiting is for feeds someone else writes: a block missing from a feed we write will not
    /// come from a peer.
    pub(crate) fn applies(self, feed: &SharedFeed) -> bool {
        self.0.is_some() && !feed.lock().writable()
    }

    /// Waits for block `index` of `feed` (asking peers for it); on timeout a clear error.
    pub(crate) fn block(self, feed: &SharedFeed, index: u64) -> Result<()> {
        let timeout = self.0.unwrap_or_default();
        tracing::trace!(target: "ddrive::wire", feed = %&feed.key().to_hex()[..6], index, "wait for block");
        match feed.get_blocking(index, timeout) {
            Ok(_) => {
                tracing::trace!(target: "ddrive::wire", feed = %&feed.key().to_hex()[..6], index, "block stored");
                Ok(())
            }
            Err(ReplicateError::GetTimeout {
                last_peer_error, ..
            }) => Err(Error::Timeout {
                feed: feed.key().to_hex(),
                index,
                timeout,
                last_peer_error,
            }),
            Err(ReplicateError::Feed(e)) => Err(feed_error(feed.key(), e)),
            Err(other) => Err(Error::Task(other.to_string())),
        }
    }

    /// Runs `f`, waiting for the block and running it again while it fails because a block
    /// of `feed` is not stored.
    pub(crate) fn retry<R>(self, feed: &SharedFeed, mut f: impl FnMut() -> Result<R>) -> Result<R> {
        let hex = feed.key().to_hex();
        loop {
            match f() {
                Err(Error::NotStored { feed: k, index }) if k == hex && self.applies(feed) => {
                    self.block(feed, index)?;
                }
                other => return other,
            }
        }
    }
}

/// Reads and checks block 0.
pub(crate) fn read_header(feed: &mut Feed<BoxStorage>) -> Result<Header> {
    let key = *feed.key();
    let bytes = feed.get(0).map_err(|e| feed_error(&key, e))?;
    let header = Header::decode(&bytes).map_err(|e| Error::BadHeader(e.to_owned()))?;
    if header.kind != "hypertrie" {
        return Err(Error::BadHeader(format!("type is {:?}", header.kind)));
    }
    Ok(header)
}

/// Writes the drive header (content key, subtype `hyperdrive`) into an empty writable feed.
pub(crate) fn init_header(feed: &SharedFeed, content_key: &PublicKey) -> Result<()> {
    let mut guard = feed.lock();
    let key = *guard.key();
    if guard.is_empty() && guard.writable() {
        let header = Header::new(Some(content_key.0.to_vec()), Some(SUBTYPE.to_owned()));
        guard
            .append(&header.encode())
            .map_err(|e| feed_error(&key, e))?;
    }
    Ok(())
}

/// The content key in a drive's header, once block 0 is stored.
pub(crate) fn content_key(feed: &SharedFeed) -> Result<Option<PublicKey>> {
    let mut guard = feed.lock();
    if !guard.has(0) {
        return Ok(None);
    }
    let header = read_header(&mut guard)?;
    let meta = header
        .metadata
        .ok_or_else(|| Error::BadHeader("no content key in the header".into()))?;
    let key = <[u8; 32]>::try_from(meta.as_slice())
        .map_err(|_| Error::BadHeader("the content key is not 32 bytes".into()))?;
    Ok(Some(PublicKey(key)))
}

/// Appends `data` to a content feed in blocks of at most `block` bytes, in one append; an
/// empty buffer is one empty block (as JS's write stream does). Returns (offset, byte offset)
/// where the blocks start.
pub(crate) fn append_content(
    feed: &mut Feed<BoxStorage>,
    chunks: &[&[u8]],
    block: usize,
) -> Result<()> {
    let key = *feed.key();
    let mut blocks: Vec<&[u8]> = Vec::new();
    for chunk in chunks {
        if chunk.is_empty() {
            blocks.push(chunk);
        } else {
            blocks.extend(chunk.chunks(block));
        }
    }
    if blocks.is_empty() {
        return Ok(());
    }
    feed.append_batch(&blocks)
        .map_err(|e| feed_error(&key, e))?;
    Ok(())
}
