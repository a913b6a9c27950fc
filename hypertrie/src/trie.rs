//! [`Hypertrie`]: the step machines driven over a local [`hypercore::Feed`].

use std::borrow::BorrowMut;
use std::fmt;
use std::marker::PhantomData;

use hypercore::{Feed, Storage};

use crate::cache::{DEFAULT_CACHE_BYTES, NodeCache};
use crate::error::{ConditionError, Error, Result};
use crate::message::{HEADER_TYPE, Header};
use crate::node::Node;
use crate::ops::Head;
use crate::ops::batch::{Batch, BatchOp};
use crate::ops::del::{Del, DelPlan};
use crate::ops::diff::{Diff, DiffEntry, DiffOptions};
use crate::ops::get::{Get, GetOptions};
use crate::ops::history::{History, HistoryOptions};
use crate::ops::iterator::{IterOptions, Iterate};
use crate::ops::put::{PendingNode, Put, PutPlan};
use crate::source::{NodeSource, Operation, run};

/// How [`Hypertrie::open_with`] creates or opens a trie.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Header metadata written when the feed is new (hyperdrive: the content feed key).
    pub metadata: Option<Vec<u8>>,
    /// Header subtype written when the feed is new (`"hyperdrive"`, …).
    pub subtype: Option<String>,
    /// Byte budget of the decoded-node cache.
    pub cache_bytes: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            metadata: None,
            subtype: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

impl OpenOptions {
    /// Sets [`OpenOptions::metadata`].
    pub fn metadata(mut self, metadata: impl Into<Vec<u8>>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    /// Sets [`OpenOptions::subtype`].
    pub fn subtype(mut self, subtype: impl Into<String>) -> Self {
        self.subtype = Some(subtype.into());
        self
    }

    /// Sets [`OpenOptions::cache_bytes`].
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }
}

type PutCondition<'a> = Box<dyn FnMut(Option<&Node>, &Node) -> Result<bool, ConditionError> + 'a>;
type DelCondition<'a> = Box<dyn FnMut(Option<&Node>) -> Result<bool, ConditionError> + 'a>;

/// Options of [`Hypertrie::put_with`].
#[derive(Default)]
#[non_exhaustive]
pub struct PutOptions<'a> {
    /// Put in the hidden subtree.
    pub hidden: bool,
    /// User flags (stored shifted left by 8; keep them under 2^23 for JS readers).
    pub flags: u64,
    /// Hand the condition the node the walk ended at even when its key differs.
    pub closest: bool,
    condition: Option<PutCondition<'a>>,
}

impl<'a> PutOptions<'a> {
    /// Sets [`PutOptions::hidden`].
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// Sets [`PutOptions::flags`].
    pub fn flags(mut self, flags: u64) -> Self {
        self.flags = flags;
        self
    }

    /// Sets [`PutOptions::closest`].
    pub fn closest(mut self, closest: bool) -> Self {
        self.closest = closest;
        self
    }

    /// Writes only if `condition(existing, new)` returns `Ok(true)`. `existing` is the current
    /// node of the key (or, with `closest`, the node the walk ended at); an `Err` aborts the put
    /// with [`Error::Condition`].
    pub fn condition(
        mut self,
        condition: impl FnMut(Option<&Node>, &Node) -> Result<bool, ConditionError> + 'a,
    ) -> Self {
        self.condition = Some(Box::new(condition));
        self
    }
}

impl fmt::Debug for PutOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutOptions")
            .field("hidden", &self.hidden)
            .field("flags", &self.flags)
            .field("closest", &self.closest)
            .field("condition", &self.condition.is_some())
            .finish()
    }
}

/// Options of [`Hypertrie::del_with`].
#[derive(Default)]
#[non_exhaustive]
pub struct DelOptions<'a> {
    /// Delete from the hidden subtree.
    pub hidden: bool,
    /// Also call the condition, with the node the walk ended at, when the key is missing (its
    /// answer is then ignored; only an error counts).
    pub closest: bool,
    condition: Option<DelCondition<'a>>,
}

impl<'a> DelOptions<'a> {
    /// Sets [`DelOptions::hidden`].
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// Sets [`DelOptions::closest`].
    pub fn closest(mut self, closest: bool) -> Self {
        self.closest = closest;
        self
    }

    /// Deletes only if `condition(node_to_delete)` returns `Ok(true)`.
    pub fn condition(
        mut self,
        condition: impl FnMut(Option<&Node>) -> Result<bool, ConditionError> + 'a,
    ) -> Self {
        self.condition = Some(Box::new(condition));
        self
    }
}

impl fmt::Debug for DelOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelOptions")
            .field("hidden", &self.hidden)
            .field("closest", &self.closest)
            .field("condition", &self.condition.is_some())
            .finish()
    }
}

/// A hypertrie over one feed: block 0 is the header, every later block one node.
///
/// `F` is how the trie holds its feed: by value (the default, [`Hypertrie::open`]) or borrowed
/// for one call (`&mut Feed`, [`Hypertrie::over`]) from a handle that shares the feed with
/// others, such as a replicated feed behind a mutex. A [`TrieState`] carries the node cache and
/// the header from one borrowed call to the next.
pub struct Hypertrie<S: Storage, F: BorrowMut<Feed<S>> = Feed<S>> {
    feed: F,
    cache: NodeCache,
    header: Option<Header>,
    storage: PhantomData<fn() -> S>,
}

/// What a [`Hypertrie`] keeps between operations apart from its feed: the decoded-node cache
/// and the header. Keep one per feed and hand it to [`Hypertrie::over`] for every call on a
/// borrowed feed, so the cache stays warm.
#[derive(Debug)]
pub struct TrieState {
    cache: NodeCache,
    header: Option<Header>,
}

impl Default for TrieState {
    fn default() -> Self {
        TrieState::new(DEFAULT_CACHE_BYTES)
    }
}

impl TrieState {
    /// An empty state whose node cache holds at most `cache_bytes` of decoded nodes.
    pub fn new(cache_bytes: usize) -> Self {
        TrieState {
            cache: NodeCache::new(cache_bytes),
            header: None,
        }
    }

    /// The header, once a trie over this state has read it.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Node `seq` as [`Hypertrie::get_by_seq`] gives it (`None` for seq 0 and for a key-`''`
    /// reset node), if it needs no feed: seq 0, or a node in the cache. Lets a reader that
    /// shares the feed with others look in the cache without locking the feed.
    pub fn cached(&mut self, seq: u64) -> Option<Option<Node>> {
        if seq == 0 {
            return Some(None);
        }
        let node = self.cache.get(seq)?;
        Some((!node.is_reset()).then_some(node))
    }
}

/// The block holding node `seq` (not 0), as [`Hypertrie::get_by_seq`] reads it: with
/// [`TrieState::decode_node`] and [`TrieState::keep`], a reader that shares the feed holds the
/// feed's lock only for this read, and decodes outside it.
pub fn node_block<S: Storage>(feed: &mut Feed<S>, seq: u64) -> Result<Vec<u8>> {
    let length = feed.len();
    if seq >= length {
        return Err(Error::MissingNode { seq, length });
    }
    feed.get(seq).map_err(|e| match e {
        hypercore::Error::NotStored(s) => Error::NotStored(s),
        hypercore::Error::OutOfRange { index, length } => Error::MissingNode { seq: index, length },
        other => Error::Feed(other),
    })
}

impl TrieState {
    /// Node `seq` decoded from its block ([`node_block`]), without touching the state.
    pub fn decode_node(seq: u64, block: &[u8]) -> Result<Node> {
        Node::decode(block, seq)
    }

    /// Keeps a node decoded by [`decode_node`](Self::decode_node) in the cache; returns it as
    /// [`Hypertrie::get_by_seq`] gives it (`None` for a key-`''` reset node).
    pub fn keep(&mut self, node: Node) -> Option<Node> {
        self.cache.insert(node.clone());
        (!node.is_reset()).then_some(node)
    }
}

impl<S: Storage, F: BorrowMut<Feed<S>>> fmt::Debug for Hypertrie<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hypertrie")
            .field("feed", self.feed.borrow())
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Reads nodes from the feed through the cache.
struct FeedSource<'a, S: Storage> {
    feed: &'a mut Feed<S>,
    cache: &'a mut NodeCache,
}

impl<S: Storage> NodeSource for FeedSource<'_, S> {
    fn node(&mut self, seq: u64) -> Result<Option<Node>> {
        if seq == 0 {
            return Ok(None);
        }
        let node = match self.cache.get(seq) {
            Some(n) => n,
            None => {
                let bytes = node_block(self.feed, seq)?;
                let node = Node::decode(&bytes, seq)?;
                self.cache.insert(node.clone());
                node
            }
        };
        Ok((!node.is_reset()).then_some(node))
    }
}

impl<'f, S: Storage> Hypertrie<S, &'f mut Feed<S>> {
    /// The trie in a borrowed `feed`, with the cache and header of earlier calls in `state`
    /// (get them back with [`Hypertrie::into_state`]). Reads the header if `state` has none
    /// and block 0 is stored; never writes one.
    pub fn over(feed: &'f mut Feed<S>, state: TrieState) -> Result<Self> {
        let TrieState { cache, header } = state;
        let header = match header {
            Some(h) => Some(h),
            None => read_header(feed)?,
        };
        Ok(Hypertrie {
            feed,
            cache,
            header,
            storage: PhantomData,
        })
    }
}

/// Block 0 decoded and checked, if it is stored.
fn read_header<S: Storage>(feed: &mut Feed<S>) -> Result<Option<Header>> {
    if !feed.has(0) {
        return Ok(None);
    }
    let bytes = feed.get(0)?;
    let header = Header::decode(&bytes).map_err(|e| Error::BadHeader(e.to_owned()))?;
    if header.kind != HEADER_TYPE {
        return Err(Error::BadHeader(format!("type is {:?}", header.kind)));
    }
    Ok(Some(header))
}

impl<S: Storage> Hypertrie<S> {
    /// Opens the trie in `feed`, writing the header first if the feed is new and ours.
    pub fn open(feed: Feed<S>) -> Result<Self> {
        Self::open_with(feed, OpenOptions::default())
    }

    /// Opens with options (header metadata and subtype for a new trie, cache size).
    pub fn open_with(mut feed: Feed<S>, options: OpenOptions) -> Result<Self> {
        if feed.is_empty() && feed.writable() {
            feed.append(&Header::new(options.metadata, options.subtype).encode())?;
        }
        let header = if feed.has(0) {
            let bytes = feed.get(0)?;
            let header = Header::decode(&bytes).map_err(|e| Error::BadHeader(e.to_owned()))?;
            if header.kind != HEADER_TYPE {
                return Err(Error::BadHeader(format!("type is {:?}", header.kind)));
            }
            Some(header)
        } else {
            None
        };
        Ok(Hypertrie {
            feed,
            cache: NodeCache::new(options.cache_bytes),
            header,
            storage: PhantomData,
        })
    }

    /// Gives the feed back.
    pub fn into_feed(self) -> Feed<S> {
        self.feed
    }
}

impl<S: Storage, F: BorrowMut<Feed<S>>> Hypertrie<S, F> {
    /// Gives the feed back with the state (cache and header) to carry on with later.
    pub fn into_parts(self) -> (F, TrieState) {
        let state = TrieState {
            cache: self.cache,
            header: self.header,
        };
        (self.feed, state)
    }

    /// The cache and header, to hand to the next [`Hypertrie::over`] call.
    pub fn into_state(self) -> TrieState {
        self.into_parts().1
    }

    /// The header, once block 0 is stored locally.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// The header's metadata bytes.
    pub fn metadata(&self) -> Option<&[u8]> {
        self.header.as_ref()?.metadata.as_deref()
    }

    /// The version: the feed length (header included).
    pub fn version(&self) -> u64 {
        self.feed.borrow().len()
    }

    /// The feed underneath.
    pub fn feed(&self) -> &Feed<S> {
        self.feed.borrow()
    }

    /// Runs any step machine against the local feed.
    pub fn run<O: Operation>(&mut self, op: &mut O) -> Result<O::Output> {
        let mut source = FeedSource {
            feed: self.feed.borrow_mut(),
            cache: &mut self.cache,
        };
        run(op, &mut source)
    }

    /// The node in block `seq`; `None` for seq 0 and for a key-`''` reset node.
    pub fn get_by_seq(&mut self, seq: u64) -> Result<Option<Node>> {
        FeedSource {
            feed: self.feed.borrow_mut(),
            cache: &mut self.cache,
        }
        .node(seq)
    }

    /// The newest node.
    pub fn head(&mut self) -> Result<Option<Node>> {
        self.checkout(self.version()).head()
    }

    /// The node of `key`.
    pub fn get(&mut self, key: &str) -> Result<Option<Node>> {
        self.get_with(key, GetOptions::default())
    }

    /// A get with options (hidden, prefix, closest).
    pub fn get_with(&mut self, key: &str, options: GetOptions) -> Result<Option<Node>> {
        self.checkout(self.version()).get_with(key, options)
    }

    /// Every node under `prefix`, in JS iteration order.
    pub fn list(&mut self, prefix: &str) -> Result<Vec<Node>> {
        self.list_with(prefix, IterOptions::default())
    }

    /// A list with options (recursive, reverse, gt, hidden).
    pub fn list_with(&mut self, prefix: &str, options: IterOptions) -> Result<Vec<Node>> {
        self.iter(prefix, options).collect()
    }

    /// Iterates the nodes under `prefix`.
    pub fn iter(&mut self, prefix: &str, options: IterOptions) -> Cursor<'_, S, Iterate, Node, F> {
        let version = self.version();
        Cursor::new(self, Iterate::new(prefix, options, version))
    }

    /// What differs between this version (left) and version `other` (right), under `prefix`.
    pub fn diff(
        &mut self,
        other: u64,
        prefix: &str,
        options: DiffOptions,
    ) -> Cursor<'_, S, Diff, DiffEntry, F> {
        let version = self.version();
        Cursor::new(self, Diff::new(prefix, options, version, other))
    }

    /// The nodes in block order.
    pub fn history(&mut self, options: HistoryOptions) -> Cursor<'_, S, History, Node, F> {
        let version = self.version();
        Cursor::new(self, History::new(options, version))
    }

    /// A read-only view of the trie as it was at `version` (0 reads as 1: empty).
    pub fn checkout(&mut self, version: u64) -> Checkout<'_, S, F> {
        Checkout {
            trie: self,
            version: version.max(1),
        }
    }

    /// Puts `value` at `key`; returns the node written.
    pub fn put(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<Node> {
        let node = self.put_with(key, Some(value.as_ref()), PutOptions::default())?;
        node.ok_or(Error::Finished)
    }

    /// A put with options; `None` when the condition said no.
    pub fn put_with(
        &mut self,
        key: &str,
        value: Option<&[u8]>,
        mut options: PutOptions<'_>,
    ) -> Result<Option<Node>> {
        let version = self.version();
        let node = PendingNode::new(
            key,
            value.map(<[u8]>::to_vec),
            options.hidden,
            options.flags,
        );
        let plan = self.run(&mut Put::new(node, Head::at_version(version), 0))?;
        if let Some(condition) = options.condition.as_mut() {
            let existing = if options.closest {
                plan.closest.as_ref()
            } else {
                plan.existing()
            };
            if !condition(existing, &plan.node.preview()?).map_err(Error::Condition)? {
                return Ok(None);
            }
        }
        self.append(plan, version).map(Some)
    }

    /// Deletes `key`; returns the node written in its place (the re-written neighbour or the
    /// key-`''` reset node), or `None` if the key was not there.
    pub fn del(&mut self, key: &str) -> Result<Option<Node>> {
        self.del_with(key, DelOptions::default())
    }

    /// A delete with options.
    pub fn del_with(&mut self, key: &str, mut options: DelOptions<'_>) -> Result<Option<Node>> {
        let version = self.version();
        let plan = self.run(&mut Del::new(
            key,
            options.hidden,
            Head::at_version(version),
        ))?;
        match plan {
            DelPlan::Empty => Ok(None),
            DelPlan::NotFound(dead_end) => {
                if options.closest
                    && let Some(condition) = options.condition.as_mut()
                {
                    condition(dead_end.as_ref()).map_err(Error::Condition)?;
                }
                Ok(None)
            }
            DelPlan::Found { target, closest } => {
                if let Some(condition) = options.condition.as_mut()
                    && !condition(Some(&target)).map_err(Error::Condition)?
                {
                    return Ok(None);
                }
                let node = DelPlan::splice(&target, closest.as_ref());
                let plan =
                    self.run(&mut Put::new(node, Head::at_version(version), target.seq()))?;
                self.append(plan, version).map(Some)
            }
        }
    }

    /// Applies `ops` in order and appends every node they make with one append (one
    /// signature); returns those nodes.
    pub fn batch(&mut self, ops: impl IntoIterator<Item = BatchOp>) -> Result<Vec<Node>> {
        let version = self.version();
        let made = self.run(&mut Batch::new(ops.into_iter().collect(), version))?;
        if made.is_empty() {
            return Ok(Vec::new());
        }
        if !self.feed.borrow().writable() {
            return Err(Error::NotWritable);
        }
        let blocks: Vec<&[u8]> = made.iter().map(|(_, b)| b.as_slice()).collect();
        self.feed.borrow_mut().append_batch(&blocks)?;
        Ok(made
            .into_iter()
            .map(|(node, _)| {
                self.cache.insert(node.clone());
                node
            })
            .collect())
    }

    fn append(&mut self, plan: PutPlan, version: u64) -> Result<Node> {
        if !self.feed.borrow().writable() {
            return Err(Error::NotWritable);
        }
        let (node, bytes) = plan.node.finish(version)?;
        self.feed.borrow_mut().append(&bytes)?;
        self.cache.insert(node.clone());
        Ok(node)
    }
}

/// A read-only view of a trie at one version (JS `checkout`).
#[derive(Debug)]
pub struct Checkout<'a, S: Storage, F: BorrowMut<Feed<S>> = Feed<S>> {
    trie: &'a mut Hypertrie<S, F>,
    version: u64,
}

impl<S: Storage, F: BorrowMut<Feed<S>>> Checkout<'_, S, F> {
    /// The version this view reads.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The newest node of this version.
    pub fn head(&mut self) -> Result<Option<Node>> {
        self.trie.get_by_seq(crate::ops::head_seq(self.version))
    }

    /// The node of `key`.
    pub fn get(&mut self, key: &str) -> Result<Option<Node>> {
        self.get_with(key, GetOptions::default())
    }

    /// A get with options.
    pub fn get_with(&mut self, key: &str, options: GetOptions) -> Result<Option<Node>> {
        self.trie.run(&mut Get::new(key, options, self.version))
    }

    /// Every node under `prefix`.
    pub fn list(&mut self, prefix: &str) -> Result<Vec<Node>> {
        self.list_with(prefix, IterOptions::default())
    }

    /// A list with options.
    pub fn list_with(&mut self, prefix: &str, options: IterOptions) -> Result<Vec<Node>> {
        self.iter(prefix, options).collect()
    }

    /// Iterates the nodes under `prefix`.
    pub fn iter(&mut self, prefix: &str, options: IterOptions) -> Cursor<'_, S, Iterate, Node, F> {
        Cursor::new(self.trie, Iterate::new(prefix, options, self.version))
    }

    /// What differs between this version (left) and version `other` (right).
    pub fn diff(
        &mut self,
        other: u64,
        prefix: &str,
        options: DiffOptions,
    ) -> Cursor<'_, S, Diff, DiffEntry, F> {
        Cursor::new(self.trie, Diff::new(prefix, options, self.version, other))
    }

    /// The nodes of this version in block order.
    pub fn history(&mut self, options: HistoryOptions) -> Cursor<'_, S, History, Node, F> {
        Cursor::new(self.trie, History::new(options, self.version))
    }
}

/// A step machine that yields many items, driven over the local feed as an [`Iterator`].
/// It stops after the first error.
pub struct Cursor<'a, S: Storage, O, T, F: BorrowMut<Feed<S>> = Feed<S>> {
    trie: &'a mut Hypertrie<S, F>,
    op: Option<O>,
    item: PhantomData<T>,
}

impl<'a, S: Storage, O, T, F: BorrowMut<Feed<S>>> Cursor<'a, S, O, T, F> {
    fn new(trie: &'a mut Hypertrie<S, F>, op: O) -> Self {
        Cursor {
            trie,
            op: Some(op),
            item: PhantomData,
        }
    }
}

impl<S: Storage, O, T, F: BorrowMut<Feed<S>>> fmt::Debug for Cursor<'_, S, O, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("done", &self.op.is_none())
            .finish_non_exhaustive()
    }
}

impl<S: Storage, O: Operation<Output = Option<T>>, T, F: BorrowMut<Feed<S>>> Iterator
    for Cursor<'_, S, O, T, F>
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let op = self.op.as_mut()?;
        match self.trie.run(op) {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.op = None;
                None
            }
            Err(e) => {
                self.op = None;
                Some(Err(e))
            }
        }
    }
}
