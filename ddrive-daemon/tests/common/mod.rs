//! What the daemon's gRPC test suites share: a loopback configuration, a channel, the token on
//! each request, and files moved in the API's chunks.

// Each suite uses the part it needs.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use ddrive_daemon::proto;
use ddrive_daemon::{Bootstrap, Config, Daemon};
use tonic::Request;
use tonic::transport::Channel;

/// A daemon on 127.0.0.1 with any free ports, no DHT, its swarm on loopback and off the LAN's
/// multicast group.
pub fn loopback(dir: &Path) -> Config {
    Config {
        storage: dir.to_owned(),
        port: 0,
        bootstrap: Bootstrap::None,
        swarm_host: Ipv4Addr::LOCALHOST,
        swarm_port: 0,
        lan: false,
        ..Config::default()
    }
}

/// A channel to the daemon's TCP listener; calls fail after `timeout`.
pub async fn tcp(daemon: &Daemon, timeout: Duration) -> Result<Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_shared(format!("http://{}", daemon.local_addr()))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .connect()
        .await
}

/// `message` with the daemon's token in its metadata.
pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("token", token.parse().expect("a token is ASCII"));
    r
}

/// A `writeFile` stream: the header naming session and path, then `data` in the API's chunks.
pub fn write_file_messages(id: u64, path: &str, data: &[u8]) -> Vec<proto::WriteFileRequest> {
    let mut messages = vec![proto::WriteFileRequest {
        id,
        path: path.into(),
        ..Default::default()
    }];
    for chunk in data.chunks(ddrive_daemon::CHUNK_SIZE) {
        messages.push(proto::WriteFileRequest {
            chunk: chunk.to_vec(),
            ..Default::default()
        });
    }
    messages
}

/// Every chunk of a `readFile` answer, in order.
pub async fn read_chunks(
    mut stream: tonic::Streaming<proto::ReadFileResponse>,
) -> Result<Vec<Vec<u8>>, tonic::Status> {
    let mut chunks = Vec::new();
    while let Some(m) = stream.message().await? {
        chunks.push(m.chunk);
    }
    Ok(chunks)
}
