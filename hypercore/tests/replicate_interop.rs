//! Feed replication against a real Node `hypercore@9` peer (`tests/js/replicate-peer.js`) over
//! TCP on 127.0.0.1, with ddrive as initiator and as responder: sparse read of one block, full
//! download, live appends, and feed- and stream-level extensions both ways. Needs `node` and the pinned stack in `<workspace>/tests/js/
//! node_modules`; run with `cargo test -p hypercore --features interop --test replicate_interop`.
#![cfg(feature = "interop")]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use hypercore::protocol::SessionConfig;
use hypercore::replicate::{
    Mode, ReplicatorConfig, SharedFeed, replicate, replicate_with_extensions, stream_extensions,
};
use hypercore::{Feed, KeyPair, MemoryStorage, PublicKey};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A guard against a hung peer, not a timing assertion.
const LIMIT: Duration = Duration::from_secs(25);
const SEED: [u8; 32] = [7; 32];
const BLOCKS: u64 = 30;

struct NodePeer {
    _child: Child,
    _dir: tempfile::TempDir,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodePeer {
    fn spawn(args: &[&str]) -> Result<Self> {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let modules = here.join("../tests/js/node_modules");
        // Node resolves NODE_PATH lexically, so hand it a path without `..`.
        let modules = modules.canonicalize().with_context(|| {
            format!(
                "{} missing: npm install the pinned stack first",
                modules.display()
            )
        })?;
        let dir = tempfile::tempdir()?;
        let mut child = Command::new("node")
            .arg(here.join("tests/js/replicate-peer.js"))
            .args(args)
            .arg("--dir")
            .arg(dir.path())
            .env("NODE_PATH", modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning node")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        Ok(NodePeer {
            _child: child,
            _dir: dir,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The next logged event named `name`; fails on errors the peer reports.
    async fn expect(&mut self, name: &str) -> Result<Value> {
        let read = async {
            while let Some(line) = self.lines.next_line().await? {
                let v: Value = serde_json::from_str(&line).with_context(|| line.clone())?;
                match v["event"].as_str() {
                    Some(e) if e == name => return Ok(v),
                    Some("error" | "stream-error" | "timeout") => bail!("node peer: {line}"),
                    _ => {}
                }
            }
            bail!("node peer exited before {name}")
        };
        tokio::time::timeout(LIMIT, read)
            .await
            .with_context(|| format!("waiting for {name}"))?
    }

    async fn command(&mut self, line: &str) -> Result<()> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }
}

fn block(i: u64) -> Vec<u8> {
    format!("block {i}").into_bytes()
}

fn config(mode: Mode) -> ReplicatorConfig {
    let mut c = ReplicatorConfig::default();
    c.mode = mode;
    c
}

fn session(initiator: bool, live: bool) -> SessionConfig {
    let mut c = SessionConfig::new(initiator);
    c.live = live;
    c
}

fn clone_feed(key: PublicKey, mode: Mode) -> Result<SharedFeed<MemoryStorage>> {
    let feed = Feed::builder(MemoryStorage::new()).key(key).open()?;
    Ok(SharedFeed::new(feed, config(mode)))
}

fn rust_writer(live: bool) -> Result<SharedFeed<MemoryStorage>> {
    let mut feed = Feed::builder(MemoryStorage::new())
        .key_pair(KeyPair::from_seed(&SEED))
        .open()?;
    let blocks: Vec<Vec<u8>> = (0..BLOCKS).map(block).collect();
    for batch in blocks.chunks(3) {
        feed.append_batch(batch)?;
    }
    let mut config = ReplicatorConfig::default();
    config.live = live;
    Ok(SharedFeed::new(feed, config))
}

fn port_of(v: &Value) -> Result<String> {
    Ok(v["port"].as_u64().context("port")?.to_string())
}

#[tokio::test]
async fn rust_initiator_sparse_reads_and_follows_a_node_writer() -> Result<()> {
    let mut node = NodePeer::spawn(&[
        "--role",
        "responder",
        "--mode",
        "writer",
        "--seed",
        &hex::encode(SEED),
        "--blocks",
        &BLOCKS.to_string(),
    ])?;
    let port = port_of(&node.expect("listening").await?)?;
    let key = KeyPair::from_seed(&SEED).public;
    let reader = clone_feed(key, Mode::Sparse)?;
    let socket = TcpStream::connect(format!("127.0.0.1:{port}")).await?;
    let task = tokio::spawn({
        let feeds = [reader.clone()];
        async move { replicate(socket, session(true, true), &feeds).await }
    });
    assert_eq!(reader.get(7).await?, block(7));
    assert_eq!(reader.with_feed(|f| f.downloaded(0, f.len())), 1);
    assert_eq!(reader.with_feed(|f| f.len()), BLOCKS);
    // Live: a block the Node writer appends now reaches a reader waiting past the end.
    let wait = tokio::spawn({
        let reader = reader.clone();
        async move { reader.get(BLOCKS).await }
    });
    node.command("append live from node").await?;
    assert_eq!(wait.await??, b"live from node");
    assert_eq!(reader.stats().total.downloaded_blocks, 2);
    task.abort();
    Ok(())
}

#[tokio::test]
async fn rust_responder_downloads_everything_from_a_node_writer() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port().to_string();
    let key = KeyPair::from_seed(&SEED).public;
    let reader = clone_feed(key, Mode::Full)?;
    let mut node = NodePeer::spawn(&[
        "--role",
        "initiator",
        "--port",
        &port,
        "--mode",
        "writer",
        "--seed",
        &hex::encode(SEED),
        "--blocks",
        &BLOCKS.to_string(),
    ])?;
    let (socket, _) = tokio::time::timeout(LIMIT, listener.accept()).await??;
    let task = tokio::spawn({
        let feeds = [reader.clone()];
        async move { replicate(socket, session(false, true), &feeds).await }
    });
    let all = |f: &mut Feed<MemoryStorage>| f.len() == BLOCKS && f.downloaded(0, BLOCKS) == BLOCKS;
    ensure!(reader.wait_until(LIMIT, all).await, "full download");
    for i in 0..BLOCKS {
        assert_eq!(reader.get(i).await?, block(i));
    }
    assert_eq!(reader.with_feed(|f| f.audit())?.invalid, 0);
    // Live appends keep arriving in full mode.
    node.command("append one more").await?;
    let more = |f: &mut Feed<MemoryStorage>| f.has(BLOCKS);
    ensure!(reader.wait_until(LIMIT, more).await, "live block");
    assert_eq!(reader.get(BLOCKS).await?, b"one more");
    task.abort();
    Ok(())
}

#[tokio::test]
async fn node_sparse_reader_reads_from_a_rust_responder_and_sees_appends() -> Result<()> {
    let writer = rust_writer(true)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port().to_string();
    let mut node = NodePeer::spawn(&[
        "--role",
        "initiator",
        "--port",
        &port,
        "--mode",
        "sparse",
        "--key",
        &writer.key().to_hex(),
        "--get",
        "7",
    ])?;
    let (socket, _) = tokio::time::timeout(LIMIT, listener.accept()).await??;
    let task = tokio::spawn({
        let feeds = [writer.clone()];
        async move { replicate(socket, session(false, true), &feeds).await }
    });
    let got = node.expect("got").await?;
    assert_eq!(got["value"], "block 7");
    assert_eq!(got["downloaded"], 1);
    // Live: Node waits for a block we have not written yet.
    node.command(&format!("get {BLOCKS}")).await?;
    writer.append(b"live from rust")?;
    let got = node.expect("got").await?;
    assert_eq!(got["value"], "live from rust");
    assert_eq!(writer.stats().total.uploaded_blocks, 2);
    task.abort();
    Ok(())
}

#[tokio::test]
async fn node_full_reader_downloads_from_a_rust_initiator_and_ends() -> Result<()> {
    let writer = rust_writer(false)?;
    let mut node = NodePeer::spawn(&[
        "--role",
        "responder",
        "--mode",
        "full",
        "--key",
        &writer.key().to_hex(),
        "--live",
        "0",
    ])?;
    let port = port_of(&node.expect("listening").await?)?;
    let socket = TcpStream::connect(format!("127.0.0.1:{port}")).await?;
    let feeds = [writer.clone()];
    let run = replicate(socket, session(true, false), &feeds);
    // Not live: once Node has everything it says so, we close, and the session ends by itself.
    tokio::time::timeout(LIMIT, run)
        .await
        .context("session end")??;
    let synced = node.expect("synced").await?;
    assert_eq!(synced["length"], BLOCKS);
    assert_eq!(writer.stats().total.uploaded_blocks, BLOCKS);
    Ok(())
}

/// Waits until the feed has a peer (its channel is open on both sides).
async fn until_peer(feed: &SharedFeed<MemoryStorage>) -> Result<()> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let changed = feed.changed();
        if feed.stats().peers > 0 {
            return Ok(());
        }
        tokio::time::timeout_at(deadline, changed)
            .await
            .context("no peer")?;
    }
}

async fn recv<T>(rx: &mut tokio::sync::mpsc::Receiver<T>) -> Result<T> {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .context("waiting for an extension message")?
        .context("extension channel closed")
}

/// A ddrive clone with the feed extension "ddrive-feed" (and one Node does not know) and the
/// stream extension "ddrive-stream" exchanges messages with a Node writer that registered the
/// same names plus its own unknown one, in both directions and at both levels.
async fn extensions_with_node(rust_initiator: bool) -> Result<()> {
    let key = KeyPair::from_seed(&SEED).public;
    let reader = clone_feed(key, Mode::Sparse)?;
    let mut feed_rx = reader.register_extension("ddrive-feed")?;
    let _rust_only = reader.register_extension("zzz-rust-only")?;
    let (ext, stream_tx, mut stream_rx) = stream_extensions(&["ddrive-stream"])?;
    let writer_args = [
        "--mode",
        "writer",
        "--seed",
        &hex::encode(SEED),
        "--blocks",
        "3",
        "--ext",
        "1",
    ];
    let (mut node, socket) = if rust_initiator {
        let mut args = vec!["--role", "responder"];
        args.extend(writer_args);
        let mut node = NodePeer::spawn(&args)?;
        let port = port_of(&node.expect("listening").await?)?;
        let socket = TcpStream::connect(format!("127.0.0.1:{port}")).await?;
        (node, socket)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port().to_string();
        let mut args = vec!["--role", "initiator", "--port", &port];
        args.extend(writer_args);
        let node = NodePeer::spawn(&args)?;
        let (socket, _) = tokio::time::timeout(LIMIT, listener.accept()).await??;
        (node, socket)
    };
    let task = tokio::spawn({
        let feeds = [reader.clone()];
        let config = session(rust_initiator, true);
        let none = |_: &[u8; 32]| None;
        async move { replicate_with_extensions(socket, config, &feeds, None, none, Some(ext)).await }
    });
    until_peer(&reader).await?;

    // Feed level, Rust -> Node -> Rust: Node answers the sender through `ext.send(m, peer)`.
    ensure!(reader.broadcast_extension("zzz-rust-only", b"ignored by node")?);
    ensure!(reader.broadcast_extension("ddrive-feed", b"hi from rust")?);
    assert_eq!(node.expect("feed-ext").await?["value"], "hi from rust");
    let echo = recv(&mut feed_rx).await?;
    assert_eq!(echo.payload, b"echo: hi from rust");
    // Node -> Rust by broadcast; its "aaa-node-only" message, sent first, is dropped here.
    node.command("feed-ext hi from node").await?;
    assert_eq!(recv(&mut feed_rx).await?.payload, b"hi from node");
    reader.send_extension("ddrive-feed", echo.peer, b"direct")?;
    assert_eq!(node.expect("feed-ext").await?["value"], "direct");
    assert_eq!(recv(&mut feed_rx).await?.payload, b"echo: direct");

    // Stream level on channel 0.
    stream_tx.send("ddrive-stream", b"stream from rust")?;
    assert_eq!(
        node.expect("stream-ext").await?["value"],
        "stream from rust"
    );
    let m = recv(&mut stream_rx).await?;
    assert_eq!(
        (m.name.as_str(), m.payload.as_slice()),
        ("ddrive-stream", &b"echo: stream from rust"[..])
    );
    node.command("stream-ext stream from node").await?;
    let m = recv(&mut stream_rx).await?;
    assert_eq!(m.payload, b"stream from node");

    // Replication is unaffected.
    assert_eq!(reader.get(0).await?, block(0));
    ensure!(
        feed_rx.try_recv().is_err() && stream_rx.try_recv().is_err(),
        "nothing unexpected"
    );
    task.abort();
    Ok(())
}

#[tokio::test]
async fn extensions_with_a_node_writer_rust_initiator() -> Result<()> {
    extensions_with_node(true).await
}

#[tokio::test]
async fn extensions_with_a_node_writer_rust_responder() -> Result<()> {
    extensions_with_node(false).await
}
