//! `Hyperdrive`: status and the FUSE refresh.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::App;
use crate::proto::{self, hyperdrive_server::Hyperdrive};
use crate::status::{DAEMON_VERSION, HYPERDRIVE_VERSION, SCHEMA_VERSION, network_status};

/// The `Hyperdrive` service.
#[derive(Debug)]
pub(crate) struct HyperdriveService(pub(crate) Arc<App>);

#[tonic::async_trait]
impl Hyperdrive for HyperdriveService {
    async fn status(
        &self,
        _request: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let mut rsp = proto::StatusResponse {
            api_version: crate::API_VERSION,
            daemon_version: DAEMON_VERSION.to_owned(),
            schema_version: SCHEMA_VERSION.to_owned(),
            hyperdrive_version: HYPERDRIVE_VERSION.to_owned(),
            uptime: self.0.info.uptime_ms(),
            fuse_available: false,
            fuse_configured: false,
            drive_count: u32::try_from(self.0.drives.open_drives().len()).unwrap_or(u32::MAX),
            ..Default::default()
        };
        network_status(&self.0.network, &mut rsp);
        Ok(Response::new(rsp))
    }

    async fn refresh_fuse(
        &self,
        _request: Request<proto::FuseRefreshRequest>,
    ) -> Result<Response<proto::FuseRefreshResponse>, Status> {
        // Nothing to refresh: this build has no FUSE, and status says so.
        Ok(Response::new(proto::FuseRefreshResponse {}))
    }
}
