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
//! - [`Drive::set_attr`] ([`SetAttr`]: chmod, chown, utimens), [`Drive::set_metadata`],
//!   [`Drive::remove_metadata`]; tags ([`Drive::create_tag`],
//!   [`Drive::tagged_version`], [`Drive::tags`], [`Drive::delete_tag`]).
//! - Mounts: [`Drive::mount`] (a drive, optionally pinned, or a hypercore as a file),
//!   [`Drive::unmount`], [`Drive::mounts`]; reads, writes and listings cross mounts as
//!   mountable-hypertrie does.
//! - [`Drive::rename`]: files, links, mount points and whole directories in one atomic batch;
//!   [`Drive::exchange`] swaps two nodes (`RENAME_EXCHANGE`).
//! - POSIX extras (next section but two): hard links ([`Drive::link`], [`Stat::nlink`]),
//!   special files ([`Drive::mknod`], [`Stat::rdev`]), block-sharing copies
//!   ([`Drive::copy_file`]) and attribute changes ([`Drive::set_attr`], [`SetAttr`]).
//! - Random access: [`Drive::write_at`], [`Drive::append`], [`Drive::set_len`] (POSIX
//!   truncate), stored as [`DriveOptions::write_mode`] says (next section).
//! - File descriptors with JS's flags: [`Drive::open_fd`] ([`flags`], [`parse_flags`]),
//!   [`Drive::read_fd`], [`Drive::write_fd`], [`Drive::ftruncate`], [`Drive::fsync`],
//!   [`Drive::fstat`], [`Drive::close_fd`], [`Drive::commit_fd`],
//!   [`Drive::forget_fd`].
//! - Durability: [`Drive::flush`] (and [`Drive::fsync`]) syncs the feeds written since the last
//!   flush, and nothing when nothing changed, so a daemon can call it per request.
//! - [`Drive::watch`] ([`Watcher`]: a one-slot channel of [`WatchEvent`]s, across mounts,
//!   including mounts made after the watch started; [`Watcher::merge`]),
//!   [`Drive::download`] ([`Download`]: the block ranges a path needs and how many are
//!   stored), [`Drive::file_stats`] and [`Drive::stats`].
//! - [`AsyncDrive`]: the tokio surface, with [`AsyncFileReader`] (AsyncRead + AsyncSeek) and
//!   [`AsyncFileWriter`] (AsyncWrite).
//! - Replication (next section): [`AsyncDrive::replicate`] over any tokio transport,
//!   [`AsyncDrive::download_all`] ([`CloneReport`]), reads that wait for blocks from peers
//!   ([`DriveOptions::block_timeout`], [`Error::Timeout`]).
//! - [`Error::errno`] gives each error its POSIX number (ENOENT, EEXIST, ENOTDIR, EISDIR,
//!   ENOTEMPTY, EACCES, EINVAL, ETIMEDOUT, …); a block that is not stored locally and that a
//!   read does not wait for is [`Error::NotStored`] (EAGAIN).
//! - [`Clock`] makes Stat times an input.
//! - [`ReadDrive`] ([`ReadFile`]): the read side (stat, lstat, readdir, readlink, open and read
//!   ranges, watch, version) as an object-safe trait that [`Drive`] and its checkouts
//!   implement, so a filesystem layer or a union of drives reads any of them alike.
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
//! # Rename
//! [`Drive::rename`] lists every node under the source in the trie that owns it (and the
//! hidden mount records under it), then applies one batch: a put of each node's value and
//! flags under the new name, then a delete of each old name. A batch is one hypercore append
//! with one signature, so the signed versions are the old tree and the new one; the versions
//! inside the batch are never signed (a reader may still check one out locally, and sees both
//! trees there, never neither). Node sees ordinary put and delete nodes. A rename between two
//! drives (through mounts) is EXDEV, as it cannot be one batch.
//!
//! # Random-access writes
//! Node's Stat describes a file as one contiguous run of content blocks, and Node's
//! `readFile` reads the *whole* blocks `[offset, offset + blocks)` (it ignores `byteOffset`
//! and `size` unless given a range). An edit ([`Drive::write_at`], [`Drive::append`],
//! [`Drive::set_len`], writable descriptors) builds the new file as a list of extents (runs
//! of feed bytes, zeros, or bytes not yet appended) and at commit turns it into blocks and a
//! Stat according to [`WriteMode`]:
//! - [`WriteMode::Compatible`] (the default, because interop with Node is the point of this
//!   crate): the result is always one block-aligned run, so Node reads every file. An append
//!   to a file whose run ends the content feed appends only the new bytes and extends the
//!   run in place; any other edit that leaves the file in pieces rewrites it after the feed's
//!   end (copy-on-write, as Node does). A descriptor spills full blocks early only when that
//!   keeps the run (a streamed write).
//! - [`WriteMode::Extents`]: only the written bytes are appended (one block per 512 KiB of
//!   new bytes). A file that is one block-aligned run afterwards gets a plain Stat; otherwise
//!   its Stat's metadata holds an extent record under [`EXTENTS_KEY`] (`"ddrive:extents"`):
//!
//!   ```text
//!   0x01                                      format
//!   varint size, offset, blocks, byteOffset   the Stat fields the record was written with
//!   repeated: varint len, varint source       source 0: len zero bytes (a hole);
//!                                             source s > 0: content-feed bytes from byte s-1
//!   (varints are protobuf's little-endian base-128)
//!   ```
//!
//!   The Stat's own fields stay meaningful for Node: `size` is the true size, and
//!   `offset`/`blocks`/`byteOffset` span every block the extents touch, so Node's
//!   `download(path)` and `stats(path)` fetch and count the right blocks. Node's *reads* of
//!   such a file are wrong, exactly because Node ignores the record: `readFile` returns the
//!   concatenation of every block in that span (the superseded bytes, the new pieces, and
//!   any other file's blocks appended in between, holes missing), and ranged reads return
//!   `size` bytes from `byteOffset` of that concatenation. When a Stat's fields no longer
//!   match the ones in its record (Node rewrote the file, copying the metadata map as its fd
//!   append does), the record is ignored and the file is read as its run. More than 512
//!   extents make the commit rewrite the file as one run, which bounds the Stat at a few KiB.
//!   In this mode [`Drive::truncate`] also trims or extends without copying.
//!
//! # Hard links, special files and copies
//! A hard link ([`Drive::link`]) gives a file another name in the same drive: each name is an
//! ordinary node holding a full copy of the Stat, tagged under [`LINK_KEY`] with the link's
//! id and count, and a hidden record `ddrive-links/<id>` lists the names. Every change made
//! through this crate (writes, truncates, [`Drive::set_attr`], metadata, link, unlink,
//! a rename that moves or replaces a name) puts the new Stat under every name in one trie
//! batch, so Node reads each name as a plain file with the same content and no signed
//! version shows the names disagreeing. A name Node rewrote or deleted leaves the link at the
//! next update (a name belongs to the link only while its Stat carries the id). Links across
//! drives (through mounts) are EXDEV; at most [`MAX_HARD_LINKS`] names (EMLINK).
//!
//! [`Drive::mknod`] stores FIFOs, sockets and device nodes as Stats with their type bits and
//! no content (a device's number under [`RDEV_KEY`]). [`Drive::copy_file`] copies a whole
//! file by pointing a new Stat at the source's blocks: the feed never rewrites a block, so
//! the two files go their own ways at the next write.
//!
//! # Replication
//! A drive replicates through its corestore, as Node's does: [`AsyncDrive::replicate`] runs
//! [`corestore::Corestore::replicate`] (every loaded core on one hypercore-protocol session,
//! cores loaded later joining it, cores the peer opens served only if the store holds them)
//! and, for a drive whose header has not arrived, fetches block 0 and opens the content feed
//! it names, so that feed joins the session; when a peer announces a longer metadata feed it
//! fetches the newest block (the signed length, as JS's `update`) and tells the drive's
//! watchers. Mounted drives join when a read crosses the mount
//! (the mount's drive is opened from the store). Replication is sparse: blocks move when a
//! read waits for them, or for everything with [`AsyncDrive::download_all`] (metadata, then
//! content up to every block peers announce and every Stat points at, then every mounted
//! drive and hypercore, recursively). [`AsyncDrive::replicate`] returns a
//! [`hypercore::replicate::Replication`]: spawn it, and keep its handle for the peer's Noise
//! keys (hyperswarm's dedup), the blocks and bytes moved per feed, and cancelling.
//!
//! Reads of a feed this store does not write wait for missing blocks (trie nodes, the header,
//! content blocks, the tree nodes a byte seek walks) for [`DriveOptions::block_timeout`]
//! (default 30 s), then fail with [`Error::Timeout`] (ETIMEDOUT) naming the feed, the block
//! and the last peer error; `None` fails at once with [`Error::NotStored`]. The synchronous
//! [`Drive`] blocks its thread ([`hypercore::replicate::SharedFeed::get_blocking`]);
//! [`AsyncDrive`] runs those calls on the blocking pool, and [`AsyncFileReader`] waits for a
//! block there between polls. The trie runs over the shared feed with one node cache per
//! metadata feed, kept across operations and handles (see `feeds.rs`); gets and listings lock
//! the feed only for each node they read from it (never for a cached one), so a long listing
//! does not hold up replication or writers.
//!
//! Tests: `cargo test -p hyperdrive --test replicate` (ddrive to ddrive over an in-memory
//! pipe and TCP on 127.0.0.1, both roles, timeouts), `--test replicate_handle` (the session's
//! counters and cancel), and `cargo test -p ddrive-tests
//! --features interop --test interop_replication` (Node hyperdrive@10 over TCP, both roles,
//! both directions: 1,000 files, a 20 MiB file and a mount).
//!
//! # What is left
//! - Replication: no `hypertrie` get extension and no feed/stream extension messages from the
//!   drive (the session supports them); a sparse byte seek on a replica fetches whole blocks to
//!   learn the tree (one per tree level at worst) instead of asking with `bytes` requests; a
//!   read that times out leaves its block wanted (hypercore's `SharedFeed` has no cancel for
//!   it); only the drive [`AsyncDrive::replicate`] was called on follows a writer's new
//!   versions and notifies its watchers (drives reached through its mounts are read at the
//!   length they have); [`AsyncDrive::download_all`] re-checks the peers' announced lengths
//!   every 200 ms while it waits.
//! - Performance: a directory rename holds every moved node in memory for the batch; every
//!   file write and unlink looks up the node it replaces (one trie get) to learn whether it is
//!   one of several hard links.
//! - Hard links and Node: Node's fd append copies a Stat's metadata, tag included, so a name
//!   Node appended to stays in the link with other content until the next update through
//!   ddrive, which puts one Stat under every name again.
//! - A watch does not follow symlinks. A watcher's event names the drive that changed;
//!   [`Watcher::watched`] says where each drive shows in the watched tree. Two writable descriptors on one file: the last commit wins (as JS).
//! - A descriptor's buffered edits that cannot be spilled without breaking the run
//!   (compatible mode, writes out of order) stay in memory until the commit.
//!
//! # Differences from JS
//! - Reading a directory is EISDIR (JS returns empty content); the streaming writer cuts
//!   blocks at 512 KiB boundaries (JS cuts where the caller's writes were, which also means
//!   timing-dependent boundaries through fds).
//! - A Stat stored with `mtime`/`ctime` 0 reads back as 0 (JS substitutes *now*).
//! - Descriptors: writes may go anywhere (JS refuses anything but sequential writes), a
//!   commit stamps mtime/ctime with *now* (JS keeps the times of the Stat at open), reads and
//!   writes with an explicit position leave the descriptor position alone (`pread`), opening
//!   a directory is EISDIR, a writable descriptor on a read-only drive is EACCES (JS: EINVAL),
//!   `O_TRUNC` follows symlinks (JS truncates the link's own Stat), and `ftruncate` takes any
//!   size (JS only 0). JS's fd write path cuts blocks where its 100 ms / 64 KiB batcher did;
//!   here blocks are cut at 512 KiB.
//! - A watcher also follows drives mounted under its path after it started (JS watches the
//!   mounts present at the start only), and stops hearing from a drive once it is unmounted.
//! - `readdir` of a recursive listing follows mountable-hypertrie, but a mount nested inside a
//!   mount listed through the outer mount's prefix is only descended once.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod async_drive;
mod attr;
mod clock;
mod copy;
mod diff;
mod download;
mod drive;
mod edit;
mod error;
mod fd;
mod feeds;
mod fs;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hidden;
mod layout;
mod link;
mod mount_record;
mod path;
mod proto;
mod read_drive;
mod readdir;
mod reader;
mod rename;
mod replicate;
mod resolve;
mod special;
mod stat;
mod watch;
mod writer;

pub use crate::{
    async_drive::{AsyncDrive, AsyncFileReader, AsyncFileWriter},
    attr::SetAttr,
    clock::Clock,
    diff::{DiffEntry, DiffKind},
    download::{BlockRange, Download},
    drive::{BLOCK_SIZE, DEFAULT_BLOCK_TIMEOUT, Drive, DriveOptions, WriteMode},
    error::{Error, Result, errno},
    fd::{flags, parse_flags},
    fs::{FileStats, MountEntry, MountOptions, WriteOptions},
    layout::EXTENTS_KEY,
    link::{LINK_KEY, MAX_HARD_LINKS},
    mount_record::MountRecord,
    read_drive::{ReadDrive, ReadFile},
    readdir::{DirEntry, ReaddirOptions},
    reader::FileReader,
    replicate::CloneReport,
    special::RDEV_KEY,
    stat::{Metadata, Stat, StatMount, mode},
    watch::{WatchEvent, Watcher},
    writer::FileWriter,
};
