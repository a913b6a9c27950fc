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
//! - Drive commands over the daemon's gRPC API (no FUSE needed). A drive is named by its key
//!   (64 hex characters) or `hyper://<key>`, either optionally followed by `/path`; `info`,
//!   `seed`, `unseed` and `stats` also take a folder holding an import or export key file.
//!   `create [--no-seed]` prints the new key; `info`, `seed`/`unseed` (`--no-lookup`,
//!   `--no-announce`, `--no-remember`), `stats`; `ls [-r] [-l]`, `cat`, `put [--file F]`
//!   (stdin by default), `rm [-r]`, `mkdir [-p]`; `diff --from N [--to M]`, `log [-n N]`;
//!   `ls`, `cat` and `info` read a past version with `--version N`.
//! - `import [dir] [key] [--no-seed] [--watch] [--dereference]` and `export [key] [dir]
//!   [--watch] [--recursive] [--delete]`: one pass by default, live with `--watch`; the key is
//!   kept in `.ddrive-import-key` / `.ddrive-export-key` (32 raw bytes, as the Node CLI writes
//!   its `.hyperdrive-*-key` files, which are read too) so the next run resumes; files whose
//!   size and modification time match are skipped. Ctrl-C stops at once (unfinished
//!   transfers are dropped, never half-kept) with exit 130; Ctrl-C while `--watch` waits for
//!   changes ends it with exit 0.
//! - `cleanup:remove-readonly-drives` (only while the daemon is stopped), `fuse-setup`,
//!   `completions <shell>`, `man`, `service install [--enable]|uninstall` (a systemd user
//!   unit, `Type=notify`: `start --foreground` sends READY=1 once it serves).
//!
//! # Output for scripts
//! With `--json`, short commands print one JSON document on stdout (fields are only ever
//! added). `import` and `export` print JSON Lines, each with a `message_type`:
//! - `status`: progress, at most once a second: `percent_done`, `files_done`, `total_files`,
//!   `bytes_done`, `total_bytes`, `seconds_elapsed`, `seconds_remaining` (null until known);
//!   with `--watch`, `{"watching": ...}` once ready and `{"synced": [paths], "version"}` after
//!   each change;
//! - `summary`: the last line: `key`, `url`, `version`, `files_put`/`files_written`,
//!   `bytes_put`/`bytes_written`, `removed`, `skipped`, `seconds`, `interrupted` (and
//!   `dirs_made` for import);
//! - `error` (on stderr, for every command): `code` (the exit code) and `message`.
//!
//! Without `--json`, progress goes to stderr: an indicatif bar (files, bytes, rate, ETA) on a
//! terminal, a plain line a second otherwise.
//!
//! # Exit codes
//! 0 success, 1 failure, 2 bad usage, 3 daemon not running, 4 bad key, 5 path not in the
//! drive, 6 drive read-only, 7 daemon did not answer in time, 130 interrupted (the table is
//! in `ddrive --help` and the man page).
//!
//! Every call to the daemon has a deadline (the daemon's Unix socket is preferred to TCP): 5 s
//! for a call, longer for an upload in
//! proportion to its size, 30 s between two chunks of a download.
//!
//! Hand-written on purpose: the systemd unit is a short text template and key files are 32
//! raw bytes; neither needs a library.

mod client;
mod cmd;
mod commands;
mod exit;
mod extras;
mod interrupt;
mod key;
mod output;
mod parallel;
mod progress;
mod session;
mod socket;
mod tree;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// ddrive: peer-to-peer drives (Hyperdrive 10) served by a local daemon.
#[derive(Debug, Parser)]
#[command(name = "ddrive", version, after_long_help = exit::EXIT_CODES)]
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
    /// Create a new drive and print its key.
    Create(cmd::create::CreateArgs),
    /// Show a drive's key, version, writability and network configuration.
    Info(cmd::info::InfoArgs),
    /// Seed a drive on the network (look it up, announce it, remember that).
    Seed(cmd::seed::SeedArgs),
    /// Stop seeding a drive (its data stays on disk).
    Unseed(cmd::seed::UnseedArgs),
    /// Show a drive's blocks, bytes and peers.
    Stats(cmd::stats::StatsArgs),
    /// List a directory of a drive.
    Ls(cmd::ls::LsArgs),
    /// Print a file of a drive.
    Cat(cmd::cat::CatArgs),
    /// Store a file (or stdin) in a drive.
    Put(cmd::put::PutArgs),
    /// Remove a file (or with -r a directory) from a drive.
    Rm(cmd::rm::RmArgs),
    /// Make a directory in a drive.
    Mkdir(cmd::mkdir::MkdirArgs),
    /// Show what changed in a drive between two versions.
    Diff(cmd::history::DiffArgs),
    /// Show a drive's versions, newest first, with what each changed.
    Log(cmd::history::LogArgs),
    /// Import a folder into a drive (once, or with --watch continuously).
    Import(cmd::import::ImportArgs),
    /// Export a drive into a folder (once, or with --watch continuously).
    Export(cmd::export::ExportArgs),
    /// Delete the cores of drives this daemon cannot write (only while it is stopped).
    #[command(name = "cleanup:remove-readonly-drives")]
    CleanupRemoveReadonlyDrives(cmd::cleanup::CleanupArgs),
    /// Check what FUSE mounts need and create the mountpoint.
    FuseSetup(cmd::fuse_setup::FuseSetupArgs),
    /// Print shell completions.
    Completions(cmd::generate::CompletionsArgs),
    /// Print the man page.
    Man,
    /// Install or remove the systemd user unit that runs the daemon.
    Service(cmd::service::ServiceArgs),
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
    let ctx = cmd::Ctx {
        storage: storage.clone(),
        out: output::Out { json: cli.json },
    };
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
        Command::Create(a) => cmd::create::run(&ctx, a),
        Command::Info(a) => cmd::info::run(&ctx, a),
        Command::Seed(a) => cmd::seed::seed(&ctx, a),
        Command::Unseed(a) => cmd::seed::unseed(&ctx, a),
        Command::Stats(a) => cmd::stats::run(&ctx, a),
        Command::Ls(a) => cmd::ls::run(&ctx, a),
        Command::Cat(a) => cmd::cat::run(&ctx, a),
        Command::Put(a) => cmd::put::run(&ctx, a),
        Command::Rm(a) => cmd::rm::run(&ctx, a),
        Command::Mkdir(a) => cmd::mkdir::run(&ctx, a),
        Command::Diff(a) => cmd::history::diff(&ctx, a),
        Command::Log(a) => cmd::history::log(&ctx, a),
        Command::Import(a) => cmd::import::run(&ctx, a),
        Command::Export(a) => cmd::export::run(&ctx, a),
        Command::CleanupRemoveReadonlyDrives(a) => cmd::cleanup::run(&ctx, a),
        Command::FuseSetup(a) => cmd::fuse_setup::run(&ctx, a),
        Command::Completions(a) => cmd::generate::completions(a),
        Command::Man => cmd::generate::man(),
        Command::Service(a) => cmd::service::run(&ctx, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = exit::exit_of(&e);
            // A coded failure is one line; anything else keeps its causes.
            let message = match e.downcast_ref::<exit::Fail>() {
                Some(f) => f.message.clone(),
                None => format!("{e:#}"),
            };
            ctx.out.error(code, &message);
            code.into()
        }
    }
}
