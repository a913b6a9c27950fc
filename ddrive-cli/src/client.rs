//! Calls to a running daemon, each with a deadline (a dead daemon must not hang the CLI).
//!
//! Unary calls get [`CALL_DEADLINE`]; a file upload gets a deadline that grows with its size;
//! a download waits at most [`CHUNK_DEADLINE`] for each chunk, so a stalled daemon stops it.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use ddrive_daemon::ClientConfig;
use ddrive_daemon::proto::{self, drive_client::DriveClient, hyperdrive_client::HyperdriveClient};
use tonic::Request;
use tonic::transport::Channel;

use crate::exit::{Exit, NOT_RUNNING, fail, from_status};

/// How long one call may take.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(5);
/// How long a download waits for its next chunk.
pub(crate) const CHUNK_DEADLINE: Duration = Duration::from_secs(30);
/// A directory listing of a large drive is one message; allow far more than gRPC's 4 MiB.
const MAX_MESSAGE: usize = 256 << 20;

/// A connection to the daemon that `config.json` in `storage` names.
#[derive(Clone)]
pub(crate) struct DaemonClient {
    channel: Channel,
    token: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl DaemonClient {
    /// Connects; `Ok(None)` when no daemon answers there (or there is no config).
    pub(crate) async fn connect(storage: &Path) -> Result<Option<Self>> {
        let Ok(config) = ClientConfig::read(storage) else {
            return Ok(None);
        };
        let token = config
            .token
            .expose()
            .parse()
            .context("the token in config.json is not ASCII")?;
        // The socket first (only our user reaches it), then TCP; each call has its deadline.
        match crate::socket::channel(storage, &config.endpoint).await {
            Ok(channel) => Ok(Some(DaemonClient { channel, token })),
            Err(_) => Ok(None),
        }
    }

    /// Connects, or fails with the not-running message and exit code.
    pub(crate) async fn require(storage: &Path) -> Result<Self> {
        Self::connect(storage)
            .await?
            .ok_or_else(|| fail(Exit::NotRunning, NOT_RUNNING))
    }

    /// A request carrying the token, with a deadline.
    pub(crate) fn req<T>(&self, message: T, deadline: Duration) -> Request<T> {
        let mut r = Request::new(message);
        r.set_timeout(deadline);
        r.metadata_mut().insert("token", self.token.clone());
        r
    }

    /// A request carrying the token, without a deadline (for a watch that runs until Ctrl-C).
    pub(crate) fn untimed<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.metadata_mut().insert("token", self.token.clone());
        r
    }

    /// The connection itself, for the service clients this type has no method for.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A `Drive` service client.
    pub(crate) fn drive(&self) -> DriveClient<Channel> {
        DriveClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// A `Hyperdrive` (daemon) service client.
    pub(crate) fn hyperdrive(&self) -> HyperdriveClient<Channel> {
        HyperdriveClient::new(self.channel.clone())
    }

    /// `Hyperdrive.status`.
    pub(crate) async fn status(&self) -> Result<proto::StatusResponse> {
        Ok(self
            .hyperdrive()
            .status(self.req(proto::StatusRequest {}, CALL_DEADLINE))
            .await
            .map_err(|s| from_status(s, "status"))?
            .into_inner())
    }

    /// `Drive.allStats`.
    pub(crate) async fn all_stats(&self) -> Result<Vec<proto::DriveStats>> {
        Ok(self
            .drive()
            .all_stats(self.req(
                proto::StatsRequest {
                    networking_only: false,
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, "allStats"))?
            .into_inner()
            .stats)
    }
}
