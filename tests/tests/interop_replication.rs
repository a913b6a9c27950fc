//! Drive replication against Node hyperdrive@10 over TCP on 127.0.0.1, ddrive in both session
//! roles and on both sides of the copy: a drive of `FILES` files, a 20 MiB file and a mount
//! (`ddrive_tests::replication`), read in full by the other side.
//!
//! Needs Node and `tests/js/node_modules`: `cargo test -p ddrive-tests --features interop
//! --test interop_replication`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use corestore::Corestore;
use ddrive_tests::event_peer::EventPeer;
use ddrive_tests::replication::{
    MOUNT_TEXT, big_content, file_content, file_path, files_digest, write_drive,
};
use ddrive_tests::sha256_hex;
use hypercore::PublicKey;
use hypercore::protocol::SessionConfig;
use hyperdrive::{AsyncDrive, Drive, DriveOptions, ReaddirOptions};
use tokio::net::{TcpListener, TcpStream};

const FILES: usize = 1000;
const BIG: usize = 20 * 1024 * 1024;
/// Only a broken implementation waits this long.
const WAIT: Duration = Duration::from_secs(120);

/// The Node peer (`js/drive-replicate-peer.js`) and its JSON-line events.
fn node_peer(dir: &Path, args: &[&str]) -> Result<EventPeer> {
    let dir = dir.to_str().context("scratch path is not UTF-8")?;
    let (files, big) = (FILES.to_string(), BIG.to_string());
    let mut all = vec!["--dir", dir, "--files", &files, "--big", &big];
    all.extend_from_slice(args);
    EventPeer::spawn("drive-replicate-peer.js", &all, false, WAIT)
}

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

/// Runs the drive's replication on `socket` in the background.
fn replicate(
    drive: &AsyncDrive,
    socket: TcpStream,
    initiator: bool,
) -> tokio::task::JoinHandle<()> {
    let drive = drive.clone();
    tokio::spawn(async move {
        if let Err(e) = drive.replicate(socket, session(initiator)).await {
            eprintln!("ddrive replication ended: {e}");
        }
    })
}

/// ddrive writes, Node clones and reads everything.
async fn node_clones_from_ddrive(ddrive_initiates: bool) -> Result<()> {
    let scratch = ddrive_tests::scratch()?;
    let store = Arc::new(Corestore::open(scratch.path().join("ddrive"))?);
    let drive = tokio::task::spawn_blocking({
        let store = Arc::clone(&store);
        move || write_drive(&store, FILES, BIG)
    })
    .await??;
    let drive = AsyncDrive::new(drive);
    let key = drive.key().to_hex();
    let role = if ddrive_initiates {
        "responder"
    } else {
        "initiator"
    };
    let node_dir = scratch.path().join("node");
    let (mut node, socket) = if ddrive_initiates {
        let mut node = node_peer(
            &node_dir,
            &["--mode", "clone", "--key", &key, "--role", role],
        )?;
        let port = node.expect("listening").await?["port"]
            .as_u64()
            .context("port")?;
        let socket = TcpStream::connect(("127.0.0.1", port as u16)).await?;
        (node, socket)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port().to_string();
        let node = node_peer(
            &node_dir,
            &[
                "--mode", "clone", "--key", &key, "--role", role, "--port", &port,
            ],
        )?;
        let (socket, _) = listener.accept().await?;
        (node, socket)
    };
    let task = replicate(&drive, socket, ddrive_initiates);
    let read = node.expect("read").await?;
    let want_files = files_digest(FILES, |p| {
        let i: usize = p["/files/f".len()..p.len() - ".txt".len()].parse()?;
        Ok(file_content(i))
    })?;
    assert_eq!(read["listed"], FILES);
    assert_eq!(read["files"], want_files.as_str());
    assert_eq!(read["bigLength"], BIG);
    assert_eq!(read["big"], sha256_hex(&big_content(BIG)).as_str());
    assert_eq!(read["mount"], MOUNT_TEXT);
    task.abort();
    let _ = node.wait().await;
    Ok(())
}

/// Node writes, ddrive clones: sparse reads first (a file, the mount), then a full clone
/// checked byte for byte.
async fn ddrive_clones_from_node(ddrive_initiates: bool) -> Result<()> {
    let scratch = ddrive_tests::scratch()?;
    let node_dir = scratch.path().join("node");
    let role = if ddrive_initiates {
        "responder"
    } else {
        "initiator"
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port().to_string();
    let mut args = vec!["--mode", "writer", "--role", role];
    if !ddrive_initiates {
        args.extend(["--port", port.as_str()]);
    }
    let mut node = node_peer(&node_dir, &args)?;
    let ready = node.expect("ready").await?;
    let key_bytes = hex::decode(ready["key"].as_str().context("key")?)?;
    let key = PublicKey(<[u8; 32]>::try_from(key_bytes.as_slice())?);
    let socket = if ddrive_initiates {
        let port = node.expect("listening").await?["port"]
            .as_u64()
            .context("port")?;
        TcpStream::connect(("127.0.0.1", port as u16)).await?
    } else {
        listener.accept().await?.0
    };
    let store = Arc::new(Corestore::open(scratch.path().join("ddrive"))?);
    let options = DriveOptions::default().block_timeout(Some(WAIT));
    let drive = AsyncDrive::new(Drive::open(store, &key, options)?);
    let task = replicate(&drive, socket, ddrive_initiates);

    // Sparse reads, waiting for blocks.
    assert_eq!(drive.read_file(&file_path(7)).await?, file_content(7));
    assert_eq!(
        drive.read_file("/mnt/hello.txt").await?,
        MOUNT_TEXT.as_bytes()
    );
    let listed = drive.readdir("/files", ReaddirOptions::default()).await?;
    assert_eq!(listed.len(), FILES);

    // Then everything.
    let report = drive.download_all(WAIT).await?;
    assert_eq!(report.drives, 2, "{report:?}");
    let sync = drive.sync().clone();
    let got = tokio::task::spawn_blocking(move || -> Result<(String, Vec<u8>)> {
        let files = files_digest(FILES, |p| Ok(sync.read_file(p)?))?;
        Ok((files, sync.read_file("/big.bin")?))
    })
    .await??;
    let want_files = files_digest(FILES, |p| {
        let i: usize = p["/files/f".len()..p.len() - ".txt".len()].parse()?;
        Ok(file_content(i))
    })?;
    assert_eq!(got.0, want_files);
    assert!(got.1 == big_content(BIG), "the big file differs");
    task.abort();
    drop(node);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
async fn node_clones_a_ddrive_drive_ddrive_initiating() -> Result<()> {
    node_clones_from_ddrive(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
async fn node_clones_a_ddrive_drive_ddrive_responding() -> Result<()> {
    node_clones_from_ddrive(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
async fn ddrive_clones_a_node_drive_ddrive_initiating() -> Result<()> {
    ddrive_clones_from_node(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(feature = "interop"), ignore = "needs Node: cargo xtask test")]
async fn ddrive_clones_a_node_drive_ddrive_responding() -> Result<()> {
    ddrive_clones_from_node(false).await
}
