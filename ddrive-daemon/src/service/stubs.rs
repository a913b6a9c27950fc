//! Services whose layers are not built yet: FUSE.

use tonic::{Request, Response, Status};

use crate::proto::{self, fuse_server::Fuse};

const NO_FUSE: &str = "FUSE is not available in this build";

/// The `Fuse` service.
#[derive(Debug)]
pub(crate) struct FuseService;

#[tonic::async_trait]
impl Fuse for FuseService {
    async fn mount(
        &self,
        _: Request<proto::MountRequest>,
    ) -> Result<Response<proto::MountResponse>, Status> {
        Err(Status::unimplemented(NO_FUSE))
    }

    async fn unmount(
        &self,
        _: Request<proto::UnmountRequest>,
    ) -> Result<Response<proto::UnmountResponse>, Status> {
        Err(Status::unimplemented(NO_FUSE))
    }

    async fn info(
        &self,
        _: Request<proto::InfoRequest>,
    ) -> Result<Response<proto::InfoResponse>, Status> {
        Err(Status::unimplemented(NO_FUSE))
    }
}
