//! The RPCs beyond the Node daemon's: descriptors, `active`, mirrors, the `DDrive` service
//! (tags, checkout, rename, truncate, deleteDrive, gc, unions) and the Unix-socket listener,
//! each with its error paths.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use ddrive_daemon::proto::{self, d_drive_client::DDriveClient, drive_client::DriveClient};
use ddrive_daemon::{Config, Daemon};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

mod common;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const O_RDWR: u32 = 2;
const O_CREAT: u32 = 64;

fn config(dir: &Path) -> Config {
    common::loopback(dir)
}

async fn tcp(daemon: &Daemon) -> Result<Channel, tonic::transport::Error> {
    common::tcp(daemon, Duration::from_secs(60)).await
}

async fn unix(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_owned();
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
}

struct Client {
    drive: DriveClient<Channel>,
    extra: DDriveClient<Channel>,
    token: String,
}

impl Client {
    async fn new(daemon: &Daemon) -> Result<Self, tonic::transport::Error> {
        let channel = tcp(daemon).await?;
        Ok(Client {
            drive: DriveClient::new(channel.clone()),
            extra: DDriveClient::new(channel),
            token: daemon.client_config().token.expose().to_owned(),
        })
    }

    fn req<T>(&self, message: T) -> Request<T> {
        common::with_token(message, &self.token)
    }

    async fn get(&mut self, key: &[u8]) -> Result<(u64, Vec<u8>), Status> {
        let rsp = self
            .drive
            .get(self.req(proto::GetDriveRequest {
                opts: Some(proto::HyperdriveOptions {
                    key: key.to_vec(),
                    ..Default::default()
                }),
            }))
            .await?
            .into_inner();
        Ok((rsp.id, rsp.opts.map(|o| o.key).unwrap_or_default()))
    }

    async fn close(&mut self, id: u64) -> Result<(), Status> {
        self.drive
            .close(self.req(proto::CloseSessionRequest { id }))
            .await?;
        Ok(())
    }

    async fn write_file(&mut self, id: u64, path: &str, data: &[u8]) -> Result<(), Status> {
        let messages = common::write_file_messages(id, path, data);
        self.drive
            .write_file(self.req(tokio_stream::iter(messages)))
            .await?;
        Ok(())
    }

    async fn read_file(&mut self, id: u64, path: &str) -> Result<Vec<u8>, Status> {
        let stream = self
            .drive
            .read_file(self.req(proto::ReadFileRequest {
                id,
                path: path.into(),
            }))
            .await?
            .into_inner();
        Ok(common::read_chunks(stream).await?.concat())
    }

    async fn unlink(&mut self, id: u64, path: &str) -> Result<(), Status> {
        self.drive
            .unlink(self.req(proto::UnlinkRequest {
                id,
                path: path.into(),
            }))
            .await?;
        Ok(())
    }

    async fn version(&mut self, id: u64) -> Result<u64, Status> {
        Ok(self
            .drive
            .version(self.req(proto::DriveVersionRequest { id }))
            .await?
            .into_inner()
            .version)
    }

    async fn open(&mut self, id: u64, path: &str, flags: u32) -> Result<u32, Status> {
        Ok(self
            .drive
            .open(self.req(proto::OpenRequest {
                id,
                path: path.into(),
                flags,
            }))
            .await?
            .into_inner()
            .fd)
    }

    async fn close_fd(&mut self, id: u64, fd: u32) -> Result<(), Status> {
        self.extra
            .close_fd(self.req(proto::CloseRequest { id, fd }))
            .await?;
        Ok(())
    }

    async fn checkout_tag(&mut self, key: &[u8], tag: &str) -> Result<u64, Status> {
        Ok(self
            .extra
            .checkout(self.req(proto::CheckoutRequest {
                key: key.to_vec(),
                tag: tag.into(),
                version: 0,
            }))
            .await?
            .into_inner()
            .id)
    }

    async fn active(&mut self) -> Result<Vec<Vec<u8>>, Status> {
        Ok(self
            .drive
            .active(self.req(proto::ActiveRequest {}))
            .await?
            .into_inner()
            .drives
            .into_iter()
            .map(|d| d.key)
            .collect())
    }
}

fn refused<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, words: &[&str]) {
    let e = r.expect_err("the call is refused");
    assert_eq!(e.code(), code, "{}", e.message());
    for w in words {
        assert!(e.message().contains(w), "{:?} names {w:?}", e.message());
    }
}

/// Bytes the file system holds under `dir`.
fn du(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    Ok(m) => m.blocks() * 512,
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptors_open_read_write_close() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, key) = c.get(&[]).await?;
    let hex_key = hex::encode(&key);

    let fd = c.open(id, "/f.txt", O_RDWR | O_CREAT).await?;
    let writes = vec![
        proto::WriteRequest {
            id,
            fd,
            offset: 0,
            contents: b"hello".to_vec(),
        },
        proto::WriteRequest {
            id,
            fd,
            offset: 5,
            contents: b" world".to_vec(),
        },
    ];
    let mut answers = c
        .drive
        .write(c.req(tokio_stream::iter(writes)))
        .await?
        .into_inner();
    let mut n = 0;
    while answers.message().await?.is_some() {
        n += 1;
    }
    assert_eq!(n, 2, "one answer per write");
    let reads = vec![
        proto::ReadRequest {
            id,
            fd,
            offset: 0,
            length: 100,
        },
        proto::ReadRequest {
            id,
            fd,
            offset: 6,
            length: 3,
        },
    ];
    let mut answers = c
        .drive
        .read(c.req(tokio_stream::iter(reads)))
        .await?
        .into_inner();
    let first = answers.message().await?.map(|m| m.content);
    let second = answers.message().await?.map(|m| m.content);
    assert_eq!(first.as_deref(), Some(&b"hello world"[..]));
    assert_eq!(second.as_deref(), Some(&b"wor"[..]));
    c.close_fd(id, fd).await?;
    assert_eq!(c.read_file(id, "/f.txt").await?, b"hello world");

    // A closed descriptor, a made-up one, another session's: bad descriptors, named.
    refused(
        c.close_fd(id, fd).await,
        Code::InvalidArgument,
        &["bad file descriptor", &hex_key],
    );
    let bad = vec![proto::ReadRequest {
        id,
        fd: 999,
        offset: 0,
        length: 1,
    }];
    let mut answers = c
        .drive
        .read(c.req(tokio_stream::iter(bad)))
        .await?
        .into_inner();
    refused(
        answers.message().await,
        Code::InvalidArgument,
        &["fd 999", "bad file descriptor"],
    );
    let fd = c.open(id, "/f.txt", 0).await?;
    let (other, _) = c.get(&key).await?;
    refused(
        c.close_fd(other, fd).await,
        Code::InvalidArgument,
        &["not open in session"],
    );
    refused(
        c.open(id, "/missing", 0).await,
        Code::NotFound,
        &["/missing", &hex_key],
    );

    // A checkout opens descriptors to read only.
    let version = c.version(id).await?;
    let rsp = c
        .drive
        .get(c.req(proto::GetDriveRequest {
            opts: Some(proto::HyperdriveOptions {
                key: key.clone(),
                version,
                ..Default::default()
            }),
        }))
        .await?
        .into_inner();
    refused(
        c.open(rsp.id, "/new", O_RDWR | O_CREAT).await,
        Code::PermissionDenied,
        &["read-only checkout"],
    );

    // Ending a session closes its descriptors and commits their writes.
    let wfd = c.open(other, "/g.txt", O_RDWR | O_CREAT).await?;
    let w = vec![proto::WriteRequest {
        id: other,
        fd: wfd,
        offset: 0,
        contents: b"kept".to_vec(),
    }];
    let mut answers = c
        .drive
        .write(c.req(tokio_stream::iter(w)))
        .await?
        .into_inner();
    assert!(answers.message().await?.is_some());
    c.close(other).await?;
    let mut content = Vec::new();
    for _ in 0..200 {
        content = c.read_file(id, "/g.txt").await.unwrap_or_default();
        if !content.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(content, b"kept");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_checkout_rename_truncate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, key) = c.get(&[]).await?;
    let hex_key = hex::encode(&key);
    c.write_file(id, "/a.txt", b"first").await?;
    let v1 = c.version(id).await?;
    let tagged = c
        .extra
        .create_tag(c.req(proto::CreateTagRequest {
            id,
            name: "v1".into(),
            version: 0,
        }))
        .await?
        .into_inner()
        .version;
    assert_eq!(tagged, v1);
    c.write_file(id, "/a.txt", b"second").await?;
    let tags = c
        .extra
        .list_tags(c.req(proto::ListTagsRequest { id }))
        .await?
        .into_inner()
        .tags;
    assert_eq!(tags.len(), 1);
    assert_eq!((tags[0].name.as_str(), tags[0].version), ("v1", v1));

    let old = c.checkout_tag(&key, "v1").await?;
    assert_eq!(c.read_file(old, "/a.txt").await?, b"first");
    assert_eq!(c.read_file(id, "/a.txt").await?, b"second");
    refused(
        c.write_file(old, "/x", b"no").await,
        Code::PermissionDenied,
        &["checkout"],
    );

    // Bad tags.
    refused(
        c.checkout_tag(&key, "nope").await,
        Code::NotFound,
        &["nope", &hex_key],
    );
    let again = c
        .extra
        .create_tag(c.req(proto::CreateTagRequest {
            id,
            name: "v1".into(),
            version: 0,
        }))
        .await;
    refused(again, Code::AlreadyExists, &["v1"]);
    let slash = c
        .extra
        .create_tag(c.req(proto::CreateTagRequest {
            id,
            name: "a/b".into(),
            version: 0,
        }))
        .await;
    refused(slash, Code::InvalidArgument, &["tag name"]);
    let future = c
        .extra
        .create_tag(c.req(proto::CreateTagRequest {
            id,
            name: "later".into(),
            version: 1_000_000,
        }))
        .await;
    refused(
        future,
        Code::InvalidArgument,
        &["1000000", "does not exist"],
    );
    c.extra
        .delete_tag(c.req(proto::DeleteTagRequest {
            id,
            name: "v1".into(),
        }))
        .await?;
    let gone = c
        .extra
        .delete_tag(c.req(proto::DeleteTagRequest {
            id,
            name: "v1".into(),
        }))
        .await;
    refused(gone, Code::NotFound, &["v1", &hex_key]);

    // Rename: a file moves; over a non-empty directory it is refused, naming both paths.
    c.extra
        .rename(c.req(proto::RenameRequest {
            id,
            from: "/a.txt".into(),
            to: "/b.txt".into(),
        }))
        .await?;
    assert_eq!(c.read_file(id, "/b.txt").await?, b"second");
    refused(c.read_file(id, "/a.txt").await, Code::NotFound, &["/a.txt"]);
    c.write_file(id, "/dir/inside", b"x").await?;
    let over = c
        .extra
        .rename(c.req(proto::RenameRequest {
            id,
            from: "/b.txt".into(),
            to: "/dir".into(),
        }))
        .await;
    refused(
        over,
        Code::FailedPrecondition,
        &["/b.txt -> /dir", &hex_key],
    );
    let missing = c
        .extra
        .rename(c.req(proto::RenameRequest {
            id,
            from: "/nope".into(),
            to: "/x".into(),
        }))
        .await;
    refused(missing, Code::NotFound, &["/nope"]);

    // Truncate: POSIX, shorter and longer.
    c.extra
        .truncate(c.req(proto::TruncateRequest {
            id,
            path: "/b.txt".into(),
            size: 3,
        }))
        .await?;
    assert_eq!(c.read_file(id, "/b.txt").await?, b"sec");
    c.extra
        .truncate(c.req(proto::TruncateRequest {
            id,
            path: "/b.txt".into(),
            size: 5,
        }))
        .await?;
    assert_eq!(c.read_file(id, "/b.txt").await?, b"sec\0\0");
    c.extra.flush(c.req(proto::FlushRequest { id })).await?;
    refused(
        c.extra.flush(c.req(proto::FlushRequest { id: 9999 })).await,
        Code::NotFound,
        &["session 9999"],
    );
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_drive_removes_its_cores() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, key) = c.get(&[]).await?;
    let hex_key = hex::encode(&key);
    c.write_file(id, "/big", &pattern(1 << 20, 1)).await?;
    let (keep_id, keep_key) = c.get(&[]).await?;
    c.write_file(keep_id, "/stays", b"here").await?;
    let dk = {
        let pk = ddrive_daemon_key(&key);
        pk.discovery_key()
    };
    let cores = dir.path().join("storage/cores");
    let folder = cores.join(corestore::core_path(&dk));
    assert!(folder.is_dir());

    let delete = |key: Vec<u8>| proto::DeleteDriveRequest { key };
    refused(
        c.extra.delete_drive(c.req(delete(key.clone()))).await,
        Code::FailedPrecondition,
        &[&hex_key, "1 session"],
    );
    c.close(id).await?;
    let before = du(&cores);
    let rsp = c
        .extra
        .delete_drive(c.req(delete(key.clone())))
        .await?
        .into_inner();
    assert_eq!(rsp.cores, 2, "metadata and content");
    assert!(rsp.freed_bytes >= 1 << 20, "{}", rsp.freed_bytes);
    assert!(!folder.exists(), "the metadata core's folder is gone");
    assert!(before - du(&cores) >= 1 << 20);
    refused(
        c.extra.delete_drive(c.req(delete(key.clone()))).await,
        Code::NotFound,
        &[&hex_key],
    );
    refused(
        c.extra.delete_drive(c.req(delete(vec![1, 2]))).await,
        Code::InvalidArgument,
        &["32 bytes"],
    );
    // The other drive is untouched.
    assert_eq!(c.read_file(keep_id, "/stays").await?, b"here");
    c.close(keep_id).await?;
    let (again, _) = c.get(&keep_key).await?;
    assert_eq!(c.read_file(again, "/stays").await?, b"here");
    daemon.shutdown().await?;
    Ok(())
}

fn ddrive_daemon_key(key: &[u8]) -> hypercore::PublicKey {
    hypercore::PublicKey(<[u8; 32]>::try_from(key).expect("32 bytes"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_shrinks_the_disk_and_keeps_tagged_versions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, key) = c.get(&[]).await?;
    let hex_key = hex::encode(&key);
    let old = pattern(4 << 20, 1);
    let tagged = pattern(2 << 20, 2);
    let latest = pattern(1 << 20, 3);
    c.write_file(id, "/old", &old).await?;
    let with_old = c.version(id).await?;
    c.unlink(id, "/old").await?;
    c.write_file(id, "/tagged", &tagged).await?;
    c.extra
        .create_tag(c.req(proto::CreateTagRequest {
            id,
            name: "keep".into(),
            version: 0,
        }))
        .await?;
    c.unlink(id, "/tagged").await?;
    c.write_file(id, "/latest", &latest).await?;

    // Refused while a descriptor is open, and for a mirrored drive.
    let fd = c.open(id, "/latest", 0).await?;
    refused(
        c.extra.gc(c.req(proto::GcRequest { id })).await,
        Code::FailedPrecondition,
        &[&hex_key, "descriptors"],
    );
    c.close_fd(id, fd).await?;

    let storage = dir.path().join("storage");
    let before = du(&storage);
    let rsp = c
        .extra
        .gc(c.req(proto::GcRequest { id }))
        .await?
        .into_inner();
    let after = du(&storage);
    assert!(
        before - after >= 4 << 20,
        "the disk shrank by the 4 MiB nothing keeps: {before} -> {after}"
    );
    assert!(rsp.freed_bytes >= 4 << 20, "{rsp:?}");
    assert!(rsp.cleared_blocks >= 8, "{rsp:?}");
    assert_eq!(rsp.kept_versions.len(), 2, "latest and the tag");

    assert_eq!(c.read_file(id, "/latest").await?, latest);
    let kept = c.checkout_tag(&key, "keep").await?;
    assert_eq!(c.read_file(kept, "/tagged").await?, tagged);
    let gone = c
        .drive
        .get(c.req(proto::GetDriveRequest {
            opts: Some(proto::HyperdriveOptions {
                key: key.clone(),
                version: with_old,
                ..Default::default()
            }),
        }))
        .await?
        .into_inner()
        .id;
    refused(
        c.read_file(gone, "/old").await,
        Code::Unavailable,
        &["/old"],
    );
    refused(
        c.extra.gc(c.req(proto::GcRequest { id: gone })).await,
        Code::FailedPrecondition,
        &["checkout"],
    );

    // A second gc finds nothing more to clear.
    let again = c
        .extra
        .gc(c.req(proto::GcRequest { id }))
        .await?
        .into_inner();
    assert_eq!(again.cleared_blocks, 0);

    c.drive.mirror(c.req(proto::MirrorRequest { id })).await?;
    refused(
        c.extra.gc(c.req(proto::GcRequest { id })).await,
        Code::FailedPrecondition,
        &["mirrored"],
    );
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_survives_a_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let key = {
        let daemon = Daemon::start(config(dir.path())).await?;
        let mut c = Client::new(&daemon).await?;
        let (id, key) = c.get(&[]).await?;
        c.write_file(id, "/f", b"x").await?;
        c.drive.mirror(c.req(proto::MirrorRequest { id })).await?;
        // Twice is fine.
        c.drive.mirror(c.req(proto::MirrorRequest { id })).await?;
        c.close(id).await?;
        assert_eq!(
            c.active().await?,
            vec![key.clone()],
            "the mirror holds the drive open"
        );
        daemon.shutdown().await?;
        key
    };
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    assert_eq!(
        c.active().await?,
        vec![key.clone()],
        "the mirror resumed at start"
    );
    let (id, _) = c.get(&key).await?;
    c.drive
        .unmirror(c.req(proto::UnmirrorRequest { id }))
        .await?;
    // Again: not mirrored any more, which is no error (as in the Node daemon).
    c.drive
        .unmirror(c.req(proto::UnmirrorRequest { id }))
        .await?;
    c.close(id).await?;
    assert!(c.active().await?.is_empty());
    daemon.shutdown().await?;

    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    assert!(
        c.active().await?.is_empty(),
        "an unmirrored drive stays closed"
    );
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unions_read_through_their_members() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let mut c = Client::new(&daemon).await?;
    let (a, key_a) = c.get(&[]).await?;
    let (b, key_b) = c.get(&[]).await?;
    c.write_file(a, "/a.txt", b"from a").await?;
    c.write_file(b, "/b.txt", b"from b").await?;
    c.close(a).await?;
    let union = c
        .extra
        .union_create(c.req(proto::UnionCreateRequest {
            primary: key_a.clone(),
            members: vec![key_b.clone()],
        }))
        .await?
        .into_inner()
        .union
        .ok_or("no union")?;
    assert_eq!(union.key, key_a);
    assert_eq!(union.members, [key_a.clone(), key_b.clone()]);
    assert!(union.writable);

    let listing = c
        .extra
        .union_readdir(c.req(proto::UnionReaddirRequest {
            union: key_a.clone(),
            path: "/".into(),
        }))
        .await?
        .into_inner();
    let mut files = listing.files.clone();
    files.sort();
    assert_eq!(files, ["a.txt", "b.txt"]);
    let from_b = listing
        .files
        .iter()
        .position(|f| f == "b.txt")
        .ok_or("b.txt listed")?;
    assert_eq!(listing.drives[from_b], key_b);
    let mut stream = c
        .extra
        .union_read_file(c.req(proto::UnionReadFileRequest {
            union: key_a.clone(),
            path: "/b.txt".into(),
        }))
        .await?
        .into_inner();
    let mut content = Vec::new();
    while let Some(m) = stream.message().await? {
        content.extend(m.chunk);
    }
    assert_eq!(content, b"from b");

    let member = |union: &[u8], member: &[u8]| proto::UnionMemberRequest {
        union: union.to_vec(),
        member: member.to_vec(),
    };
    refused(
        c.extra.union_add(c.req(member(&key_a, &key_b))).await,
        Code::AlreadyExists,
        &["member"],
    );
    refused(
        c.extra.union_remove(c.req(member(&key_a, &key_a))).await,
        Code::FailedPrecondition,
        &["primary"],
    );
    c.extra.union_remove(c.req(member(&key_a, &key_b))).await?;
    let listing = c
        .extra
        .union_readdir(c.req(proto::UnionReaddirRequest {
            union: key_a.clone(),
            path: "/".into(),
        }))
        .await?
        .into_inner();
    assert_eq!(listing.files, ["a.txt"]);
    let missing = c
        .extra
        .union_read_file(c.req(proto::UnionReadFileRequest {
            union: key_a.clone(),
            path: "/b.txt".into(),
        }))
        .await;
    refused(
        missing.map(|_| ()),
        Code::NotFound,
        &["/b.txt", &hex::encode(&key_a)],
    );
    let unions = c
        .extra
        .union_list(c.req(proto::UnionListRequest {}))
        .await?
        .into_inner()
        .unions;
    assert_eq!(unions.len(), 1);
    c.extra
        .union_delete(c.req(proto::UnionDeleteRequest {
            union: key_a.clone(),
        }))
        .await?;
    let gone = c
        .extra
        .union_readdir(c.req(proto::UnionReaddirRequest {
            union: key_a.clone(),
            path: "/".into(),
        }))
        .await;
    refused(gone, Code::NotFound, &["no union"]);
    refused(
        c.extra.union_add(c.req(member(&key_a, &key_b))).await,
        Code::NotFound,
        &[&hex::encode(&key_a)],
    );
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unix_socket_serves_our_user_with_the_token() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let path = daemon.socket_path().ok_or("a socket")?.to_owned();
    assert_eq!(path, ddrive_daemon::socket_path(dir.path()));
    let folder = path.parent().ok_or("a folder")?;
    assert_eq!(std::fs::metadata(folder)?.mode() & 0o777, 0o700);
    let channel = unix(&path).await?;
    let mut drive = DriveClient::new(channel);
    let token = daemon.client_config().token.expose().to_owned();
    let mut ok = Request::new(proto::ActiveRequest {});
    ok.metadata_mut().insert("token", token.parse()?);
    drive.active(ok).await?;
    let mut bad = Request::new(proto::ActiveRequest {});
    bad.metadata_mut().insert("token", "nope".parse()?);
    refused(
        drive.active(bad).await,
        Code::Unauthenticated,
        &["Invalid auth token."],
    );
    daemon.shutdown().await?;
    assert!(!path.exists(), "the socket goes with the daemon");
    Ok(())
}

/// What a connection from a process of `uid` gets: the bytes the daemon answers an HTTP/2
/// preface with (0 when it closes the connection unanswered). Python's socket module does
/// the connecting, so the test needs no unsafe fork.
fn answer_to(uid: Option<u32>, path: &Path) -> std::io::Result<usize> {
    use std::os::unix::process::CommandExt;
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(10)\ns.connect(sys.argv[1])\ntry:\n  s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n')\n  print(len(s.recv(100)))\nexcept (ConnectionResetError, BrokenPipeError):\n  print(0)\n";
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c").arg(script).arg(path);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unix_socket_refuses_another_user() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let root = std::fs::metadata("/proc/self")?.uid() == 0;
    let python = std::process::Command::new("python3")
        .arg("-c")
        .arg("0")
        .output()
        .is_ok();
    if !root || !python {
        eprintln!("skipped: needs root (to run a client as nobody) and python3");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let path = daemon.socket_path().ok_or("a socket")?.to_owned();
    // Open the folders so the other user reaches accept: the uid check alone must refuse.
    for p in [dir.path(), path.parent().ok_or("a folder")?] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
    let p = path.clone();
    let ours = tokio::task::spawn_blocking(move || answer_to(None, &p)).await??;
    assert!(ours > 0, "our user is answered");
    let p = path.clone();
    let nobody = tokio::task::spawn_blocking(move || answer_to(Some(65534), &p)).await??;
    assert_eq!(nobody, 0, "another user's connection is closed unanswered");
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hypercore_sessions_append_and_read() -> TestResult {
    use ddrive_daemon::proto::hypercore_client::HypercoreClient;
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path())).await?;
    let c = Client::new(&daemon).await?;
    let mut h = HypercoreClient::new(tcp(&daemon).await?);
    let made = h
        .get(c.req(proto::GetCoreRequest { opts: None }))
        .await?
        .into_inner();
    let opts = made.opts.ok_or("options")?;
    assert_eq!(opts.writable, [1]);
    let (id, key) = (made.id, opts.key);
    let blocks: Vec<Vec<u8>> = vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()];
    h.append(c.req(proto::AppendRequest { blocks, id })).await?;
    let length = h
        .length(c.req(proto::LengthRequest { id }))
        .await?
        .into_inner()
        .length;
    assert_eq!(length, 3);
    let all = h
        .get_blocks(c.req(proto::GetRequest {
            id,
            ..Default::default()
        }))
        .await?
        .into_inner()
        .blocks;
    assert_eq!(all, [&b"a"[..], b"bb", b"ccc"]);

    // Another session on the same key reads the same blocks.
    let again = h
        .get(c.req(proto::GetCoreRequest {
            opts: Some(proto::HypercoreOptions {
                key: key.clone(),
                ..Default::default()
            }),
        }))
        .await?
        .into_inner()
        .id;
    let picked = h
        .get_blocks(c.req(proto::GetRequest {
            id: again,
            seqs: vec![2, 0],
            ..Default::default()
        }))
        .await?
        .into_inner()
        .blocks;
    assert_eq!(picked, [&b"ccc"[..], b"a"]);
    let hex_key = hex::encode(&key);
    refused(
        h.get_blocks(c.req(proto::GetRequest {
            id,
            seqs: vec![3],
            ..Default::default()
        }))
        .await,
        Code::OutOfRange,
        &["block 3", &hex_key],
    );

    // A core this daemon cannot write, and sessions that do not exist.
    let foreign = h
        .get(c.req(proto::GetCoreRequest {
            opts: Some(proto::HypercoreOptions {
                key: vec![9; 32],
                ..Default::default()
            }),
        }))
        .await?
        .into_inner()
        .id;
    refused(
        h.append(c.req(proto::AppendRequest {
            blocks: vec![b"x".to_vec()],
            id: foreign,
        }))
        .await,
        Code::PermissionDenied,
        &["cannot write"],
    );
    h.close(c.req(proto::CloseSessionRequest { id })).await?;
    refused(
        h.length(c.req(proto::LengthRequest { id })).await,
        Code::NotFound,
        &["session"],
    );
    daemon.shutdown().await?;

    // Appends are durable: the blocks are there after a restart.
    let daemon = Daemon::start(config(dir.path())).await?;
    let c = Client::new(&daemon).await?;
    let mut h = HypercoreClient::new(tcp(&daemon).await?);
    let id = h
        .get(c.req(proto::GetCoreRequest {
            opts: Some(proto::HypercoreOptions {
                key,
                ..Default::default()
            }),
        }))
        .await?
        .into_inner()
        .id;
    assert_eq!(
        h.length(c.req(proto::LengthRequest { id }))
            .await?
            .into_inner()
            .length,
        3
    );
    daemon.shutdown().await?;
    Ok(())
}
