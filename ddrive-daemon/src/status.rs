//! What `Hyperdrive.status` reports.

use std::time::Instant;

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

/// This daemon's version.
pub(crate) const DAEMON_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The hyperdrive-schemas version whose API the daemon serves.
pub(crate) const SCHEMA_VERSION: &str = "1.11.0";
/// The Node hyperdrive release whose drives ours match byte for byte.
pub(crate) const HYPERDRIVE_VERSION: &str = "10.21.0";
