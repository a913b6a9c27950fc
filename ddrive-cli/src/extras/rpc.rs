//! What the drive-admin commands share: the connection, keys, sessions, and failures with
//! their exit codes (the same table as the other commands: 3 daemon not running, 4 bad key,
//! 5 not found, 6 read-only, 7 no answer in time, 1 anything else).

use std::path::Path;
use std::time::Duration;

use ddrive_daemon::proto::{self, d_drive_client::DDriveClient, drive_client::DriveClient};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::client::DaemonClient;
use crate::exit::{Exit, NOT_RUNNING};

/// How long a quick call may take.
pub(crate) const QUICK: Duration = Duration::from_secs(5);
/// How long a call that walks a drive (gc, delete) may take.
pub(crate) const SLOW: Duration = Duration::from_secs(600);

/// A failed command: its exit code and the one line a person reads.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) code: u8,
    pub(crate) message: String,
}

pub(crate) type Outcome<T> = Result<T, Failed>;

pub(crate) fn failed(code: u8, message: impl Into<String>) -> Failed {
    Failed {
        code,
        message: message.into(),
    }
}

/// A gRPC failure: the daemon's message names the drive, the path and the cause.
pub(crate) fn from_status(s: &Status) -> Failed {
    let exit = match s.code() {
        Code::NotFound => Exit::NotFound,
        Code::PermissionDenied => Exit::ReadOnly,
        Code::DeadlineExceeded => Exit::Timeout,
        Code::Unavailable | Code::Unknown | Code::Cancelled
            if std::error::Error::source(s).is_some() =>
        {
            return failed(Exit::NotRunning.code(), NOT_RUNNING);
        }
        _ => Exit::Failure,
    };
    let message = match s.code() {
        Code::Unauthenticated => {
            "the daemon refused the token in config.json (is it another daemon's?)".to_owned()
        }
        _ => s.message().to_owned(),
    };
    failed(exit.code(), message)
}

/// A drive key (64 hex characters, or `hyper://<hex>`), parsed as every other command does.
pub(crate) fn parse_key(text: &str) -> Outcome<Vec<u8>> {
    let key = text.strip_prefix("hyper://").unwrap_or(text);
    let key = key.split('/').next().unwrap_or_default();
    crate::key::parse_key(key).map(|k| k.to_vec()).map_err(|e| {
        failed(
            crate::exit::exit_of(&e).code(),
            format!("{text:?} is not a drive key ({e})"),
        )
    })
}

/// A connection to the daemon: the shared [`DaemonClient`] and the two services these
/// commands call.
pub(crate) struct Conn {
    pub(crate) drive: DriveClient<Channel>,
    pub(crate) extra: DDriveClient<Channel>,
    client: DaemonClient,
}

impl Conn {
    /// Connects (socket first, then TCP), or fails with the not-running message.
    pub(crate) async fn open(storage: &Path) -> Outcome<Conn> {
        let client = DaemonClient::connect(storage)
            .await
            .map_err(|e| failed(Exit::Failure.code(), e.to_string()))?
            .ok_or_else(|| failed(Exit::NotRunning.code(), NOT_RUNNING))?;
        Ok(Conn {
            drive: DriveClient::new(client.channel()),
            extra: DDriveClient::new(client.channel()),
            client,
        })
    }

    /// A request with the token and a deadline.
    pub(crate) fn req<T>(&self, message: T, deadline: Duration) -> Outcome<Request<T>> {
        Ok(self.client.req(message, deadline))
    }

    /// Opens a session on the drive (a checkout at `version` when given).
    pub(crate) async fn session(&mut self, key: &[u8], version: u64) -> Outcome<u64> {
        let r = self.req(
            proto::GetDriveRequest {
                opts: Some(proto::HyperdriveOptions {
                    key: key.to_vec(),
                    version,
                    ..Default::default()
                }),
            },
            QUICK,
        )?;
        Ok(self
            .drive
            .get(r)
            .await
            .map_err(|s| from_status(&s))?
            .into_inner()
            .id)
    }

    /// Ends a session (best effort: the daemon ends it anyway when the drive is deleted).
    pub(crate) async fn close(&mut self, id: u64) {
        if let Ok(r) = self.req(proto::CloseSessionRequest { id }, QUICK) {
            let _ = self.drive.close(r).await;
        }
    }
}
