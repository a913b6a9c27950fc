//! What a daemon is started with.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// The folder the daemon keeps its state in when none is given: `$DDRIVE_STORAGE`, else
/// `~/.ddrive`.
pub(crate) fn default_storage() -> PathBuf {
    if let Some(dir) = std::env::var_os("DDRIVE_STORAGE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".ddrive")
}

/// Where the swarm finds its first DHT nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Bootstrap {
    /// The public hyperswarm bootstrap nodes.
    #[default]
    Public,
    /// No DHT at all (`--bootstrap none`).
    None,
    /// These `host:port` nodes.
    Nodes(Vec<String>),
}

impl Bootstrap {
    /// Parses the `--bootstrap` flag: `none` (or Node's `false`) for no DHT, else a
    /// comma-separated list of `host:port`.
    pub fn parse(flag: &str) -> Self {
        match flag.trim() {
            "" => Bootstrap::Public,
            "none" | "false" => Bootstrap::None,
            list => Bootstrap::Nodes(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        }
    }
}

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A daemon's settings ([`crate::Daemon::start`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// The state folder (default `$DDRIVE_STORAGE`, else `~/.ddrive`).
    pub storage: PathBuf,
    /// The address the API listens on (default 127.0.0.1; the API has no TLS, so anything
    /// but loopback exposes the token on the network).
    pub host: IpAddr,
    /// The API port (default 3101; 0 picks a free one, see [`crate::Daemon::local_addr`]).
    pub port: u16,
    /// Keep cores and state in memory only; `config.json` is still written.
    pub memory_only: bool,
    /// DHT bootstrap nodes.
    pub bootstrap: Bootstrap,
    /// Never announce drives on the DHT.
    pub no_announce: bool,
    /// The preferred swarm port (default 49737, Node's); when taken, the next two and then
    /// random ones are tried.
    pub swarm_port: u16,
    /// The address the swarm binds (TCP and UDP; default 0.0.0.0, every interface, as Node).
    pub swarm_host: Ipv4Addr,
    /// LAN discovery over multicast DNS (default on, as Node). Off when the host cannot join
    /// the multicast group.
    pub lan: bool,
    /// How long a read of a block only peers hold waits for it (default 30 s) before failing.
    pub block_timeout: Duration,
    /// The log filter (`info`, `debug`, `ddrive_daemon=trace`, …) for whoever sets up logging.
    pub log_level: String,
    /// The log format for whoever sets up logging.
    pub log_format: LogFormat,
    /// The API token; `None` draws a new random one at every start.
    pub token: Option<crate::Token>,
    /// Where the root drive is mounted with FUSE at start (the CLI's default is
    /// [`default_mountpoint`]); `None` (the library default, and `--no-fuse`): no mount.
    pub mountpoint: Option<PathBuf>,
    /// Mount with `allow_other` and `default_permissions`: other users reach the mount and
    /// are checked against the mode bits (`--allow-other`).
    pub allow_other: bool,
    /// How long a FUSE read waits for blocks from peers before failing with EIO.
    pub fuse_read_timeout: Duration,
}

/// `~/DDrive`: where the CLI mounts the root drive unless told otherwise.
pub fn default_mountpoint() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join("DDrive")
}

impl Default for Config {
    fn default() -> Self {
        Config {
            storage: default_storage(),
            host: IpAddr::from([127, 0, 0, 1]),
            port: 3101,
            memory_only: false,
            bootstrap: Bootstrap::Public,
            no_announce: false,
            swarm_port: 49737,
            swarm_host: Ipv4Addr::UNSPECIFIED,
            lan: true,
            block_timeout: hyperdrive::DEFAULT_BLOCK_TIMEOUT,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            token: None,
            mountpoint: None,
            allow_other: false,
            fuse_read_timeout: hyperdrive::DEFAULT_BLOCK_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_flag() {
        assert_eq!(Bootstrap::parse("none"), Bootstrap::None);
        assert_eq!(Bootstrap::parse("false"), Bootstrap::None);
        assert_eq!(Bootstrap::parse(""), Bootstrap::Public);
        assert_eq!(
            Bootstrap::parse("127.0.0.1:1, 127.0.0.1:2"),
            Bootstrap::Nodes(vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()])
        );
    }
}
