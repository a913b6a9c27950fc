//! `Fuse`: mounting the root drive and sub-drives inside it, and telling which drive holds a
//! path of the mount.
//!
//! Paths are paths of the local filesystem: the mountpoint itself names the root drive's
//! FUSE mount, paths under it name places in the root drive, where `mount` puts a drive (a
//! hyperdrive mount, kept in the root drive) and `unmount` removes one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hypercore::PublicKey;
use hyperdrive::{Drive, MountOptions};
use tonic::{Request, Response, Status};

use super::{App, blocking};
use crate::proto::{self, fuse_server::Fuse};

/// The `Fuse` service.
#[derive(Debug)]
pub(crate) struct FuseService(pub(crate) Arc<App>);

fn unavailable(op: &str) -> Status {
    Status::unavailable(format!(
        "{op}: the root drive is not mounted (FUSE off, unavailable, or the mount failed)"
    ))
}

impl FuseService {
    /// The mount and the path of `path` inside the root drive (`None` for the mountpoint).
    fn locate(&self, op: &str, path: &str) -> Result<(Drive, PathBuf, Option<String>), Status> {
        let mount = self.0.fuse.current().ok_or_else(|| unavailable(op))?;
        let mountpoint = mount.mountpoint().to_owned();
        let root = mount.drive().clone();
        let path = Path::new(path);
        if path.as_os_str().is_empty() || path == mountpoint {
            return Ok((root, mountpoint, None));
        }
        let rel = path.strip_prefix(&mountpoint).map_err(|_| {
            Status::invalid_argument(format!(
                "{op}: {} is not inside the mountpoint {}",
                path.display(),
                mountpoint.display()
            ))
        })?;
        let rel = format!("/{}", rel.display());
        Ok((root, mountpoint, Some(rel)))
    }
}

fn options(drive: &Drive) -> proto::HyperdriveOptions {
    proto::HyperdriveOptions {
        key: drive.key().as_bytes().to_vec(),
        version: drive.version(),
        hash: Vec::new(),
        writable: drive.writable(),
        seed: false,
        discovery_key: drive.discovery_key().to_vec(),
    }
}

#[tonic::async_trait]
impl Fuse for FuseService {
    async fn mount(
        &self,
        request: Request<proto::MountRequest>,
    ) -> Result<Response<proto::MountResponse>, Status> {
        let r = request.into_inner();
        let opts = r.opts.unwrap_or_default();
        if self.0.fuse.current().is_none()
            || Path::new(&r.path) == self.0.fuse.mountpoint().unwrap_or_default()
        {
            let mount = self
                .0
                .fuse
                .mount_root(&self.0.drives)
                .await
                .map_err(|e| Status::unavailable(format!("mount: {e}")))?
                .ok_or_else(|| Status::failed_precondition("mount: FUSE is off (--no-fuse)"))?;
            if self.locate("mount", &r.path)?.2.is_none() {
                return Ok(Response::new(proto::MountResponse {
                    path: mount.mountpoint().display().to_string(),
                    mount_info: Some(options(mount.drive())),
                }));
            }
        }
        let (root, _, rel) = self.locate("mount", &r.path)?;
        let rel = rel.ok_or_else(|| Status::internal("mount: the mountpoint was handled above"))?;
        let key = match <[u8; 32]>::try_from(opts.key.as_slice()) {
            Ok(k) => Some(k),
            Err(_) if opts.key.is_empty() => None,
            Err(_) => {
                return Err(Status::invalid_argument(
                    "mount: opts.key must be 32 bytes (or empty for a new drive)",
                ));
            }
        };
        // The drive is opened (or made) through the daemon's drive table, then closed: the
        // mount keeps it reachable through the root drive.
        let (id, session) = self.0.drives.open(key, None).await?;
        let sub = session.drive.sync().clone();
        let _ = self.0.drives.close(id);
        let version = (opts.version > 0).then_some(opts.version);
        let sub_key = PublicKey(*sub.key().as_bytes());
        let (root2, rel2) = (root.clone(), rel.clone());
        blocking("mount", move || {
            let mut options = MountOptions::default();
            if let Some(v) = version {
                options = options.version(v);
            }
            root2
                .mount(&rel2, &sub_key, &options)
                .and_then(|()| root2.flush())
                .map_err(|e| super::drive_error("mount", "the root drive", &rel2, &e))
        })
        .await?;
        let shown = match version {
            Some(v) => sub.checkout(v),
            None => sub,
        };
        Ok(Response::new(proto::MountResponse {
            path: r.path,
            mount_info: Some(options(&shown)),
        }))
    }

    async fn unmount(
        &self,
        request: Request<proto::UnmountRequest>,
    ) -> Result<Response<proto::UnmountResponse>, Status> {
        let path = request.into_inner().path;
        let (root, _, rel) = self.locate("unmount", &path)?;
        match rel {
            None => self
                .0
                .fuse
                .unmount(&self.0.drives)
                .await
                .map_err(|e| Status::internal(format!("unmount: {e}")))?,
            Some(rel) => {
                blocking("unmount", move || {
                    root.unmount(&rel)
                        .and_then(|()| root.flush())
                        .map_err(|e| super::drive_error("unmount", "the root drive", &rel, &e))
                })
                .await?
            }
        }
        Ok(Response::new(proto::UnmountResponse {}))
    }

    async fn info(
        &self,
        request: Request<proto::InfoRequest>,
    ) -> Result<Response<proto::InfoResponse>, Status> {
        let path = request.into_inner().path;
        let (root, mountpoint, rel) = self.locate("info", &path)?;
        let rel = rel.unwrap_or_else(|| "/".to_owned());
        let info = blocking("info", move || {
            let mounts = root
                .mounts(true)
                .map_err(|e| super::drive_error("info", "the root drive", &rel, &e))?;
            let inner = mounts
                .into_iter()
                .filter(|m| {
                    m.path != "/"
                        && (m.path == rel
                            || rel.starts_with(&format!("{}/", m.path.trim_end_matches('/'))))
                })
                .max_by_key(|m| m.path.len());
            Ok(match inner {
                Some(m) => {
                    let key = PublicKey(m.record.key);
                    let sub = Drive::open(
                        root.corestore().clone(),
                        &key,
                        hyperdrive::DriveOptions::default().block_timeout(None),
                    )
                    .map_err(|e| super::drive_error("info", "a mounted drive", &m.path, &e))?;
                    let inside = rel.strip_prefix(&m.path).unwrap_or("").to_owned();
                    proto::InfoResponse {
                        key: key.to_hex(),
                        path: if inside.is_empty() {
                            "/".to_owned()
                        } else {
                            inside
                        },
                        mount_path: mountpoint
                            .join(m.path.trim_start_matches('/'))
                            .display()
                            .to_string(),
                        writable: sub.writable() && m.record.version.is_none(),
                    }
                }
                None => proto::InfoResponse {
                    key: root.key().to_hex(),
                    path: rel,
                    mount_path: mountpoint.display().to_string(),
                    writable: root.writable(),
                },
            })
        })
        .await?;
        Ok(Response::new(info))
    }
}
