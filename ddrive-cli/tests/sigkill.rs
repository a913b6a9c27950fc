//! Crash trials: a client writes files through gRPC while the daemon process is killed with
//! SIGKILL after a seeded number of acknowledged writes; the restarted daemon must serve every
//! write whose RPC had returned, byte for byte. `DDRIVE_KILL_TRIALS` sets the number of trials
//! (default 4, kept small for CI; each trial starts two daemon processes).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ddrive_daemon::proto::{self, drive_client::DriveClient};
use tonic::Request;
use tonic::transport::Channel;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long a daemon may take to answer after its process starts.
const READY_WITHIN: Duration = Duration::from_secs(30);

struct Running {
    child: Child,
    client: DriveClient<Channel>,
    token: String,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `ddrive start --foreground` on `storage` and waits, with a bound, until it answers.
async fn start(storage: &Path) -> Result<Running, Box<dyn std::error::Error>> {
    let port = free_port()?;
    let child = Command::new(env!("CARGO_BIN_EXE_ddrive"))
        .arg("--storage")
        .arg(storage)
        .args([
            "start",
            "--foreground",
            "--no-fuse",
            "--bootstrap",
            "none",
            "--port",
        ])
        .arg(port.to_string())
        .env_remove("DDRIVE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        // config.json is rewritten (by rename) at every start, before the listener answers;
        // the port in it tells this start from the last one.
        if let Ok(text) = std::fs::read_to_string(storage.join("config.json"))
            && text.contains(&format!(":{port}\""))
        {
            let config: serde_json::Value = serde_json::from_str(&text)?;
            let token = config["token"].as_str().unwrap_or_default().to_owned();
            let endpoint = format!("http://127.0.0.1:{port}");
            if let Ok(channel) = tonic::transport::Endpoint::from_shared(endpoint)?
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(30))
                .connect()
                .await
            {
                return Ok(Running {
                    child,
                    client: DriveClient::new(channel),
                    token,
                });
            }
        }
        if Instant::now() > deadline {
            return Err(format!("the daemon did not answer within {READY_WITHIN:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Running {
    fn req<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.metadata_mut()
            .insert("token", self.token.parse().expect("a token is ASCII"));
        r
    }

    async fn open(&mut self, key: Vec<u8>) -> Result<(u64, Vec<u8>), tonic::Status> {
        let opts = proto::HyperdriveOptions {
            key,
            ..Default::default()
        };
        let rsp = self
            .client
            .get(self.req(proto::GetDriveRequest { opts: Some(opts) }))
            .await?
            .into_inner();
        Ok((rsp.id, rsp.opts.map(|o| o.key).unwrap_or_default()))
    }

    async fn write(&mut self, id: u64, path: &str, data: &[u8]) -> Result<(), tonic::Status> {
        let messages = vec![proto::WriteFileRequest {
            id,
            path: path.into(),
            chunk: data.to_vec(),
            ..Default::default()
        }];
        let request = self.req(tokio_stream::iter(messages));
        self.client.write_file(request).await?;
        Ok(())
    }

    async fn read(&mut self, id: u64, path: &str) -> Result<Vec<u8>, tonic::Status> {
        let mut stream = self
            .client
            .read_file(self.req(proto::ReadFileRequest {
                id,
                path: path.into(),
            }))
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(m) = stream.message().await? {
            out.extend_from_slice(&m.chunk);
        }
        Ok(out)
    }
}

/// A small deterministic generator, so a failing trial can be replayed from its seed.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn content(trial: u64, i: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|b| (trial.wrapping_mul(31) ^ i.wrapping_mul(7) ^ b as u64) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_before_a_sigkill_survive_it() -> TestResult {
    let trials: u64 = std::env::var("DDRIVE_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut checked = 0;
    for trial in 0..trials {
        let mut seed = 0x9e37_79b9_7f4a_7c15 ^ (trial + 1);
        let dir = tempfile::tempdir()?;
        let mut daemon = start(dir.path()).await?;
        let (id, key) = daemon.open(Vec::new()).await?;
        // Between 1 and 24 acknowledged writes, of up to 200 KiB each, before the kill.
        let writes = 1 + next(&mut seed) % 24;
        let mut acked = Vec::new();
        for i in 0..writes {
            let len = (next(&mut seed) % (200 * 1024)) as usize;
            let path = format!("/t{trial}/f{i}.bin");
            daemon.write(id, &path, &content(trial, i, len)).await?;
            acked.push((path, i, len));
        }
        daemon.child.kill()?;
        daemon.child.wait()?;

        let mut daemon = start(dir.path()).await?;
        let (id, reopened) = daemon.open(key.clone()).await?;
        assert_eq!(
            reopened, key,
            "trial {trial}: the drive reopens under its key"
        );
        for (path, i, len) in &acked {
            let got = daemon.read(id, path).await.map_err(|e| {
                format!("trial {trial}: acknowledged write {path} lost after SIGKILL: {e}")
            })?;
            assert!(
                got == content(trial, *i, *len),
                "trial {trial}: {path} reads back different bytes after SIGKILL"
            );
            checked += 1;
        }
        daemon.child.kill()?;
        daemon.child.wait()?;
    }
    println!("{trials} SIGKILL trials, {checked} acknowledged writes read back intact");
    Ok(())
}
