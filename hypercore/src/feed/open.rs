//! Opening a feed: keys, headers, the bitfield, and the length a crash left us.

use super::{Feed, Tracked, read_node, read_signature};
use crate::bitfield::{Bitfield, DEFAULT_PAGE_SIZE};
use crate::crypto::{self, KeyPair, PublicKey, SecretKey};
use crate::error::{Error, Result};
use crate::flat_tree;
use crate::node::Node;
use crate::storage::{Storage, Store, header};
use crate::tree::index::{self, Bits};
use crate::tree::merkle::MerkleGenerator;
use crate::tree::node_cache::NodeCache;

/// Options for opening a feed; [`Feed::builder`] makes one.
#[derive(Debug)]
#[must_use]
pub struct FeedBuilder<S> {
    storage: S,
    key: Option<PublicKey>,
    key_pair: Option<KeyPair>,
    create: bool,
    store_secret_key: bool,
    overwrite: bool,
}

impl<S: Storage> FeedBuilder<S> {
    /// Defaults: create if missing, with a fresh key pair, storing the secret key.
    pub fn new(storage: S) -> Self {
        FeedBuilder {
            storage,
            key: None,
            key_pair: None,
            create: true,
            store_secret_key: true,
            overwrite: false,
        }
    }

    /// Open the feed of this public key (read-only unless its secret key is stored).
    pub fn key(mut self, key: PublicKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Open or create the feed of this key pair, writable.
    pub fn key_pair(mut self, key_pair: KeyPair) -> Self {
        self.key = Some(key_pair.public);
        self.key_pair = Some(key_pair);
        self
    }

    /// Whether to create a feed when nothing is stored (default true).
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Whether to write the `secret_key` file (default true; corestore's derived feeds do not).
    pub fn store_secret_key(mut self, store: bool) -> Self {
        self.store_secret_key = store;
        self
    }

    /// Discard a stored feed that has blocks but no `key` file instead of failing (JS does this
    /// silently; we only do it when asked).
    pub fn overwrite_keyless(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Opens (or creates) the feed.
    pub fn open(self) -> Result<Feed<S>> {
        let FeedBuilder {
            mut storage,
            key,
            key_pair,
            create,
            store_secret_key,
            overwrite,
        } = self;

        let (page_size, mut pages) = read_bitfield(&mut storage)?;
        let holds_blocks = pages.iter().any(|p| p.iter().any(|b| *b != 0));
        // Creating a feed writes the secret key, then the public key; a crash tearing either
        // before any block was stored leaves a feed that never existed, so it starts over...
        let file_key = match read_fixed::<32, S>(&mut storage, Store::Key) {
            Err(Error::Corrupt { .. }) if !holds_blocks => None,
            read => read?.map(PublicKey),
        };
        let stored_secret = match read_fixed::<64, S>(&mut storage, Store::SecretKey) {
            Err(Error::Corrupt { .. }) if file_key.is_none() && !holds_blocks => None,
            read => read?.map(SecretKey),
        };
        // ...keeping its identity when the secret key made it: it ends with the public key.
        let stored_key = match file_key {
            None if !holds_blocks => stored_secret.as_ref().and_then(|secret| {
                let mut public = [0u8; 32];
                public.copy_from_slice(&secret.0[32..]);
                KeyPair::from_secret(PublicKey(public), secret.clone()).map(|p| p.public)
            }),
            key => key,
        };
        if let (Some(stored), Some(wanted)) = (stored_key, key)
            && stored != wanted
        {
            return Err(Error::WrongKey {
                stored: stored.to_hex(),
                expected: wanted.to_hex(),
            });
        }

        if stored_key.is_none() && holds_blocks {
            if !overwrite {
                return Err(Error::corrupt(
                    Store::Key,
                    "missing, but the feed holds blocks",
                ));
            }
            pages.clear();
            storage
                .truncate(Store::Bitfield, header::HEADER_LEN)
                .map_err(Error::io(Store::Bitfield))?;
        }

        let mut generated = false;
        let (key, key_pair) = match (key_pair, key.or(stored_key)) {
            (Some(pair), _) => (pair.public, Some(pair)),
            (None, Some(key)) => {
                let pair = match stored_secret.clone() {
                    Some(secret) => {
                        Some(KeyPair::from_secret(key, secret).ok_or(Error::KeyMismatch)?)
                    }
                    None => None,
                };
                (key, pair)
            }
            (None, None) if create => {
                generated = true;
                let pair = KeyPair::generate();
                (pair.public, Some(pair))
            }
            (None, None) => return Err(Error::NotFound),
        };

        // JS rewrites the three headers on every open. New files make the next flush sync.
        let mut fresh =
            storage.len(Store::Tree).map_err(Error::io(Store::Tree))? < header::HEADER_LEN;
        let page_header = u16::try_from(page_size).unwrap_or(u16::MAX);
        write(
            &mut storage,
            Store::Bitfield,
            0,
            &header::bitfield(page_header),
        )?;
        write(&mut storage, Store::Signatures, 0, &header::signatures())?;
        write(&mut storage, Store::Tree, 0, &header::tree())?;
        // Secret before public key, synced in between: a crash then never leaves a public key
        // without its secret, so the next open starts over or keeps the writer's identity.
        if let Some(pair) = &key_pair
            && store_secret_key
            && (generated || stored_secret.as_ref() != Some(&pair.secret))
        {
            write(&mut storage, Store::SecretKey, 0, pair.secret.as_bytes())?;
            storage.sync().map_err(Error::io(Store::SecretKey))?;
        }
        if generated || file_key != Some(key) {
            write(&mut storage, Store::Key, 0, key.as_bytes())?;
            fresh = true;
        }

        let bitfield = Bitfield::new(page_size, pages);
        let mut feed = Feed {
            storage: Tracked::new(storage, fresh),
            key,
            key_pair,
            length: 0,
            byte_length: 0,
            live: true,
            bitfield,
            merkle: None,
            nodes: NodeCache::new(),
            signed_roots: None,
        };
        feed.recover()?;
        Ok(feed)
    }
}

impl<S: Storage> Feed<S> {
    /// Sets length, byte length and roots from the tree bits, as JS does; for a feed we write,
    /// goes back to the last length that is signed and has its roots and its data, so a crash
    /// mid-append costs that append and nothing else.
    fn recover(&mut self) -> Result<()> {
        let tree_length = index::blocks(&self.bitfield);
        let (length, roots, live) = if self.writable() {
            self.last_complete_length(tree_length)?
        } else {
            self.js_length(tree_length)?
        };
        if self.writable() {
            if length < tree_length {
                tracing::warn!(
                    tree_length,
                    length,
                    "feed was cut short by a crash; recovered"
                );
                self.forget_beyond(length, tree_length);
            }
            // A parent's tree bit vouches for its whole subtree, so a torn or cut bitfield can
            // leave a length whose later leaves lost their bits: the writer could not prove
            // those blocks, and the next open would find a shorter feed. Their bits come back.
            if length > 0 && (length < tree_length || !Bits::get(&self.bitfield, 2 * length - 2)) {
                self.mark_tree(length);
            }
            // Cut bits must be durable before appends overwrite what they claimed; bits put
            // back wait for the next flush like any other.
            if length < tree_length {
                self.flush()?;
            }
        }
        self.length = length;
        self.live = live;
        self.byte_length = Node::total_size(&roots)
            .ok_or_else(|| Error::corrupt(Store::Tree, "root sizes overflow"))?;
        self.merkle = Some(MerkleGenerator::new(roots));
        Ok(())
    }

    /// JS's rule: the tree length, live if its last slot is signed, one step back if a root is
    /// missing.
    fn js_length(&mut self, tree_length: u64) -> Result<(u64, Vec<Node>, bool)> {
        let mut length = tree_length;
        for attempt in 0..2 {
            let live = length == 0 || read_signature(&mut self.storage, length - 1)?.is_some();
            match self.stored_roots(length)? {
                Some(roots) => return Ok((length, roots, live)),
                None if attempt == 0 && length > 0 => length -= 1,
                None => break,
            }
        }
        Err(Error::corrupt(
            Store::Tree,
            format!("roots of length {length} are missing"),
        ))
    }

    fn last_complete_length(&mut self, tree_length: u64) -> Result<(u64, Vec<Node>, bool)> {
        let data_len = self
            .storage
            .len(Store::Data)
            .map_err(Error::io(Store::Data))?;
        let mut length = tree_length;
        while length > 0 {
            // The last leaf too: a `tree` file cut short can keep the roots but lose leaves.
            if let Some(sig) = read_signature(&mut self.storage, length - 1)?
                && let Some(roots) = self.stored_roots(length)?
                && read_node(&mut self.storage, 2 * (length - 1))?.is_some()
                && let Some(bytes) = self.stored_data_end(length, &roots)?
                && bytes <= data_len
                && crypto::verify_roots(&self.key, &roots, length, &sig)
            {
                return Ok((length, roots, true));
            }
            length -= 1;
        }
        Ok((0, Vec::new(), true))
    }

    /// How long `data` must be for a feed of `length` with these roots: up to the end of the
    /// last block still marked stored, because `clear` frees the bytes of a cleared tail (as
    /// JS does) and that is no crash. `None` when a tree node on the way is missing.
    fn stored_data_end(&mut self, length: u64, roots: &[Node]) -> Result<Option<u64>> {
        let mut last = length;
        while last > 0 && !self.bitfield.get(last - 1) {
            last -= 1;
        }
        // Sizes that overflow cannot be a length we wrote: not complete either.
        if last == length {
            return Ok(Node::total_size(roots));
        }
        let mut end = 0u64;
        for r in flat_tree::full_roots(2 * last) {
            match read_node(&mut self.storage, r)? {
                Some(node) => match end.checked_add(node.size) {
                    Some(sum) => end = sum,
                    None => return Ok(None),
                },
                None => return Ok(None),
            }
        }
        Ok(Some(end))
    }

    fn stored_roots(&mut self, length: u64) -> Result<Option<Vec<Node>>> {
        let mut roots = Vec::new();
        for r in flat_tree::full_roots(2 * length) {
            match read_node(&mut self.storage, r)? {
                Some(node) => roots.push(node),
                None => return Ok(None),
            }
        }
        Ok(Some(roots))
    }

    /// Sets the tree bit of every node of a feed of `length` blocks: each leaf, and each parent
    /// whose rightmost leaf it is.
    fn mark_tree(&mut self, length: u64) {
        for block in 0..length {
            let mut node = 2 * block;
            Bits::put(&mut self.bitfield, node, true);
            while !flat_tree::is_left(node) {
                node = flat_tree::parent(node);
                Bits::put(&mut self.bitfield, node, true);
            }
        }
    }

    /// Clears the data and tree bits past `length` that a cut-short append left behind.
    fn forget_beyond(&mut self, length: u64, tree_length: u64) {
        if length < tree_length {
            index::truncate(&mut self.bitfield, 2 * length);
        }
        // Only allocated pages can hold a set bit: the pager's length may be far larger.
        let pages: Vec<u64> = self
            .bitfield
            .pager
            .allocated_pages()
            .map(|p| p as u64)
            .collect();
        for page in pages {
            let (data_bits, tree_bits) = (8 * 1024, 8 * 2048);
            for i in (page * data_bits).max(length)..(page + 1) * data_bits {
                if self.bitfield.get(i) {
                    self.bitfield.set(i, false);
                }
            }
            for i in (page * tree_bits).max(2 * length)..(page + 1) * tree_bits {
                if Bits::get(&self.bitfield, i) {
                    self.bitfield.put(i, false);
                }
            }
        }
    }
}

fn write<S: Storage>(storage: &mut S, store: Store, offset: u64, data: &[u8]) -> Result<()> {
    storage
        .write_at(store, offset, data)
        .map_err(Error::io(store))
}

/// Reads a key file: `None` when absent or empty, an error when cut short.
fn read_fixed<const N: usize, S: Storage>(
    storage: &mut S,
    store: Store,
) -> Result<Option<[u8; N]>> {
    let len = storage.len(store).map_err(Error::io(store))?;
    if len == 0 {
        return Ok(None);
    }
    let mut buf = [0u8; N];
    let n = storage
        .read_at(store, 0, &mut buf)
        .map_err(Error::io(store))?;
    if n < N {
        return Err(Error::corrupt(store, format!("{n} bytes, expected {N}")));
    }
    Ok(Some(buf))
}

/// The page size from the header (3584 when there is none) and the pages after it.
fn read_bitfield<S: Storage>(storage: &mut S) -> Result<(usize, Vec<Vec<u8>>)> {
    let store = Store::Bitfield;
    let len = storage.len(store).map_err(Error::io(store))?;
    let mut page_size = DEFAULT_PAGE_SIZE;
    if len >= header::HEADER_LEN {
        let mut head = [0u8; header::HEADER_LEN as usize];
        storage
            .read_at(store, 0, &mut head)
            .map_err(Error::io(store))?;
        if let Some(size) = header::page_size(&head) {
            page_size = usize::from(size);
        }
    }
    // The index region after 1024 data and 2048 tree bytes must be a power of two.
    let index_size = page_size.saturating_sub(3072);
    if index_size == 0 || !index_size.is_power_of_two() {
        return Err(Error::corrupt(
            store,
            format!("page size {page_size} in header"),
        ));
    }
    let mut pages = Vec::new();
    let mut offset = header::HEADER_LEN;
    while offset < len {
        let want = (page_size as u64).min(len - offset) as usize;
        let mut page = vec![0u8; want];
        let n = storage
            .read_at(store, offset, &mut page)
            .map_err(Error::io(store))?;
        page.truncate(n);
        pages.push(page);
        offset += want as u64;
    }
    Ok((page_size, pages))
}
