//! Calls to a running daemon, each with a deadline (a dead daemon must not hang the CLI).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use ddrive_daemon::ClientConfig;
use ddrive_daemon::proto::{self, drive_client::DriveClient, hyperdrive_client::HyperdriveClient};
use tonic::Request;
use tonic::transport::Channel;

/// How long one call may take.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// A connection to the daemon that `config.json` in `storage` names.
pub(crate) struct DaemonClient {
    channel: Channel,
    token: String,
}

impl DaemonClient {
    /// Connects; `Ok(None)` when no daemon answers there (or there is no config).
    pub(crate) async fn connect(storage: &Path) -> Result<Option<Self>> {
        let Ok(config) = ClientConfig::read(storage) else {
            return Ok(None);
        };
        // The socket first (only our user reaches it), then TCP; each call has its deadline.
        match crate::socket::channel(storage, &config.endpoint).await {
            Ok(channel) => Ok(Some(DaemonClient {
                channel,
                token: config.token.expose().to_owned(),
            })),
            Err(_) => Ok(None),
        }
    }

    fn req<T>(&self, message: T) -> Result<Request<T>> {
        let mut r = Request::new(message);
        r.set_timeout(CALL_DEADLINE);
        r.metadata_mut().insert(
            "token",
            self.token
                .parse()
                .context("the token in config.json is not ASCII")?,
        );
        Ok(r)
    }

    /// `Hyperdrive.status`.
    pub(crate) async fn status(&self) -> Result<proto::StatusResponse> {
        let mut c = HyperdriveClient::new(self.channel.clone());
        Ok(c.status(self.req(proto::StatusRequest {})?)
            .await?
            .into_inner())
    }

    /// `Drive.allStats`.
    pub(crate) async fn all_stats(&self) -> Result<Vec<proto::DriveStats>> {
        let mut c = DriveClient::new(self.channel.clone());
        Ok(c.all_stats(self.req(proto::StatsRequest {
            networking_only: false,
        })?)
        .await?
        .into_inner()
        .stats)
    }
}
