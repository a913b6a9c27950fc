//! A single-writer key/value trie over one hypercore, byte-compatible with Node's
//! `hypertrie@5`.
//!
//! Every write appends one block: a node holding the key, the value and a compressed skip
//! list of pointers to older nodes, laid out by the SipHash of each key segment. Any key is
//! found from the newest node in a number of block reads bounded by the key's length, and any
//! older version is still readable. A feed written here reads back in Node and the other way
//! round; the blocks are the same bytes.
//!
//! # Brief overview
//! - [`Hypertrie`] opens a trie over a [`hypercore::Feed`] and offers put, get, delete, batch,
//!   list, iterate, diff, history and checkout, with JS's options ([`GetOptions`],
//!   [`PutOptions`], [`DelOptions`], [`IterOptions`], [`DiffOptions`], [`HistoryOptions`]).
//! - [`Node`] is one entry: key, value, flags and the block it lives in.
//! - The reads are sans-IO step machines ([`Get`], [`Iterate`], [`Diff`], [`History`]): they
//!   return [`Step::Need`] with a block index and carry on once [`Operation::supply`] hands the
//!   node over, so the same code runs over a sparse feed whose blocks come from peers.
//!   [`Hypertrie`] drives them (and the writes) over the local feed through a bounded node
//!   cache.
//! - A trie can own its feed ([`Hypertrie::open`]) or borrow it for one call
//!   ([`Hypertrie::over`], `Hypertrie<S, &mut Feed<S>>`) from a handle that shares the feed,
//!   such as a replicated feed behind a mutex; a [`TrieState`] carries the node cache and
//!   header from one call to the next ([`Hypertrie::into_state`]).
//!
//! # Example
//! ```
//! use hypercore::{Feed, MemoryStorage};
//! use hypertrie::{BatchOp, GetOptions, Hypertrie, IterOptions};
//!
//! let mut trie = Hypertrie::open(Feed::open(MemoryStorage::new())?)?;
//! trie.put("hello", b"world")?;
//! trie.put("dir/a", b"1")?;
//! trie.batch([BatchOp::put("dir/b", b"2".to_vec()), BatchOp::del("hello")])?;
//!
//! assert_eq!(trie.get("dir/a")?.and_then(|n| n.value().map(<[u8]>::to_vec)), Some(b"1".to_vec()));
//! assert!(trie.get("hello")?.is_none());
//! let mut names: Vec<String> = trie.list("dir")?.iter().map(|n| n.key().to_owned()).collect();
//! names.sort();
//! assert_eq!(names, ["dir/a", "dir/b"]);
//!
//! // Version 2 is the header plus the first put.
//! assert!(trie.checkout(2).get("hello")?.is_some());
//! let changed = trie.diff(2, "", Default::default()).count();
//! assert_eq!(changed, 3);
//! # let _ = (GetOptions::default(), IterOptions::default());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why hand-written
//! No Rust crate reads or writes hypertrie 5: the pointer field, the delete-by-rewrite and the
//! iteration order are that package's own, and compatibility means reproducing its walks step
//! for step. The protobuf messages are hand-coded too, because JS writes zero-valued `seq` and
//! `flags` fields that prost would leave out.
//!
//! # Differences from JS
//! Pointers must point at older blocks, and a block missing locally is an error rather than a
//! wait, so corrupt or partial feeds end every walk. Iterator `random` order, checkpoints and
//! the `reconnect` diff are not implemented.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cache;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod message;
mod node;
mod ops;
mod source;
mod trie;
mod trie_field;
mod varint;

pub use crate::{
    error::{ConditionError, Error, Result},
    message::Header,
    node::Node,
    ops::{
        batch::BatchOp,
        diff::{Diff, DiffEntry, DiffOptions},
        get::{Get, GetOptions},
        history::{History, HistoryOptions},
        iterator::{IterOptions, Iterate},
    },
    source::{NodeSource, Operation, Step, run},
    trie::{
        Checkout, Cursor, DelOptions, Hypertrie, OpenOptions, PutOptions, TrieState, node_block,
    },
};
