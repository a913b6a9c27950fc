//! Services whose layers are not built yet: peers (no swarm runs yet).

use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::proto::{self, peers_server::Peers, peersockets_server::Peersockets};

const NO_NETWORK: &str = "peer networking is not available in this build of the daemon yet";

/// The `Peers` service: no swarm runs yet, so there are no peers to list.
#[derive(Debug)]
pub(crate) struct PeersService;

#[tonic::async_trait]
impl Peers for PeersService {
    async fn get_key(
        &self,
        r: Request<proto::GetKeyRequest>,
    ) -> Result<Response<proto::GetKeyResponse>, Status> {
        Err(Status::not_found(format!(
            "getKey: no peer has alias {}",
            r.get_ref().alias
        )))
    }

    async fn get_alias(
        &self,
        _: Request<proto::GetAliasRequest>,
    ) -> Result<Response<proto::GetAliasResponse>, Status> {
        Err(Status::unimplemented(NO_NETWORK))
    }

    async fn list_peers(
        &self,
        _: Request<proto::ListPeersRequest>,
    ) -> Result<Response<proto::ListPeersResponse>, Status> {
        Ok(Response::new(proto::ListPeersResponse {
            peers: Vec::new(),
        }))
    }

    async fn watch_peers(
        &self,
        _: Request<proto::WatchPeersRequest>,
    ) -> Result<Response<BoxStream<proto::WatchPeersResponse>>, Status> {
        Err(Status::unimplemented(NO_NETWORK))
    }
}

/// The `Peersockets` service.
#[derive(Debug)]
pub(crate) struct PeersocketsService;

#[tonic::async_trait]
impl Peersockets for PeersocketsService {
    async fn join(
        &self,
        _: Request<tonic::Streaming<proto::PeerMessage>>,
    ) -> Result<Response<BoxStream<proto::PeerMessage>>, Status> {
        Err(Status::unimplemented(NO_NETWORK))
    }
}
