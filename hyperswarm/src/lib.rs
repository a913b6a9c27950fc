//! Hyperswarm 2 peer discovery for ddrive: the DHT of `dht-rpc` 4 /
//! `@hyperswarm/dht` 4, wire-compatible with the Node reference
//! (dht-rpc 4.9.6, @hyperswarm/dht 4.0.1, hyperswarm 2.15.3).
//!
//! # Why hand-written
//! No Rust crate speaks dht-rpc 4: the existing Kademlia crates (libp2p-kad,
//! mainline/BitTorrent DHT) use other encodings, and the Rust hyperswarm ports
//! target the later HyperDHT 5+ (Noise over UDX, compact-encoding), which is
//! not wire-compatible with the Hyperdrive 10 generation. The protocol is
//! small (one protobuf message, a few commands), so it is implemented here
//! from the Node source and traces captured from Node peers (`tests/traces`,
//! written by `tests/js/traces/swarm.js`; the datagram layout is in
//! `docs/wire.md`).
//!
//! # What works
//! * [`message`], [`addr`], [`peers_value`]: the datagram codec (`version`
//!   written first, byte-exact with Node, checked against every datagram of
//!   the reference traces), the 6-byte peer, 38-byte node and 4-byte local
//!   encodings, and the `peers` command values.
//! * [`Node`]: a sans-IO DHT node (quinn-proto style: feed datagrams and
//!   time in, take datagrams and events out). Request ids, the 750 ms
//!   retry/timeout schedule (3 sends, `ETIMEDOUT` at the 10th tick),
//!   request rate limiting, round-trip tokens with 5-minute rotation, the
//!   k-bucket routing table (k = 20) with eviction pings, periodic
//!   maintenance and re-bootstrap, ephemeral vs persistent ids, `_ping`,
//!   `_find_node`, the `_holepunch` relay and fast holepunch of slow nodes,
//!   iterative `query` / `update` / `queryAndUpdate` walks, and the `peers`
//!   command (announce / lookup / unannounce, LAN records) over a
//!   two-generation record store with Node's limits and lifetimes.
//! * [`udp`]: tokio glue running a [`Node`] over one UDP socket, with a
//!   bootstrap mode (`bootstrap: []`, persistent) and [`Dht::holepunch`]
//!   (dht-rpc's `holepunch(peer, referrer)`). `tests/netns` runs it between
//!   two peers behind simulated NATs (iptables MASQUERADE in namespaces the
//!   test creates) with a relay DHT node between: a direct ping is dropped
//!   by the NAT before, the holepunch opens both mappings through the relay,
//!   and a direct ping passes after. The relayed messages are checked
//!   byte-for-byte against Node's traces (`tests/node_sim.rs`).
//! * [`Swarm`] (hyperswarm 2): `join(topic, {announce, lookup})` (returns
//!   after the first DHT cycle, like Node's `onjoin`), `leave(topic)`
//!   (unannounces), [`Swarm::next_connection`] yielding [`Connection`]s (a
//!   TCP byte stream plus whether we dialled, the peer's address and the
//!   topic), a bootstrap list (empty = isolated), max peers (24; extra
//!   incoming sockets are closed at once), and a shutdown that unannounces.
//!   TCP listens on the DHT's UDP port number; announce/lookup cycles run at
//!   once and then every 5–10 min. Checked against Node hyperswarm 2.15.3
//!   both ways (`tests/swarm_interop.rs`).
//! * [`utp`]: uTP (BEP 29, libutp's wire format) on the DHT's own UDP
//!   socket, through the `librqbit-utp` crate. The DHT task demultiplexes
//!   as utp-native does (a datagram of ≥ 20 bytes whose first byte's low
//!   nibble is 1 is uTP; a dht-rpc datagram starts with 0x58). A dial races
//!   TCP against uTP like @hyperswarm/network: TCP at once, uTP after a
//!   successful holepunch through the peer's referrer, and (unlike Node)
//!   also uTP when TCP failed without a holepunch; the first to connect
//!   wins. Incoming uTP is accepted on the shared port; [`Connection`]s
//!   carry a [`Stream`] (TCP or uTP) and [`ConnectionInfo::transport`], and
//!   the dedup rule prefers TCP. [`SwarmConfig::tcp`] / [`SwarmConfig::utp`]
//!   switch either off. Tested: two ddrive swarms over uTP with TCP off
//!   (`tests/swarm_utp.rs`, 4 MiB both ways), and ddrive with TCP off
//!   against Node hyperswarm 2.15.3 both ways, ddrive dialling utp-native
//!   and Node dialling us (`tests/swarm_interop.rs`).
//! * [`peer_queue`]: hyperswarm's dial queue, sans-IO: `host:port@topic`
//!   keys, priorities 3 (LAN) / 2 / 1 (behind our own public IP, one
//!   attempt), shuffled within a level, backoff 1 s / 5 s / 15 s on bulk
//!   timers at priorities 5 / 4 / 1 (0 if never connected), forgetting after
//!   7.5 s, bans.
//! * [`dedup`]: the double-connection rule as a pure function and a table
//!   (smaller Noise static key's dial survives; TCP beats uTP; self
//!   connections), exposed on the swarm as [`Swarm::deduplicate`] for the
//!   Noise layer to call after its handshake.
//! * [`mdns`], [`lan`], [`lan_socket`]: the multicast DNS packets of
//!   @hyperswarm/discovery (byte-exact with multicast-dns/dns-packet,
//!   `tests/mdns.rs`), a sans-IO announcer/responder (queries every 30–60 s,
//!   answers SRV + TXT id + referrer A, ignores its own id), and its socket
//!   glue on 224.0.0.251:5353 (`SO_REUSEADDR`, TTL 255, loopback on, as
//!   multicast-dns). With [`SwarmConfig::lan`] set, the swarm announces and
//!   looks its topics up on the LAN too and dials the peers it hears of
//!   first (priority 3, TCP), so two swarms with an empty bootstrap list
//!   find each other on a LAN. `tests/netns` checks this over real
//!   multicast between two network namespaces, ddrive with ddrive and (with
//!   `interop`) ddrive with Node hyperswarm 2.15.3 both ways.
//!
//! # What does not (yet)
//! * uTP limits, all in `librqbit-utp` 0.7 (the one maintained crate
//!   found that speaks libutp's format; `utp` 0.7 and `tokio-utp` 0.3 are
//!   unmaintained, `libutp-rs` wraps the C library, `utp-rs` is the Portal
//!   network's variant):
//!   - an accepted stream is established only when the dialer sends a
//!     packet, and libutp sends none until its application writes; our
//!     writes wait until then. With hypercore-protocol the dialer (the
//!     Noise initiator) writes first, so this holds; an application whose
//!     acceptor speaks first would stall. The SYN-ACK is re-sent for 10 s
//!     (50 tries instead of 5) so a slow dialer still gets through.
//!   - `poll_shutdown` resolves only once the whole connection is closed
//!     (no TCP-like half close; Node's hyperswarm ends both ways anyway).
//!   - after its own FIN is acked a dropped stream forgets the connection,
//!     so the peer's later FIN is never acked: libutp re-sends it for about
//!     30 s before giving up, which delays a Node peer's close.
//!   - the holepunched uTP path is only checked on 127.0.0.1; the netns
//!     NAT test still checks the holepunch with DHT pings, not uTP.
//! * LAN discovery is off unless [`SwarmConfig::lan`] is set (Node's
//!   default is on): a swarm never multicasts unless asked. It joins the
//!   group on one interface (or the kernel's choice by the multicast
//!   route), where multicast-dns joins on every IPv4 interface.
//! * The swarm does not close connections it handed out: at shutdown or
//!   when a dedup names a duplicate, closing is the caller's job.
//! * `mutable-store` / `immutable-store`: answered with
//!   `"Unsupported command"` (Node stores them; hyperswarm does not use them).
//! * Adaptive ephemeral → persistent switching (`holepunchable()` tally);
//!   [`Node::make_persistent`] does the switch on request.
//!
//! # Benchmarks
//! `cargo run --release -p hyperswarm --example bench_hyperswarm` prints one
//! JSON line, ddrive beside Node in the same run on 127.0.0.1 (medians of
//! 3 runs on the 2-core dev machine, load generator on the same cores):
//! * join → first connection over a local bootstrap node: ddrive 0.06 ms,
//!   Node 0.95 ms (10 rounds each; both a DHT round trip plus a TCP
//!   connect on loopback, Node's cost being its event loop and timers);
//! * `peers` lookups answered per second by one node: ddrive ≈ 195 000,
//!   Node ≈ 85 000 (200 000 requests, 128 in flight);
//! * RSS growth of a node storing 10 000 announces (one per topic): ddrive
//!   3.1 MiB (≈ 330 bytes a record), Node 16 MiB (≈ 1.7 KB a record).
//!
//! # Deliberate differences from Node
//! * Datagrams over [`message::MAX_DATAGRAM`] bytes, fields with the wrong
//!   protobuf wire type, truncated fields and command targets that are not
//!   32 bytes are dropped (Node reads some of them leniently).
//! * A `peers` request without a value is treated as an empty one (Node
//!   throws and crashes the process); a local address that is not 6 bytes is
//!   ignored.
//! * Memory is bounded: at most 4096 requests in flight and 4096 queued, 16
//!   concurrent eviction ping chains, 4096 uncollected datagrams/events, and
//!   16 384 peers remembered by the dial queue.
//! * The swarm dials up to 4 queued peers at once (Node wakes its queue one
//!   dial at a time); a queued peer whose topic was left is forgotten (Node
//!   leaves it marked active forever, so a re-join could never dial it).
//! * A DHT cycle reports its peers when the walk ends (Node streams them per
//!   reply).
//! * An mDNS SRV target that is neither `0.0.0.0` nor an IPv4 address is
//!   ignored (Node would resolve the host name).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod accept;
pub mod addr;
pub mod connection;
pub mod dedup;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod lan;
pub mod lan_socket;
pub mod mdns;
pub mod message;
pub mod node;
mod pb;
pub mod peer_queue;
pub mod peers_value;
pub mod query;
pub mod records;
pub mod routing;
pub mod swarm;
pub mod token;
pub mod udp;
pub mod utp;

pub use addr::{NodeAddr, NodeId};
pub use connection::{Connection, ConnectionId, ConnectionInfo, Stream};
pub use dedup::{Transport, Verdict};
pub use error::{DecodeError, RpcError};
pub use lan_socket::{LanConfig, LanSocket};
pub use message::{Holepunch, Message, MessageType};
pub use node::{Config, Event, Node, OpId, Reply, Transmit};
pub use peers_value::{FoundPeers, PeersInput, PeersOutput};
pub use query::{QueryId, QueryStats};
pub use swarm::{JoinOptions, Swarm, SwarmConfig, SwarmError, SwarmStats};
pub use udp::{Dht, DhtInfo, QueryOutput};
