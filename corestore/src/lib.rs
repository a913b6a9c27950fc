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
//! - [`Corestore::flush`] makes every loaded core durable (only those written since the last
//!   flush sync; new folders are synced into their parents). `master_key` is created 0600 in
//!   private (0700) folders, and refused when group or others can write it.
//! - [`derive_seed`] and [`derive_key_pair`] are the derivation on its own.
//! - [`Corestore::replicate`]: every core of the view on one hypercore-protocol session over
//!   any tokio transport; cores loaded later join it, and a core the remote opens by discovery
//!   key is replicated only if the store holds it (JS `corestore.replicate`).
//!   [`Corestore::replicate_with_extensions`] adds stream-level extensions.
//!
//! # Layout (docs/formats.md §6)
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
//! short; async callers lock, call and unlock without an `.await` in between.
//!
//! # Open files
//! A loaded core holds up to six open files. A store on disk keeps the loaded cores within an
//! open-file budget ([`Corestore::set_open_file_budget`], default
//! [`DEFAULT_OPEN_FILE_BUDGET`]): before a new core opens, idle cores (the store holds their
//! only handle: no reader, no replication session) are flushed and closed, least recently
//! asked for first, and reopened from the folder when asked for again. Cores in use are never
//! closed, so a process holding more cores than the budget allows exceeds it (Node's store
//! never closes a core a view has asked for). Per-core state of the layers above
//! ([`Corestore::attachment`]: a drive's trie cache and watchers) goes with its core.
//! [`Corestore::stats`] counts opens, evictions and table lookups. The root view's
//! [`Corestore::close`] flushes every loaded core.
//!
//! # Replication
//! [`Corestore::replicate`] runs one hypercore-protocol session for the whole store (Node's
//! `corestore.replicate`): it starts with the loaded cores, every core loaded later (by any
//! view) joins it, and a core the remote opens by discovery key is opened from the store's
//! folder and replicated only if the store holds it; any other is refused with `Close` (a live
//! session leaves it half open instead, in case a view loads it later). Cores
//! replicate sparsely (hypercore's defaults): blocks move when a reader waits for them
//! ([`hypercore::replicate::SharedFeed::get`]) or a download asks for a range.
//!
//! A session is a [`hypercore::replicate::Replication`]: a future that owns what it needs
//! (spawn it) and a [`hypercore::replicate::ReplicationHandle`] that waits for the Noise
//! handshake and gives both static keys (hyperswarm's dedup rule), snapshots the peer and the
//! blocks and bytes moved per core, and cancels the session. Stream-level extensions (JS
//! `stream.registerExtension` on the stream `corestore.replicate` returns, what a daemon's
//! peer sockets ride on) are named when the session starts
//! ([`Corestore::replicate_with_extensions`]) or registered on the running session through
//! the handle ([`hypercore::replicate::ReplicationHandle::register_extension`]). The root view's
//! [`Corestore::close`] ends every running session, as JS destroys its replication streams:
//! the remotes see their transports end. Tests: `cargo test -p corestore --test replicate`.
//! Not done: per-store replication options (live/sparse/upload/download are hypercore's
//! defaults per core).
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
mod loaded;
mod master_key;
mod name_file;
mod private_dir;
mod replicate;
mod store;

pub use crate::{
    backend::{BoxStorage, core_path},
    derive::{CORESTORE_NAMESPACE, derive_key_pair, derive_seed},
    error::{Error, Result},
    loaded::StoreStats,
    master_key::MasterKey,
    store::{Corestore, DEFAULT_OPEN_FILE_BUDGET, SESSION_LOAD_QUEUE, SharedFeed},
};
