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

enum Piece {
    Chunk(Vec<u8>),
    End,
}

/// The chunks of a file being read, as a request body that ends only after the reader's end
/// of file: when the reading stops early (an error, Ctrl-C), the body never ends, so the
/// call breaks off with the connection and the daemon keeps nothing, instead of committing
/// a file cut short.
struct Body {
    rx: tokio::sync::mpsc::Receiver<Piece>,
    ended: bool,
}

impl tokio_stream::Stream for Body {
    type Item = Vec<u8>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Vec<u8>>> {
        use std::task::Poll;
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Piece::Chunk(c))) => Poll::Ready(Some(c)),
            Poll::Ready(Some(Piece::End)) => {
                self.ended = true;
                Poll::Ready(None)
            }
            // The reader stopped before its end: never end the body.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

/// Uploads what `reader` holds to `path` (`size` bytes, for the deadline), reading on a
/// blocking thread so a pipe that trickles in never stalls the runtime; the bytes sent.
pub(crate) async fn upload(
    s: &crate::session::DriveSession,
    path: &str,
    size: u64,
    opts: proto::Stat,
    mut reader: impl Read + Send + 'static,
) -> Result<u64> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let mut reading = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
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
            if (filled > 0 || first) && tx.blocking_send(Piece::Chunk(chunk)).is_err() {
                return Ok(total);
            }
            first = false;
            if filled == 0 {
                let _ = tx.blocking_send(Piece::End);
                return Ok(total);
            }
        }
    });
    let body = Body { rx, ended: false };
    let write = s.write(path, size, opts, body);
    tokio::pin!(write);
    // A read error ends the upload at once (the body then never ends; see `Body`).
    let read = tokio::select! {
        written = &mut write => {
            written?;
            reading.await
        }
        read = &mut reading => {
            let read = read.context("the reading task failed")?.context("cannot read the input")?;
            write.await?;
            return Ok(read);
        }
    };
    read.context("the reading task failed")?
        .context("cannot read the input")
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
            let opts = proto::Stat {
                mode,
                ..Default::default()
            };
            // Stdin's size is unknown: allow an hour.
            let deadline_size = if file.is_some() { size } else { 14 << 30 };
            let written = upload(s, &target.path, deadline_size, opts, reader).await?;
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
