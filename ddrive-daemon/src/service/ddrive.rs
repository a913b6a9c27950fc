//! `DDrive`: ddrive's additions (tags, checkout by tag, rename, truncate, flush, descriptors'
//! close, drive deletion, garbage collection, unions), in a service of their own so that the
//! Node daemon's clients never meet them.

use std::sync::Arc;

use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use super::{App, check_path, drive::failed, guarded, parse_key};
use crate::proto::{self, d_drive_server::DDrive};

/// Longest tag name accepted.
const MAX_TAG: usize = 255;

/// The `DDrive` service.
#[derive(Debug)]
pub(crate) struct DDriveService(pub(crate) Arc<App>);

fn check_tag<'a>(op: &str, drive: &str, name: &'a str) -> Result<&'a str, Status> {
    if name.is_empty() || name.len() > MAX_TAG || name.contains(['/', '\0']) {
        return Err(Status::invalid_argument(format!(
            "{op} on drive {drive}: a tag name is 1 to {MAX_TAG} bytes without '/' or NUL, not {:?}",
            name.escape_debug().to_string()
        )));
    }
    Ok(name)
}

#[tonic::async_trait]
impl DDrive for DDriveService {
    async fn create_tag(
        &self,
        r: Request<proto::CreateTagRequest>,
    ) -> Result<Response<proto::CreateTagResponse>, Status> {
        let app = self.0.clone();
        let req = r.into_inner();
        guarded("createTag", async move {
            let s = app.drives.session("createTag", req.id)?;
            let name = check_tag("createTag", &s.key_hex(), &req.name)?.to_owned();
            s.writable("createTag", &name)?;
            let current = s.drive.version();
            let version = if req.version == 0 {
                current
            } else {
                req.version
            };
            if version > current {
                return Err(Status::invalid_argument(format!(
                    "createTag {name} on drive {}: version {version} does not exist (the drive is at {current})",
                    s.key_hex()
                )));
            }
            if let Some(old) = s
                .drive
                .tagged_version(&name)
                .await
                .map_err(failed("createTag", &s, &name))?
            {
                return Err(Status::already_exists(format!(
                    "createTag {name} on drive {}: the tag exists (version {old}); delete it first",
                    s.key_hex()
                )));
            }
            s.drive
                .create_tag(&name, Some(version))
                .await
                .map_err(failed("createTag", &s, &name))?;
            s.durable("createTag", &name).await?;
            Ok(proto::CreateTagResponse { version })
        })
        .await
    }

    async fn list_tags(
        &self,
        r: Request<proto::ListTagsRequest>,
    ) -> Result<Response<proto::ListTagsResponse>, Status> {
        let app = self.0.clone();
        let req = r.into_inner();
        guarded("listTags", async move {
            let s = app.drives.session("listTags", req.id)?;
            let tags = s.drive.tags().await.map_err(failed("listTags", &s, "/"))?;
            Ok(proto::ListTagsResponse {
                tags: tags
                    .into_iter()
                    .map(|(name, version)| proto::DDriveTag { name, version })
                    .collect(),
            })
        })
        .await
    }

    async fn delete_tag(
        &self,
        r: Request<proto::DeleteTagRequest>,
    ) -> Result<Response<proto::DeleteTagResponse>, Status> {
        let app = self.0.clone();
        let req = r.into_inner();
        guarded("deleteTag", async move {
            let s = app.drives.session("deleteTag", req.id)?;
            let name = check_tag("deleteTag", &s.key_hex(), &req.name)?.to_owned();
            s.writable("deleteTag", &name)?;
            let deleted =
                s.drive
                    .delete_tag(&name)
                    .await
                    .map_err(failed("deleteTag", &s, &name))?;
            if !deleted {
                return Err(Status::not_found(format!(
                    "deleteTag {name} on drive {}: there is no such tag",
                    s.key_hex()
                )));
            }
            s.durable("deleteTag", &name).await?;
            Ok(proto::DeleteTagResponse {})
        })
        .await
    }

    async fn checkout(
        &self,
        r: Request<proto::CheckoutRequest>,
    ) -> Result<Response<proto::GetDriveResponse>, Status> {
        let app = self.0.clone();
        let req = r.into_inner();
        guarded("checkout", async move {
            let key = parse_key("checkout", &req.key)?;
            let version = if req.tag.is_empty() {
                if req.version == 0 {
                    return Err(Status::invalid_argument(format!(
                        "checkout drive {}: name a tag or a version",
                        hex::encode(key)
                    )));
                }
                req.version
            } else {
                let tag = check_tag("checkout", &hex::encode(key), &req.tag)?.to_owned();
                // A live session reads the tag; it ends before the checkout's answer.
                let (id, live) = app.drives.open(Some(key), None).await?;
                let found = live.drive.tagged_version(&tag).await;
                app.drives.close(id)?;
                found
                    .map_err(failed("checkout", &live, &tag))?
                    .ok_or_else(|| {
                        Status::not_found(format!(
                            "checkout drive {}: there is no tag {tag:?}",
                            hex::encode(key)
                        ))
                    })?
            };
            let (id, session) = app.drives.open(Some(key), Some(version)).await?;
            let d = &session.drive;
            Ok(proto::GetDriveResponse {
                id,
                opts: Some(proto::HyperdriveOptions {
                    key: d.key().as_bytes().to_vec(),
                    version,
                    hash: Vec::new(),
                    writable: false,
                    seed: false,
                    discovery_key: d.sync().discovery_key().to_vec(),
                }),
            })
        })
        .await
    }

    async fn rename(
        &self,
        r: Request<proto::RenameRequest>,
    ) -> Result<Response<proto::RenameResponse>, Status> {
        let app = self.0.clone();
        let req = r.into_inner();
        guarded("rename", async move {
            let s = app.drives.session("rename", req.id)?;
            let from = check_path("rename", &req.from)?.to_owned();
            let to = check_path("rename", &req.to)?.to_owned();
            let both = format!("{from} -> {to}");
            s.writable("rename", &both)?;
            s.drive
                .rename(&from, &to)
                .await
                .map_err(failed("rename", &s, &both))?;
            s.durable("rename", &both).await?;
            Ok(proto::RenameResponse {})
        })
        .await
    }

    async fn truncate(
        &self,
        r: Request<proto::TruncateRequest>,
    ) -> Result<Response<proto::TruncateResponse>, Status> {
        let app = self.0.clone();
        let req = r.into_inner();
        guarded("truncate", async move {
            let s = app.drives.session("truncate", req.id)?;
            let path = check_path("truncate", &req.path)?.to_owned();
            s.writable("truncate", &path)?;
            // POSIX truncate: shorter cuts, longer pads with zeros, 0 empties.
            s.drive
                .set_len(&path, req.size)
                .await
                .map_err(failed("truncate", &s, &path))?;
            s.durable("truncate", &path).await?;
            Ok(proto::TruncateResponse {})
        })
        .await
    }

    async fn flush(
        &self,
        r: Request<proto::FlushRequest>,
    ) -> Result<Response<proto::FlushResponse>, Status> {
        let app = self.0.clone();
        let req = r.into_inner();
        guarded("flush", async move {
            let s = app.drives.session("flush", req.id)?;
            super::fd::flush(&s).await?;
            Ok(proto::FlushResponse {})
        })
        .await
    }

    async fn close_fd(
        &self,
        r: Request<proto::CloseRequest>,
    ) -> Result<Response<proto::CloseResponse>, Status> {
        guarded("closeFd", super::fd::close(self.0.clone(), r.into_inner())).await
    }

    async fn delete_drive(
        &self,
        r: Request<proto::DeleteDriveRequest>,
    ) -> Result<Response<proto::DeleteDriveResponse>, Status> {
        guarded(
            "deleteDrive",
            super::gc::delete_drive(self.0.clone(), r.into_inner()),
        )
        .await
    }

    async fn gc(
        &self,
        r: Request<proto::GcRequest>,
    ) -> Result<Response<proto::GcResponse>, Status> {
        guarded("gc", super::gc::gc(self.0.clone(), r.into_inner())).await
    }

    async fn union_create(
        &self,
        r: Request<proto::UnionCreateRequest>,
    ) -> Result<Response<proto::UnionResponse>, Status> {
        guarded(
            "unionCreate",
            super::union::create(self.0.clone(), r.into_inner()),
        )
        .await
    }

    async fn union_add(
        &self,
        r: Request<proto::UnionMemberRequest>,
    ) -> Result<Response<proto::UnionResponse>, Status> {
        guarded(
            "unionAdd",
            super::union::change(self.0.clone(), "unionAdd", r.into_inner(), true),
        )
        .await
    }

    async fn union_remove(
        &self,
        r: Request<proto::UnionMemberRequest>,
    ) -> Result<Response<proto::UnionResponse>, Status> {
        guarded(
            "unionRemove",
            super::union::change(self.0.clone(), "unionRemove", r.into_inner(), false),
        )
        .await
    }

    async fn union_list(
        &self,
        _: Request<proto::UnionListRequest>,
    ) -> Result<Response<proto::UnionListResponse>, Status> {
        guarded("unionList", super::union::list(self.0.clone())).await
    }

    async fn union_delete(
        &self,
        r: Request<proto::UnionDeleteRequest>,
    ) -> Result<Response<proto::UnionDeleteResponse>, Status> {
        guarded(
            "unionDelete",
            super::union::delete(self.0.clone(), r.into_inner()),
        )
        .await
    }

    async fn union_readdir(
        &self,
        r: Request<proto::UnionReaddirRequest>,
    ) -> Result<Response<proto::UnionReaddirResponse>, Status> {
        guarded(
            "unionReaddir",
            super::union::readdir(self.0.clone(), r.into_inner()),
        )
        .await
    }

    async fn union_read_file(
        &self,
        r: Request<proto::UnionReadFileRequest>,
    ) -> Result<Response<BoxStream<proto::ReadFileResponse>>, Status> {
        guarded(
            "unionReadFile",
            super::union::read_file(self.0.clone(), r.into_inner()),
        )
        .await
    }
}
