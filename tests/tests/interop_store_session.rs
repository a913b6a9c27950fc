//! A ddrive store's replication session against Node corestore@5.8.2 over TCP on 127.0.0.1, in
//! both session roles: stream extensions (hypercore-protocol 8, on the stream
//! `corestore.replicate` returns; named up front or registered on the running session) both
//! ways, names only one side registered ignored, the handshake keys and counters of the
//! session handle, and closing either store ending the session on both sides.
//!
//! Needs Node and `tests/js/node_modules`: `cargo test -p ddrive-tests --features interop
//! --test interop_store_session`.
#![cfg(feature = "interop")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use corestore::Corestore;
use ddrive_tests::event_peer::EventPeer;
use hypercore::PublicKey;
use hypercore::protocol::SessionConfig;
use hypercore::replicate::{
    SessionEnd, StreamExtension, StreamExtensionMessage, StreamExtensionSender, stream_extensions,
};
use tokio::net::{TcpListener, TcpStream};

/// Only a broken implementation waits this long.
const WAIT: Duration = Duration::from_secs(30);
const BLOCKS: u64 = 5;

/// The Node peer (`js/store-session-peer.js`): JSON-line events out, commands in.
fn node_peer(dir: &Path, args: &[&str]) -> Result<EventPeer> {
    let dir = dir.to_str().context("scratch path is not UTF-8")?;
    let blocks = BLOCKS.to_string();
    let mut all = vec!["--dir", dir, "--blocks", &blocks];
    all.extend_from_slice(args);
    EventPeer::spawn("store-session-peer.js", &all, true, WAIT)
}

fn session(initiator: bool) -> SessionConfig {
    let mut config = SessionConfig::new(initiator);
    config.live = true;
    config
}

/// The two ways to have stream extensions on a store session: named when it starts, or
/// registered on the running session through its handle.
enum Extensions {
    UpFront {
        send: StreamExtensionSender,
        received: tokio::sync::mpsc::Receiver<StreamExtensionMessage>,
    },
    OnHandle {
        peersockets: StreamExtension,
        rust_only: StreamExtension,
    },
}

impl Extensions {
    async fn send(&self, name: &str, payload: &[u8]) -> Result<()> {
        match self {
            Extensions::UpFront { send, .. } => send.send(name, payload)?,
            Extensions::OnHandle {
                peersockets,
                rust_only,
            } => {
                let ext = if name == peersockets.name() {
                    peersockets
                } else {
                    rust_only
                };
                ext.send(payload).await?
            }
        }
        Ok(())
    }

    /// The next message, `None` once the session ended.
    async fn next(&mut self) -> Option<(String, Vec<u8>)> {
        match self {
            Extensions::UpFront { received, .. } => {
                received.recv().await.map(|m| (m.name, m.payload))
            }
            // The Rust-only name never hears anything: Node does not know it.
            Extensions::OnHandle { peersockets, .. } => peersockets
                .recv()
                .await
                .map(|p| (peersockets.name().to_owned(), p)),
        }
    }

    async fn recv(&mut self) -> Result<(String, Vec<u8>)> {
        tokio::time::timeout(WAIT, self.next())
            .await
            .context("waiting for a stream extension message")?
            .context("the session ended")
    }
}

fn pair(name: &str, payload: &[u8]) -> (String, Vec<u8>) {
    (name.to_owned(), payload.to_vec())
}

/// One session with Node; `rust_closes` says which store closes at the end, `on_handle` how
/// the Rust side registers its stream extensions.
async fn store_session_with_node(
    rust_initiates: bool,
    rust_closes: bool,
    on_handle: bool,
) -> Result<()> {
    let scratch = ddrive_tests::scratch()?;
    let node_dir = scratch.path().join("node");
    // Node prints its core's key ("ready") before it listens or dials.
    let (mut node, key, socket) = if rust_initiates {
        let mut node = node_peer(&node_dir, &["--role", "responder"])?;
        let key = node.expect("ready").await?;
        let port = node.expect("listening").await?["port"]
            .as_u64()
            .context("port")?;
        let socket = TcpStream::connect(("127.0.0.1", port as u16)).await?;
        (node, key, socket)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port().to_string();
        let mut node = node_peer(&node_dir, &["--role", "initiator", "--port", &port])?;
        let key = node.expect("ready").await?;
        let (socket, _) = tokio::time::timeout(WAIT, listener.accept()).await??;
        (node, key, socket)
    };
    let key = PublicKey(
        hex::decode(key["key"].as_str().context("key")?)?
            .try_into()
            .ok()
            .context("a 32-byte key")?,
    );
    let remote_addr = socket.peer_addr()?;

    let store = Arc::new(Corestore::open(scratch.path().join("ddrive"))?);
    let names = ["peersockets", "zzz-rust-only"];
    type Session = std::pin::Pin<Box<dyn Future<Output = corestore::Result<()>> + Send>>;
    let (handle, session_future, up_front): (_, Session, _) = if on_handle {
        let (handle, future) = store
            .replicate(socket, session(rust_initiates))
            .remote_addr(remote_addr)
            .into_parts();
        (handle, future, None)
    } else {
        let (up_front, send, received) = stream_extensions(&names)?;
        let (handle, future) = store
            .replicate_with_extensions(socket, session(rust_initiates), up_front)
            .remote_addr(remote_addr)
            .into_parts();
        (handle, future, Some(Extensions::UpFront { send, received }))
    };
    let task = tokio::spawn(session_future);

    // The handshake's keys are the ones the other side has.
    let ours = handle.handshake().await?;
    let theirs = node.expect("handshake").await?;
    assert_eq!(
        theirs["remotePublicKey"].as_str(),
        Some(hex::encode(ours.local_public_key).as_str())
    );
    assert_eq!(ours.remote_addr, Some(remote_addr));
    assert_eq!(ours.initiator, rust_initiates);
    // Registered on the running session, after the handshake.
    let mut ext = match up_front {
        Some(ext) => ext,
        None => Extensions::OnHandle {
            peersockets: handle.register_extension(names[0])?,
            rust_only: handle.register_extension(names[1])?,
        },
    };

    // Stream extensions both ways; a name only one side knows is dropped by the other.
    ext.send("zzz-rust-only", b"dropped").await?;
    ext.send("peersockets", b"hello from rust").await?;
    assert_eq!(node.expect("ext").await?["value"], "hello from rust");
    assert_eq!(
        ext.recv().await?,
        pair("peersockets", b"echo: hello from rust")
    );
    node.command("ext hello from node").await?;
    assert_eq!(ext.recv().await?, pair("peersockets", b"hello from node"));

    // The store's session replicates Node's core beside the extension messages.
    let feed = store.get_by_key(&key)?;
    feed.set_get_timeout(WAIT);
    assert_eq!(feed.get(3).await?, b"node block 3");
    let info = handle.info();
    assert_eq!(info.total.downloaded_blocks, 1);
    assert_eq!(info.total.downloaded_bytes, b"node block 3".len() as u64);
    ensure!(info.wire.received_bytes > 0 && info.wire.sent_bytes > 0);

    if rust_closes {
        store.close()?;
        let result = tokio::time::timeout(WAIT, task).await??;
        assert!(
            matches!(result, Err(corestore::Error::Closed)),
            "{result:?}"
        );
        assert_eq!(handle.ended().await, SessionEnd::Cancelled);
        // Node sees its stream end.
        node.expect("stream-close").await?;
    } else {
        node.command("close").await?;
        node.expect("closed").await?;
        // Our session ends as the transport does, and nothing more arrives.
        tokio::time::timeout(WAIT, task).await??.ok();
        ensure!(handle.is_ended());
        assert!(ext.next().await.is_none());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddrive_dials_node_and_closing_the_ddrive_store_ends_the_session() -> Result<()> {
    store_session_with_node(true, true, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_registered_on_the_running_session_work_with_node() -> Result<()> {
    store_session_with_node(true, false, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_dials_ddrive_and_closing_the_node_store_ends_the_session() -> Result<()> {
    store_session_with_node(false, false, false).await
}
