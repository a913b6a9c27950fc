//! [`Drive`]: a metadata trie plus a content feed in a corestore, and how it is opened.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use corestore::{Corestore, SharedFeed};
use hypercore::PublicKey;
use hypertrie::{GetOptions, IterOptions, Node};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::fd::FdTable;
use crate::feeds::{self, MetaFeed, Wait};
use crate::watch::WatchHub;

/// Largest content block: writes are cut into pieces of this size (hyperdrive's
/// `WRITE_STREAM_BLOCK_SIZE`, 512 KiB).
pub const BLOCK_SIZE: usize = 524_288;

/// How random-access writes and appends are stored (see the crate docs, "Random-access
/// writes").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// Every file stays one contiguous run of content blocks, so Node reads it: an append to
    /// the file that ends the content feed extends its run in place, any other edit rewrites
    /// the whole file (copy-on-write, as Node does).
    #[default]
    Compatible,
    /// Only the written bytes are appended; a file that is no longer one run gets an extent
    /// record in its Stat's metadata (key [`crate::EXTENTS_KEY`]) that Node ignores, so Node
    /// reads wrong bytes for such files.
    Extents,
}

/// How a drive is opened.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DriveOptions {
    /// Where Stat times come from (default: the system clock).
    pub clock: Clock,
    /// How random-access writes are stored (default: [`WriteMode::Compatible`]).
    pub write_mode: WriteMode,
    /// How long a read waits for a block of a feed someone else writes (a remote drive) to
    /// arrive from peers before failing with [`Error::Timeout`] (ETIMEDOUT); `None`: never
    /// wait, fail at once with [`Error::NotStored`] (EAGAIN). Default
    /// [`DEFAULT_BLOCK_TIMEOUT`]. Blocks of feeds this store writes never wait.
    pub block_timeout: Option<Duration>,
}

/// How long reads of a remote drive wait for a block by default (hypercore's
/// [`hypercore::replicate::DEFAULT_GET_TIMEOUT`]).
pub const DEFAULT_BLOCK_TIMEOUT: Duration = hypercore::replicate::DEFAULT_GET_TIMEOUT;

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            clock: Clock::default(),
            write_mode: WriteMode::default(),
            block_timeout: Some(DEFAULT_BLOCK_TIMEOUT),
        }
    }
}

impl DriveOptions {
    /// Sets [`DriveOptions::clock`].
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets [`DriveOptions::write_mode`].
    pub fn write_mode(mut self, mode: WriteMode) -> Self {
        self.write_mode = mode;
        self
    }

    /// Sets [`DriveOptions::block_timeout`].
    pub fn block_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.block_timeout = timeout;
        self
    }
}

/// A hyperdrive 10: a versioned filesystem over two hypercores of a [`Corestore`].
///
/// The handle is cheap to clone; clones share the feeds. Every method is synchronous and
/// short-locked (see [`crate::AsyncDrive`] for the tokio surface). A drive opened by a key
/// whose secret the store cannot derive is read-only, as is every [`Drive::checkout`].
#[derive(Clone)]
pub struct Drive {
    pub(crate) store: Arc<Corestore>,
    pub(crate) metadata: MetaFeed,
    pub(crate) key: PublicKey,
    /// The content feed, once the header naming it is stored (shared by clones, so a handle
    /// made before the header arrived sees it too).
    pub(crate) content: Arc<OnceLock<SharedFeed>>,
    /// A checkout's version; `None` for the live drive.
    pub(crate) checkout: Option<u64>,
    pub(crate) clock: Clock,
    pub(crate) write_mode: WriteMode,
    /// How reads wait for blocks from peers.
    pub(crate) wait: Wait,
    /// Open file descriptors, shared by clones of this handle.
    pub(crate) fds: Arc<FdTable>,
    /// Watchers of the metadata feed, shared by every handle on it.
    pub(crate) hub: Arc<WatchHub>,
}

impl fmt::Debug for Drive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drive")
            .field("key", &self.key)
            .field("checkout", &self.checkout)
            .finish_non_exhaustive()
    }
}

impl Drive {
    /// The drive of this store view: its default feed (named `"default"`, or the namespace)
    /// is the metadata feed. Creates the drive (header and content feed) when the feed is new.
    pub fn create(store: Arc<Corestore>, options: DriveOptions) -> Result<Self> {
        let metadata = store.default_feed()?;
        Self::from_metadata(store, metadata, options)
    }

    /// The drive whose metadata feed has public key `key`: writable when the store can derive
    /// its secret (its folder names the core), read-only otherwise.
    pub fn open(store: Arc<Corestore>, key: &PublicKey, options: DriveOptions) -> Result<Self> {
        let metadata = store.get_by_key(key)?;
        Self::from_metadata(store, metadata, options)
    }

    fn from_metadata(
        store: Arc<Corestore>,
        metadata: SharedFeed,
        options: DriveOptions,
    ) -> Result<Self> {
        let (key, fresh) = {
            let feed = metadata.lock();
            (*feed.key(), feed.is_empty() && feed.writable())
        };
        if fresh {
            // As JS `initialize()`: the content core is named after the metadata key.
            let content = store.get_by_name(format!("{}-content", key.to_hex()))?;
            let content_key = *content.lock().key();
            feeds::init_header(&metadata, &content_key)?;
        }
        let metadata = MetaFeed::new(&store, metadata);
        let hub = Arc::clone(metadata.hub());
        let drive = Drive {
            store,
            metadata,
            key,
            content: Arc::default(),
            checkout: None,
            clock: options.clock,
            write_mode: options.write_mode,
            wait: Wait(options.block_timeout),
            fds: Arc::default(),
            hub,
        };
        drive.load_content()?;
        Ok(drive)
    }

    /// The metadata feed's public key: the drive's key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The discovery key peers find the drive by.
    pub fn discovery_key(&self) -> [u8; 32] {
        self.key.discovery_key()
    }

    /// The version: the metadata feed length (1 for an empty drive), or the checkout's.
    pub fn version(&self) -> u64 {
        self.checkout.unwrap_or_else(|| self.metadata.lock().len())
    }

    /// Whether this handle can write: the live drive of a metadata feed we can sign.
    pub fn writable(&self) -> bool {
        self.checkout.is_none() && self.metadata.lock().writable()
    }

    /// The metadata feed.
    pub fn metadata_feed(&self) -> &SharedFeed {
        &self.metadata
    }

    /// The content feed, once the header naming it is stored locally.
    pub fn content_feed(&self) -> Option<&SharedFeed> {
        self.content
            .get()
            .or_else(|| self.load_content().ok().flatten())
    }

    /// How long reads wait for blocks from peers (see [`DriveOptions::block_timeout`]).
    pub fn block_timeout(&self) -> Option<Duration> {
        self.wait.0
    }

    /// The content feed if the header is stored: opened from the store (which adds it to the
    /// store's replication sessions) the first time.
    pub(crate) fn load_content(&self) -> Result<Option<&SharedFeed>> {
        if let Some(feed) = self.content.get() {
            return Ok(Some(feed));
        }
        let Some(content_key) = feeds::content_key(&self.metadata)? else {
            return Ok(None);
        };
        let feed = self.store.get_by_key(&content_key)?;
        Ok(Some(self.content.get_or_init(|| feed)))
    }

    /// Makes every change written so far durable: the drive's feeds, its mounts' and those of
    /// any other drive of the same store (one grouped [`Corestore::flush`]: only feeds written
    /// since the last flush sync, so calling it per request costs nothing when nothing changed).
    pub fn flush(&self) -> Result<()> {
        Ok(self.store.flush()?)
    }

    /// The corestore the drive (and its mounts) live in.
    pub fn corestore(&self) -> &Arc<Corestore> {
        &self.store
    }

    /// A read-only view of the drive at `version` (0 reads as 1, the empty drive).
    pub fn checkout(&self, version: u64) -> Drive {
        Drive {
            checkout: Some(version.max(1)),
            ..self.clone()
        }
    }

    /// How random-access writes are stored.
    pub fn write_mode(&self) -> WriteMode {
        self.write_mode
    }

    /// The clock Stat times come from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The content feed; for a drive whose header has not arrived, waits for it as reads
    /// wait for any block.
    pub(crate) fn content(&self) -> Result<&SharedFeed> {
        if let Some(feed) = self.load_content()? {
            return Ok(feed);
        }
        if self.wait.applies(&self.metadata) {
            self.wait.block(&self.metadata, 0)?;
            if let Some(feed) = self.load_content()? {
                return Ok(feed);
            }
        }
        Err(Error::NotStored {
            feed: self.key.to_hex(),
            index: 0,
        })
    }

    pub(crate) fn ensure_writable(&self) -> Result<()> {
        if self.writable() {
            Ok(())
        } else {
            Err(Error::NotWritable)
        }
    }

    /// Another drive of the same store (a mount), at `version` when pinned.
    pub(crate) fn sibling(&self, key: &PublicKey, version: Option<u64>) -> Result<Drive> {
        let drive = if *key == self.key {
            self.clone()
        } else {
            Drive::open(
                Arc::clone(&self.store),
                key,
                DriveOptions {
                    clock: self.clock.clone(),
                    write_mode: self.write_mode,
                    block_timeout: self.wait.0,
                },
            )?
        };
        Ok(match version {
            Some(v) => drive.checkout(v),
            None => Drive {
                checkout: None,
                ..drive
            },
        })
    }

    /// A trie get at this handle's version (node by node: the feed is not held across it).
    pub(crate) fn trie_get(&self, key: &str, options: GetOptions) -> Result<Option<Node>> {
        feeds::get_node(&self.metadata, self.wait, self.checkout, key, options)
    }

    /// A trie list at this handle's version (node by node: the feed is not held across it).
    pub(crate) fn trie_list(&self, prefix: &str, options: IterOptions) -> Result<Vec<Node>> {
        feeds::list_nodes(&self.metadata, self.wait, self.checkout, prefix, options)
    }
}
