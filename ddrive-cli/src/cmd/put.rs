//! `ddrive put`: a file (or stdin) into a drive.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use ddrive_daemon::proto;
use serde_json::json;

use super::{Ctx, resolve_drive, with_session};

#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The drive: key or hyper://<key>, optionally followed by /path.
    drive: String,
    /// Where in the drive (default: the path in the URL).
    path: Option<String>,
    /// The local file to store (default, or `-`: stdin).
    #[arg(long, short)]
    file: Option<PathBuf>,
}

/// Streams a reader to the daemon in chunks, reading on a blocking thread so a pipe that
/// trickles in never stalls the runtime.
pub(crate) fn chunks_of(
    mut reader: impl Read + Send + 'static,
) -> (
    tokio_stream::wrappers::ReceiverStream<Vec<u8>>,
    tokio::task::JoinHandle<std::io::Result<u64>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let reading = tokio::task::spawn_blocking(move || {
        let mut total = 0u64;
        let mut first = true;
        loop {
            let mut chunk = vec![0u8; ddrive_daemon::CHUNK_SIZE];
            let mut filled = 0;
            while filled < chunk.len() {
                match reader.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            chunk.truncate(filled);
            total += filled as u64;
            // An empty file still sends one message: it names the path.
            if (filled > 0 || first) && tx.blocking_send(chunk).is_err() {
                return Ok(total);
            }
            first = false;
            if filled == 0 {
                return Ok(total);
            }
        }
    });
    (tokio_stream::wrappers::ReceiverStream::new(rx), reading)
}

pub(crate) fn run(ctx: &Ctx, args: PutArgs) -> Result<ExitCode> {
    let target = resolve_drive(Some(&args.drive))?.join(args.path.as_deref());
    let file = args.file.filter(|f| f.as_os_str() != "-");
    let (reader, size, mode): (Box<dyn Read + Send>, u64, u32) = match &file {
        Some(f) => {
            let opened =
                std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
            let meta = opened.metadata()?;
            use std::os::unix::fs::PermissionsExt;
            (
                Box::new(opened),
                meta.len(),
                meta.permissions().mode() & 0o7777,
            )
        }
        None => (Box::new(std::io::stdin()), 0, 0),
    };
    let (written, version) = ctx.block_on(async {
        let client = ctx.client().await?;
        with_session(&client, Some(target.key), None, async |s| {
            s.require_writable()?;
            let (chunks, reading) = chunks_of(reader);
            let opts = proto::Stat {
                mode,
                ..Default::default()
            };
            // Stdin's size is unknown: allow an hour.
            let deadline_size = if file.is_some() { size } else { 14 << 30 };
            s.write(&target.path, deadline_size, opts, chunks).await?;
            let written = reading
                .await
                .context("the reading task failed")?
                .context("cannot read the input")?;
            Ok((written, s.current_version().await?))
        })
        .await
    })?;
    ctx.out.result(String::new, || {
        json!({"key": hex::encode(target.key), "path": target.path, "size": written,
                  "version": version})
    });
    Ok(ExitCode::SUCCESS)
}
