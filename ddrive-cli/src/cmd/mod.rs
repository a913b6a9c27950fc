//! The commands that talk to drives, one file each (start, stop and status live in
//! `commands.rs`).

pub(crate) mod cat;
pub(crate) mod cleanup;
pub(crate) mod create;
pub(crate) mod export;
pub(crate) mod fuse_setup;
pub(crate) mod generate;
pub(crate) mod history;
pub(crate) mod import;
pub(crate) mod info;
pub(crate) mod ls;
pub(crate) mod mkdir;
pub(crate) mod put;
pub(crate) mod rm;
pub(crate) mod seed;
pub(crate) mod service;
pub(crate) mod stats;

use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::client::DaemonClient;
use crate::exit::{Exit, fail};
use crate::key::{self, DriveRef};
use crate::output::Out;
use crate::session::DriveSession;

/// What every command gets.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub(crate) storage: PathBuf,
    pub(crate) out: Out,
}

impl Ctx {
    /// Runs `f` on a fresh runtime.
    pub(crate) fn block_on<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(f)
    }

    /// The daemon, or the not-running failure.
    pub(crate) async fn client(&self) -> Result<DaemonClient> {
        DaemonClient::require(&self.storage).await
    }
}

/// Opens a session on `key` (a checkout at `version`), runs `f`, and closes the session
/// whatever `f` returned.
pub(crate) async fn with_session<T>(
    client: &DaemonClient,
    key: Option<[u8; 32]>,
    version: Option<u64>,
    f: impl AsyncFnOnce(&DriveSession) -> Result<T>,
) -> Result<T> {
    let session = DriveSession::open(client, key, version).await?;
    let result = f(&session).await;
    let closed = session.close().await;
    let value = result?;
    closed?;
    Ok(value)
}

/// The drive a command names: a key, `hyper://` URL (either with a `/path`), or a local folder
/// holding an import or export key file; `None` looks in the current folder.
pub(crate) fn resolve_drive(arg: Option<&str>) -> Result<DriveRef> {
    let dir = match arg {
        Some(text) => match DriveRef::parse(text) {
            Ok(r) => return Ok(r),
            Err(e) => {
                let p = Path::new(text);
                if !p.is_dir() {
                    return Err(e);
                }
                p.to_owned()
            }
        },
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    for export in [false, true] {
        if let Some(key) = key::read_key_file(&dir, export)? {
            return Ok(DriveRef {
                key,
                path: "/".to_owned(),
            });
        }
    }
    Err(fail(
        Exit::BadKey,
        format!(
            "{} holds no .ddrive-import-key or .ddrive-export-key; name the drive by its key \
             (hex or hyper://<hex>). Paths under the FUSE mountpoint need `ddrive mount`.",
            dir.display()
        ),
    ))
}

/// `hyper://<hex>`.
pub(crate) fn url(key: &[u8; 32]) -> String {
    format!("hyper://{}", hex::encode(key))
}
