//! Hyperdrive 10: a versioned filesystem over hypercores, byte-compatible with Node's
//! `hyperdrive@10.21.0`.
//!
//! A drive is a metadata feed holding a (mountable) hypertrie of paths to [`Stat`]s, and a
//! content feed holding file bytes; both live in a [`corestore::Corestore`]. Every write
//! appends, so every version stays readable ([`Drive::checkout`]) and comparable
//! ([`Drive::diff`]). With the same master key and a pinned clock the feeds are byte-identical
//! to the ones Node writes.
//!
//! # Brief overview
//! - [`Drive`]: the synchronous core. [`Drive::create`] (the store view's default feed is the
//!   metadata feed; the content feed is named `"<metadata key hex>-content"`) and
//!   [`Drive::open`] (by key, read-only unless the store can derive the secret).
//! - Files: [`Drive::write_file`] (512 KiB blocks, one append), [`Drive::read_file`],
//!   [`Drive::open_reader`] ([`FileReader`]: `Read + Seek`, reads only the blocks a range
//!   touches), [`Drive::open_writer`] ([`FileWriter`]), [`Drive::truncate`],
//!   [`Drive::unlink`], [`Drive::create_file`].
//! - Directories and links: [`Drive::mkdir`], [`Drive::rmdir`], [`Drive::readdir`] /
//!   [`Drive::readdir_with_stats`] ([`ReaddirOptions`]), [`Drive::symlink`],
//!   [`Drive::readlink`], [`Drive::stat`], [`Drive::lstat`], [`Drive::exists`].
//! - [`Drive::set_metadata`], [`Drive::remove_metadata`]; tags ([`Drive::create_tag`],
//!   [`Drive::tagged_version`], [`Drive::tags`], [`Drive::delete_tag`]).
//! - Mounts: [`Drive::mount`] (a drive, optionally pinned, or a hypercore as a file),
//!   [`Drive::unmount`], [`Drive::mounts`]; reads, writes and listings cross mounts as
//!   mountable-hypertrie does.
//! - [`AsyncDrive`]: the tokio surface, with [`AsyncFileReader`] (AsyncRead + AsyncSeek) and
//!   [`AsyncFileWriter`] (AsyncWrite).
//! - [`Error::errno`] gives each error its POSIX number (ENOENT, EEXIST, ENOTDIR, EISDIR,
//!   ENOTEMPTY, EACCES, EINVAL, …); a block that is not stored locally is
//!   [`Error::NotStored`] (EAGAIN) until replication fetches it.
//! - [`Clock`] makes Stat times an input.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use corestore::Corestore;
//! use hyperdrive::{Drive, DriveOptions, ReaddirOptions, WriteOptions};
//!
//! let store = Arc::new(Corestore::in_memory()?);
//! let drive = Drive::create(store, DriveOptions::default())?;
//! drive.write_file("/docs/hello.txt", b"hello", &WriteOptions::default())?;
//! drive.symlink("/docs/hello.txt", "/link")?;
//! assert_eq!(drive.read_file("/link")?, b"hello");
//! assert_eq!(drive.readdir("/", &ReaddirOptions::default())?, ["link", "docs"]);
//!
//! let v = drive.version();
//! drive.unlink("/docs/hello.txt")?;
//! assert!(!drive.exists("/docs/hello.txt")?);
//! assert_eq!(drive.checkout(v).read_file("/docs/hello.txt")?, b"hello");
//! assert_eq!(drive.stat("/nope").unwrap_err().errno(), hyperdrive::errno::ENOENT);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is left
//! - Replication: reads of blocks that are not stored return [`Error::NotStored`];
//!   `download`, `watch` and file descriptors (`open/read/write/close`) are not there yet.
//! - `rename` and random-access writes (the issue's "beyond the original" part).
//! - Performance: the trie runs over the corestore's shared feed handles by moving the feed
//!   out of its mutex for each operation (see `feeds.rs`), so every operation starts with a
//!   cold node cache; fine for correctness, not for the benchmark targets.
//!
//! # Differences from JS
//! - Reading a directory is EISDIR (JS returns empty content); the streaming writer cuts
//!   blocks at 512 KiB boundaries (JS cuts where the caller's writes were, which also means
//!   timing-dependent boundaries through fds).
//! - A Stat stored with `mtime`/`ctime` 0 reads back as 0 (JS substitutes *now*).
//! - `readdir` of a recursive listing follows mountable-hypertrie, but a mount nested inside a
//!   mount listed through the outer mount's prefix is only descended once.
#![deny(missing_docs)]

mod async_drive;
mod clock;
mod diff;
mod drive;
mod error;
mod feeds;
mod fs;
mod mount_record;
mod path;
mod proto;
mod readdir;
mod reader;
mod resolve;
mod stat;
mod writer;

pub use crate::{
    async_drive::{AsyncDrive, AsyncFileReader, AsyncFileWriter},
    clock::Clock,
    diff::{DiffEntry, DiffKind},
    drive::{BLOCK_SIZE, Drive, DriveOptions},
    error::{Error, Result, errno},
    fs::{FileStats, MountEntry, MountOptions, WriteOptions},
    mount_record::MountRecord,
    readdir::{DirEntry, ReaddirOptions},
    reader::FileReader,
    stat::{Metadata, Stat, StatMount, mode},
    writer::FileWriter,
};
