//! Access to the corestore's shared feeds: the metadata trie and content reads and appends.
//!
//! `hypertrie::Hypertrie` owns its `Feed`, while the corestore hands out
//! `Arc<Mutex<Feed>>` handles. Until the trie crate can run over a shared handle, each trie
//! operation locks the feed, moves it out of the mutex (leaving an empty read-only
//! placeholder with the same key), wraps it in a `Hypertrie` for the duration of the call and
//! moves it back. The lock is held throughout, so nobody ever sees the placeholder; the price
//! is a cold node cache and one header read per operation.

use std::sync::{Mutex, MutexGuard, PoisonError};

use corestore::{BoxStorage, SharedFeed};
use hypercore::{Feed, MemoryStorage, PublicKey};
use hypertrie::{Header, Hypertrie, OpenOptions};

use crate::error::{Error, Result};

/// Header subtype of a drive's metadata trie.
pub(crate) const SUBTYPE: &str = "hyperdrive";

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

/// Runs `f` over the trie in `feed`. The header must already be there (see [`init_header`]).
pub(crate) fn with_trie<R>(
    feed: &SharedFeed,
    f: impl FnOnce(&mut Hypertrie<BoxStorage>) -> Result<R, hypertrie::Error>,
) -> Result<R> {
    let mut guard = lock(feed);
    let key = *guard.key();
    // Check the header first: the only way `open_with` can then fail is an I/O error reading
    // block 0 again, which is the one case that would lose the feed from the store.
    if !guard.has(0) {
        return Err(Error::NotStored {
            feed: key.to_hex(),
            index: 0,
        });
    }
    read_header(&mut guard)?;
    let placeholder: Feed<BoxStorage> = Feed::builder(Box::new(MemoryStorage::new()) as BoxStorage)
        .key(key)
        .open()
        .map_err(|e| feed_error(&key, e))?;
    let real = std::mem::replace(&mut *guard, placeholder);
    let mut trie =
        Hypertrie::open_with(real, OpenOptions::default()).map_err(|e| trie_error(&key, e))?;
    let out = f(&mut trie);
    *guard = trie.into_feed();
    out.map_err(|e| trie_error(&key, e))
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
    let mut guard = lock(feed);
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
    let mut guard = lock(feed);
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
