//! `Drive`: sessions and file operations.

use std::sync::Arc;

use hyperdrive::{DiffKind, MountOptions, ReaddirOptions};
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use super::{App, blocking, check_path, convert, drive_error, guarded, parse_key};
use crate::drives::Session;
use crate::proto::{self, drive_server::Drive};
use crate::state::{DriveRecord, NetworkRecord};

/// The `Drive` service.
#[derive(Debug)]
pub(crate) struct DriveService {
    app: Arc<App>,
}

impl DriveService {
    pub(crate) fn new(app: Arc<App>) -> Self {
        DriveService { app }
    }
}

/// Maps a drive error of `op` on `path` through session `s`.
pub(crate) fn failed<'a>(
    op: &'a str,
    s: &'a Session,
    path: &'a str,
) -> impl FnOnce(hyperdrive::Error) -> Status + 'a {
    move |e| drive_error(op, &format!("drive {}", s.key_hex()), path, &e)
}

/// A core's numbers: bytes moved with its current peers, and since the core was loaded
/// (cumulative; the Node daemon left those at 0).
fn core_stats(feed: &corestore::SharedFeed) -> proto::CoreStats {
    let stats = feed.stats();
    let (up, down) = feed.peer_stats().iter().fold((0, 0), |(u, d), (_, s)| {
        (u + s.uploaded_bytes, d + s.downloaded_bytes)
    });
    let guard = feed.lock();
    let length = guard.len();
    proto::CoreStats {
        key: guard.key().as_bytes().to_vec(),
        peers: u32::try_from(stats.peers).unwrap_or(u32::MAX),
        uploaded_bytes: up,
        downloaded_bytes: down,
        uploaded_bytes_cumulative: stats.total.uploaded_bytes,
        downloaded_bytes_cumulative: stats.total.downloaded_bytes,
        total_blocks: length,
        downloaded_blocks: guard.downloaded(0, length),
        total_bytes: guard.byte_len(),
    }
}

fn drive_stats(drive: &hyperdrive::AsyncDrive) -> proto::DriveStats {
    let d = drive.sync();
    proto::DriveStats {
        stats: vec![proto::MountStats {
            path: "/".to_owned(),
            metadata: Some(core_stats(d.metadata_feed())),
            content: d.content_feed().map(core_stats),
        }],
    }
}

fn network_message(r: &NetworkRecord) -> proto::NetworkConfiguration {
    proto::NetworkConfiguration {
        lookup: r.lookup,
        announce: r.announce,
        remember: r.remember,
        key: hex::decode(&r.key).unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl Drive for DriveService {
    async fn get(
        &self,
        r: Request<proto::GetDriveRequest>,
    ) -> Result<Response<proto::GetDriveResponse>, Status> {
        let app = self.app.clone();
        let opts = r.into_inner().opts.unwrap_or_default();
        guarded("get", async move {
            let key = if opts.key.is_empty() {
                None
            } else {
                Some(parse_key("get", &opts.key)?)
            };
            let version = (opts.version != 0).then_some(opts.version);
            if key.is_none() && version.is_some() {
                return Err(Status::invalid_argument(
                    "get: a checkout (version) needs a drive key",
                ));
            }
            let (id, session) = app.drives.open(key, version).await?;
            if key.is_none() {
                // A client told a new drive's key may reopen it after any crash.
                session.durable("get", "/").await?;
            }
            let d = &session.drive;
            Ok(proto::GetDriveResponse {
                id,
                opts: Some(proto::HyperdriveOptions {
                    key: d.key().as_bytes().to_vec(),
                    version: d.version(),
                    hash: Vec::new(),
                    writable: d.writable() && session.checkout.is_none(),
                    seed: opts.seed,
                    discovery_key: d.sync().discovery_key().to_vec(),
                }),
            })
        })
        .await
    }

    async fn close(
        &self,
        r: Request<proto::CloseSessionRequest>,
    ) -> Result<Response<proto::CloseSessionResponse>, Status> {
        let app = self.app.clone();
        let id = r.into_inner().id;
        guarded("close", async move {
            app.drives.close(id)?;
            Ok(proto::CloseSessionResponse {})
        })
        .await
    }

    async fn all_stats(
        &self,
        _: Request<proto::StatsRequest>,
    ) -> Result<Response<proto::StatsResponse>, Status> {
        let app = self.app.clone();
        guarded("allStats", async move {
            let drives = app.drives.open_drives();
            let stats = blocking("allStats", move || {
                Ok(drives.iter().map(drive_stats).collect())
            })
            .await?;
            Ok(proto::StatsResponse { stats })
        })
        .await
    }

    async fn all_network_configurations(
        &self,
        _: Request<proto::NetworkConfigurationsRequest>,
    ) -> Result<Response<proto::NetworkConfigurationsResponse>, Status> {
        let app = self.app.clone();
        guarded("allNetworkConfigurations", async move {
            Ok(proto::NetworkConfigurationsResponse {
                configurations: app.drives.networks().iter().map(network_message).collect(),
            })
        })
        .await
    }

    async fn peer_counts(
        &self,
        r: Request<proto::PeerCountsRequest>,
    ) -> Result<Response<proto::PeerCountsResponse>, Status> {
        let app = self.app.clone();
        let keys = r.into_inner().keys;
        guarded("peerCounts", async move {
            let mut peer_counts = Vec::with_capacity(keys.len());
            for key in keys {
                let key = parse_key("peerCounts", &key)?;
                let dk = hypercore::PublicKey(key).discovery_key();
                let count = if app.drives.store().is_loaded(&dk) {
                    let store = app.drives.store().clone();
                    blocking("peerCounts", move || {
                        Ok(store
                            .get_by_discovery_key(&dk)
                            .ok()
                            .flatten()
                            .map_or(0, |f| f.stats().peers))
                    })
                    .await?
                } else {
                    0
                };
                peer_counts.push(u32::try_from(count).unwrap_or(u32::MAX));
            }
            Ok(proto::PeerCountsResponse { peer_counts })
        })
        .await
    }

    async fn configure_network(
        &self,
        r: Request<proto::ConfigureNetworkRequest>,
    ) -> Result<Response<proto::ConfigureNetworkResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("configureNetwork", async move {
            let s = app.drives.session("configureNetwork", req.id)?;
            let n = req.network.ok_or_else(|| {
                Status::invalid_argument(
                    "configureNetwork: the request has no network configuration",
                )
            })?;
            let record = NetworkRecord {
                key: s.key_hex(),
                lookup: n.lookup,
                announce: n.announce,
                remember: n.remember,
            };
            app.drives.configure_network(&s, record).await?;
            Ok(proto::ConfigureNetworkResponse {})
        })
        .await
    }

    async fn stats(
        &self,
        r: Request<proto::DriveStatsRequest>,
    ) -> Result<Response<proto::DriveStatsResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("stats", async move {
            let s = app.drives.session("stats", req.id)?;
            let drive = s.drive.clone();
            let stats = blocking("stats", move || Ok(drive_stats(&drive))).await?;
            let network = app.drives.network(&s.drive.sync().discovery_key());
            Ok(proto::DriveStatsResponse {
                stats: Some(stats),
                network: network.as_ref().map(network_message),
            })
        })
        .await
    }

    async fn version(
        &self,
        r: Request<proto::DriveVersionRequest>,
    ) -> Result<Response<proto::DriveVersionResponse>, Status> {
        let app = self.app.clone();
        let id = r.into_inner().id;
        guarded("version", async move {
            let s = app.drives.session("version", id)?;
            Ok(proto::DriveVersionResponse {
                version: s.drive.version(),
            })
        })
        .await
    }

    async fn download(
        &self,
        r: Request<proto::DownloadRequest>,
    ) -> Result<Response<proto::DownloadResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("download", async move {
            let s = app.drives.session("download", req.id)?;
            let path = if req.path.is_empty() {
                "/".to_owned()
            } else {
                check_path("download", &req.path)?.to_owned()
            };
            // What the path needs (fails on a missing path), then fetched in the background.
            let needed = s
                .drive
                .download(&path)
                .await
                .map_err(failed("download", &s, &path))?;
            let store = app.drives.store().clone();
            let ranges = blocking("download", move || {
                needed
                    .ranges
                    .iter()
                    .filter(|r| r.downloaded < r.end - r.start)
                    .map(|r| {
                        let feed = store.get_by_key(&r.feed).map_err(|e| {
                            Status::internal(format!("download: cannot open feed {}: {e}", r.feed.to_hex()))
                        })?;
                        Ok(crate::network::downloads::Range {
                            feed,
                            start: r.start,
                            end: r.end,
                        })
                    })
                    .collect::<Result<Vec<_>, Status>>()
            })
            .await?;
            let download_id = app.network.downloads.start(ranges).ok_or_else(|| {
                Status::resource_exhausted(format!(
                    "download {path} on drive {}: {} downloads are under way; undownload some first",
                    s.key_hex(),
                    crate::network::downloads::MAX_DOWNLOADS
                ))
            })?;
            Ok(proto::DownloadResponse { download_id })
        })
        .await
    }

    async fn undownload(
        &self,
        r: Request<proto::UndownloadRequest>,
    ) -> Result<Response<proto::UndownloadResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("undownload", async move {
            app.drives.session("undownload", req.id)?;
            if req.download_id == 0 {
                return Err(Status::invalid_argument(
                    "undownload: the request must name a download id",
                ));
            }
            // An unknown or finished id is no error (Node's neither).
            app.network.downloads.cancel(req.download_id);
            Ok(proto::UndownloadResponse {})
        })
        .await
    }

    async fn create_write_stream(
        &self,
        r: Request<Streaming<proto::WriteStreamRequest>>,
    ) -> Result<Response<proto::WriteStreamResponse>, Status> {
        let app = self.app.clone();
        let inbound = r.into_inner();
        guarded("createWriteStream", async move {
            super::files::write_stream(
                "createWriteStream",
                app,
                inbound,
                |m: proto::WriteStreamRequest| (m.id, m.path, m.chunk, m.opts),
            )
            .await?;
            Ok(proto::WriteStreamResponse {})
        })
        .await
    }

    async fn write_file(
        &self,
        r: Request<Streaming<proto::WriteFileRequest>>,
    ) -> Result<Response<proto::WriteFileResponse>, Status> {
        let app = self.app.clone();
        let inbound = r.into_inner();
        guarded("writeFile", async move {
            super::files::write_stream("writeFile", app, inbound, |m: proto::WriteFileRequest| {
                (m.id, m.path, m.chunk, m.opts)
            })
            .await?;
            Ok(proto::WriteFileResponse {})
        })
        .await
    }

    async fn create_read_stream(
        &self,
        r: Request<proto::ReadStreamRequest>,
    ) -> Result<Response<BoxStream<proto::ReadStreamResponse>>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("createReadStream", async move {
            let s = app.drives.session("createReadStream", req.id)?;
            let path = check_path("createReadStream", &req.path)?.to_owned();
            // Node's ranges: `end` is inclusive and wins over `length`; 0 means unset for both.
            let length = if req.end != 0 {
                Some((req.end + 1).saturating_sub(req.start))
            } else {
                (req.length != 0).then_some(req.length)
            };
            super::files::read_stream("createReadStream", s, path, req.start, length, |chunk| {
                proto::ReadStreamResponse { chunk }
            })
            .await
        })
        .await
    }

    async fn read_file(
        &self,
        r: Request<proto::ReadFileRequest>,
    ) -> Result<Response<BoxStream<proto::ReadFileResponse>>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("readFile", async move {
            let s = app.drives.session("readFile", req.id)?;
            let path = check_path("readFile", &req.path)?.to_owned();
            super::files::read_stream("readFile", s, path, 0, None, |chunk| {
                proto::ReadFileResponse { chunk }
            })
            .await
        })
        .await
    }

    async fn update_metadata(
        &self,
        r: Request<proto::UpdateMetadataRequest>,
    ) -> Result<Response<proto::UpdateMetadataResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("updateMetadata", async move {
            let s = app.drives.session("updateMetadata", req.id)?;
            let path = check_path("updateMetadata", &req.path)?.to_owned();
            s.writable("updateMetadata", &path)?;
            let mut entries: Vec<_> = req.metadata.into_iter().collect();
            entries.sort();
            for (key, value) in entries {
                s.drive
                    .set_metadata(&path, &key, value)
                    .await
                    .map_err(failed("updateMetadata", &s, &path))?;
            }
            s.durable("updateMetadata", &path).await?;
            Ok(proto::UpdateMetadataResponse {})
        })
        .await
    }

    async fn delete_metadata(
        &self,
        r: Request<proto::DeleteMetadataRequest>,
    ) -> Result<Response<proto::DeleteMetadataResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("deleteMetadata", async move {
            let s = app.drives.session("deleteMetadata", req.id)?;
            let path = check_path("deleteMetadata", &req.path)?.to_owned();
            s.writable("deleteMetadata", &path)?;
            for key in req.keys {
                s.drive.remove_metadata(&path, &key).await.map_err(failed(
                    "deleteMetadata",
                    &s,
                    &path,
                ))?;
            }
            s.durable("deleteMetadata", &path).await?;
            Ok(proto::DeleteMetadataResponse {})
        })
        .await
    }

    async fn create_diff_stream(
        &self,
        r: Request<proto::DiffStreamRequest>,
    ) -> Result<Response<BoxStream<proto::DiffStreamResponse>>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("createDiffStream", async move {
            let s = app.drives.session("createDiffStream", req.id)?;
            let prefix = if req.prefix.is_empty() {
                "/".to_owned()
            } else {
                check_path("createDiffStream", &req.prefix)?.to_owned()
            };
            let entries = s.drive.diff(req.other, &prefix).await.map_err(failed(
                "createDiffStream",
                &s,
                &prefix,
            ))?;
            let messages: Vec<Result<proto::DiffStreamResponse, Status>> = entries
                .into_iter()
                .map(|e| {
                    let (kind, value) = match e.kind {
                        DiffKind::Put => (
                            "put",
                            proto::DiffEntry {
                                stat: e.stat.as_ref().map(convert::stat),
                                mount: None,
                            },
                        ),
                        DiffKind::Del => (
                            "del",
                            proto::DiffEntry {
                                stat: None,
                                mount: None,
                            },
                        ),
                        DiffKind::Mount => (
                            "mount",
                            proto::DiffEntry {
                                stat: None,
                                mount: e.mount.as_ref().map(convert::mount),
                            },
                        ),
                        DiffKind::Unmount => (
                            "unmount",
                            proto::DiffEntry {
                                stat: None,
                                mount: e.mount.as_ref().map(convert::mount),
                            },
                        ),
                    };
                    Ok(proto::DiffStreamResponse {
                        r#type: kind.to_owned(),
                        name: e.name,
                        value: Some(value),
                    })
                })
                .collect();
            let stream: BoxStream<proto::DiffStreamResponse> =
                Box::pin(tokio_stream::iter(messages));
            Ok(stream)
        })
        .await
    }

    async fn readdir(
        &self,
        r: Request<proto::ReadDirectoryRequest>,
    ) -> Result<Response<proto::ReadDirectoryResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("readdir", async move {
            let s = app.drives.session("readdir", req.id)?;
            let path = check_path("readdir", &req.path)?.to_owned();
            let options = ReaddirOptions::default()
                .recursive(req.recursive)
                .no_mounts(req.no_mounts);
            if !req.include_stats {
                let files = s
                    .drive
                    .readdir(&path, options)
                    .await
                    .map_err(failed("readdir", &s, &path))?;
                return Ok(proto::ReadDirectoryResponse {
                    files,
                    ..Default::default()
                });
            }
            let entries = s
                .drive
                .readdir_with_stats(&path, options)
                .await
                .map_err(failed("readdir", &s, &path))?;
            let mut rsp = proto::ReadDirectoryResponse::default();
            for e in entries {
                rsp.files.push(e.name);
                rsp.stats.push(convert::stat(&e.stat));
                // The lists are parallel: an entry outside any mount names the session's drive.
                rsp.mounts.push(e.mount.as_ref().map_or_else(
                    || proto::Mount {
                        key: s.key.to_vec(),
                        ..Default::default()
                    },
                    convert::mount,
                ));
                rsp.inner_paths.push(e.path);
            }
            Ok(rsp)
        })
        .await
    }

    async fn mkdir(
        &self,
        r: Request<proto::MkdirRequest>,
    ) -> Result<Response<proto::MkdirResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("mkdir", async move {
            let s = app.drives.session("mkdir", req.id)?;
            let path = check_path("mkdir", &req.path)?.to_owned();
            s.writable("mkdir", &path)?;
            // Node passes only the mode and owner of the request's Stat to mkdir.
            let opts = req.opts.map(|o| proto::Stat {
                mode: o.mode,
                uid: o.uid,
                gid: o.gid,
                ..Default::default()
            });
            s.drive
                .mkdir(&path, convert::write_options(opts.as_ref()))
                .await
                .map_err(failed("mkdir", &s, &path))?;
            s.durable("mkdir", &path).await?;
            Ok(proto::MkdirResponse {})
        })
        .await
    }

    async fn rmdir(
        &self,
        r: Request<proto::RmdirRequest>,
    ) -> Result<Response<proto::RmdirResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("rmdir", async move {
            let s = app.drives.session("rmdir", req.id)?;
            let path = check_path("rmdir", &req.path)?.to_owned();
            s.writable("rmdir", &path)?;
            s.drive
                .rmdir(&path)
                .await
                .map_err(failed("rmdir", &s, &path))?;
            s.durable("rmdir", &path).await?;
            Ok(proto::RmdirResponse {})
        })
        .await
    }

    async fn unlink(
        &self,
        r: Request<proto::UnlinkRequest>,
    ) -> Result<Response<proto::UnlinkResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("unlink", async move {
            let s = app.drives.session("unlink", req.id)?;
            let path = check_path("unlink", &req.path)?.to_owned();
            s.writable("unlink", &path)?;
            s.drive
                .unlink(&path)
                .await
                .map_err(failed("unlink", &s, &path))?;
            s.durable("unlink", &path).await?;
            Ok(proto::UnlinkResponse {})
        })
        .await
    }

    async fn mount(
        &self,
        r: Request<proto::MountDriveRequest>,
    ) -> Result<Response<proto::MountDriveResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("mount", async move {
            let s = app.drives.session("mount", req.id)?;
            let info = req
                .info
                .ok_or_else(|| Status::invalid_argument("mount: the request has no mount info"))?;
            let path = check_path("mount", &info.path)?.to_owned();
            s.writable("mount", &path)?;
            let opts = info.opts.ok_or_else(|| {
                Status::invalid_argument(format!(
                    "mount {path}: the request names no drive to mount"
                ))
            })?;
            let key = parse_key("mount", &opts.key)?;
            let mut options = MountOptions::default();
            if let Some(v) = opts.version.filter(|&v| v != 0) {
                options = options.version(v);
            }
            if opts.hypercore == Some(true) {
                options = options.hypercore(true);
            }
            s.drive
                .mount(&path, hypercore::PublicKey(key), options)
                .await
                .map_err(failed("mount", &s, &path))?;
            let state = app.drives.state.clone();
            blocking("mount", move || {
                state
                    .record_drive(&DriveRecord {
                        key: hex::encode(key),
                        writable: false,
                    })
                    .map_err(|e| {
                        Status::internal(format!("mount: cannot record the mounted drive: {e}"))
                    })
            })
            .await?;
            s.durable("mount", &path).await?;
            Ok(proto::MountDriveResponse {})
        })
        .await
    }

    async fn unmount(
        &self,
        r: Request<proto::UnmountDriveRequest>,
    ) -> Result<Response<proto::UnmountDriveResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("unmount", async move {
            let s = app.drives.session("unmount", req.id)?;
            let path = check_path("unmount", &req.path)?.to_owned();
            s.writable("unmount", &path)?;
            s.drive
                .unmount(&path)
                .await
                .map_err(failed("unmount", &s, &path))?;
            s.durable("unmount", &path).await?;
            Ok(proto::UnmountDriveResponse {})
        })
        .await
    }

    async fn mounts(
        &self,
        r: Request<proto::DriveMountsRequest>,
    ) -> Result<Response<proto::DriveMountsResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("mounts", async move {
            let s = app.drives.session("mounts", req.id)?;
            let mounts = s
                .drive
                .mounts(req.recursive)
                .await
                .map_err(failed("mounts", &s, "/"))?;
            Ok(proto::DriveMountsResponse {
                mounts: mounts
                    .iter()
                    .map(|m| proto::MountInfo {
                        path: m.path.clone(),
                        opts: Some(convert::mount(&m.record)),
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn stat(
        &self,
        r: Request<proto::StatRequest>,
    ) -> Result<Response<proto::StatResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("stat", async move {
            let s = app.drives.session("stat", req.id)?;
            let path = check_path("stat", &req.path)?.to_owned();
            let stat = if req.lstat {
                s.drive.lstat(&path).await
            } else {
                s.drive.stat(&path).await
            }
            .map_err(failed("stat", &s, &path))?;
            Ok(proto::StatResponse {
                stat: Some(convert::stat(&stat)),
            })
        })
        .await
    }

    async fn watch(
        &self,
        r: Request<Streaming<proto::WatchRequest>>,
    ) -> Result<Response<BoxStream<proto::WatchResponse>>, Status> {
        let app = self.app.clone();
        let inbound = r.into_inner();
        guarded("watch", super::watch::watch(app, inbound)).await
    }

    async fn symlink(
        &self,
        r: Request<proto::SymlinkRequest>,
    ) -> Result<Response<proto::SymlinkResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("symlink", async move {
            let s = app.drives.session("symlink", req.id)?;
            let target = check_path("symlink", &req.target)?.to_owned();
            let link = check_path("symlink", &req.linkname)?.to_owned();
            s.writable("symlink", &link)?;
            s.drive
                .symlink(&target, &link)
                .await
                .map_err(failed("symlink", &s, &link))?;
            s.durable("symlink", &link).await?;
            Ok(proto::SymlinkResponse {})
        })
        .await
    }

    async fn active(
        &self,
        _: Request<proto::ActiveRequest>,
    ) -> Result<Response<proto::ActiveResponse>, Status> {
        let app = self.app.clone();
        guarded("active", async move { Ok(super::mirror::active(&app)) }).await
    }

    async fn mirror(
        &self,
        r: Request<proto::MirrorRequest>,
    ) -> Result<Response<proto::MirrorResponse>, Status> {
        guarded(
            "mirror",
            super::mirror::mirror(self.app.clone(), r.into_inner()),
        )
        .await
    }

    async fn unmirror(
        &self,
        r: Request<proto::UnmirrorRequest>,
    ) -> Result<Response<proto::UnmirrorResponse>, Status> {
        guarded(
            "unmirror",
            super::mirror::unmirror(self.app.clone(), r.into_inner()),
        )
        .await
    }

    async fn open(
        &self,
        r: Request<proto::OpenRequest>,
    ) -> Result<Response<proto::OpenResponse>, Status> {
        guarded("open", super::fd::open(self.app.clone(), r.into_inner())).await
    }

    async fn read(
        &self,
        r: Request<Streaming<proto::ReadRequest>>,
    ) -> Result<Response<BoxStream<proto::ReadResponse>>, Status> {
        guarded("read", super::fd::read(self.app.clone(), r.into_inner())).await
    }

    async fn write(
        &self,
        r: Request<Streaming<proto::WriteRequest>>,
    ) -> Result<Response<BoxStream<proto::WriteResponse>>, Status> {
        guarded("write", super::fd::write(self.app.clone(), r.into_inner())).await
    }

    async fn file_stats(
        &self,
        r: Request<proto::FileStatsRequest>,
    ) -> Result<Response<proto::FileStatsResponse>, Status> {
        let app = self.app.clone();
        let req = r.into_inner();
        guarded("fileStats", async move {
            let s = app.drives.session("fileStats", req.id)?;
            let path = check_path("fileStats", &req.path)?.to_owned();
            let stats = s
                .drive
                .stats(&path)
                .await
                .map_err(failed("fileStats", &s, &path))?;
            Ok(proto::FileStatsResponse {
                stats: stats
                    .into_iter()
                    .map(|(p, f)| {
                        (
                            p,
                            proto::FileStats {
                                blocks: f.blocks,
                                size: f.size,
                                downloaded_blocks: f.downloaded_blocks,
                                downloaded_bytes: 0,
                            },
                        )
                    })
                    .collect(),
            })
        })
        .await
    }
}
