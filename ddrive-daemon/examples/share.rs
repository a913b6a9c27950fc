//! A small client of a running daemon, for the README's walk-through: share a file from one
//! daemon and read it from another.
//!
//! ```text
//! share bootstrap <host:port>                        run a DHT bootstrap node until Ctrl-C
//! share --storage <dir> new <path> <text>            a new drive with one file, announced
//!                                                    and remembered; prints its key
//! share --storage <dir> cat <key> <path>             prints a file of a drive (fetched from
//!                                                    peers when this daemon lacks it)
//! ```
//! The daemon is found through `<dir>/config.json`, as every client finds it.

use std::path::PathBuf;
use std::time::Duration;

use ddrive_daemon::ClientConfig;
use ddrive_daemon::proto::{self, drive_client::DriveClient};
use tonic::Request;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Client {
    drive: DriveClient<tonic::transport::Channel>,
    token: String,
}

impl Client {
    async fn connect(storage: &std::path::Path) -> Result<Self> {
        let config = ClientConfig::read(storage)?;
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{}", config.endpoint))?
                .connect_timeout(Duration::from_secs(5))
                .connect()
                .await?;
        Ok(Client {
            drive: DriveClient::new(channel),
            token: config.token.expose().to_owned(),
        })
    }

    fn req<T>(&self, message: T) -> Result<Request<T>> {
        let mut r = Request::new(message);
        r.metadata_mut().insert("token", self.token.parse()?);
        Ok(r)
    }
}

async fn new_drive(storage: PathBuf, path: &str, text: &str) -> Result<()> {
    let mut c = Client::connect(&storage).await?;
    let rsp = c
        .drive
        .get(c.req(proto::GetDriveRequest { opts: None })?)
        .await?
        .into_inner();
    let key = rsp.opts.map(|o| o.key).unwrap_or_default();
    let messages = vec![
        proto::WriteFileRequest {
            id: rsp.id,
            path: path.into(),
            ..Default::default()
        },
        proto::WriteFileRequest {
            chunk: text.as_bytes().to_vec(),
            ..Default::default()
        },
    ];
    c.drive
        .write_file(c.req(tokio_stream::iter(messages))?)
        .await?;
    let network = proto::NetworkConfiguration {
        lookup: true,
        announce: true,
        remember: true,
        key: Vec::new(),
    };
    c.drive
        .configure_network(c.req(proto::ConfigureNetworkRequest {
            id: rsp.id,
            network: Some(network),
        })?)
        .await?;
    println!("{}", hex::encode(key));
    Ok(())
}

async fn cat(storage: PathBuf, key: &str, path: &str) -> Result<()> {
    let mut c = Client::connect(&storage).await?;
    let opts = proto::HyperdriveOptions {
        key: hex::decode(key)?,
        ..Default::default()
    };
    let rsp = c
        .drive
        .get(c.req(proto::GetDriveRequest { opts: Some(opts) })?)
        .await?
        .into_inner();
    let mut stream = c
        .drive
        .read_file(c.req(proto::ReadFileRequest {
            id: rsp.id,
            path: path.into(),
        })?)
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        out.extend_from_slice(&m.chunk);
    }
    println!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

async fn bootstrap(addr: &str) -> Result<()> {
    let node = hyperswarm::Dht::bootstrap_node(addr.parse()?).await?;
    println!("DHT bootstrap node on {}", node.local_addr());
    tokio::signal::ctrl_c().await?;
    node.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut storage = PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".ddrive");
    if args.first().map(String::as_str) == Some("--storage") && args.len() > 1 {
        storage = PathBuf::from(args.remove(1));
        args.remove(0);
    }
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["bootstrap", addr] => bootstrap(addr).await,
        ["new", path, text] => new_drive(storage, path, text).await,
        ["cat", key, path] => cat(storage, key, path).await,
        _ => Err(
            "usage: share [--storage DIR] (bootstrap HOST:PORT | new PATH TEXT | cat KEY PATH)"
                .into(),
        ),
    }
}
