//! Union drives (`DDrive.union*`): several drives read as one through the `multidrive` crate.
//! A union is named by its primary drive's key and recorded in the state database with its
//! members in order; it is built for each read from the members (the open drive when a
//! session holds one, else opened from the store), so it holds no drive between calls.

use std::io::Read;
use std::sync::Arc;

use hyperdrive::{Drive, DriveOptions, ReaddirOptions};
use multidrive::MultiDrive;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::codegen::BoxStream;

use super::{App, blocking, check_path, errno_code, parse_key};
use crate::proto;
use crate::records::UnionRecord;
use crate::state::State;

/// Members one union may have.
pub(crate) const MAX_MEMBERS: usize = 64;

fn union_error(op: &str, union: &str, path: &str, e: &multidrive::Error) -> Status {
    Status::new(
        errno_code(e.errno()),
        format!("{op} {path} on union {union}: {e}"),
    )
}

fn state_error(op: &str, union: &str, e: &crate::Error) -> Status {
    Status::internal(format!(
        "{op} union {union}: the state database failed: {e}"
    ))
}

async fn load(app: &App, op: &'static str, key: [u8; 32]) -> Result<UnionRecord, Status> {
    let state = app.drives.state.clone();
    let name = hex::encode(key);
    blocking(op, move || {
        state
            .union(&name)
            .map_err(|e| state_error(op, &name, &e))?
            .ok_or_else(|| Status::not_found(format!("{op}: there is no union {name}")))
    })
    .await
}

async fn save(app: &App, op: &'static str, key: &str, record: UnionRecord) -> Result<(), Status> {
    let state = app.drives.state.clone();
    let name = key.to_owned();
    blocking(op, move || {
        state
            .put_union(&name, &record)
            .map_err(|e| state_error(op, &name, &e))
    })
    .await
}

fn info(app: &App, key: &str, record: &UnionRecord) -> proto::UnionInfo {
    let writable = hex::decode(key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| app.drives.live(&k))
        .map(|d| d.writable());
    let writable = writable.unwrap_or_else(|| {
        app.drives
            .state
            .drives()
            .map(|ds| ds.iter().any(|d| d.key == key && d.writable))
            .unwrap_or(false)
    });
    proto::UnionInfo {
        key: hex::decode(key).unwrap_or_default(),
        members: record
            .members
            .iter()
            .map(|m| hex::decode(m).unwrap_or_default())
            .collect(),
        writable,
    }
}

/// `DDrive.unionCreate`.
pub(crate) async fn create(
    app: Arc<App>,
    req: proto::UnionCreateRequest,
) -> Result<proto::UnionResponse, Status> {
    let mut members = Vec::new();
    for m in &req.members {
        let m = hex::encode(parse_key("unionCreate", m)?);
        if !members.contains(&m) {
            members.push(m);
        }
    }
    let primary = if req.primary.is_empty() {
        // A new writable drive, made as `Drive.get` makes one; the session only creates it.
        let (id, s) = app.drives.open(None, None).await?;
        let created = s.durable("unionCreate", "/").await;
        app.drives.close(id)?;
        created?;
        s.key_hex()
    } else {
        hex::encode(parse_key("unionCreate", &req.primary)?)
    };
    members.retain(|m| *m != primary);
    members.insert(0, primary.clone());
    if members.len() > MAX_MEMBERS {
        return Err(Status::invalid_argument(format!(
            "unionCreate {primary}: {} members (at most {MAX_MEMBERS})",
            members.len()
        )));
    }
    let state = app.drives.state.clone();
    let name = primary.clone();
    let exists = blocking("unionCreate", move || {
        state
            .union(&name)
            .map_err(|e| state_error("unionCreate", &name, &e))
    })
    .await?;
    if exists.is_some() {
        return Err(Status::already_exists(format!(
            "unionCreate: union {primary} exists already"
        )));
    }
    let record = UnionRecord { members };
    save(&app, "unionCreate", &primary, record.clone()).await?;
    Ok(proto::UnionResponse {
        union: Some(info(&app, &primary, &record)),
    })
}

/// `DDrive.unionAdd` and `DDrive.unionRemove`.
pub(crate) async fn change(
    app: Arc<App>,
    op: &'static str,
    req: proto::UnionMemberRequest,
    add: bool,
) -> Result<proto::UnionResponse, Status> {
    let key = parse_key(op, &req.union)?;
    let member = hex::encode(parse_key(op, &req.member)?);
    let name = hex::encode(key);
    let mut record = load(&app, op, key).await?;
    let present = record.members.contains(&member);
    if add {
        if present {
            return Err(Status::already_exists(format!(
                "{op}: drive {member} is a member of union {name} already"
            )));
        }
        if record.members.len() >= MAX_MEMBERS {
            return Err(Status::resource_exhausted(format!(
                "{op}: union {name} has {MAX_MEMBERS} members (the most it may have)"
            )));
        }
        record.members.push(member);
    } else {
        if !present {
            return Err(Status::not_found(format!(
                "{op}: drive {member} is not a member of union {name}"
            )));
        }
        if member == name {
            return Err(Status::failed_precondition(format!(
                "{op}: drive {member} is the primary of union {name}, which names it; delete the union instead"
            )));
        }
        record.members.retain(|m| *m != member);
    }
    save(&app, op, &name, record.clone()).await?;
    Ok(proto::UnionResponse {
        union: Some(info(&app, &name, &record)),
    })
}

/// `DDrive.unionList`.
pub(crate) async fn list(app: Arc<App>) -> Result<proto::UnionListResponse, Status> {
    let state = app.drives.state.clone();
    let all = blocking("unionList", move || {
        state
            .unions()
            .map_err(|e| state_error("unionList", "*", &e))
    })
    .await?;
    Ok(proto::UnionListResponse {
        unions: all.iter().map(|(k, r)| info(&app, k, r)).collect(),
    })
}

/// `DDrive.unionDelete`: forgets the union; its drives stay.
pub(crate) async fn delete(
    app: Arc<App>,
    req: proto::UnionDeleteRequest,
) -> Result<proto::UnionDeleteResponse, Status> {
    let key = parse_key("unionDelete", &req.union)?;
    load(&app, "unionDelete", key).await?;
    let state = app.drives.state.clone();
    let name = hex::encode(key);
    blocking("unionDelete", move || {
        state
            .remove_union(&name)
            .map_err(|e| state_error("unionDelete", &name, &e))
    })
    .await?;
    Ok(proto::UnionDeleteResponse {})
}

/// Removes a deleted drive from every union; a union it was the primary of goes.
pub(crate) fn forget_member(state: &State, key: &str) -> crate::Result<()> {
    for (name, mut record) in state.unions()? {
        if name == key {
            state.remove_union(&name)?;
        } else if record.members.contains(&key.to_owned()) {
            record.members.retain(|m| m != key);
            state.put_union(&name, &record)?;
        }
    }
    Ok(())
}

/// The union, built from its members.
async fn build(app: &App, op: &'static str, key: [u8; 32]) -> Result<MultiDrive, Status> {
    let record = load(app, op, key).await?;
    let live: Vec<Option<Drive>> = record
        .members
        .iter()
        .map(|m| {
            hex::decode(m)
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .and_then(|k| app.drives.live(&k))
                .map(|d| d.sync().clone())
        })
        .collect();
    let store = app.drives.store().clone();
    let name = hex::encode(key);
    blocking(op, move || {
        let mut drives = Vec::with_capacity(record.members.len());
        for (member, live) in record.members.iter().zip(live) {
            let drive = match live {
                Some(d) => d,
                None => {
                    let k = hex::decode(member)
                        .ok()
                        .and_then(|k| <[u8; 32]>::try_from(k).ok())
                        .ok_or_else(|| {
                            Status::internal(format!("{op}: union {name} names a bad key {member}"))
                        })?;
                    Drive::open(
                        store.clone(),
                        &hypercore::PublicKey(k),
                        DriveOptions::default().block_timeout(None),
                    )
                    .map_err(|e| {
                        super::drive_error(op, &format!("union {name} member {member}"), "/", &e)
                    })?
                }
            };
            drives.push(drive);
        }
        let mut drives = drives.into_iter();
        let primary = drives
            .next()
            .ok_or_else(|| Status::internal(format!("{op}: union {name} has no members")))?;
        let union = MultiDrive::new(primary);
        for d in drives {
            union.add_drive(d);
        }
        Ok(union)
    })
    .await
}

/// `DDrive.unionReaddir`.
pub(crate) async fn readdir(
    app: Arc<App>,
    req: proto::UnionReaddirRequest,
) -> Result<proto::UnionReaddirResponse, Status> {
    let key = parse_key("unionReaddir", &req.union)?;
    let path = if req.path.is_empty() {
        "/".to_owned()
    } else {
        check_path("unionReaddir", &req.path)?.to_owned()
    };
    let union = build(&app, "unionReaddir", key).await?;
    let name = hex::encode(key);
    blocking("unionReaddir", move || {
        let entries = union
            .readdir_with_stats(&path, &ReaddirOptions::default())
            .map_err(|e| union_error("unionReaddir", &name, &path, &e))?;
        let mut rsp = proto::UnionReaddirResponse::default();
        for e in entries {
            rsp.files.push(e.name);
            rsp.stats.push(super::convert::stat(&e.stat));
            rsp.drives.push(e.drive.as_bytes().to_vec());
        }
        Ok(rsp)
    })
    .await
}

/// `DDrive.unionReadFile`: the winning member's file, in chunks.
pub(crate) async fn read_file(
    app: Arc<App>,
    req: proto::UnionReadFileRequest,
) -> Result<BoxStream<proto::ReadFileResponse>, Status> {
    let key = parse_key("unionReadFile", &req.union)?;
    let path = check_path("unionReadFile", &req.path)?.to_owned();
    let union = build(&app, "unionReadFile", key).await?;
    let name = hex::encode(key);
    let (n, p) = (name.clone(), path.clone());
    let mut reader = blocking("unionReadFile", move || {
        union
            .open_reader(&p)
            .map_err(|e| union_error("unionReadFile", &n, &p, &e))
    })
    .await?;
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut chunk = vec![0u8; crate::CHUNK_SIZE];
            let mut filled = 0;
            while filled < chunk.len() {
                match reader.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(k) => filled += k,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(super::read_error(
                            "unionReadFile",
                            &format!("union {name}"),
                            &path,
                            &e,
                        )));
                        return;
                    }
                }
            }
            if filled == 0 {
                return;
            }
            chunk.truncate(filled);
            let last = filled < crate::CHUNK_SIZE;
            if tx
                .blocking_send(Ok(proto::ReadFileResponse { chunk }))
                .is_err()
                || last
            {
                return;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}
