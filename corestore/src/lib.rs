//! A folder of many hypercores whose key pairs derive from names, byte-compatible with Node's
//! `corestore@5`.
//!
//! A drive is several feeds (metadata, content, mounts), and a daemon holds many drives: a
//! [`Corestore`] keeps them all in one folder under one secret, the 32-byte `master_key`. A
//! core asked for by name gets the Ed25519 key pair seeded by
//! `BLAKE2b(key = master_key, "9\ncorestore" || name)`, so its secret key is never written to
//! disk and comes back from the name alone. Folders are interchangeable with Node: a store
//! opened by either finds the other's cores, with the same keys for the same names.
//!
//! # Brief overview
//! - [`Corestore::open`] (a folder) or [`Corestore::in_memory`]; [`Corestore::default_feed`],
//!   [`Corestore::get_by_name`], [`Corestore::get_by_key`] (writable when the folder names the
//!   core), [`Corestore::get_by_discovery_key`] (only cores already stored).
//! - [`Corestore::namespace`] gives a view whose default feed is named after the namespace
//!   (`"a"`, then `"a:b"` for a nested one); explicit names are never prefixed.
//! - [`derive_seed`] and [`derive_key_pair`] are the derivation on its own.
//! - [`Corestore::replicate`]: every core of the view on one hypercore-protocol session over
//!   any tokio transport; cores loaded later join it, and a core the remote opens by discovery
//!   key is replicated only if the store holds it (JS `corestore.replicate`).
//!
//! # Layout (formats.md §6)
//! ```text
//! <root>/master_key                      32 raw bytes
//! <root>/<dk[0..2]>/<dk[2..4]>/<dk>/     one core; dk = hex of its discovery key
//!     key, tree, data, bitfield, signatures   the hypercore 9 files
//!     name                                varint(len) || name, for name-derived cores
//!     secret_key                          only for cores made from an explicit key pair (Node)
//! ```
//!
//! # Ownership
//! The store owns one [`hypercore::Feed`] per loaded core, over a boxed
//! [`hypercore::Storage`] (files or memory), and hands out [`SharedFeed`] =
//! [`hypercore::replicate::SharedFeed`]: the feed and its replicator behind one std mutex.
//! Every view and thread asking for the same core gets the same handle, so a core's files are
//! opened once (a second open would also fail on the `bitfield` lock), and every replication
//! session sees the same blocks readers see. The feed API is synchronous and each call is
//! short; async callers lock, call and unlock without an `.await` in between. Loaded cores stay loaded
//! until the root view's [`Corestore::close`], which flushes them; that bounds memory by the
//! number of cores a process uses, which is what Node's store does too (its cache never evicts
//! a core a view has asked for).
//!
//! # Replication
//! [`Corestore::replicate`] runs one hypercore-protocol session for the whole store (Node's
//! `corestore.replicate`): it starts with the loaded cores, every core loaded later (by any
//! view) joins it, and a core the remote opens by discovery key is opened from the store's
//! folder and replicated only if the store holds it; any other is refused with `Close` (a live
//! session leaves it half open instead, in case a view loads it later). Cores
//! replicate sparsely (hypercore's defaults): blocks move when a reader waits for them
//! ([`hypercore::replicate::SharedFeed::get`]) or a download asks for a range. Tests:
//! `cargo test -p corestore --test replicate`. Not done: stream-level extensions, per-store
//! replication options (live/sparse/upload/download are hypercore's defaults per core), and
//! ending running sessions on [`Corestore::close`].
//!
//! # Example
//! ```
//! use corestore::{Corestore, MasterKey};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Corestore::open(dir.path())?;
//! let feed = store.default_feed()?;
//! feed.lock().append(b"hello")?;
//! let key = *feed.lock().key();
//!
//! // A namespace view: its default feed is the core named "photos".
//! let photos = store.namespace("photos")?.default_feed()?;
//! assert_eq!(
//!     *photos.lock().key(),
//!     store.derive_key_pair(b"photos").public
//! );
//! store.close()?;
//! drop((feed, photos));
//!
//! // Reopened from the folder, the core is found by key and is still writable: its folder
//! // names it, and the name derives its secret key from `master_key`.
//! let store = Corestore::open(dir.path())?;
//! let feed = store.get_by_key(&key)?;
//! let mut feed = feed.lock();
//! assert!(feed.writable());
//! assert_eq!(feed.get(0)?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod backend;
mod derive;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod master_key;
mod name_file;
mod store;

pub use crate::{
    backend::{BoxStorage, core_path},
    derive::{CORESTORE_NAMESPACE, derive_key_pair, derive_seed},
    error::{Error, Result},
    master_key::MasterKey,
    store::{Corestore, SharedFeed},
};
