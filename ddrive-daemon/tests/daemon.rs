//! The daemon through its own generated gRPC client: start/stop, config.json, auth, drive
//! operations, bad requests, and clients that vanish mid-stream.

use std::time::Duration;

use ddrive_daemon::proto::{self, drive_client::DriveClient, hyperdrive_client::HyperdriveClient};
use ddrive_daemon::{ClientConfig, Config, Daemon};
use tonic::transport::Channel;
use tonic::{Code, Request};

mod common;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config(dir: &std::path::Path) -> Config {
    common::loopback(dir)
}

async fn channel(daemon: &Daemon) -> Result<Channel, tonic::transport::Error> {
    common::tcp(daemon, Duration::from_secs(30)).await
}

use common::with_token;

struct Client {
    drive: DriveClient<Channel>,
    token: String,
}

impl Client {
    async fn new(daemon: &Daemon) -> Result<Self, tonic::transport::Error> {
        Ok(Client {
            drive: DriveClient::new(channel(daemon).await?),
            token: daemon.client_config().token.expose().to_owned(),
        })
    }

    fn req<T>(&self, message: T) -> Request<T> {
        with_token(message, &self.token)
    }

    async fn new_drive(&mut self) -> Result<(u64, Vec<u8>), tonic::Status> {
        let rsp = self
            .drive
            .get(self.req(proto::GetDriveRequest { opts: None }))
            .await?
            .into_inner();
        Ok((rsp.id, rsp.opts.map(|o| o.key).unwrap_or_default()))
    }

    async fn write_file(&mut self, id: u64, path: &str, data: &[u8]) -> Result<(), tonic::Status> {
        let messages = common::write_file_messages(id, path, data);
        self.drive
            .write_file(self.req(tokio_stream::iter(messages)))
            .await?;
        Ok(())
    }

    async fn read_file(&mut self, id: u64, path: &str) -> Result<Vec<Vec<u8>>, tonic::Status> {
        let stream = self
            .drive
            .read_file(self.req(proto::ReadFileRequest {
                id,
                path: path.into(),
            }))
            .await?
            .into_inner();
        common::read_chunks(stream).await
    }

    async fn stat(&mut self, id: u64, path: &str) -> Result<proto::Stat, tonic::Status> {
        let rsp = self
            .drive
            .stat(self.req(proto::StatRequest {
                id,
                path: path.into(),
                lstat: false,
            }))
            .await?;
        rsp.into_inner()
            .stat
            .ok_or_else(|| tonic::Status::internal("no stat"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_json_is_private_and_rotates_at_every_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let written = ClientConfig::read(dir.path())?;
    assert_eq!(&written, daemon.client_config());
    assert_eq!(written.endpoint, daemon.local_addr().to_string());
    assert!(written.endpoint.starts_with("127.0.0.1:"));
    assert_eq!(written.token.expose().len(), 128);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ClientConfig::path(dir.path()))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(dir.path().join("state.redb").exists());
    assert!(dir.path().join("storage/cores").is_dir());
    let addr = daemon.local_addr();
    daemon.shutdown().await?;
    // Stopped means stopped: nothing answers on the address any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let again = Daemon::start(config(dir.path())).await?;
    assert_ne!(again.client_config().token, written.token);
    assert_eq!(&ClientConfig::read(dir.path())?, again.client_config());
    again.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut main = HyperdriveClient::new(channel(&daemon).await?);
    let err = main
        .status(with_token(proto::StatusRequest {}, "nope"))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "Invalid auth token.");
    let err = main
        .status(Request::new(proto::StatusRequest {}))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::Unauthenticated);
    let token = daemon.client_config().token.expose().to_owned();
    let status = main
        .status(with_token(proto::StatusRequest {}, &token))
        .await?
        .into_inner();
    assert_eq!(status.api_version, 0);
    assert!(!status.fuse_available);
    // A streaming call is checked too.
    let mut drive = DriveClient::new(channel(&daemon).await?);
    let err = drive
        .write_file(with_token(
            tokio_stream::iter(vec![proto::WriteFileRequest::default()]),
            "nope",
        ))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::Unauthenticated);
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_in_chunks_and_persist() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, key) = c.new_drive().await?;
    assert_ne!(id, 0);
    assert_eq!(key.len(), 32);
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    c.write_file(id, "/big.bin", &big).await?;
    c.write_file(id, "/small.txt", b"hello").await?;
    let chunks = c.read_file(id, "/big.bin").await?;
    assert_eq!(chunks.len(), 2);
    assert!(
        chunks
            .iter()
            .all(|ch| ch.len() <= ddrive_daemon::CHUNK_SIZE)
    );
    assert_eq!(chunks.concat(), big);
    assert_eq!(c.read_file(id, "/small.txt").await?.concat(), b"hello");
    assert_eq!(c.stat(id, "/big.bin").await?.size, Some(5_000_000));
    let version = c
        .drive
        .version(c.req(proto::DriveVersionRequest { id }))
        .await?
        .into_inner()
        .version;
    daemon.shutdown().await?;

    // Reopened from disk by key: still writable, same contents, same version.
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let opts = proto::HyperdriveOptions {
        key: key.clone(),
        ..Default::default()
    };
    let rsp = c
        .drive
        .get(c.req(proto::GetDriveRequest { opts: Some(opts) }))
        .await?
        .into_inner();
    let reopened = rsp.opts.ok_or("no opts")?;
    assert!(reopened.writable);
    assert_eq!(reopened.version, version);
    assert_eq!(c.read_file(rsp.id, "/small.txt").await?.concat(), b"hello");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_fail_and_the_daemon_goes_on() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, key) = c.new_drive().await?;
    c.write_file(id, "/a.txt", b"a").await?;

    let err = c.stat(999, "/a.txt").await.expect_err("no such session");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("session 999"));
    let err = c.stat(0, "/a.txt").await.expect_err("session 0");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c.stat(id, "/missing").await.expect_err("missing");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("/missing") && err.message().contains(&hex::encode(&key)));
    let err = c.stat(id, "/a\0b").await.expect_err("NUL");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c.write_file(id, "/x\0y", b"z").await.expect_err("NUL");
    assert_eq!(err.code(), Code::InvalidArgument);
    let bad_key = proto::HyperdriveOptions {
        key: vec![1, 2, 3],
        ..Default::default()
    };
    let err = c
        .drive
        .get(c.req(proto::GetDriveRequest {
            opts: Some(bad_key),
        }))
        .await
        .expect_err("short key");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c.read_file(id, "/missing").await.expect_err("missing");
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .drive
        .create_read_stream(c.req(proto::ReadStreamRequest {
            id,
            path: "/missing".into(),
            ..Default::default()
        }))
        .await
        .expect_err("missing");
    assert_eq!(err.code(), Code::NotFound);

    // A checkout session is read-only.
    let checkout = proto::HyperdriveOptions {
        key: key.clone(),
        version: 2,
        ..Default::default()
    };
    let rsp = c
        .drive
        .get(c.req(proto::GetDriveRequest {
            opts: Some(checkout),
        }))
        .await?
        .into_inner();
    assert!(!rsp.opts.ok_or("no opts")?.writable);
    let err = c
        .write_file(rsp.id, "/b.txt", b"b")
        .await
        .expect_err("checkout");
    assert_eq!(err.code(), Code::PermissionDenied);

    // Closing ends the session.
    c.drive
        .close(c.req(proto::CloseSessionRequest { id: rsp.id }))
        .await?;
    assert_eq!(
        c.stat(rsp.id, "/a.txt").await.expect_err("closed").code(),
        Code::NotFound
    );

    // Still serving.
    assert_eq!(c.read_file(id, "/a.txt").await?.concat(), b"a");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_stream_leaves_no_file_and_no_damage() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, _) = c.new_drive().await?;
    c.write_file(id, "/big.bin", &vec![7u8; 6_000_000]).await?;
    let version = c
        .drive
        .version(c.req(proto::DriveVersionRequest { id }))
        .await?
        .into_inner()
        .version;
    let blocks_before = content_blocks(&mut c, id).await?;

    // A writer that sends half a file on its own connection, then dies: its runtime (and with
    // it the connection) is dropped while the stream is still open, as when a client process
    // is killed.
    let (kill, killed) = tokio::sync::oneshot::channel::<()>();
    let (sent, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let addr = daemon.local_addr();
    let token = daemon.client_config().token.expose().to_owned();
    let dying = std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let keep = rt.block_on(async move {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| e.to_string())?
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            let mut drive = DriveClient::new(channel);
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tx.send(proto::WriteStreamRequest {
                id,
                path: "/half.bin".into(),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
            tx.send(proto::WriteStreamRequest {
                chunk: vec![1u8; 1_000_000],
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
            let call = tokio::spawn(async move {
                drive
                    .create_write_stream(with_token(
                        tokio_stream::wrappers::ReceiverStream::new(rx),
                        &token,
                    ))
                    .await
            });
            let _ = sent.send(());
            let _ = killed.await;
            Ok::<_, String>((tx, call))
        })?;
        drop(rt);
        drop(keep);
        Ok(())
    });
    sent_rx.await?;
    // Wait until the daemon has the chunk: the content feed grows as the writer fills blocks.
    let mut tries = 0;
    while content_blocks(&mut c, id).await? <= blocks_before {
        tries += 1;
        assert!(tries < 500, "the daemon never received the chunk");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = kill.send(());
    dying.join().map_err(|_| "the dying client panicked")??;

    // A reader that takes one chunk of a two-chunk file and goes away.
    let mut reader = Client::new(&daemon).await?;
    let mut stream = reader
        .drive
        .read_file(reader.req(proto::ReadFileRequest {
            id,
            path: "/big.bin".into(),
        }))
        .await?
        .into_inner();
    assert!(stream.message().await?.is_some());
    drop(stream);
    drop(reader);

    // The broken write left nothing: no file, no new version; everything else still works.
    let v = c
        .drive
        .version(c.req(proto::DriveVersionRequest { id }))
        .await?
        .into_inner()
        .version;
    assert_eq!(v, version);
    assert_eq!(
        c.stat(id, "/half.bin").await.expect_err("no file").code(),
        Code::NotFound
    );
    assert_eq!(c.read_file(id, "/big.bin").await?.concat().len(), 6_000_000);
    c.write_file(id, "/after.txt", b"ok").await?;
    assert_eq!(c.read_file(id, "/after.txt").await?.concat(), b"ok");
    daemon.shutdown().await?;
    Ok(())
}

async fn content_blocks(c: &mut Client, id: u64) -> Result<u64, tonic::Status> {
    let rsp = c
        .drive
        .stats(c.req(proto::DriveStatsRequest {
            id,
            ..Default::default()
        }))
        .await?
        .into_inner();
    Ok(rsp
        .stats
        .and_then(|s| s.stats.into_iter().next())
        .and_then(|m| m.content)
        .map_or(0, |c| c.total_blocks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_reports_changes_until_the_client_cancels() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, _) = c.new_drive().await?;

    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tx.send(proto::WatchRequest {
        id,
        path: "/docs".into(),
    })
    .await?;
    let mut changes = c
        .drive
        .watch(c.req(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .await?
        .into_inner();
    c.write_file(id, "/docs/a.txt", b"a").await?;
    let first = tokio::time::timeout(Duration::from_secs(10), changes.message()).await??;
    assert!(
        first.is_some(),
        "a change under the watched path is reported"
    );

    // Any later message cancels: the stream then ends cleanly.
    tx.send(proto::WatchRequest::default()).await?;
    let mut ended = false;
    for _ in 0..10 {
        match tokio::time::timeout(Duration::from_secs(10), changes.message()).await?? {
            Some(_) => continue,
            None => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the watch ends after the client's second message");

    // A watch on a bad session fails with a status.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(proto::WatchRequest {
        id: 77,
        path: "/".into(),
    })
    .await?;
    let err = c
        .drive
        .watch(c.req(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .await
        .expect_err("no session 77");
    assert_eq!(err.code(), Code::NotFound);
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_only_peers_hold_fails_after_the_block_timeout_when_no_peer_has_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(Config {
        block_timeout: Duration::from_millis(500),
        ..config(dir.path())
    })
    .await?;
    let mut c = Client::new(&daemon).await?;
    // A valid key nobody here writes: the drive opens read-only, and a read has no peer to ask.
    let stranger = {
        let other = tempfile::tempdir()?;
        let d = Daemon::start(config(other.path())).await?;
        let mut oc = Client::new(&d).await?;
        let (_, key) = oc.new_drive().await?;
        d.shutdown().await?;
        key
    };
    let opts = proto::HyperdriveOptions {
        key: stranger.clone(),
        ..Default::default()
    };
    let rsp = c
        .drive
        .get(c.req(proto::GetDriveRequest { opts: Some(opts) }))
        .await?
        .into_inner();
    assert!(!rsp.opts.ok_or("no opts")?.writable);
    let err = tokio::time::timeout(Duration::from_secs(30), c.stat(rsp.id, "/x"))
        .await?
        .expect_err("nothing stored");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("/x"), "{err:?}");
    assert!(err.message().contains(&hex::encode(&stranger)), "{err:?}");
    daemon.shutdown().await?;
    Ok(())
}
