//! Interop with a real Node `hypercore-protocol@8` peer (`tests/js/protocol-peer.js`) over TCP on
//! 127.0.0.1, in both roles. Needs `node` and the pinned stack in `<workspace>/tests/js/
//! node_modules`; run with `cargo test -p hypercore --features interop --test protocol_interop`.
#![cfg(feature = "tokio")]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use hypercore::KeyPair;
use hypercore::protocol::io::SessionStream;
use hypercore::protocol::{
    Cancel, Data, DataNode, Event, Have, Message, Options, Request, SessionConfig, Status, Unhave,
    Unwant, Want, bitfield_rle,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(20);

fn node(args: &[&str]) -> Result<Child> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let modules = here.join("../tests/js/node_modules");
    // Node resolves NODE_PATH lexically, so hand it a path without `..`.
    let modules = modules.canonicalize().with_context(|| {
        format!(
            "{} missing: npm install the pinned stack first",
            modules.display()
        )
    })?;
    Command::new("node")
        .arg(here.join("tests/js/protocol-peer.js"))
        .args(args)
        .env("NODE_PATH", modules)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawning node")
}

/// What the Rust side sends once the channel is open: one of each feed message.
fn rust_messages() -> Vec<Message> {
    vec![
        Message::Options(Options {
            extensions: vec!["node-ext".into()],
            ack: Some(false),
        }),
        Message::Status(Status::new(false, true)),
        Message::Want(Want {
            start: 0,
            length: Some(1 << 20),
        }),
        Message::Have(Have {
            start: 0,
            length: Some(1 << 20),
            bitfield: Some(bitfield_rle::encode(&[0xff; 1250])),
            ack: None,
        }),
        Message::Unhave(Unhave {
            start: 5,
            length: None,
        }),
        Message::Unwant(Unwant {
            start: 8192,
            length: Some(8192),
        }),
        Message::Request(Request::new(7, true, 16385)),
        Message::Cancel(Cancel {
            index: 7,
            bytes: Some(0),
            hash: Some(true),
        }),
        Message::Data(Data {
            index: 2,
            value: Some(b"from rust".to_vec()),
            nodes: vec![DataNode {
                index: 4,
                hash: vec![0xab; 32],
                size: 9,
            }],
            signature: Some(vec![0xcd; 64]),
        }),
    ]
}

/// Runs the Rust side until the stream ends; returns its events.
async fn rust_side(
    tcp: TcpStream,
    initiator: bool,
    key: hypercore::PublicKey,
) -> Result<Vec<Event>> {
    let dk = key.discovery_key();
    let mut s = SessionStream::new(tcp, SessionConfig::new(initiator));
    s.session_mut().open(&key)?;
    s.session_mut()
        .register_channel_extension(&dk, "node-ext")?;
    s.session_mut().register_extension("node-stream");
    let mut events = Vec::new();
    let (mut got_data, mut got_cext, mut got_sext, mut closed) = (false, false, false, false);
    while let Some(event) = tokio::time::timeout(LIMIT, s.next_event()).await?? {
        match &event {
            Event::ChannelOpen { .. } => {
                for m in rust_messages() {
                    s.session_mut().send(&dk, m)?;
                }
                s.session_mut()
                    .send_channel_extension(&dk, "node-ext", b"rust channel ext")?;
                s.session_mut()
                    .send_extension("node-stream", b"rust stream ext")?;
            }
            Event::Message {
                message: Message::Data(_),
                ..
            } => got_data = true,
            Event::ChannelExtension { .. } => got_cext = true,
            Event::StreamExtension { .. } => got_sext = true,
            _ => {}
        }
        events.push(event);
        if got_data && got_cext && got_sext && !closed {
            closed = true;
            s.session_mut().close(&dk)?;
        }
    }
    Ok(events)
}

async fn node_log(child: &mut Child, lines: &mut Vec<Value>) -> Result<()> {
    let stdout = child.stdout.take().context("stdout")?;
    let mut reader = BufReader::new(stdout).lines();
    while let Some(line) = reader.next_line().await? {
        lines.push(serde_json::from_str(&line).with_context(|| line.clone())?);
    }
    Ok(())
}

fn check(rust: &[Event], node: &[Value], key: &hypercore::PublicKey) -> Result<()> {
    let dk = key.discovery_key();
    // Rust decoded Node's messages.
    let Some(Event::Handshake { remote_public_key }) = rust.first() else {
        bail!("{rust:?}")
    };
    let node_hs = node
        .iter()
        .find(|v| v["event"] == "handshake")
        .context("node handshake")?;
    ensure!(
        node_hs["publicKey"] == hex::encode(remote_public_key),
        "static keys differ"
    );
    let msg = |m: Message| Event::Message {
        discovery_key: dk,
        message: m,
    };
    let expected = [
        Event::ChannelOpen { discovery_key: dk },
        msg(Message::Options(Options {
            extensions: vec!["node-ext".into()],
            ack: Some(true),
        })),
        msg(Message::Status(Status::new(true, false))),
        msg(Message::Want(Want {
            start: 0,
            length: Some(1 << 20),
        })),
        msg(Message::Have(Have {
            start: 0,
            length: Some(1 << 20),
            bitfield: Some(vec![0x02, 0xf8]),
            ack: None,
        })),
        msg(Message::Request(Request::new(3, false, 0))),
        msg(Message::Data(Data {
            index: 3,
            value: Some(b"block three".to_vec()),
            nodes: vec![DataNode {
                index: 6,
                hash: vec![7; 32],
                size: 11,
            }],
            signature: Some(vec![9; 64]),
        })),
        Event::ChannelExtension {
            discovery_key: dk,
            name: "node-ext".into(),
            payload: b"node channel ext".to_vec(),
        },
        Event::RemoteExtensions {
            names: vec!["node-stream".into()],
        },
        Event::StreamExtension {
            name: "node-stream".into(),
            payload: b"node stream ext".to_vec(),
        },
        Event::Finished,
    ];
    ensure!(rust[1..] == expected, "rust events: {rust:#?}");

    // Node decoded ours (hypercore-protocol's own decoder output, logged as JSON).
    let node_messages: Vec<(&str, &Value)> = node
        .iter()
        .filter(|v| v["event"] == "message")
        .map(|v| (v["type"].as_str().unwrap_or(""), &v["message"]))
        .collect();
    let want = serde_json::json!([
        ["options", {"extensions": ["node-ext"], "ack": false}],
        ["status", {"uploading": false, "downloading": true}],
        ["want", {"start": 0, "length": 1048576}],
        ["have", {"start": 0, "length": 1048576, "bitfield": "8b27", "ack": false}],
        ["unhave", {"start": 5, "length": 1}],
        ["unwant", {"start": 8192, "length": 8192}],
        ["request", {"index": 7, "bytes": 0, "hash": true, "nodes": 16385}],
        ["cancel", {"index": 7, "bytes": 0, "hash": true}],
        ["data", {"index": 2, "value": hex::encode(b"from rust"),
                  "nodes": [{"index": 4, "hash": "ab".repeat(32), "size": 9}],
                  "signature": "cd".repeat(64)}],
    ]);
    let got = serde_json::to_value(
        node_messages
            .iter()
            .map(|(t, m)| serde_json::json!([t, m]))
            .collect::<Vec<_>>(),
    )?;
    ensure!(got == want, "node decoded: {got:#}");
    let find = |event: &str| node.iter().find(|v| v["event"] == event);
    let cext = find("channel-extension").context("node got no channel extension")?;
    ensure!(
        cext["id"] == 0 && cext["payload"] == "rust channel ext",
        "{cext}"
    );
    let sext = find("stream-extension").context("node got no stream extension")?;
    ensure!(sext["payload"] == "rust stream ext", "{sext}");
    ensure!(
        find("remote-extensions").map(|v| &v["names"]) == Some(&serde_json::json!(["node-stream"]))
    );
    ensure!(
        find("channel-close").is_some(),
        "node saw no channel close: {node:#?}"
    );
    ensure!(
        find("stream-error").is_none() && find("timeout").is_none(),
        "{node:#?}"
    );
    Ok(())
}

#[tokio::test]
#[cfg_attr(
    not(feature = "interop"),
    ignore = "needs node; run with --features interop"
)]
async fn rust_initiator_with_node_responder() -> Result<()> {
    let key = KeyPair::generate().public;
    let mut child = node(&["--role", "responder", "--key", &key.to_hex()])?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut reader = BufReader::new(stdout).lines();
    let first = reader.next_line().await?.context("node printed nothing")?;
    let listening: Value = serde_json::from_str(&first)?;
    let port = listening["port"].as_u64().context("port")?;
    let tcp = TcpStream::connect(("127.0.0.1", port as u16)).await?;
    let rust = rust_side(tcp, true, key).await?;
    let mut node = Vec::new();
    while let Some(line) = tokio::time::timeout(LIMIT, reader.next_line()).await?? {
        node.push(serde_json::from_str(&line)?);
    }
    ensure!(
        tokio::time::timeout(LIMIT, child.wait()).await??.success(),
        "node failed: {node:#?}"
    );
    check(&rust, &node, &key)
}

#[tokio::test]
#[cfg_attr(
    not(feature = "interop"),
    ignore = "needs node; run with --features interop"
)]
async fn rust_responder_with_node_initiator() -> Result<()> {
    let key = KeyPair::generate().public;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port().to_string();
    let mut child = node(&[
        "--role",
        "initiator",
        "--port",
        &port,
        "--key",
        &key.to_hex(),
    ])?;
    let (tcp, _) = tokio::time::timeout(LIMIT, listener.accept()).await??;
    let mut node = Vec::new();
    let (rust, logged) = tokio::join!(rust_side(tcp, false, key), node_log(&mut child, &mut node));
    logged?;
    let rust = rust?;
    ensure!(
        tokio::time::timeout(LIMIT, child.wait()).await??.success(),
        "node failed: {node:#?}"
    );
    check(&rust, &node, &key)
}
