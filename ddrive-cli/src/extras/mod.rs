//! The drive-admin commands over the daemon's `DDrive` service: `tag create|list|delete`,
//! `checkout`, `mv`, `delete`, `gc` and `multi create|add|remove|ls`. Each names a drive by
//! its key or `hyper://<key>`, prints one line (or one JSON document with `--json`), and on
//! failure prints one line (JSON `{"message_type":"error","code","message"}` with `--json`)
//! on stderr and exits with the code of the table in `ddrive --help`.

mod rpc;

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ddrive_daemon::proto;
use serde_json::{Value, json};

use self::rpc::{Conn, Outcome, QUICK, SLOW, failed, from_status, parse_key};

/// `ddrive tag ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TagCommand {
    /// Tag a version of a drive (the current one unless --version).
    Create {
        /// The drive (key or hyper:// URL).
        drive: String,
        /// The tag's name.
        name: String,
        /// The version to tag.
        #[arg(long)]
        version: Option<u64>,
    },
    /// List a drive's tags.
    List {
        /// The drive (key or hyper:// URL).
        drive: String,
    },
    /// Delete a tag (the version stays).
    Delete {
        /// The drive (key or hyper:// URL).
        drive: String,
        /// The tag's name.
        name: String,
    },
}

/// `ddrive checkout`.
#[derive(Debug, Args)]
pub(crate) struct CheckoutArgs {
    /// The drive (key or hyper:// URL).
    drive: String,
    /// A tag name, or a version number.
    at: String,
    /// The directory to list at that version.
    #[arg(default_value = "/")]
    path: String,
}

/// `ddrive mv`.
#[derive(Debug, Args)]
pub(crate) struct MvArgs {
    /// The drive (key or hyper:// URL).
    drive: String,
    /// The path to move.
    from: String,
    /// Its new path.
    to: String,
}

/// `ddrive delete` and `ddrive gc`.
#[derive(Debug, Args)]
pub(crate) struct DriveArg {
    /// The drive (key or hyper:// URL).
    drive: String,
}

/// `ddrive multi ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum MultiCommand {
    /// Make a union of drives, named by its primary (a new drive when none is given).
    Create {
        /// The primary drive (key or hyper:// URL).
        primary: Option<String>,
        /// More members, in order.
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Add a drive to a union.
    Add {
        /// The union (its primary's key).
        union: String,
        /// The drive to add.
        drive: String,
    },
    /// Remove a drive from a union (the drive stays).
    Remove {
        /// The union (its primary's key).
        union: String,
        /// The drive to remove.
        drive: String,
    },
    /// Without a union, list the unions; with one, list a directory through it.
    Ls {
        /// The union (its primary's key).
        union: Option<String>,
        /// The directory.
        #[arg(default_value = "/")]
        path: String,
    },
}

fn path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

/// Runs a command and reports as `--json` says.
fn run(json: bool, command: impl AsyncFnOnce() -> Outcome<(String, Value)>) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(1, format!("cannot start the async runtime: {e}")))
        .and_then(|rt| rt.block_on(command()));
    match result {
        Ok((text, doc)) => {
            if json {
                println!("{doc}");
            } else if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            if json {
                eprintln!(
                    "{}",
                    json!({"message_type": "error", "code": f.code, "message": f.message})
                );
            } else {
                eprintln!("ddrive: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// `ddrive tag`.
pub(crate) fn tag(storage: &Path, json: bool, command: TagCommand) -> ExitCode {
    run(json, async || {
        let mut c = Conn::open(storage).await?;
        let (drive, name) = match &command {
            TagCommand::Create { drive, name, .. } | TagCommand::Delete { drive, name } => {
                (drive, Some(name.clone()))
            }
            TagCommand::List { drive } => (drive, None),
        };
        let key = parse_key(drive)?;
        let hex_key = hex::encode(&key);
        let id = c.session(&key, 0).await?;
        let result = async {
            match command {
                TagCommand::Create { version, .. } => {
                    let name = name.unwrap_or_default();
                    let r = c.req(
                        proto::CreateTagRequest {
                            id,
                            name: name.clone(),
                            version: version.unwrap_or(0),
                        },
                        QUICK,
                    )?;
                    let v = c
                        .extra
                        .create_tag(r)
                        .await
                        .map_err(|s| from_status(&s))?
                        .into_inner()
                        .version;
                    Ok((
                        format!("Tagged version {v} of {hex_key} as {name}."),
                        json!({"key": hex_key, "name": name, "version": v}),
                    ))
                }
                TagCommand::List { .. } => {
                    let r = c.req(proto::ListTagsRequest { id }, QUICK)?;
                    let tags = c
                        .extra
                        .list_tags(r)
                        .await
                        .map_err(|s| from_status(&s))?
                        .into_inner()
                        .tags;
                    let text = tags
                        .iter()
                        .map(|t| format!("{}\t{}", t.name, t.version))
                        .collect::<Vec<_>>()
                        .join("\n");
                    let list: Vec<Value> = tags
                        .iter()
                        .map(|t| json!({"name": t.name, "version": t.version}))
                        .collect();
                    Ok((text, json!({"key": hex_key, "tags": list})))
                }
                TagCommand::Delete { .. } => {
                    let name = name.unwrap_or_default();
                    let r = c.req(
                        proto::DeleteTagRequest {
                            id,
                            name: name.clone(),
                        },
                        QUICK,
                    )?;
                    c.extra.delete_tag(r).await.map_err(|s| from_status(&s))?;
                    Ok((
                        format!("Deleted tag {name} of {hex_key}."),
                        json!({"key": hex_key, "name": name, "deleted": true}),
                    ))
                }
            }
        }
        .await;
        c.close(id).await;
        result
    })
}

/// `ddrive checkout`: lists a directory at a tagged (or numbered) version.
pub(crate) fn checkout(storage: &Path, json: bool, args: CheckoutArgs) -> ExitCode {
    run(json, async || {
        let mut c = Conn::open(storage).await?;
        let key = parse_key(&args.drive)?;
        let hex_key = hex::encode(&key);
        let (tag, version) = match args.at.parse::<u64>() {
            Ok(v) => (String::new(), v),
            Err(_) => (args.at.clone(), 0),
        };
        let r = c.req(
            proto::CheckoutRequest {
                key: key.clone(),
                tag: tag.clone(),
                version,
            },
            QUICK,
        )?;
        let rsp = c
            .extra
            .checkout(r)
            .await
            .map_err(|s| from_status(&s))?
            .into_inner();
        let version = rsp.opts.map_or(version, |o| o.version);
        let dir = path(&args.path);
        let r = c.req(
            proto::ReadDirectoryRequest {
                id: rsp.id,
                path: dir.clone(),
                ..Default::default()
            },
            QUICK,
        )?;
        let listed = c.drive.readdir(r).await.map_err(|s| from_status(&s));
        c.close(rsp.id).await;
        let files = listed?.into_inner().files;
        let what = if tag.is_empty() {
            format!("{hex_key} at version {version}")
        } else {
            format!("{hex_key} at tag {tag} (version {version})")
        };
        let mut text = format!("{what}, {dir}:");
        for f in &files {
            text.push_str("\n  ");
            text.push_str(f);
        }
        Ok((
            text,
            json!({"key": hex_key, "tag": tag, "version": version, "path": dir, "files": files}),
        ))
    })
}

/// `ddrive mv`.
pub(crate) fn mv(storage: &Path, json: bool, args: MvArgs) -> ExitCode {
    run(json, async || {
        let mut c = Conn::open(storage).await?;
        let key = parse_key(&args.drive)?;
        let hex_key = hex::encode(&key);
        let (from, to) = (path(&args.from), path(&args.to));
        let id = c.session(&key, 0).await?;
        let r = c.req(
            proto::RenameRequest {
                id,
                from: from.clone(),
                to: to.clone(),
            },
            QUICK,
        )?;
        let done = c.extra.rename(r).await.map_err(|s| from_status(&s));
        c.close(id).await;
        done?;
        Ok((
            format!("Moved {from} to {to} in {hex_key}."),
            json!({"key": hex_key, "from": from, "to": to}),
        ))
    })
}

/// `ddrive delete`.
pub(crate) fn delete(storage: &Path, json: bool, args: DriveArg) -> ExitCode {
    run(json, async || {
        let mut c = Conn::open(storage).await?;
        let key = parse_key(&args.drive)?;
        let hex_key = hex::encode(&key);
        let r = c.req(proto::DeleteDriveRequest { key }, SLOW)?;
        let rsp = c
            .extra
            .delete_drive(r)
            .await
            .map_err(|s| from_status(&s))?
            .into_inner();
        Ok((
            format!(
                "Deleted drive {hex_key} ({} cores, {} bytes freed).",
                rsp.cores, rsp.freed_bytes
            ),
            json!({"key": hex_key, "cores": rsp.cores, "freed_bytes": rsp.freed_bytes}),
        ))
    })
}

/// `ddrive gc`.
pub(crate) fn gc(storage: &Path, json: bool, args: DriveArg) -> ExitCode {
    run(json, async || {
        let mut c = Conn::open(storage).await?;
        let key = parse_key(&args.drive)?;
        let hex_key = hex::encode(&key);
        let id = c.session(&key, 0).await?;
        let r = c.req(proto::GcRequest { id }, SLOW)?;
        let done = c.extra.gc(r).await.map_err(|s| from_status(&s));
        c.close(id).await;
        let rsp = done?.into_inner();
        let kept: Vec<String> = rsp.kept_versions.iter().map(u64::to_string).collect();
        Ok((
            format!(
                "Cleared {} blocks of {hex_key} ({} bytes freed); kept {} blocks for versions {}.",
                rsp.cleared_blocks,
                rsp.freed_bytes,
                rsp.kept_blocks,
                kept.join(", ")
            ),
            json!({
                "key": hex_key,
                "cleared_blocks": rsp.cleared_blocks,
                "kept_blocks": rsp.kept_blocks,
                "freed_bytes": rsp.freed_bytes,
                "kept_versions": rsp.kept_versions,
            }),
        ))
    })
}

fn union_json(u: &proto::UnionInfo) -> Value {
    let members: Vec<String> = u.members.iter().map(hex::encode).collect();
    json!({"key": hex::encode(&u.key), "members": members, "writable": u.writable})
}

fn union_text(u: &proto::UnionInfo) -> String {
    let mut text = format!("Union {}:", hex::encode(&u.key));
    for m in &u.members {
        text.push_str("\n  ");
        text.push_str(&hex::encode(m));
    }
    text
}

/// `ddrive multi`.
pub(crate) fn multi(storage: &Path, json: bool, command: MultiCommand) -> ExitCode {
    run(json, async || {
        let mut c = Conn::open(storage).await?;
        match command {
            MultiCommand::Create { primary, members } => {
                let primary = primary.as_deref().map(parse_key).transpose()?;
                let members = members
                    .iter()
                    .map(|m| parse_key(m))
                    .collect::<Outcome<Vec<_>>>()?;
                let r = c.req(
                    proto::UnionCreateRequest {
                        primary: primary.unwrap_or_default(),
                        members,
                    },
                    QUICK,
                )?;
                let u = c
                    .extra
                    .union_create(r)
                    .await
                    .map_err(|s| from_status(&s))?
                    .into_inner()
                    .union
                    .unwrap_or_default();
                Ok((union_text(&u), union_json(&u)))
            }
            MultiCommand::Add { union, drive } => {
                let req = proto::UnionMemberRequest {
                    union: parse_key(&union)?,
                    member: parse_key(&drive)?,
                };
                let r = c.req(req, QUICK)?;
                let u = c
                    .extra
                    .union_add(r)
                    .await
                    .map_err(|s| from_status(&s))?
                    .into_inner()
                    .union
                    .unwrap_or_default();
                Ok((union_text(&u), union_json(&u)))
            }
            MultiCommand::Remove { union, drive } => {
                let req = proto::UnionMemberRequest {
                    union: parse_key(&union)?,
                    member: parse_key(&drive)?,
                };
                let r = c.req(req, QUICK)?;
                let u = c
                    .extra
                    .union_remove(r)
                    .await
                    .map_err(|s| from_status(&s))?
                    .into_inner()
                    .union
                    .unwrap_or_default();
                Ok((union_text(&u), union_json(&u)))
            }
            MultiCommand::Ls { union: None, .. } => {
                let r = c.req(proto::UnionListRequest {}, QUICK)?;
                let unions = c
                    .extra
                    .union_list(r)
                    .await
                    .map_err(|s| from_status(&s))?
                    .into_inner()
                    .unions;
                let text = unions.iter().map(union_text).collect::<Vec<_>>().join("\n");
                let list: Vec<Value> = unions.iter().map(union_json).collect();
                Ok((text, json!({"unions": list})))
            }
            MultiCommand::Ls {
                union: Some(union),
                path: dir,
            } => {
                let key = parse_key(&union)?;
                let dir = path(&dir);
                let r = c.req(
                    proto::UnionReaddirRequest {
                        union: key.clone(),
                        path: dir.clone(),
                    },
                    QUICK,
                )?;
                let rsp = c
                    .extra
                    .union_readdir(r)
                    .await
                    .map_err(|s| from_status(&s))?
                    .into_inner();
                let text = rsp
                    .files
                    .iter()
                    .zip(&rsp.drives)
                    .map(|(f, d)| format!("{f}\t{}", hex::encode(d)))
                    .collect::<Vec<_>>()
                    .join("\n");
                let entries: Vec<Value> = rsp
                    .files
                    .iter()
                    .zip(&rsp.drives)
                    .map(|(f, d)| json!({"name": f, "drive": hex::encode(d)}))
                    .collect();
                Ok((
                    text,
                    json!({"union": hex::encode(&key), "path": dir, "entries": entries}),
                ))
            }
        }
    })
}
