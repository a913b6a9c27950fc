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
//! <storage>/state.redb           drive index, network configurations, root drive record
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
//! Not served yet: FUSE (UNIMPLEMENTED "FUSE is not available in this build"), mirroring, and
//! the fd-based `open`/`read`/`write` the Node daemon never implemented either
//! (UNIMPLEMENTED).
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
mod network;
pub mod proto;
mod service;
mod sessions;
mod state;
mod status;

pub use crate::{
    client_config::{ClientConfig, Token},
    config::{Bootstrap, Config, LogFormat},
    daemon::Daemon,
    error::{Error, Result},
    state::{DriveRecord, NetworkRecord, RootDriveRecord},
};

/// The API version the daemon speaks (the Node client refuses any other).
pub const API_VERSION: u64 = 0;

/// File contents travel in chunks of at most this many bytes (the Node daemon's size, under
/// gRPC's default 4 MiB message limit).
pub const CHUNK_SIZE: usize = 3_900_000;
