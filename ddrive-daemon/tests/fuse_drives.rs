//! Sub-drives and other drives through the mount: `Fuse.mount` of a drive inside the root
//! drive, relative symlinks inside it, `Fuse.info`, the read-only `Network/` folder and the
//! read-only xattrs that name a path's drive.

mod fuse_support;

use std::time::Duration;

use ddrive_daemon::Daemon;
use ddrive_daemon::proto::{self, fuse_client::FuseClient, hyperdrive_client::HyperdriveClient};
use fuse_support::{TestResult, blocking, fuse_ready, sh, start};
use tonic::Request;
use tonic::transport::Channel;

async fn channel(daemon: &Daemon) -> Result<Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_shared(format!("http://{}", daemon.local_addr()))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
}

fn req<T>(daemon: &Daemon, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert(
        "token",
        daemon
            .client_config()
            .token
            .expose()
            .parse()
            .expect("a token is ASCII"),
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_inside_a_sub_drive() -> TestResult {
    if !fuse_ready("symlinks_inside_a_sub_drive") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let mut fuse = FuseClient::new(channel(&daemon).await?);
    let sub = mnt.join("projects/shared");
    let mounted = fuse
        .mount(req(
            &daemon,
            proto::MountRequest {
                path: sub.display().to_string(),
                opts: None,
            },
        ))
        .await?
        .into_inner();
    let sub_key = hex::encode(mounted.mount_info.ok_or("no mount info")?.key);

    let out = sh(
        &sub,
        "mkdir -p docs && echo inside > docs/a.txt
         cd docs && ln -s a.txt rel && ln -s ../docs/a.txt up && cd ..
         cat docs/rel docs/up && readlink docs/rel",
    )
    .await?;
    assert_eq!(
        out, "inside\ninside\na.txt\n",
        "relative links resolve in their own folder"
    );

    let info = fuse
        .info(req(
            &daemon,
            proto::InfoRequest {
                path: sub.join("docs/a.txt").display().to_string(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(info.key, sub_key);
    assert_eq!(info.path, "/docs/a.txt");
    assert!(info.writable);
    let s = sub.clone();
    let (xkey, xwritable) = blocking(move || {
        let p = s.join("docs/a.txt");
        Ok((
            xattr(&p, "user.ddrive.key")?,
            xattr(&p, "user.ddrive.writable")?,
        ))
    })
    .await?;
    assert_eq!(xkey, sub_key.as_bytes(), "the xattr names the sub-drive");
    assert_eq!(xwritable, b"1");

    // A plain mkdir is a plain folder of the root drive.
    let root_info = fuse
        .info(req(
            &daemon,
            proto::InfoRequest {
                path: mnt.join("projects").display().to_string(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(
        root_info.key,
        hex::encode(daemon.root_drive_key().ok_or("no root")?)
    );
    daemon.shutdown().await?;
    Ok(())
}

/// `getxattr(2)` of `name` (std has no xattr call, and the `attr` tools are not installed
/// everywhere; Python's `os.getxattr` is).
fn xattr(path: &std::path::Path, name: &str) -> std::io::Result<Vec<u8>> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import os,sys; sys.stdout.buffer.write(os.getxattr(sys.argv[1], sys.argv[2]))")
        .arg(path)
        .arg(name)
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_folder_is_read_only_with_real_sizes() -> TestResult {
    if !fuse_ready("the_network_folder_is_read_only_with_real_sizes") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (daemon, mnt) = start(dir.path()).await?;
    let key = hex::encode(daemon.root_drive_key().ok_or("no root drive")?);
    let out = sh(
        &mnt,
        &format!(
            "echo hi > hello.txt
             ls Network
             cat Network/{key}/hello.txt
             if echo x > Network/{key}/new.txt 2>/dev/null; then echo WROTE; fi
             wc -c < Network/Stats/{key}/storage.json
             stat -c %s Network/Stats/{key}/storage.json
             tr -d '\\n ' < Network/Stats/{key}/storage.json"
        ),
    )
    .await?;
    let lines: Vec<&str> = out.lines().collect();
    let mut listing = lines[..3].to_vec();
    listing.sort_unstable();
    let mut expected = vec!["Active", "Stats", key.as_str()];
    expected.sort_unstable();
    assert_eq!(listing, expected, "{out}");
    assert_eq!(lines[3], "hi", "a drive reads through Network/<key>");
    assert!(!out.contains("WROTE"), "Network is read-only");
    assert_eq!(
        lines[4], lines[5],
        "the stat size is the content's size (no NUL padding)"
    );
    assert!(
        lines[6].contains("\"/hello.txt\":{\"blocks\":1,\"downloadedBlocks\":1,\"size\":3}"),
        "{out}"
    );

    // status reports the mount as the kernel shows it.
    let mut main = HyperdriveClient::new(channel(&daemon).await?);
    let status = main
        .status(req(&daemon, proto::StatusRequest {}))
        .await?
        .into_inner();
    assert!(status.fuse_available && status.fuse_configured);
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_no_peer_serves_fails_with_eio_instead_of_hanging() -> TestResult {
    if !fuse_ready("a_drive_no_peer_serves_fails_with_eio_instead_of_hanging") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mut config = fuse_support::config(dir.path());
    config.fuse_read_timeout = Duration::from_millis(300);
    let daemon = Daemon::start(config).await?;
    let mnt = daemon.mountpoint().ok_or("not mounted")?;
    let unknown = "ab".repeat(32);
    let err = blocking(move || Ok(std::fs::metadata(mnt.join("Network").join(unknown))))
        .await?
        .err()
        .ok_or("a drive nobody serves has no root to stat")?;
    assert_eq!(
        err.raw_os_error(),
        Some(5),
        "EIO after the read timeout: {err}"
    );
    daemon.shutdown().await?;
    Ok(())
}
