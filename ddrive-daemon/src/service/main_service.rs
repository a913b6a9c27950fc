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
            // FUSE is on (not --no-fuse) and the machine has /dev/fuse.
            fuse_available: self.0.fuse.configured(),
            // Observed: the kernel lists the mount now (not that it was mounted once).
            fuse_configured: self.0.fuse.current().is_some_and(|m| m.is_mounted()),
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
        // Mounts the root drive if it is not (FUSE newly available, or the mount went away).
        if self.0.fuse.configured() {
            self.0
                .fuse
                .mount_root(&self.0.drives)
                .await
                .map_err(|e| Status::unavailable(format!("refreshFuse: {e}")))?;
        }
        Ok(Response::new(proto::FuseRefreshResponse {}))
    }
}
