//! `Peers`: the daemon's connected peers by alias (Node's `PeersManager`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use super::{App, guarded};
use crate::proto::{self, peers_server::Peers, watch_peers_response::Type as WatchType};

/// Most `watchPeers` streams at once.
pub(crate) const MAX_PEER_WATCHES: usize = 64;
/// How often a watch looks again even when no peer connected or left (a core's channel opens
/// on a connection some time after its handshake).
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The `Peers` service.
#[derive(Debug)]
pub(crate) struct PeersService(pub(crate) Arc<App>);

static WATCHES: AtomicUsize = AtomicUsize::new(0);

/// Uncounts a watch when its task ends.
struct WatchSlot;

impl Drop for WatchSlot {
    fn drop(&mut self) {
        WATCHES.fetch_sub(1, Ordering::AcqRel);
    }
}

fn discovery_key(op: &str, dk: &[u8]) -> Result<Option<[u8; 32]>, Status> {
    if dk.is_empty() {
        return Ok(None);
    }
    <[u8; 32]>::try_from(dk).map(Some).map_err(|_| {
        Status::invalid_argument(format!(
            "{op}: a discovery key is 32 bytes, this one is {}",
            dk.len()
        ))
    })
}

#[tonic::async_trait]
impl Peers for PeersService {
    async fn get_key(
        &self,
        r: Request<proto::GetKeyRequest>,
    ) -> Result<Response<proto::GetKeyResponse>, Status> {
        let alias = r.into_inner().alias;
        let key = self
            .0
            .network
            .peers
            .key_of(alias)
            .ok_or_else(|| Status::not_found(format!("getKey: no peer has alias {alias}")))?;
        Ok(Response::new(proto::GetKeyResponse { key: key.to_vec() }))
    }

    async fn get_alias(
        &self,
        r: Request<proto::GetAliasRequest>,
    ) -> Result<Response<proto::GetAliasResponse>, Status> {
        let key = r.into_inner().key;
        let key = <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
            Status::invalid_argument(format!(
                "getAlias: a peer's Noise key is 32 bytes, this one is {}",
                key.len()
            ))
        })?;
        Ok(Response::new(proto::GetAliasResponse {
            alias: self.0.network.peers.alias(&key),
        }))
    }

    async fn list_peers(
        &self,
        r: Request<proto::ListPeersRequest>,
    ) -> Result<Response<proto::ListPeersResponse>, Status> {
        let app = self.0.clone();
        let dk = r.into_inner().discovery_key;
        guarded("listPeers", async move {
            let dk = discovery_key("listPeers", &dk)?;
            let peers = app
                .network
                .peers
                .list(dk.as_ref())
                .into_iter()
                .map(|p| proto::PeerInfo {
                    noise_key: p.remote_key.to_vec(),
                    address: p.addr.to_string(),
                    r#type: p.kind().to_owned(),
                })
                .collect();
            Ok(proto::ListPeersResponse { peers })
        })
        .await
    }

    async fn watch_peers(
        &self,
        r: Request<proto::WatchPeersRequest>,
    ) -> Result<Response<BoxStream<proto::WatchPeersResponse>>, Status> {
        let dk = discovery_key("watchPeers", &r.into_inner().discovery_key)?;
        if WATCHES
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PEER_WATCHES).then_some(n + 1)
            })
            .is_err()
        {
            return Err(Status::resource_exhausted(format!(
                "watchPeers: {MAX_PEER_WATCHES} peer watches are open; close some first"
            )));
        }
        let slot = WatchSlot;
        let peers = self.0.network.peers.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let _slot = slot;
            let mut changes = peers.subscribe();
            let mut known: HashSet<[u8; 32]> = HashSet::new();
            loop {
                if peers.stopped() {
                    return;
                }
                let now: HashSet<[u8; 32]> = peers
                    .list(dk.as_ref())
                    .into_iter()
                    .map(|p| p.remote_key)
                    .collect();
                let joined = now.difference(&known).map(|k| (WatchType::Joined, *k));
                let left = known.difference(&now).map(|k| (WatchType::Left, *k));
                let events: Vec<_> = joined.chain(left).collect();
                for (kind, key) in events {
                    let msg = proto::WatchPeersResponse {
                        r#type: kind as i32,
                        peers: vec![peers.alias(&key)],
                    };
                    if tx.send(Ok(msg)).await.is_err() {
                        return;
                    }
                }
                known = now;
                tokio::select! {
                    _ = changes.recv() => {}
                    () = tokio::time::sleep(WATCH_EVERY) => {}
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
