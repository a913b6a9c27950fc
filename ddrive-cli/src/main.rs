//! `ddrive`: the command that runs the ddrive daemon and talks to it.
//!
//! - `ddrive start [--foreground] [flags]`: without `--foreground`, re-runs itself with
//!   `--foreground` in a new session (setsid), output to `<storage>/log/daemon.log`, waits (at
//!   most 15 s) until the daemon answers, and prints its endpoint; does nothing when a daemon
//!   already answers.
//! - `ddrive stop`: asks the daemon to stop (SIGTERM to the pid in `<storage>/daemon.pid`) and
//!   waits at most 10 s for it to be gone.
//! - `ddrive force-unmount [--mountpoint DIR]`: aborts and detaches a FUSE mount a killed
//!   daemon left behind (a started daemon does this by itself).
//! - `ddrive status`: versions, uptime, drives and peers; exit 1 with "The ddrive daemon is not
//!   running." when none answers.
//! - Drive administration over the daemon's `DDrive` service, on a key or `hyper://<key>`:
//!   `tag create|list|delete`, `checkout <drive> <tag|version> [dir]` (lists the directory at
//!   that version), `mv`, `delete` (drops a drive and reclaims its disk), `gc` (clears the
//!   blocks no kept version needs) and `multi create|add|remove|ls` (union drives); `--json`
//!   prints one document, and a failure one line with the exit code of the table (3 daemon not
//!   running, 4 bad key, 5 not found, 6 read-only, 7 no answer in time, 1 otherwise).
//!
//! Every call to the daemon has a deadline; the daemon's Unix socket is preferred to TCP.

mod client;
mod commands;
mod extras;
mod socket;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// ddrive: peer-to-peer drives (Hyperdrive 10) served by a local daemon.
#[derive(Debug, Parser)]
#[command(name = "ddrive", version)]
struct Cli {
    /// The daemon's state folder.
    #[arg(long, global = true, env = "DDRIVE_STORAGE")]
    storage: Option<PathBuf>,
    /// Print JSON for scripts (one document, or JSON Lines for import and export).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the daemon (in the background unless --foreground).
    Start(StartArgs),
    /// Stop the daemon.
    Stop,
    /// Show whether the daemon runs, its versions, uptime, drives and peers.
    Status,
    /// Abort and detach a FUSE mount left at the mountpoint by a daemon that died.
    ForceUnmount {
        /// The mountpoint (default ~/DDrive).
        #[arg(long)]
        mountpoint: Option<PathBuf>,
    },
    /// Create, list or delete a drive's tags (named versions).
    #[command(subcommand)]
    Tag(extras::TagCommand),
    /// List a drive's directory at a tag or version.
    Checkout(extras::CheckoutArgs),
    /// Move (rename) a file or directory in a drive.
    Mv(extras::MvArgs),
    /// Delete a drive from this daemon's storage and reclaim its disk.
    Delete(extras::DriveArg),
    /// Clear the content blocks no kept version (the latest, the tagged ones) needs.
    Gc(extras::DriveArg),
    /// Union drives: several drives read as one.
    #[command(subcommand)]
    Multi(extras::MultiCommand),
}

#[derive(Debug, Args)]
struct StartArgs {
    /// Run in this process instead of in the background.
    #[arg(long)]
    foreground: bool,
    /// The address the API listens on (no TLS: keep it on loopback).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// The API port.
    #[arg(long, default_value_t = 3101)]
    port: u16,
    /// Keep everything in memory.
    #[arg(long)]
    memory_only: bool,
    /// DHT bootstrap nodes (host:port,...), or `none` for no DHT.
    #[arg(long, default_value = "")]
    bootstrap: String,
    /// Never announce drives on the DHT.
    #[arg(long)]
    no_announce: bool,
    /// The preferred swarm port.
    #[arg(long, default_value_t = 49737)]
    swarm_port: u16,
    /// Log filter (error, warn, info, debug, trace, or per-module directives).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    /// Where the root drive is mounted with FUSE (default ~/DDrive).
    #[arg(long)]
    mountpoint: Option<PathBuf>,
    /// Do not mount the root drive.
    #[arg(long)]
    no_fuse: bool,
    /// Let other users reach the mount (allow_other), checked against the mode bits.
    #[arg(long)]
    allow_other: bool,
    /// Set by `start` for the background daemon it launches: leave the terminal's session.
    #[arg(long, hide = true)]
    detach_session: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let storage = cli
        .storage
        .unwrap_or_else(|| ddrive_daemon::Config::default().storage);
    let result = match cli.command {
        Command::Start(args) => commands::start(storage, args),
        Command::Stop => commands::stop(&storage),
        Command::Status => commands::status(&storage),
        Command::ForceUnmount { mountpoint } => commands::force_unmount(mountpoint),
        Command::Tag(c) => return extras::tag(&storage, cli.json, c),
        Command::Checkout(a) => return extras::checkout(&storage, cli.json, a),
        Command::Mv(a) => return extras::mv(&storage, cli.json, a),
        Command::Delete(a) => return extras::delete(&storage, cli.json, a),
        Command::Gc(a) => return extras::gc(&storage, cli.json, a),
        Command::Multi(c) => return extras::multi(&storage, cli.json, c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ddrive: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
