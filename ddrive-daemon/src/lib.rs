//! The ddrive daemon: one process that holds many drives and serves them to local clients over
//! the hyperdrive-daemon gRPC API (hyperdrive-schemas 1.11, API version 0), so the Node
//! `hyperdrive-daemon-client@1.16` talks to it as it talks to `hyperdrive-daemon@1.14`.
//!
//! # Brief overview
//! - [`Daemon::start`] takes a [`Config`] (storage folder, loopback host and port, memory-only,
//!   bootstrap list, …), opens the state and the corestore, writes `config.json`, binds the
//!   listener and returns a [`Daemon`] handle; [`Daemon::shutdown`] stops serving and flushes
//!   every core and the state database.
//! - [`ClientConfig`]: the `{"token","endpoint"}` file clients read, rewritten at every start
//!   (0600, written to a temporary file, synced, then renamed over the old one).
//! - [`proto`]: the generated messages, servers and clients of the API.
//!
//! # Layout on disk
//! ```text
//! <storage>/config.json          {"token": 128 hex chars, "endpoint": "<host>:<port>"}
//! <storage>/state.redb           drive index, network configurations, root drive record,
//!                                mirrors, unions
//! <storage>/run/ddrive.sock       the Unix socket (folder 0700)
//! <storage>/storage/cores/       the corestore 5 folder (master_key, <dk0:2>/<dk2:4>/<dk>/…)
//! ```
//!
//! # The API
//! Services and method paths are package-less, as the Node client calls them (`/Drive/get`,
//! `/Hyperdrive/status`). Every call must carry the metadata key `token` (compared in constant
//! time) or fails with UNAUTHENTICATED "Invalid auth token.". `Drive.get` opens a drive (by
//! key, a version for a read-only checkout, or a new writable drive when no key is given) and
//! returns a session id (never 0); every file operation names its session. Errors are gRPC
//! statuses whose message names the operation, the drive and the path; a handler that panics
//! answers INTERNAL and the daemon goes on. File contents move in chunks below gRPC's 4 MiB
//! message limit (3.9e6 bytes, the Node daemon's size); writes stream into the drive as they
//! arrive, so neither side needs a whole file in memory, and a write whose stream breaks before
//! its end leaves no file behind.
//!
//! # FUSE
//! With [`Config::mountpoint`] set (the CLI's default is [`default_mountpoint`], `~/DDrive`;
//! `--no-fuse` leaves it unset) and `/dev/fuse` present, the daemon mounts the user's root
//! drive there at start: made on the first start, remembered in the state database, never
//! announced. A dead mount a killed daemon left at the mountpoint is found in
//! `/proc/self/mountinfo`, aborted and detached first ([`force_unmount`] does the same by
//! hand); [`Daemon::shutdown`] unmounts. The mount holds the root drive's folders and files
//! (POSIX reads and writes at any offset, appends, truncation, renames of files and folders,
//! symlinks, modes, owners, times, `user.*` xattrs, real `statfs`), sub-drives mounted inside
//! it through the `Fuse` service, and the read-only `Network/` folder (any drive by key, a
//! checkout as `<key>+<version>`, per-drive stats). [`Config::allow_other`] mounts with
//! `allow_other,default_permissions`; a read that needs blocks from peers waits at most
//! [`Config::fuse_read_timeout`] and fails with EIO. Writes are staged per open file and
//! committed as one Stat on `close`, `fsync` (durable) and the last release, so files stay
//! readable by Node's hyperdrive. Hard links (with their count) and special files (FIFOs,
//! sockets, device nodes) are kept in the drive; `copy_file_range` is left to the kernel's
//! read-and-write fallback. `Hyperdrive.status` reports the mount as the kernel's mount table shows it.
//! Tests: `cargo test -p ddrive-daemon --test fuse_posix --test fuse_apps --test fuse_drives
//! --test fuse_recovery` (skipped, with a message, where `/dev/fuse` is missing).
//!
//! # Network
//! One hyperswarm swarm per daemon ([`Config::bootstrap`]: the public nodes, a `host:port`
//! list, or none; [`Config::swarm_port`] preferred; LAN discovery unless [`Config::lan`] is
//! off), joined per drive network configuration (`configureNetwork`: lookup/announce, and
//! `remember` kept in the state database and joined again at every start; a drive opened only
//! to read is looked up; [`Config::no_announce`] turns announcing off). Every connection runs
//! one live replication session of the whole corestore with the daemon's Noise key pair
//! (derived from the store's master key), and hyperswarm's dedup rule drops the duplicate of
//! two connections between the same daemons. Reads of blocks only peers hold wait for them up
//! to [`Config::block_timeout`] (30 s) and then fail with DEADLINE_EXCEEDED naming the drive
//! and the path; `download` fetches in the background. A DHT that reaches no bootstrap node
//! is retried with backoff and shown in `status` (`dhtState`, `dhtNodes`, additions to the
//! schema's StatusResponse that old clients skip), never fatal; a peer that sends anything but
//! hypercore-protocol loses its connection. `Peers` and `Peersockets` are served as the Node
//! daemon serves them (peersockets are stream extensions `peersockets/v0/<topic>`).
//!
//! Beyond the Node daemon: the RPCs it declared and never served (the `Hypercore` service:
//! sessions on plain cores, append, length, getBlocks; `Drive.open`/`read`/`write`
//! descriptors, closed by `DDrive.closeFd`; `Drive.active`), `Drive.mirror` and `unmirror`
//! as it served them (recorded, resumed at start), and the `DDrive` service
//! (`proto/ddrive/ddrive.proto`) that old clients never see: tags and checkout by tag,
//! rename, truncate, flush, `deleteDrive` (the drive's cores and records go; refused while a
//! session holds it), `gc` (clears the content blocks that neither the latest version nor a
//! tagged one refers to, so the disk shrinks) and union drives (`multidrive`).
//!
//! Listeners: TCP on the configured host (the Node client's) and a Unix socket at
//! [`socket_path`] (`<storage>/run/ddrive.sock`, in a 0700 folder) that serves only
//! connections whose peer runs as the daemon's user; both ask for the token.
//!
//! Tests: `cargo test -p ddrive-daemon` (the daemon through its own gRPC client: config.json,
//! auth, chunked files, bad requests, a client killed mid-stream, watches; `--test network`:
//! daemons replicating on 127.0.0.1 over a local DHT bootstrap node) and `cargo test -p
//! ddrive-tests --features interop --test interop_daemon` (Node's hyperdrive-daemon-client).
//!
//! # Differences from the Node daemon
//! - The listener binds the configured host (127.0.0.1 by default), never 0.0.0.0 unless asked.
//! - Errors are specific gRPC codes (NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT, …), never
//!   UNKNOWN; `createReadStream` of a missing path fails with a status (Node never ends it).
//! - A checkout session is read-only (Node let writes through to the live drive); a write to
//!   a path under a file fails.
//! - `readdir` of a missing directory is NOT_FOUND (Node returned an empty list).
//! - One network configuration per drive, persisted or not, and that is what is reported
//!   (Node let a transient map shadow the remembered one).
//! - `updateMetadata` with several keys appends one version per key.
//! - Every remembered configuration is joined at start, lookup-only ones too, and with
//!   `--no-announce` as lookups (Node rejoined only announcing ones, and none at all with
//!   `--no-announce`); connections from 127.0.0.1 replicate (Node's networker drops them).
//! - `Peers.getKey` of an unknown alias is NOT_FOUND (Node answered an empty key); `watchPeers`
//!   and `listPeers` without a discovery key cover every connection; aliases are bounded.
//!
//! # Example
//! ```
//! use ddrive_daemon::{Bootstrap, ClientConfig, Config, Daemon};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let config = Config {
//!     storage: dir.path().to_owned(),
//!     port: 0, // any free port
//!     bootstrap: Bootstrap::None, // no DHT
//!     lan: false,                 // and no LAN discovery
//!     ..Config::default()
//! };
//! let daemon = Daemon::start(config).await?;
//! // Clients find the daemon through config.json.
//! let written = ClientConfig::read(dir.path())?;
//! assert_eq!(written.endpoint, daemon.local_addr().to_string());
//! daemon.shutdown().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod client_config;
mod config;
mod daemon;
mod drives;
mod error;
mod fuse;
mod listener;
mod network;
pub mod proto;
mod records;
mod service;
mod sessions;
mod state;
mod status;

pub use crate::{
    client_config::{ClientConfig, Token},
    config::{Bootstrap, Config, LogFormat, default_mountpoint},
    daemon::Daemon,
    error::{Error, Result},
    fuse::force_unmount,
    listener::socket_path,
    state::{DriveRecord, NetworkRecord, RootDriveRecord},
};

/// The API version the daemon speaks (the Node client refuses any other).
pub const API_VERSION: u64 = 0;

/// File contents travel in chunks of at most this many bytes (the Node daemon's size, under
/// gRPC's default 4 MiB message limit).
pub const CHUNK_SIZE: usize = 3_900_000;
