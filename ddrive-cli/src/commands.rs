//! What each subcommand does.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ddrive_daemon::{Bootstrap, Config, Daemon, LogFormat};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::StartArgs;
use crate::client::DaemonClient;

/// How long `start` waits for a background daemon to answer.
const START_WAIT: Duration = Duration::from_secs(15);
/// How long `stop` waits for the daemon to be gone.
const STOP_WAIT: Duration = Duration::from_secs(10);

const NOT_RUNNING: &str = "The ddrive daemon is not running.";

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn pid_file(storage: &Path) -> PathBuf {
    storage.join("daemon.pid")
}

/// Whether a daemon answers `status` at the endpoint `config.json` names.
async fn answering(storage: &Path) -> Option<(DaemonClient, ddrive_daemon::proto::StatusResponse)> {
    let client = DaemonClient::connect(storage).await.ok()??;
    let status = client.status().await.ok()?;
    Some((client, status))
}

pub(crate) fn start(storage: PathBuf, args: StartArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    if let Some((_, _)) = rt.block_on(answering(&storage)) {
        let endpoint = ddrive_daemon::ClientConfig::read(&storage)
            .map(|c| c.endpoint)
            .unwrap_or_default();
        println!("The ddrive daemon is already running on {endpoint}.");
        return Ok(ExitCode::SUCCESS);
    }
    if args.foreground {
        return rt.block_on(run_foreground(storage, args));
    }
    let log_dir = storage.join("log");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log_path = log_dir.join("daemon.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let exe = std::env::current_exe().context("cannot find the ddrive executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--storage")
        .arg(&storage)
        .args(["start", "--foreground", "--detach-session"])
        .args([
            "--host",
            &args.host.to_string(),
            "--port",
            &args.port.to_string(),
        ])
        .args(["--swarm-port", &args.swarm_port.to_string()])
        .args([
            "--log-level",
            &args.log_level,
            "--log-format",
            &args.log_format,
        ]);
    if !args.bootstrap.is_empty() {
        cmd.args(["--bootstrap", &args.bootstrap]);
    }
    if args.memory_only {
        cmd.arg("--memory-only");
    }
    if args.no_announce {
        cmd.arg("--no-announce");
    }
    if let Some(mountpoint) = &args.mountpoint {
        cmd.arg("--mountpoint").arg(mountpoint);
    }
    if args.no_fuse {
        cmd.arg("--no-fuse");
    }
    if args.allow_other {
        cmd.arg("--allow-other");
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot share the log file")?)
        .stderr(log);
    let mut child = cmd.spawn().context("cannot start the daemon process")?;
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Some(exit) = child
            .try_wait()
            .context("cannot watch the daemon process")?
        {
            bail!(
                "the daemon exited at start ({exit}); see {}",
                log_path.display()
            );
        }
        if rt.block_on(answering(&storage)).is_some() {
            let endpoint = ddrive_daemon::ClientConfig::read(&storage)?.endpoint;
            println!("ddrive daemon listening on {endpoint}");
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            bail!(
                "the daemon did not answer within {} s; see {}",
                START_WAIT.as_secs(),
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn init_logging(args: &StartArgs) -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter: tracing_subscriber::filter::Targets = args
        .log_level
        .parse()
        .with_context(|| format!("bad --log-level {:?}", args.log_level))?;
    let registry = tracing_subscriber::registry().with(filter);
    if args.log_format == "json" {
        registry
            .with(tracing_subscriber::fmt::layer().json())
            .try_init()?;
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()?;
    }
    Ok(())
}

async fn run_foreground(storage: PathBuf, args: StartArgs) -> Result<ExitCode> {
    if args.detach_session {
        // Leaves the terminal's session, so closing the terminal does not stop the daemon.
        nix::unistd::setsid().context("setsid")?;
    }
    init_logging(&args)?;
    let config = Config {
        storage: storage.clone(),
        host: args.host,
        port: args.port,
        memory_only: args.memory_only,
        bootstrap: Bootstrap::parse(&args.bootstrap),
        no_announce: args.no_announce,
        swarm_port: args.swarm_port,
        log_level: args.log_level.clone(),
        log_format: if args.log_format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        },
        token: std::env::var("DDRIVE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(ddrive_daemon::Token::new),
        mountpoint: (!args.no_fuse).then(|| {
            args.mountpoint
                .clone()
                .unwrap_or_else(ddrive_daemon::default_mountpoint)
        }),
        allow_other: args.allow_other,
        // Swarm host, LAN discovery and the block timeout keep the daemon's defaults.
        ..Config::default()
    };
    let mut daemon = Daemon::start(config)
        .await
        .context("cannot start the daemon")?;
    let pid_path = pid_file(&storage);
    std::fs::write(&pid_path, std::process::id().to_string())
        .with_context(|| format!("cannot write {}", pid_path.display()))?;
    println!(
        "ddrive daemon listening on {}",
        daemon.client_config().endpoint
    );
    // Under systemd (`ddrive service install`, Type=notify) the unit is up once the API serves.
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot tell systemd the daemon is ready: {e}");
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let failed = tokio::select! {
        _ = term.recv() => None,
        _ = tokio::signal::ctrl_c() => None,
        result = daemon.wait() => Some(result),
    };
    let _ = std::fs::remove_file(&pid_path);
    match failed {
        Some(result) => {
            result.context("the daemon's server failed")?;
            Ok(ExitCode::FAILURE)
        }
        None => {
            tracing::info!("stopping");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            daemon
                .shutdown()
                .await
                .context("the daemon did not shut down cleanly")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn force_unmount(mountpoint: Option<PathBuf>) -> Result<ExitCode> {
    let mountpoint = mountpoint.unwrap_or_else(ddrive_daemon::default_mountpoint);
    let n = ddrive_daemon::force_unmount(&mountpoint)
        .with_context(|| format!("cannot unmount {}", mountpoint.display()))?;
    if n == 0 {
        println!("Nothing is mounted at {}.", mountpoint.display());
    } else {
        println!("Unmounted {}.", mountpoint.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stop(storage: &Path) -> Result<ExitCode> {
    let rt = runtime()?;
    let pid_path = pid_file(storage);
    let pid = std::fs::read_to_string(&pid_path)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    // Only signal a pid that a live daemon wrote: a stale file could name another process.
    let (Some(pid), Some(_)) = (pid, rt.block_on(answering(storage))) else {
        let _ = std::fs::remove_file(&pid_path);
        println!("{NOT_RUNNING}");
        return Ok(ExitCode::SUCCESS);
    };
    let pid = Pid::from_raw(pid);
    kill(pid, Signal::SIGTERM).with_context(|| format!("cannot signal the daemon (pid {pid})"))?;
    let deadline = Instant::now() + STOP_WAIT;
    while kill(pid, None).is_ok() {
        if Instant::now() >= deadline {
            bail!(
                "the daemon (pid {pid}) did not stop within {} s",
                STOP_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("The ddrive daemon has been stopped.");
    Ok(ExitCode::SUCCESS)
}

fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{} Days {} Hours {} Minutes {} Seconds",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60,
        s % 60
    )
}

pub(crate) fn status(storage: &Path) -> Result<ExitCode> {
    let rt = runtime()?;
    let Some((client, status)) = rt.block_on(answering(storage)) else {
        println!("{NOT_RUNNING}");
        return Ok(ExitCode::FAILURE);
    };
    let stats = rt.block_on(client.all_stats())?;
    let peers: u64 = stats
        .iter()
        .flat_map(|d| &d.stats)
        .filter_map(|m| m.metadata.as_ref())
        .map(|c| u64::from(c.peers))
        .sum();
    println!("API Version:        {}", status.api_version);
    println!("Daemon Version:     {}", status.daemon_version);
    println!("Schema Version:     {}", status.schema_version);
    println!("Hyperdrive Version: {}", status.hyperdrive_version);
    println!("Fuse Available:     {}", status.fuse_available);
    println!("Uptime:             {}", uptime(status.uptime));
    println!("Open Drives:        {}", stats.len());
    println!(
        "Peers:              {} ({peers} on open drives)",
        status.peer_count
    );
    println!("Holepunchable:      {}", status.holepunchable);
    println!("Remote Address:     {}", status.remote_address);
    println!(
        "DHT:                {} ({} nodes)",
        status.dht_state, status.dht_nodes
    );
    if status.swarm_port == 0 {
        println!("Swarm:              not running ({})", status.swarm_error);
    } else {
        println!("Swarm Port:         {}", status.swarm_port);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptime_reads_like_node() {
        assert_eq!(
            super::uptime(90_061_000),
            "1 Days 1 Hours 1 Minutes 1 Seconds"
        );
    }
}
