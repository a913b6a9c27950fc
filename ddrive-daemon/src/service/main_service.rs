//! `Hyperdrive`: status and the FUSE refresh.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::App;
use crate::proto::{self, hyperdrive_server::Hyperdrive};
use crate::status::{DAEMON_VERSION, HYPERDRIVE_VERSION, SCHEMA_VERSION};

/// The `Hyperdrive` service.
#[derive(Debug)]
pub(crate) struct HyperdriveService(pub(crate) Arc<App>);

#[tonic::async_trait]
impl Hyperdrive for HyperdriveService {
    async fn status(
        &self,
        _request: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        Ok(Response::new(proto::StatusResponse {
            api_version: crate::API_VERSION,
            daemon_version: DAEMON_VERSION.to_owned(),
            client_version: String::new(),
            schema_version: SCHEMA_VERSION.to_owned(),
            hyperdrive_version: HYPERDRIVE_VERSION.to_owned(),
            fuse_native_version: String::new(),
            hyperdrive_fuse_version: String::new(),
            uptime: self.0.info.uptime_ms(),
            holepunchable: false,
            remote_address: String::new(),
            fuse_available: false,
            fuse_configured: false,
            noise_key: Vec::new(),
        }))
    }

    async fn refresh_fuse(
        &self,
        _request: Request<proto::FuseRefreshRequest>,
    ) -> Result<Response<proto::FuseRefreshResponse>, Status> {
        // Nothing to refresh: this build has no FUSE, and status says so.
        Ok(Response::new(proto::FuseRefreshResponse {}))
    }
}
