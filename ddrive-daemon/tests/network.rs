//! Daemons replicating over the swarm, on 127.0.0.1 with a local DHT bootstrap node: a drive
//! written on one daemon read on another byte for byte, live updates, reads that time out once
//! the writer is gone, remembered configurations that rejoin after a restart, peers and
//! peersockets, a DHT that cannot be reached, and a peer that sends garbage.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use ddrive_daemon::proto::{
    self, drive_client::DriveClient, hyperdrive_client::HyperdriveClient, peer_message,
    peers_client::PeersClient, peersockets_client::PeersocketsClient,
};
use ddrive_daemon::{Bootstrap, Config, Daemon};
use hyperswarm::Dht;
use tonic::transport::Channel;
use tonic::{Code, Request};

mod common;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Bounds waits that only a broken implementation reaches; never a timing assertion.
const BOUND: Duration = Duration::from_secs(90);

fn localhost(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

fn config(dir: &Path, bootstrap: Bootstrap, block_timeout: Duration) -> Config {
    Config {
        bootstrap,
        block_timeout,
        ..common::loopback(dir)
    }
}

fn nodes(boot: &Dht) -> Bootstrap {
    Bootstrap::Nodes(vec![boot.local_addr().to_string()])
}

/// A daemon's clients, with its token.
struct Client {
    drive: DriveClient<Channel>,
    main: HyperdriveClient<Channel>,
    peers: PeersClient<Channel>,
    sockets: PeersocketsClient<Channel>,
    token: String,
}

impl Client {
    async fn new(daemon: &Daemon) -> Result<Self, tonic::transport::Error> {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{}", daemon.local_addr()))?
                .connect_timeout(Duration::from_secs(5))
                .connect()
                .await?;
        Ok(Client {
            drive: DriveClient::new(channel.clone()),
            main: HyperdriveClient::new(channel.clone()),
            peers: PeersClient::new(channel.clone()),
            sockets: PeersocketsClient::new(channel),
            token: daemon.client_config().token.expose().to_owned(),
        })
    }

    fn req<T>(&self, message: T) -> Request<T> {
        common::with_token(message, &self.token)
    }

    async fn status(&mut self) -> Result<proto::StatusResponse, tonic::Status> {
        let r = self.req(proto::StatusRequest {});
        Ok(self.main.status(r).await?.into_inner())
    }

    /// Opens a drive: a new one, or the one with `key`.
    async fn get(&mut self, key: Option<&[u8]>) -> Result<(u64, Vec<u8>), tonic::Status> {
        let opts = key.map(|k| proto::HyperdriveOptions {
            key: k.to_vec(),
            ..Default::default()
        });
        let r = self.req(proto::GetDriveRequest { opts });
        let rsp = self.drive.get(r).await?.into_inner();
        Ok((rsp.id, rsp.opts.map(|o| o.key).unwrap_or_default()))
    }

    async fn write_file(&mut self, id: u64, path: &str, data: &[u8]) -> Result<(), tonic::Status> {
        let r = self.req(tokio_stream::iter(common::write_file_messages(
            id, path, data,
        )));
        self.drive.write_file(r).await?;
        Ok(())
    }

    async fn read_file(&mut self, id: u64, path: &str) -> Result<Vec<u8>, tonic::Status> {
        let r = self.req(proto::ReadFileRequest {
            id,
            path: path.into(),
        });
        let stream = self.drive.read_file(r).await?.into_inner();
        Ok(common::read_chunks(stream).await?.concat())
    }

    /// Reads `path`, again after each read that timed out waiting for peers (the first ones
    /// may run before the swarm found the writer), within [`BOUND`].
    async fn read_eventually(&mut self, id: u64, path: &str) -> Result<Vec<u8>, tonic::Status> {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            match self.read_file(id, path).await {
                Err(e)
                    if e.code() == Code::DeadlineExceeded
                        && tokio::time::Instant::now() < deadline => {}
                other => return other,
            }
        }
    }

    async fn configure(
        &mut self,
        id: u64,
        announce: bool,
        remember: bool,
    ) -> Result<(), tonic::Status> {
        let r = self.req(proto::ConfigureNetworkRequest {
            id,
            network: Some(proto::NetworkConfiguration {
                lookup: true,
                announce,
                remember,
                key: Vec::new(),
            }),
        });
        self.drive.configure_network(r).await?;
        Ok(())
    }

    async fn list_peers(&mut self) -> Result<Vec<proto::PeerInfo>, tonic::Status> {
        let r = self.req(proto::ListPeersRequest {
            discovery_key: Vec::new(),
        });
        Ok(self.peers.list_peers(r).await?.into_inner().peers)
    }

    async fn version(&mut self, id: u64) -> Result<u64, tonic::Status> {
        let r = self.req(proto::DriveVersionRequest { id });
        Ok(self.drive.version(r).await?.into_inner().version)
    }
}

/// Waits until the DHT holds an announce of `topic` (so a lookup made now finds it), by the
/// swarm on `port` when given.
async fn announced_by(boot: &Dht, topic: [u8; 32], port: Option<u16>) -> TestResult {
    let probe = Dht::bind(
        localhost(0),
        hyperswarm::Config {
            bootstrap: vec![boot.local_addr()],
            ..hyperswarm::Config::default()
        },
    )
    .await?;
    let found = tokio::time::timeout(BOUND, async {
        loop {
            if let Ok(out) = probe.lookup(hyperswarm::NodeId(topic), None).await {
                let peers = out.peers(None);
                if port.map_or(!peers.is_empty(), |p| peers.iter().any(|a| a.port() == p)) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    probe.shutdown().await;
    found.map_err(|_| "the announce never reached the DHT".into())
}

async fn announced(boot: &Dht, topic: [u8; 32]) -> TestResult {
    announced_by(boot, topic, None).await
}

/// The discovery key of a drive key (BLAKE2b-256 keyed by the key, of "hypercore").
fn discovery_key(key: &[u8]) -> Result<[u8; 32], Box<dyn std::error::Error>> {
    let key = <[u8; 32]>::try_from(key).map_err(|_| "a drive key is 32 bytes")?;
    Ok(hypercore::PublicKey(key).discovery_key())
}

/// Polls `f` until it holds, within [`BOUND`].
async fn eventually<F, Fut>(what: &str, mut f: F) -> TestResult
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, Box<dyn std::error::Error>>>,
{
    let deadline = tokio::time::Instant::now() + BOUND;
    while !f().await? {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("never happened: {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_replicate_a_drive_live_and_talk_over_peersockets() -> TestResult {
    let boot = Dht::bootstrap_node(localhost(0)).await?;
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = Daemon::start(config(dir_a.path(), nodes(&boot), BOUND)).await?;
    // B's reads of blocks only A holds give up after 3 s.
    let b = Daemon::start(config(dir_b.path(), nodes(&boot), Duration::from_secs(3))).await?;
    let (mut ca, mut cb) = (Client::new(&a).await?, Client::new(&b).await?);

    // A writes a drive and announces it.
    let (ida, key) = ca.get(None).await?;
    let big = pattern(5_000_000, 7);
    ca.write_file(ida, "/hello.txt", b"hello from a").await?;
    ca.write_file(ida, "/big.bin", &big).await?;
    ca.write_file(ida, "/later.bin", &pattern(100_000, 9))
        .await?;
    ca.configure(ida, true, false).await?;
    announced(&boot, discovery_key(&key)?).await?;

    // B opens it by key (looked up) and reads it back byte for byte.
    let (idb, _) = cb.get(Some(&key)).await?;
    assert_eq!(
        cb.read_eventually(idb, "/hello.txt").await?,
        b"hello from a"
    );
    assert_eq!(cb.read_file(idb, "/big.bin").await?, big);

    // Peers on both sides, known by the other's Noise key.
    let (sa, sb) = (ca.status().await?, cb.status().await?);
    let (pa, pb) = (ca.list_peers().await?, cb.list_peers().await?);
    assert_eq!(pa.len(), 1, "one connection survives the dedup: {pa:?}");
    assert_eq!(pb.len(), 1, "{pb:?}");
    assert_eq!(pa[0].noise_key, sb.noise_key);
    assert_eq!(pb[0].noise_key, sa.noise_key);
    assert_eq!(sa.peer_count, 1);
    assert_eq!(sb.dht_state, "bootstrapped");
    assert!(sb.dht_nodes >= 1);
    assert_eq!(sb.drive_count, 1);
    let counts = cb
        .drive
        .peer_counts(cb.req(proto::PeerCountsRequest {
            keys: vec![key.clone()],
        }))
        .await?
        .into_inner();
    assert_eq!(counts.peer_counts, [1]);
    let stats = cb
        .drive
        .stats(cb.req(proto::DriveStatsRequest {
            id: idb,
            ..Default::default()
        }))
        .await?
        .into_inner();
    let content = stats
        .stats
        .and_then(|s| s.stats.into_iter().next())
        .and_then(|m| m.content)
        .ok_or("no content stats")?;
    assert!(content.downloaded_bytes_cumulative >= big.len() as u64);
    assert_eq!(content.peers, 1);

    // A live update reaches B: B's watcher hears of it, and the new file reads.
    // The watch lasts while its request stream stays open.
    let (w_tx, w_rx) = tokio::sync::mpsc::channel(1);
    w_tx.send(proto::WatchRequest {
        id: idb,
        path: "/".into(),
    })
    .await?;
    let watch_req = cb.req(tokio_stream::wrappers::ReceiverStream::new(w_rx));
    let mut watch = cb.drive.watch(watch_req).await?.into_inner();
    ca.write_file(ida, "/two.txt", b"second").await?;
    let unread = pattern(600_000, 3);
    ca.write_file(ida, "/unread.bin", &unread).await?;
    let va = ca.version(ida).await?;
    tokio::time::timeout(BOUND, watch.message())
        .await?
        .map_err(|e| format!("watch failed: {e}"))?
        .ok_or("the watch ended")?;
    eventually("B reaches A's version", || {
        let mut cb = Client {
            drive: cb.drive.clone(),
            main: cb.main.clone(),
            peers: cb.peers.clone(),
            sockets: cb.sockets.clone(),
            token: cb.token.clone(),
        };
        async move { Ok(cb.version(idb).await? >= va) }
    })
    .await?;
    assert_eq!(cb.read_file(idb, "/two.txt").await?, b"second");
    // A graceful stop waits for open calls: this one ends here.
    drop((w_tx, watch));

    // Peersockets: a client of A and a client of B on topic "chat".
    let (a_tx, a_rx) = tokio::sync::mpsc::channel(8);
    let open = |topic: &str| proto::PeerMessage {
        r#type: peer_message::Type::Open as i32,
        content: Some(peer_message::Content::Open(proto::OpenMessage {
            topic: topic.into(),
        })),
    };
    a_tx.send(open("chat")).await?;
    let _a_in = ca
        .sockets
        .join(ca.req(tokio_stream::wrappers::ReceiverStream::new(a_rx)))
        .await?
        .into_inner();
    let (b_tx, b_rx) = tokio::sync::mpsc::channel(8);
    b_tx.send(open("chat")).await?;
    let mut b_in = cb
        .sockets
        .join(cb.req(tokio_stream::wrappers::ReceiverStream::new(b_rx)))
        .await?
        .into_inner();
    let b_alias_on_a = ca
        .peers
        .get_alias(ca.req(proto::GetAliasRequest {
            key: sb.noise_key.clone(),
        }))
        .await?
        .into_inner()
        .alias;
    let data = |alias, msg: &[u8]| proto::PeerMessage {
        r#type: peer_message::Type::Data as i32,
        content: Some(peer_message::Content::Data(proto::DataMessage {
            alias,
            msg: msg.to_vec(),
        })),
    };
    // Each side registers the topic on its session when its client joins; a message sent
    // before the other side registered is dropped there (as in Node), so A repeats until one
    // arrives.
    let got = tokio::time::timeout(BOUND, async {
        loop {
            a_tx.send(data(b_alias_on_a, b"hi b")).await?;
            if let Ok(m) = tokio::time::timeout(Duration::from_millis(200), b_in.message()).await {
                return Ok::<_, Box<dyn std::error::Error>>(m?.ok_or("B's stream ended")?);
            }
        }
    })
    .await??;
    let Some(peer_message::Content::Data(d)) = got.content else {
        return Err("B received no data message".into());
    };
    assert_eq!(d.msg, b"hi b");
    let a_key_on_b = cb
        .peers
        .get_key(cb.req(proto::GetKeyRequest { alias: d.alias }))
        .await?
        .into_inner()
        .key;
    assert_eq!(a_key_on_b, sa.noise_key, "the message names A");

    // `download` really downloads: /later.bin arrives without being read.
    let dl = cb
        .drive
        .download(cb.req(proto::DownloadRequest {
            id: idb,
            path: "/later.bin".into(),
        }))
        .await?
        .into_inner();
    assert_ne!(dl.download_id, 0);
    eventually("/later.bin downloaded", || {
        let mut drive = cb.drive.clone();
        let r = cb.req(proto::FileStatsRequest {
            id: idb,
            path: "/later.bin".into(),
        });
        async move {
            let stats = drive.file_stats(r).await?.into_inner().stats;
            Ok(stats
                .values()
                .all(|s| s.blocks > 0 && s.downloaded_blocks == s.blocks))
        }
    })
    .await?;

    // A goes: B's read of a block it never fetched fails after B's block timeout, naming
    // the drive and the path.
    drop((ca, a_tx));
    a.shutdown().await?;
    eventually("B sees A gone", || {
        let mut peers = cb.peers.clone();
        let r = cb.req(proto::ListPeersRequest {
            discovery_key: Vec::new(),
        });
        async move { Ok(peers.list_peers(r).await?.into_inner().peers.is_empty()) }
    })
    .await?;
    let err = tokio::time::timeout(BOUND, cb.read_file(idb, "/unread.bin"))
        .await?
        .expect_err("nobody holds its blocks any more");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("/unread.bin"), "{err:?}");
    assert!(err.message().contains(&hex::encode(&key)), "{err:?}");
    // B still serves.
    assert_eq!(cb.read_file(idb, "/hello.txt").await?, b"hello from a");
    drop((b_tx, b_in));
    b.shutdown().await?;
    boot.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_configuration_is_announced_again_after_a_restart() -> TestResult {
    let boot = Dht::bootstrap_node(localhost(0)).await?;
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let key = {
        let a = Daemon::start(config(dir_a.path(), nodes(&boot), BOUND)).await?;
        let mut ca = Client::new(&a).await?;
        let (id, key) = ca.get(None).await?;
        ca.write_file(id, "/kept.txt", b"still here").await?;
        ca.configure(id, true, true).await?;
        drop(ca);
        a.shutdown().await?;
        key
    };
    // A starts again and nobody opens the drive there: the remembered configuration alone
    // announces it, from the new swarm's port, and serves it from the store.
    let a = Daemon::start(config(dir_a.path(), nodes(&boot), BOUND)).await?;
    let mut ca = Client::new(&a).await?;
    let configs = ca
        .drive
        .all_network_configurations(ca.req(proto::NetworkConfigurationsRequest {}))
        .await?
        .into_inner()
        .configurations;
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].key, key);
    assert!(configs[0].remember && configs[0].announce);
    announced_by(&boot, discovery_key(&key)?, Some(a.swarm_port())).await?;

    let b = Daemon::start(config(dir_b.path(), nodes(&boot), Duration::from_secs(3))).await?;
    let mut cb = Client::new(&b).await?;
    let (idb, _) = cb.get(Some(&key)).await?;
    assert_eq!(cb.read_eventually(idb, "/kept.txt").await?, b"still here");
    assert_eq!(ca.status().await?.drive_count, 0, "A never opened it");
    drop((ca, cb));
    b.shutdown().await?;
    a.shutdown().await?;
    boot.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reachable_bootstrap_node_is_reported_and_the_daemon_serves() -> TestResult {
    // A port nobody answers on.
    let dead = std::net::UdpSocket::bind(localhost(0))?.local_addr()?;
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(
        dir.path(),
        Bootstrap::Nodes(vec![dead.to_string()]),
        Duration::from_secs(1),
    ))
    .await?;
    let mut c = Client::new(&daemon).await?;
    let first = c.status().await?;
    assert!(
        ["bootstrapping", "retrying"].contains(&first.dht_state.as_str()),
        "{first:?}"
    );
    eventually("status says the DHT is retrying", || {
        let mut main = c.main.clone();
        let r = c.req(proto::StatusRequest {});
        async move {
            let s = main.status(r).await?.into_inner();
            Ok(s.dht_state == "retrying" && s.dht_attempts >= 1 && s.dht_nodes == 0)
        }
    })
    .await?;
    // Drives work meanwhile, announced or not.
    let (id, _) = c.get(None).await?;
    c.configure(id, true, true).await?;
    c.write_file(id, "/a.txt", b"offline").await?;
    assert_eq!(c.read_file(id, "/a.txt").await?, b"offline");
    let status = c.status().await?;
    assert!(status.swarm_port > 0);
    assert_eq!(status.topic_count, 1);
    drop(c);
    daemon.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_is_dropped_and_the_daemon_serves() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(config(dir.path(), Bootstrap::None, Duration::from_secs(1))).await?;
    let mut c = Client::new(&daemon).await?;
    let (id, _) = c.get(None).await?;
    c.write_file(id, "/x", b"x").await?;
    let garbage: [&[u8]; 3] = [
        &[0xff; 4096],                      // a length prefix that never ends
        &[0x05, 1, 2, 3, 4, 5, 0x00, 0x00], // a short frame that is no handshake
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for bytes in garbage {
        let mut sock = tokio::net::TcpStream::connect(localhost(daemon.swarm_port())).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        sock.write_all(bytes).await?;
        // The daemon ends the connection (EOF or a reset), within the handshake's bound.
        let mut buf = [0u8; 1024];
        let ended = tokio::time::timeout(BOUND, async {
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the connection was never closed");
    }
    let status = c.status().await?;
    assert_eq!(status.peer_count, 0);
    assert_eq!(status.dht_state, "disabled");
    assert_eq!(c.read_file(id, "/x").await?, b"x");
    drop(c);
    daemon.shutdown().await?;
    Ok(())
}
