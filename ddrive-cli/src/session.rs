//! A session on one drive (`Drive.get` … `Drive.close`) and the file operations on it.

use std::time::Duration;

use anyhow::Result;
use ddrive_daemon::proto;
use tonic::Streaming;

use crate::client::{CALL_DEADLINE, CHUNK_DEADLINE, DaemonClient};
use crate::exit::{Exit, fail, from_status};

/// `S_IFMT` and the kinds the CLI tells apart (POSIX values, as hyperdrive stores them).
pub(crate) const S_IFMT: u32 = 0o170_000;
pub(crate) const S_IFDIR: u32 = 0o040_000;
pub(crate) const S_IFLNK: u32 = 0o120_000;

/// An open session. Close it with [`DriveSession::close`]; the daemon keeps the drive open
/// while any session names it.
#[derive(Clone)]
pub(crate) struct DriveSession {
    pub(crate) client: DaemonClient,
    pub(crate) id: u64,
    pub(crate) key: [u8; 32],
    pub(crate) writable: bool,
    /// The drive's version when the session opened (the checkout's, for a checkout).
    pub(crate) version: u64,
    pub(crate) discovery_key: Vec<u8>,
    /// Set for a read-only checkout.
    pub(crate) checkout: Option<u64>,
}

/// What a write's deadline allows: the call's deadline plus a second per 4 MiB (a slow disk
/// is not a dead daemon).
fn upload_deadline(bytes: u64) -> Duration {
    CALL_DEADLINE + Duration::from_secs(bytes / (4 << 20))
}

impl DriveSession {
    /// Opens the drive `key` (a checkout at `version`), or a new writable drive.
    pub(crate) async fn open(
        client: &DaemonClient,
        key: Option<[u8; 32]>,
        version: Option<u64>,
    ) -> Result<DriveSession> {
        let opts = proto::HyperdriveOptions {
            key: key.map(|k| k.to_vec()).unwrap_or_default(),
            version: version.unwrap_or(0),
            ..Default::default()
        };
        let rsp = client
            .drive()
            .get(client.req(proto::GetDriveRequest { opts: Some(opts) }, CALL_DEADLINE))
            .await
            .map_err(|s| from_status(s, "open the drive"))?
            .into_inner();
        let opts = rsp.opts.unwrap_or_default();
        let key = <[u8; 32]>::try_from(opts.key.as_slice())
            .map_err(|_| fail(Exit::Failure, "the daemon answered without a drive key"))?;
        Ok(DriveSession {
            client: client.clone(),
            id: rsp.id,
            key,
            writable: opts.writable,
            version: opts.version,
            discovery_key: opts.discovery_key,
            checkout: version,
        })
    }

    pub(crate) fn key_hex(&self) -> String {
        hex::encode(self.key)
    }

    /// Fails with the read-only exit code unless the session can write.
    pub(crate) fn require_writable(&self) -> Result<()> {
        if let Some(v) = self.checkout {
            return Err(fail(
                Exit::ReadOnly,
                format!(
                    "The drive {} is read-only at --version {v} (a checkout).",
                    self.key_hex()
                ),
            ));
        }
        if !self.writable {
            return Err(fail(
                Exit::ReadOnly,
                format!(
                    "The drive {} is not writable (only the daemon that created it can write it).",
                    self.key_hex()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) async fn close(&self) -> Result<()> {
        self.client
            .drive()
            .close(
                self.client
                    .req(proto::CloseSessionRequest { id: self.id }, CALL_DEADLINE),
            )
            .await
            .map_err(|s| from_status(s, "close the session"))?;
        Ok(())
    }

    /// The drive's current version.
    pub(crate) async fn current_version(&self) -> Result<u64> {
        Ok(self
            .client
            .drive()
            .version(
                self.client
                    .req(proto::DriveVersionRequest { id: self.id }, CALL_DEADLINE),
            )
            .await
            .map_err(|s| from_status(s, "version"))?
            .into_inner()
            .version)
    }

    pub(crate) async fn stat(&self, path: &str, lstat: bool) -> Result<proto::Stat> {
        self.client
            .drive()
            .stat(self.client.req(
                proto::StatRequest {
                    id: self.id,
                    path: path.to_owned(),
                    lstat,
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, path))?
            .into_inner()
            .stat
            .ok_or_else(|| fail(Exit::Failure, format!("{path}: the daemon sent no Stat")))
    }

    /// Entries under `path` with their Stats (names relative to `path`); with `no_mounts`,
    /// none from the drives mounted in this one.
    pub(crate) async fn list(
        &self,
        path: &str,
        recursive: bool,
        no_mounts: bool,
    ) -> Result<Vec<(String, proto::Stat)>> {
        // Asked with `noMounts`, the daemon's listing leaves out dangling symlinks; entries of
        // mounted drives are told apart by their mount's key instead.
        // A large drive's listing takes longer than a small call.
        let rsp = self
            .client
            .drive()
            .readdir(self.client.req(
                proto::ReadDirectoryRequest {
                    id: self.id,
                    path: path.to_owned(),
                    recursive,
                    no_mounts: false,
                    include_stats: true,
                },
                CALL_DEADLINE * 12,
            ))
            .await
            .map_err(|s| from_status(s, path))?
            .into_inner();
        let key = self.key.to_vec();
        Ok(rsp
            .files
            .into_iter()
            .zip(rsp.stats)
            .zip(
                rsp.mounts
                    .into_iter()
                    .map(Some)
                    .chain(std::iter::repeat(None)),
            )
            .filter(|(_, m)| !no_mounts || m.as_ref().is_none_or(|m| m.key == key))
            .map(|(entry, _)| entry)
            .collect())
    }

    /// The file at `path` as a stream of chunks.
    pub(crate) async fn read(&self, path: &str) -> Result<Chunks> {
        let stream = self
            .client
            .drive()
            .read_file(self.client.req(
                proto::ReadFileRequest {
                    id: self.id,
                    path: path.to_owned(),
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, path))?
            .into_inner();
        Ok(Chunks {
            stream,
            path: path.to_owned(),
        })
    }

    /// Writes the file at `path` from `chunks` (`size` bytes in all, for the deadline).
    pub(crate) async fn write(
        &self,
        path: &str,
        size: u64,
        opts: proto::Stat,
        chunks: impl tokio_stream::Stream<Item = Vec<u8>> + Send + 'static,
    ) -> Result<()> {
        use tokio_stream::StreamExt;
        let id = self.id;
        let p = path.to_owned();
        let mut first = Some(opts);
        let messages = chunks.map(move |chunk| proto::WriteFileRequest {
            id,
            path: p.clone(),
            chunk,
            opts: first.take(),
        });
        self.client
            .drive()
            .write_file(self.client.req(messages, upload_deadline(size)))
            .await
            .map_err(|s| from_status(s, path))?;
        Ok(())
    }

    /// Writes a small file held in memory.
    pub(crate) async fn write_bytes(
        &self,
        path: &str,
        opts: proto::Stat,
        data: Vec<u8>,
    ) -> Result<()> {
        let size = data.len() as u64;
        // One message even for an empty file: the first message names the path.
        let chunks: Vec<Vec<u8>> = if data.is_empty() {
            vec![Vec::new()]
        } else {
            data.chunks(ddrive_daemon::CHUNK_SIZE)
                .map(<[u8]>::to_vec)
                .collect()
        };
        self.write(path, size, opts, tokio_stream::iter(chunks))
            .await
    }

    pub(crate) async fn unlink(&self, path: &str) -> Result<()> {
        self.client
            .drive()
            .unlink(self.client.req(
                proto::UnlinkRequest {
                    id: self.id,
                    path: path.to_owned(),
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, path))?;
        Ok(())
    }

    pub(crate) async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        self.client
            .drive()
            .mkdir(self.client.req(
                proto::MkdirRequest {
                    id: self.id,
                    path: path.to_owned(),
                    opts: Some(proto::Stat {
                        mode,
                        ..Default::default()
                    }),
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, path))?;
        Ok(())
    }

    pub(crate) async fn rmdir(&self, path: &str) -> Result<()> {
        self.client
            .drive()
            .rmdir(self.client.req(
                proto::RmdirRequest {
                    id: self.id,
                    path: path.to_owned(),
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, path))?;
        Ok(())
    }

    pub(crate) async fn symlink(&self, target: &str, link: &str) -> Result<()> {
        self.client
            .drive()
            .symlink(self.client.req(
                proto::SymlinkRequest {
                    id: self.id,
                    target: target.to_owned(),
                    linkname: link.to_owned(),
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, link))?;
        Ok(())
    }

    /// What changed under `prefix` between version `other` and this session's version.
    pub(crate) async fn diff(
        &self,
        other: u64,
        prefix: &str,
    ) -> Result<Vec<proto::DiffStreamResponse>> {
        let mut stream = self
            .client
            .drive()
            .create_diff_stream(self.client.req(
                proto::DiffStreamRequest {
                    id: self.id,
                    prefix: prefix.to_owned(),
                    other,
                },
                CALL_DEADLINE * 12,
            ))
            .await
            .map_err(|s| from_status(s, prefix))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(entry) = next(&mut stream, prefix).await? {
            out.push(entry);
        }
        Ok(out)
    }

    pub(crate) async fn configure_network(
        &self,
        lookup: bool,
        announce: bool,
        remember: bool,
    ) -> Result<()> {
        self.client
            .drive()
            .configure_network(self.client.req(
                proto::ConfigureNetworkRequest {
                    id: self.id,
                    network: Some(proto::NetworkConfiguration {
                        lookup,
                        announce,
                        remember,
                        key: self.key.to_vec(),
                    }),
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, "configureNetwork"))?;
        Ok(())
    }

    pub(crate) async fn stats(&self) -> Result<proto::DriveStatsResponse> {
        Ok(self
            .client
            .drive()
            .stats(self.client.req(
                proto::DriveStatsRequest {
                    id: self.id,
                    recursive: false,
                    networking_only: false,
                },
                CALL_DEADLINE,
            ))
            .await
            .map_err(|s| from_status(s, "stats"))?
            .into_inner())
    }

    /// A stream with one message per change under `/`; it ends when the drive closes. The
    /// returned sender keeps the watch alive: drop it to stop watching.
    pub(crate) async fn watch(
        &self,
    ) -> Result<(
        Streaming<proto::WatchResponse>,
        tokio::sync::mpsc::Sender<proto::WatchRequest>,
    )> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(proto::WatchRequest {
            id: self.id,
            path: "/".to_owned(),
        })
        .await
        .map_err(|_| fail(Exit::Failure, "cannot start the watch"))?;
        // A watch runs until Ctrl-C: no deadline; the connection's liveness ends it.
        let req = self
            .client
            .untimed(tokio_stream::wrappers::ReceiverStream::new(rx));
        let stream = self
            .client
            .drive()
            .watch(req)
            .await
            .map_err(|s| from_status(s, "watch"))?
            .into_inner();
        Ok((stream, tx))
    }
}

/// The next message of a server stream, within [`CHUNK_DEADLINE`].
pub(crate) async fn next<T>(stream: &mut Streaming<T>, what: &str) -> Result<Option<T>> {
    match tokio::time::timeout(CHUNK_DEADLINE, stream.message()).await {
        Ok(r) => r.map_err(|s| from_status(s, what)),
        Err(_) => Err(fail(
            Exit::Timeout,
            format!(
                "{what}: the ddrive daemon sent nothing for {} s",
                CHUNK_DEADLINE.as_secs()
            ),
        )),
    }
}

/// A file's contents arriving from the daemon.
pub(crate) struct Chunks {
    stream: Streaming<proto::ReadFileResponse>,
    path: String,
}

impl Chunks {
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(next(&mut self.stream, &self.path).await?.map(|m| m.chunk))
    }
}

/// Whether a Stat is a directory / a symlink.
pub(crate) fn is_dir(s: &proto::Stat) -> bool {
    s.mode & S_IFMT == S_IFDIR
}

pub(crate) fn is_symlink(s: &proto::Stat) -> bool {
    s.mode & S_IFMT == S_IFLNK
}
