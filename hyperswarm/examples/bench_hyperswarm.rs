//! hyperswarm figures beside Node's, in one run on 127.0.0.1, printing one
//! JSON line:
//!
//! * `join_to_connection_ms`: a fresh lookup swarm's `join` to its first
//!   connection, the announcer having finished its first DHT cycle, over a
//!   local bootstrap node (ddrive's, shared by both sides; for ddrive the
//!   later of `join` returning and the connection arriving). Node's side runs
//!   `benches/js/join-to-connection.js` on the same bootstrap node (kept on 127.0.0.1 by
//!   `tests/js/loopback.js`, which the interop peer uses too).
//! * `queries_per_s`: `peers` lookups (random topics) a DHT node answers,
//!   from a load generator keeping a window of requests in flight on one
//!   UDP socket; bounded by a count and a time. Against ddrive's node (this
//!   binary in `serve` mode, a separate process) and Node's
//!   (`benches/js/dht-server.js`).
//! * `records_rss_kib`: the server process's RSS growth (VmRSS) after it
//!   stored `--records` announces (one per topic), same two servers.
//!
//! ```text
//! cargo run --release -p hyperswarm --example bench_hyperswarm -- \
//!     [--rounds 10] [--queries 200000] [--seconds 10] [--records 10000] [--no-node]
//! ```
//! Node's parts need `node` and `npm install` in the workspace's tests/js.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hyperswarm::{Dht, JoinOptions, Message, MessageType, NodeId, PeersInput, Swarm, SwarmConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use tokio::net::UdpSocket;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Requests in flight at once from the load generator.
const WINDOW: usize = 128;
/// Silence after which the load generator stops waiting for lost replies.
const QUIET: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = if args.first().map(String::as_str) == Some("serve") {
        serve()
    } else {
        bench(&args)
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_hyperswarm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// `serve`: a ddrive DHT node on 127.0.0.1 until stdin closes.
fn serve() -> Res<()> {
    runtime()?.block_on(async {
        let dht = Dht::bootstrap_node(localhost()).await?;
        println!(
            "{}",
            json!({"port": dht.local_addr().port(), "pid": std::process::id()})
        );
        std::io::stdout().flush()?;
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
        })
        .await??;
        dht.shutdown().await;
        Ok(())
    })
}

struct Opts {
    rounds: usize,
    queries: u64,
    seconds: u64,
    records: u64,
    node: bool,
}

fn parse(args: &[String]) -> Res<Opts> {
    let mut o = Opts {
        rounds: 10,
        queries: 200_000,
        seconds: 10,
        records: 10_000,
        node: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = || -> Res<u64> { Ok(it.next().ok_or("missing number")?.parse()?) };
        match a.as_str() {
            "--rounds" => o.rounds = num()? as usize,
            "--queries" => o.queries = num()?,
            "--seconds" => o.seconds = num()?,
            "--records" => o.records = num()?,
            "--no-node" => o.node = false,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(o)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn node_cmd(script: &str) -> Command {
    let mut c = Command::new("node");
    c.arg(root().join("benches/js").join(script))
        .env("NODE_PATH", root().join("../tests/js/node_modules"));
    c
}

fn bench(args: &[String]) -> Res<()> {
    let o = parse(args)?;
    let rt = runtime()?;
    let mut out = BTreeMap::new();

    // join → first connection
    let ours = rt.block_on(join_rounds(o.rounds))?;
    out.insert("join_to_connection_ms_ddrive", summary(&ours));
    if o.node {
        let boot = rt.block_on(Dht::bootstrap_node(localhost()))?;
        // the bootstrap node runs on this runtime: drive it while Node works
        let port = boot.local_addr().port().to_string();
        let rounds = o.rounds.to_string();
        let node_out = rt.block_on(async {
            tokio::process::Command::from(node_cmd("join-to-connection.js"))
                .args([&port, &rounds])
                .stderr(Stdio::inherit())
                .output()
                .await
        })?;
        rt.block_on(boot.shutdown());
        if !node_out.status.success() {
            return Err(format!("join-to-connection.js: {}", node_out.status).into());
        }
        let v: Value = serde_json::from_slice(&node_out.stdout)?;
        let ms: Vec<f64> = v["join_to_connection_ms"]
            .as_array()
            .ok_or("no figures from node")?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        out.insert("join_to_connection_ms_node", summary(&ms));
    }

    // a DHT server under load, then holding records
    let exe = std::env::current_exe()?;
    let mut servers = vec![("ddrive", Server::start(serve_cmd(exe))?)];
    if o.node {
        servers.push(("node", Server::start(node_cmd("dht-server.js"))?));
    }
    for (name, server) in &mut servers {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, server.port);
        let load = rt.block_on(load(addr, o.queries, Duration::from_secs(o.seconds)))?;
        out.insert(
            if *name == "ddrive" {
                "queries_ddrive"
            } else {
                "queries_node"
            },
            load,
        );
        let before = rss_kib(server.pid)?;
        let stored = rt.block_on(announce_records(addr, o.records))?;
        let after = rss_kib(server.pid)?;
        out.insert(
            if *name == "ddrive" {
                "records_ddrive"
            } else {
                "records_node"
            },
            json!({
                "announced": o.records,
                "acknowledged": stored,
                "rss_before_kib": before,
                "rss_after_kib": after,
                "rss_delta_kib": after as i64 - before as i64,
                "bytes_per_record": (after as f64 - before as f64) * 1024.0 / o.records.max(1) as f64,
            }),
        );
    }
    for (_, s) in servers {
        s.stop();
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn serve_cmd(exe: PathBuf) -> Command {
    let mut c = Command::new(exe);
    c.arg("serve");
    c
}

fn summary(ms: &[f64]) -> Value {
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let median = v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
    json!({
        "rounds": v.len(),
        "median": median,
        "min": v.first(),
        "max": v.last(),
    })
}

async fn join_rounds(rounds: usize) -> Res<Vec<f64>> {
    let boot = Dht::bootstrap_node(localhost()).await?;
    let config = SwarmConfig {
        bind: localhost(),
        bootstrap: vec![boot.local_addr()],
        ..SwarmConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(1);
    let mut ms = Vec::new();
    for _ in 0..rounds {
        let topic: [u8; 32] = rng.r#gen();
        let a = Swarm::bind(config.clone()).await?;
        let b = Swarm::bind(config.clone()).await?;
        a.join(
            topic,
            JoinOptions {
                announce: true,
                lookup: false,
            },
        )
        .await?;
        let start = Instant::now();
        // `join` returns after the first cycle, the dial runs beside it and
        // connections wait in a channel: this is the later of the two
        b.join(topic, JoinOptions::default()).await?;
        tokio::time::timeout(Duration::from_secs(30), b.next_connection())
            .await?
            .ok_or("swarm closed")?;
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
        a.shutdown().await;
        b.shutdown().await;
    }
    boot.shutdown().await;
    Ok(ms)
}

/// A DHT server process: its port and pid from its first stdout line.
struct Server {
    child: Child,
    port: u16,
    pid: u32,
}

impl Server {
    fn start(mut cmd: Command) -> Res<Server> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let v: Value = serde_json::from_str(&line)?;
        let port = v["port"].as_u64().ok_or("port")? as u16;
        let pid = v["pid"].as_u64().ok_or("pid")? as u32;
        Ok(Server { child, port, pid })
    }

    fn stop(mut self) {
        // closing stdin ends both servers
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// Sends the messages `make(i)` for `i < count` with a window in flight,
/// until `limit` passes or the server goes quiet; returns the replies
/// (without an error) and the time taken.
async fn windowed(
    server: SocketAddrV4,
    count: u64,
    limit: Duration,
    mut make: impl FnMut(u64) -> Message,
) -> Res<(u64, u64, Duration)> {
    let sock = UdpSocket::bind(localhost()).await?;
    sock.connect(server).await?;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut ok = 0u64;
    let mut buf = vec![0u8; 65536];
    while sent < count.min(WINDOW as u64) {
        sock.send(&make(sent).encode()).await?;
        sent += 1;
    }
    let mut got = 0u64;
    while got < sent {
        let n = match tokio::time::timeout(QUIET, sock.recv(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => break,
        };
        got += 1;
        if Message::decode(&buf[..n]).is_ok_and(|m| m.error.is_none()) {
            ok += 1;
        }
        if sent < count && start.elapsed() < limit {
            sock.send(&make(sent).encode()).await?;
            sent += 1;
        }
    }
    Ok((sent, ok, start.elapsed()))
}

/// rid of the i-th request: dht-rpc's are 16-bit; only counting matters.
fn rid(i: u64) -> u64 {
    i % 65_535 + 1
}

fn peers_message(kind: MessageType, i: u64, topic: [u8; 32]) -> Message {
    let mut m = Message::new(kind, rid(i));
    m.version = Some(1);
    m.command = Some("peers".into());
    m.target = Some(topic.to_vec());
    m.value = Some(match kind {
        MessageType::Update => PeersInput::announce(None).encode(),
        _ => PeersInput::lookup(None).encode(),
    });
    m
}

async fn load(server: SocketAddrV4, count: u64, limit: Duration) -> Res<Value> {
    let mut rng = StdRng::seed_from_u64(2);
    let (sent, ok, took) = windowed(server, count, limit, |i| {
        peers_message(MessageType::Query, i, rng.r#gen())
    })
    .await?;
    Ok(json!({
        "sent": sent,
        "answered": ok,
        "seconds": took.as_secs_f64(),
        "per_s": ok as f64 / took.as_secs_f64(),
    }))
}

/// Announces `count` topics (one record each) from one socket; returns how
/// many the server acknowledged.
async fn announce_records(server: SocketAddrV4, count: u64) -> Res<u64> {
    // the round-trip token is a hash of the server's secret and our IP, so
    // one token serves every socket on 127.0.0.1
    let sock = UdpSocket::bind(localhost()).await?;
    sock.connect(server).await?;
    sock.send(&peers_message(MessageType::Query, 0, [0; 32]).encode())
        .await?;
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(QUIET, sock.recv(&mut buf)).await??;
    let token = Message::decode(&buf[..n])?
        .roundtrip_token
        .ok_or("no token")?;
    let topic = |i: u64| {
        let mut t = [0u8; 32];
        t[..8].copy_from_slice(&i.to_be_bytes()); // u64be
        t[8] = 0xa5;
        NodeId(t)
    };
    let (_, ok, _) = windowed(server, count, Duration::from_secs(60), |i| {
        let mut m = peers_message(MessageType::Update, i, topic(i).0);
        m.roundtrip_token = Some(token.clone());
        m
    })
    .await?;
    Ok(ok)
}
