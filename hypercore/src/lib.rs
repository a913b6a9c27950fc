//! The signed append-only log of the Hypercore Protocol, byte-compatible with Node's
//! `hypercore@9`.
//!
//! A [`Feed`] is a list of binary blocks that only its writer can extend. Each append hashes the
//! new blocks into a merkle tree (BLAKE2b, flat-tree numbering) and signs the tree's roots with
//! the writer's Ed25519 key, so anyone holding the 32-byte public key can verify any block on its
//! own, from any peer. The files on disk (`key`, `secret_key`, `data`, `tree`, `signatures`,
//! `bitfield`) are exactly those Node writes: a folder made by one opens in the other.
//!
//! # Brief overview
//! - [`Feed`] opens or creates a feed over a [`Storage`]: [`FileStorage`] for a folder,
//!   [`MemoryStorage`] for tests and caches, [`CrashStorage`] to simulate a power cut.
//! - [`Feed::proof`] and [`Feed::put`] are the verification half of replication: one side proves
//!   a block, the other verifies it against the signature before anything reaches storage.
//! - [`crypto`] holds the hashes and key types; [`flat_tree`] the index arithmetic.
//!
//! # Example
//! ```
//! use hypercore::{Feed, MemoryStorage};
//!
//! let mut feed = Feed::open(MemoryStorage::new())?;
//! feed.append(b"hello")?;
//! feed.append_batch(&[b"big".as_slice(), b"world"])?;
//! assert_eq!(feed.len(), 3);
//! assert_eq!(feed.byte_len(), 13);
//! assert_eq!(feed.get(2)?, b"world");
//! assert_eq!(feed.seek(6)?, (1, 1));
//! assert_eq!(feed.audit()?.invalid, 0);
//!
//! // A reader holding only the public key verifies what the writer proves.
//! let mut reader = Feed::builder(MemoryStorage::new()).key(*feed.key()).open()?;
//! let proof = feed.proof(1, Default::default())?;
//! reader.put(1, Some(b"big"), &proof)?;
//! assert_eq!(reader.len(), 3);
//! assert_eq!(reader.get(1)?, b"big");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durability
//! An append's (or a verified put's) blocks, tree nodes and signature reach the storage (the
//! page cache, for files) before it returns, without a sync; the bitfield pages that claim them
//! are written by [`Feed::flush`] (or `close`, or dropping the feed) after one sync of
//! everything they claim, and then synced themselves. A disk may keep any subset of unsynced
//! writes after a power cut, tearing them at page boundaries; with this order the bitfield on
//! disk only ever claims synced bytes, so a reopened feed holds every block flushed before the
//! crash and claims nothing that fails to verify, without re-hashing anything on open. Callers
//! group many appends per flush; a flush with nothing new performs no sync. The files stay the
//! ones Node writes.
//!
//! # Why hand-written
//! No maintained crate writes hypercore 9's files byte-for-byte; the bitfield's index region in
//! particular must reproduce the JS modules' update rules exactly. The transport's XSalsa20
//! keystream is our own too (`protocol::xsalsa20`): every replicated byte goes through it, and no
//! vetted crate has a SIMD Salsa20 (RustCrypto's `salsa20` is scalar, a block at a time). Ours
//! computes eight blocks at once in code that the compiler vectorises, on x86_64 through an AVX2
//! copy when the CPU has it (2.87x the scalar crate; the crate's only `unsafe` is that call),
//! and its tests check both paths against `salsa20` and published vectors.
#![deny(missing_docs)]
// Denied, not forbidden: the AVX2 keystream (protocol/xsalsa20.rs) needs one `unsafe` call.
#![deny(unsafe_code)]

mod bitfield;
pub mod crypto;
mod error;
mod feed;
pub mod flat_tree;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod node;
mod proof;
#[cfg(feature = "protocol")]
pub mod protocol;
#[cfg(feature = "protocol")]
pub mod replicate;
mod storage;
mod tree;

pub use crate::{
    crypto::{KeyPair, PublicKey, SecretKey, Signature},
    error::{Error, Result},
    feed::{AuditReport, BatchPut, Feed, FeedBuilder, MAX_BLOCK_SIZE, PutBlock},
    node::Node,
    proof::{Proof, ProofRequest},
    storage::{CrashPlan, CrashStorage, FileStorage, MemoryStorage, Storage, Store},
};
