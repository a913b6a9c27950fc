//! Watching the DHT: is it bootstrapped, how many nodes it knows, what address the world sees
//! us at. A DHT that reaches no bootstrap node is retried with backoff (1 s doubling to 60 s)
//! and reported, never fatal (the Node daemon died of it).

use std::net::SocketAddrV4;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use hyperswarm::Swarm;

use super::{Network, lock, resolve};

/// How long one DHT call (info, a bootstrap walk, a ping) may take.
const DHT_CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a bootstrapped DHT is looked at again.
const CHECK_EVERY: Duration = Duration::from_secs(15);
/// Longest wait between two bootstrap attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where the DHT is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DhtState {
    /// No bootstrap nodes (`--bootstrap none`): no DHT.
    Disabled,
    /// The first walk is under way.
    Bootstrapping,
    /// Bootstrapped, with nodes in the routing table.
    Bootstrapped,
    /// No bootstrap node answered; trying again with backoff.
    Retrying,
}

impl DhtState {
    /// The name status reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            DhtState::Disabled => "disabled",
            DhtState::Bootstrapping => "bootstrapping",
            DhtState::Bootstrapped => "bootstrapped",
            DhtState::Retrying => "retrying",
        }
    }
}

/// What status shows of the DHT.
#[derive(Clone, Debug)]
pub(crate) struct DhtSnapshot {
    pub(crate) state: DhtState,
    /// Nodes in the routing table.
    pub(crate) nodes: usize,
    /// Failed bootstrap attempts since the last success.
    pub(crate) attempts: u32,
    /// Our address as the DHT reports it.
    pub(crate) remote_address: Option<SocketAddrV4>,
    /// Whether the DHT's nodes agree on it.
    pub(crate) holepunchable: bool,
}

/// The latest snapshot, shared with status.
#[derive(Debug)]
pub(crate) struct DhtStatus {
    snapshot: Mutex<DhtSnapshot>,
}

impl DhtStatus {
    pub(crate) fn new(state: DhtState) -> Self {
        DhtStatus {
            snapshot: Mutex::new(DhtSnapshot {
                state,
                nodes: 0,
                attempts: 0,
                remote_address: None,
                holepunchable: false,
            }),
        }
    }

    pub(crate) fn snapshot(&self) -> DhtSnapshot {
        lock(&self.snapshot).clone()
    }

    fn set(&self, f: impl FnOnce(&mut DhtSnapshot)) {
        f(&mut lock(&self.snapshot));
    }
}

fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(MAX_BACKOFF)
}

/// Runs until the daemon stops: checks the DHT, retries bootstrapping while it has no nodes,
/// and joins every topic again when it comes back.
pub(crate) async fn monitor(
    network: Weak<Network>,
    swarm: Weak<Swarm>,
    names: Vec<String>,
    mut resolved: Vec<SocketAddrV4>,
) {
    let mut was_up = false;
    let mut attempts: u32 = 0;
    loop {
        let Some(status) = network.upgrade().map(|n| n.dht.clone()) else {
            return;
        };
        let info = {
            let Some(s) = swarm.upgrade() else { return };
            tokio::time::timeout(DHT_CALL_TIMEOUT, s.dht().info()).await
        };
        let Ok(Ok(info)) = info else {
            // The DHT task is gone (shutting down) or stuck: look again later.
            tokio::time::sleep(CHECK_EVERY).await;
            continue;
        };
        // A node with an empty bootstrap list calls itself bootstrapped; with a list, only
        // nodes in the table make a DHT.
        let up = info.bootstrapped && info.nodes > 0;
        if up {
            if !was_up && attempts > 0 {
                tracing::info!(
                    nodes = info.nodes,
                    "DHT reachable again; joining every topic"
                );
                if let Some(n) = network.upgrade() {
                    n.rejoin_all();
                }
            }
            was_up = true;
            attempts = 0;
            status.set(|s| {
                s.state = DhtState::Bootstrapped;
                s.nodes = info.nodes;
                s.attempts = 0;
                s.remote_address = info.remote_address;
                s.holepunchable = info.holepunchable;
            });
            drop(status);
            tokio::time::sleep(CHECK_EVERY).await;
            continue;
        }
        if was_up || attempts > 0 || !info.bootstrapped {
            // The first walk gets its chance before we call it a failure.
            let walked = {
                let Some(s) = swarm.upgrade() else { return };
                if resolved.is_empty() {
                    // Nothing resolved at start (offline?): resolve again and introduce
                    // ourselves to what answers.
                    resolved = resolve(&names).await;
                    for addr in &resolved {
                        let _ = tokio::time::timeout(DHT_CALL_TIMEOUT, s.dht().ping(*addr)).await;
                    }
                    true
                } else {
                    if attempts > 0 {
                        let _ = s.dht().bootstrap().await;
                    }
                    matches!(
                        tokio::time::timeout(DHT_CALL_TIMEOUT, s.dht().ready()).await,
                        Ok(Ok(()))
                    )
                }
            };
            if walked {
                let Some(s) = swarm.upgrade() else { return };
                if let Ok(Ok(i)) = tokio::time::timeout(DHT_CALL_TIMEOUT, s.dht().info()).await
                    && i.bootstrapped
                    && i.nodes > 0
                {
                    continue;
                }
            }
        }
        was_up = false;
        attempts = attempts.saturating_add(1);
        tracing::warn!(attempts, "no DHT bootstrap node answers; retrying");
        status.set(|s| {
            s.state = DhtState::Retrying;
            s.nodes = info.nodes;
            s.attempts = attempts;
            s.remote_address = None;
            s.holepunchable = false;
        });
        drop(status);
        tokio::time::sleep(backoff(attempts)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(32));
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(60), MAX_BACKOFF);
    }
}
