//! `Hypercore`: sessions on plain hypercores in the daemon's corestore (declared by
//! hyperdrive-schemas 1.11, never served by the Node daemon). A new core is made in a fresh
//! corestore namespace, as a new drive is; an existing one is opened by key (read-only unless
//! this store can derive or holds its secret). Appends are durable before they answer; reads
//! return blocks stored here (UNAVAILABLE for one that is not) within one message's bound.

use std::sync::{Arc, Mutex};

use corestore::SharedFeed;
use tonic::{Request, Response, Status};

use super::{App, blocking, guarded, parse_key};
use crate::proto::{self, hypercore_server::Hypercore};
use crate::sessions::{MAX_SESSIONS, Sessions};

/// Blocks one `getBlocks` may ask for.
const MAX_BLOCKS: u64 = 1024;

/// The `Hypercore` service.
#[derive(Debug)]
pub(crate) struct HypercoreService {
    app: Arc<App>,
    sessions: Arc<Mutex<Sessions<SharedFeed>>>,
}

impl HypercoreService {
    pub(crate) fn new(app: Arc<App>) -> Self {
        HypercoreService {
            app,
            sessions: Arc::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn session(
    sessions: &Mutex<Sessions<SharedFeed>>,
    op: &str,
    id: u64,
) -> Result<Arc<SharedFeed>, Status> {
    lock(sessions).get(id).ok_or_else(|| {
        Status::not_found(format!(
            "{op}: hypercore session {id} does not exist (closed or never opened)"
        ))
    })
}

fn feed_error(op: &str, key: &str, e: &hypercore::Error) -> Status {
    Status::internal(format!("{op} on core {key}: {e}"))
}

#[tonic::async_trait]
impl Hypercore for HypercoreService {
    async fn get(
        &self,
        r: Request<proto::GetCoreRequest>,
    ) -> Result<Response<proto::GetCoreResponse>, Status> {
        let store = self.app.drives.store().clone();
        let sessions = self.sessions.clone();
        let opts = r.into_inner().opts.unwrap_or_default();
        guarded("Hypercore.get", async move {
            let key = if opts.key.is_empty() {
                None
            } else {
                Some(parse_key("Hypercore.get", &opts.key)?)
            };
            let feed = blocking("Hypercore.get", move || {
                let opened = match key {
                    Some(k) => store.get_by_key(&hypercore::PublicKey(k)),
                    None => {
                        let mut ns = [0u8; 32];
                        getrandom::getrandom(&mut ns).map_err(|e| {
                            Status::internal(format!("Hypercore.get: no randomness: {e}"))
                        })?;
                        store
                            .namespace(&hex::encode(ns))
                            .and_then(|view| view.default_feed())
                    }
                };
                opened.map_err(|e| {
                    Status::internal(format!(
                        "Hypercore.get {}: cannot open the core: {e}",
                        key.map_or_else(|| "a new core".to_owned(), hex::encode)
                    ))
                })
            })
            .await?;
            let (pk, dk, writable) = {
                let f = feed.lock();
                (*f.key(), f.discovery_key(), f.writable())
            };
            if key.is_none() {
                let f = feed.clone();
                blocking("Hypercore.get", move || {
                    f.lock()
                        .flush()
                        .map_err(|e| feed_error("Hypercore.get", &pk.to_hex(), &e))
                })
                .await?;
            }
            let id = lock(&sessions).insert(feed).ok_or_else(|| {
                Status::resource_exhausted(format!(
                    "Hypercore.get: {MAX_SESSIONS} sessions are open; close some first"
                ))
            })?;
            Ok(proto::GetCoreResponse {
                id,
                opts: Some(proto::HypercoreOptions {
                    key: pk.as_bytes().to_vec(),
                    hash: Vec::new(),
                    // The schema types this field as bytes: one byte, 1 when writable.
                    writable: if writable { vec![1] } else { Vec::new() },
                    discovery_key: dk.to_vec(),
                }),
            })
        })
        .await
    }

    async fn close(
        &self,
        r: Request<proto::CloseSessionRequest>,
    ) -> Result<Response<proto::CloseSessionResponse>, Status> {
        let id = r.into_inner().id;
        lock(&self.sessions).remove(id).ok_or_else(|| {
            Status::not_found(format!("Hypercore.close: session {id} does not exist"))
        })?;
        Ok(Response::new(proto::CloseSessionResponse {}))
    }

    async fn length(
        &self,
        r: Request<proto::LengthRequest>,
    ) -> Result<Response<proto::LengthResponse>, Status> {
        let feed = session(&self.sessions, "Hypercore.length", r.into_inner().id)?;
        let length = feed.lock().len();
        Ok(Response::new(proto::LengthResponse { length }))
    }

    async fn append(
        &self,
        r: Request<proto::AppendRequest>,
    ) -> Result<Response<proto::AppendResponse>, Status> {
        let req = r.into_inner();
        let feed = session(&self.sessions, "Hypercore.append", req.id)?;
        guarded("Hypercore.append", async move {
            blocking("Hypercore.append", move || {
                let mut f = feed.lock();
                let key = f.key().to_hex();
                if !f.writable() {
                    return Err(Status::permission_denied(format!(
                        "Hypercore.append on core {key}: this daemon cannot write it"
                    )));
                }
                if req.blocks.is_empty() {
                    return Ok(proto::AppendResponse {});
                }
                f.append_batch(&req.blocks)
                    .map_err(|e| feed_error("Hypercore.append", &key, &e))?;
                f.flush()
                    .map_err(|e| feed_error("Hypercore.append", &key, &e))?;
                Ok(proto::AppendResponse {})
            })
            .await
        })
        .await
    }

    async fn get_blocks(
        &self,
        r: Request<proto::GetRequest>,
    ) -> Result<Response<proto::GetResponse>, Status> {
        let req = r.into_inner();
        let feed = session(&self.sessions, "Hypercore.getBlocks", req.id)?;
        guarded("Hypercore.getBlocks", async move {
            blocking("Hypercore.getBlocks", move || {
                let mut f = feed.lock();
                let key = f.key().to_hex();
                let length = f.len();
                let seqs: Vec<u64> = if req.seqs.is_empty() {
                    let end = if req.end == 0 { length } else { req.end };
                    if req.start > end || end - req.start > MAX_BLOCKS {
                        return Err(Status::invalid_argument(format!(
                            "Hypercore.getBlocks on core {key}: [{}, {end}) is not a range of at most {MAX_BLOCKS} blocks",
                            req.start
                        )));
                    }
                    (req.start..end).collect()
                } else {
                    if req.seqs.len() as u64 > MAX_BLOCKS {
                        return Err(Status::invalid_argument(format!(
                            "Hypercore.getBlocks on core {key}: {} blocks asked for (at most {MAX_BLOCKS})",
                            req.seqs.len()
                        )));
                    }
                    req.seqs
                };
                let mut blocks = Vec::with_capacity(seqs.len());
                let mut bytes = 0usize;
                for seq in seqs {
                    if seq >= length {
                        return Err(Status::out_of_range(format!(
                            "Hypercore.getBlocks on core {key}: block {seq} is past the end ({length} blocks)"
                        )));
                    }
                    if !f.has(seq) {
                        return Err(Status::unavailable(format!(
                            "Hypercore.getBlocks on core {key}: block {seq} is not stored here"
                        )));
                    }
                    let block = f
                        .get(seq)
                        .map_err(|e| feed_error("Hypercore.getBlocks", &key, &e))?;
                    bytes += block.len();
                    if bytes > crate::CHUNK_SIZE {
                        return Err(Status::resource_exhausted(format!(
                            "Hypercore.getBlocks on core {key}: the blocks pass {} bytes; ask for fewer",
                            crate::CHUNK_SIZE
                        )));
                    }
                    blocks.push(block);
                }
                Ok(proto::GetResponse { blocks })
            })
            .await
        })
        .await
    }
}
