//! What `Hyperdrive.status` reports.

use std::time::Instant;

use crate::network::Network;
use crate::proto;

/// The versions and start time of a running daemon.
#[derive(Debug)]
pub(crate) struct DaemonInfo {
    pub(crate) started: Instant,
}

impl DaemonInfo {
    pub(crate) fn new() -> Self {
        DaemonInfo {
            started: Instant::now(),
        }
    }

    /// Milliseconds since the daemon started.
    pub(crate) fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Fills the network part of a status answer with what is observed now: the DHT's state and
/// node count, our address as the DHT's nodes report it (and whether they agree on it:
/// holepunchable, dht-rpc's rule), the connected peers and joined topics.
pub(crate) fn network_status(network: &Network, rsp: &mut proto::StatusResponse) {
    let dht = network.dht.snapshot();
    rsp.holepunchable = dht.holepunchable;
    rsp.remote_address = dht
        .remote_address
        .map(|a| a.to_string())
        .unwrap_or_default();
    rsp.noise_key = network.noise_key().to_vec();
    rsp.dht_state = dht.state.name().to_owned();
    rsp.dht_nodes = u32::try_from(dht.nodes).unwrap_or(u32::MAX);
    rsp.dht_attempts = dht.attempts;
    rsp.peer_count = u32::try_from(network.peers.count()).unwrap_or(u32::MAX);
    rsp.swarm_port = u32::from(network.swarm_port());
    rsp.swarm_error = network.swarm_error().unwrap_or_default().to_owned();
    rsp.topic_count = u32::try_from(network.topic_count()).unwrap_or(u32::MAX);
}

/// This daemon's version.
pub(crate) const DAEMON_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The hyperdrive-schemas version whose API the daemon serves.
pub(crate) const SCHEMA_VERSION: &str = "1.11.0";
/// The Node hyperdrive release whose drives ours match byte for byte.
pub(crate) const HYPERDRIVE_VERSION: &str = "10.21.0";
