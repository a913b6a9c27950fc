//! `Peersockets.join`: one bidirectional stream per client topic handle (Node's
//! `PeersocketsManager`). The client's first message opens a topic; then its `Data` messages go
//! to the peer whose alias they name, and every message a peer sends on the topic comes back as
//! `Data` with that peer's alias.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use super::App;
use crate::network::peersockets::{
    HANDLE_QUEUE, JoinError, MAX_HANDLES, MAX_MESSAGE, MAX_TOPIC_LEN,
};
use crate::proto::{self, peer_message, peersockets_server::Peersockets};

/// How long a client may take to send the `Open` message.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The `Peersockets` service.
#[derive(Debug)]
pub(crate) struct PeersocketsService(pub(crate) Arc<App>);

type Outgoing = mpsc::Sender<Result<proto::PeerMessage, Status>>;

#[tonic::async_trait]
impl Peersockets for PeersocketsService {
    async fn join(
        &self,
        r: Request<Streaming<proto::PeerMessage>>,
    ) -> Result<Response<BoxStream<proto::PeerMessage>>, Status> {
        let inbound = r.into_inner();
        let app = self.0.clone();
        let (tx, rx) = mpsc::channel(HANDLE_QUEUE);
        tokio::spawn(async move {
            if let Err(status) = serve(app, inbound, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// Waits for the client's `Open`, then moves messages until either side ends.
async fn serve(
    app: Arc<App>,
    mut inbound: Streaming<proto::PeerMessage>,
    tx: &Outgoing,
) -> Result<(), Status> {
    let first = match tokio::time::timeout(OPEN_TIMEOUT, inbound.message()).await {
        Ok(Ok(Some(m))) => m,
        Ok(Ok(None)) | Ok(Err(_)) => return Ok(()),
        Err(_) => {
            return Err(Status::deadline_exceeded(format!(
                "join: no Open message within {} s",
                OPEN_TIMEOUT.as_secs()
            )));
        }
    };
    let topic = match first.content {
        Some(peer_message::Content::Open(open)) => open.topic,
        _ => {
            return Err(Status::invalid_argument(
                "join: the first message must be Open, naming a topic",
            ));
        }
    };
    let hub = app.network.sockets.clone();
    let (id, mut from_peers) = hub.join(&topic).map_err(|e| match e {
        JoinError::BadName => Status::invalid_argument(format!(
            "join: a topic name is 1 to {MAX_TOPIC_LEN} bytes, this one is {}",
            topic.len()
        )),
        JoinError::Full => Status::resource_exhausted(format!(
            "join {topic:?}: too many peersocket topics or handles (at most {MAX_HANDLES} handles)"
        )),
    })?;
    let peers = hub.peers().clone();
    loop {
        tokio::select! {
            m = from_peers.recv() => {
                let Some((key, msg)) = m else { break };
                let out = proto::PeerMessage {
                    r#type: peer_message::Type::Data as i32,
                    content: Some(peer_message::Content::Data(proto::DataMessage {
                        alias: peers.alias(&key),
                        msg,
                    })),
                };
                if tx.send(Ok(out)).await.is_err() {
                    break;
                }
            }
            m = inbound.message() => match m {
                Ok(Some(proto::PeerMessage {
                    content: Some(peer_message::Content::Data(data)),
                    ..
                })) => {
                    if data.msg.len() > MAX_MESSAGE {
                        tracing::debug!(topic, "a client's oversize peersocket message dropped");
                    } else if let Some(key) = peers.key_of(data.alias) {
                        if !hub.send(&topic, &key, data.msg) {
                            tracing::debug!(topic, alias = data.alias, "no link to that peer; message dropped");
                        }
                    } else {
                        tracing::debug!(topic, alias = data.alias, "unknown peer alias; message dropped");
                    }
                }
                // Node ignores other messages too.
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            },
            () = tx.closed() => break,
        }
    }
    hub.leave(&topic, id);
    Ok(())
}
