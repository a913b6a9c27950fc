//! A union of hyperdrives read as one and written through one: the semantics of Node's
//! `multi-hyperdrive@1.1.4`, its tombstones byte for byte, its bugs fixed, and causal
//! conflict detection on top.
//!
//! # Overview
//! - [`MultiDrive::new`] takes the primary (it gives [`MultiDrive::key`],
//!   [`MultiDrive::discovery_key`], and the corestore peers and extensions live on);
//!   [`MultiDrive::add_drive`], [`MultiDrive::remove_drive`], [`MultiDrive::has_drive`],
//!   [`MultiDrive::members`]. Members are local drives or remote ones being replicated:
//!   reads of a remote member wait for blocks for that drive's
//!   [`hyperdrive::DriveOptions::block_timeout`], as every hyperdrive read does.
//! - [`MultiDrive::writer`]: the first writable member in insertion order. Every write goes
//!   there; with none, writes fail with [`Error::NoWriter`] (EROFS).
//! - Reads resolve the path, then ask the winning member: [`MultiDrive::stat`] /
//!   [`MultiDrive::lstat`] ([`UnionStat`] names the member), [`MultiDrive::read_file`],
//!   [`MultiDrive::open_reader`] and [`MultiDrive::read_range`], [`MultiDrive::readlink`],
//!   [`MultiDrive::exists`] / [`MultiDrive::access`], [`MultiDrive::readdir`] (the union of
//!   the names) and [`MultiDrive::readdir_with_stats`] (the winner per name).
//! - Writes: [`MultiDrive::write_file`] and [`MultiDrive::open_writer`] (missing parents made
//!   in the writer, tombstones on the path and its parents erased), [`MultiDrive::mkdir`],
//!   [`MultiDrive::symlink`], [`MultiDrive::set_metadata`] / [`MultiDrive::remove_metadata`],
//!   [`MultiDrive::mount`] / [`MultiDrive::unmount`], [`MultiDrive::unlink`] /
//!   [`MultiDrive::rmdir`], and beyond multi-hyperdrive [`MultiDrive::truncate`],
//!   [`MultiDrive::write_at`] and [`MultiDrive::rename`] (files and directories), which first
//!   copy into the writer what another member's version wins.
//! - [`MultiDrive::watch`] ([`MultiWatcher`]) across every member, drives added later
//!   included; [`MultiDrive::version`] ([`UnionVersion`]), [`MultiDrive::checkout`] and
//!   [`MultiDrive::diff`] ([`UnionChange`]).
//! - [`MultiDrive::conflict`] / [`MultiDrive::conflicts`] ([`Conflict`]).
//! - [`AsyncMultiDrive`]: the same operations for async code, on tokio's blocking pool.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use corestore::Corestore;
//! use hyperdrive::{Drive, DriveOptions, ReaddirOptions, WriteOptions};
//! use multidrive::MultiDrive;
//!
//! let store = Arc::new(Corestore::in_memory()?);
//! let mine = Drive::create(Arc::new(store.namespace("mine")?), DriveOptions::default())?;
//! let theirs = Drive::create(Arc::new(store.namespace("theirs")?), DriveOptions::default())?;
//! theirs.write_file("/docs/a.txt", b"theirs", &WriteOptions::default())?;
//!
//! let union = MultiDrive::new(mine.clone());
//! union.add_drive(theirs.clone());
//! assert_eq!(union.read_file("/docs/a.txt")?, b"theirs");
//!
//! // Writes go to the writer (`mine`, the first writable member) and win over what they saw.
//! union.write_file("/docs/a.txt", b"mine", &WriteOptions::default())?;
//! assert_eq!(union.stat("/docs/a.txt")?.drive, *mine.key());
//! assert_eq!(union.read_file("/docs/a.txt")?, b"mine");
//!
//! // Deleting what another member has leaves a tombstone in the writer.
//! union.unlink("/docs/a.txt")?;
//! assert!(!union.exists("/docs/a.txt")?);
//! assert!(theirs.exists("/docs/a.txt")?);
//! assert!(union.readdir("/docs", &ReaddirOptions::default())?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Resolution
//! A path resolves in three steps:
//! 1. **Tombstones.** Each member may hold a tombstone for the path; the newest by timestamp
//!    decides (ties: the member added first). If it is active, every version whose write had
//!    not seen it (below) is hidden: a write concurrent with a delete stays hidden until a
//!    write that saw the delete (and so erased it) comes.
//! 2. **Causal order.** Every write through a union records in the new Stat's metadata, under
//!    [`CLOCK_KEY`] (`ddrive.clock`; Node keeps the key and ignores it), the
//!    [`VersionVector`] of member versions it had seen. A version whose vector covers another
//!    version's node (its feed index in its member) saw it and supersedes it, whatever the
//!    clocks say. A version's place is its member's own entry in its vector (the feed length
//!    just before the write), not the node's current index: a hypertrie deletion re-puts a
//!    neighbouring node further on, which would otherwise make a seen version look unseen.
//!    The versions nobody saw are the heads.
//! 3. **Concurrent heads** are ordered by the [`Resolver`] ([`MultiDrive::set_resolver`]);
//!    the default [`NewestCtime`] is multi-hyperdrive's `compareStats`: newer `ctime` first,
//!    ties to the member added first. Versions Node wrote carry no vector, so among them
//!    resolution is multi-hyperdrive's exactly.
//!
//! Two or more heads that are not all directories are a [`Conflict`]: concurrent writes of a
//! file, or a file where another member has a directory ([`ConflictKind`]). Reads see the
//! resolver's first head; [`MultiDrive::conflicts`] lists every conflict with all its
//! versions, so an application can merge them (a write through the union that saw them all
//! ends the conflict).
//!
//! # Tombstones
//! A tombstone is multi-hyperdrive's protobuf record `Tombstone {required bool active = 1;
//! optional uint32 timestamp = 2}` ([`Tombstone`]), stored in the writer's trie at the
//! hidden key `.tombstones/<path>` ([`tombstone_key`]) — the hidden namespace hyperdrive keeps
//! its tags in, so Node's hyperdrive never lists it. The timestamp is `Date.now()` in
//! milliseconds: it overflows the declared uint32, Node's varint codec writes and reads it
//! whole, and so it is a u64 here. The records ddrive writes are byte-identical to Node's for
//! the same operations and clock.
//!
//! [`MultiDrive::unlink`] and [`MultiDrive::rmdir`] write an active tombstone in the writer
//! when another member still has the path, then remove the writer's own node. Every write
//! erases (writes an inactive tombstone over) each active tombstone on the path and its
//! parents, from `/` down, as multi-hyperdrive does. A new record is stamped with the writer's
//! clock, but always after the newest record any member has for the path, so a lagging clock
//! cannot lose its own delete or erase (with clocks that move forward, the bytes are
//! multi-hyperdrive's). Whether a version had seen a tombstone is read from the member's
//! history: the tombstone's holder, at the version the write had seen of it, held the same
//! record.
//!
//! # Versions and diff
//! A union's version ([`UnionVersion`]) is the vector of its members' versions in member
//! order; [`MultiDrive::checkout`] is the read-only union of the members checked out there
//! (members added later read as empty). [`MultiDrive::diff`] lists the paths whose union view
//! (winning member, its Stat, or presence) differs between a version and now; candidates come
//! from the members' own diffs and their tombstone changes.
//!
//! # Differences from multi-hyperdrive (its bugs, fixed)
//! - The newest tombstone decides. JS compares against a constant 0, so whichever member it
//!   reads *last* that has a tombstone decides.
//! - [`MultiDrive::exists`] and [`MultiDrive::access`] honour tombstones and follow symlinks
//!   through the union (JS: true if any member has the path, and `access(name, cb)` calls
//!   back with a boolean); stat follows symlinks through the union too (JS follows them only
//!   inside the member the link won in).
//! - [`MultiDrive::rmdir`] works: JS reads `err.code` of a missing error (a TypeError after a
//!   successful rmdir) and calls back twice on ENOTEMPTY. Here ENOTEMPTY means the union
//!   lists something in the directory.
//! - `mkdir(name, cb)` (without options) throws in JS; `writeFile` never calls back if
//!   erasing a tombstone fails. Neither applies here.
//! - A tombstone is written only when another member still has the path; JS writes one on
//!   every unlink, even of a file only the writer had, or of nothing at all (ENOENT here).
//! - `unlink` of a directory is EISDIR; `truncate`, `write_at`, metadata changes and
//!   `rename` work on entries only another member has (JS: only on the writer's own).
//! - Readdir order is deterministic (first seen, member order; JS: callback order), and the
//!   listing of a deleted directory is ENOENT.
//! - `version`, `checkout`, `diff` and watching drives added later are defined (JS throws, or
//!   watches only the drives present when `watch` is called).
//!
//! # What is left
//! - Renamed directories keep each moved node's old clock (only names another member also
//!   has are re-stamped), so a rename does not supersede concurrent writes under the new
//!   name elsewhere unless it saw them.
//! - Tombstones carry no version vector (their bytes are multi-hyperdrive's), so tombstone
//!   against tombstone is by timestamp; a write that saw a tombstone still wins over it.
//! - `truncate` of another member's file copies it whole through memory.
//! - A delete concurrent with a write is not listed by [`MultiDrive::conflicts`] (the delete
//!   wins, as in multi-hyperdrive).
//! - Directories the union made or saw in the writer are remembered (up to 4,096, forgotten on
//!   every union delete, rename or unmount), since hyperdrive's `exists` of an implicit
//!   directory lists its children; a directory removed from the writer *outside* the union is
//!   then not re-made by the next write under it (the write still lands, under an implicit
//!   directory).
//! - Reads of remote members block their thread while they wait for blocks;
//!   [`AsyncMultiDrive`] runs every operation on tokio's blocking pool for that reason.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod async_union;
mod clock;
mod conflict;
mod error;
mod path;
mod read;
mod resolve;
mod tombstone;
mod union;
mod varint;
mod version;
mod watch;
mod write;

pub use crate::{
    async_union::AsyncMultiDrive,
    clock::{CLOCK_KEY, RESERVED_PREFIX, VersionVector},
    conflict::{Conflict, ConflictKind},
    error::{EROFS, Error, Result},
    read::{UnionEntry, UnionStat},
    resolve::{Mark, NewestCtime, Resolver, Version},
    tombstone::{TOMBSTONE_PREFIX, Tombstone, tombstone_key},
    union::MultiDrive,
    version::{UnionChange, UnionVersion},
    watch::MultiWatcher,
    write::MultiFileWriter,
};
