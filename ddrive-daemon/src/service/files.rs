//! File contents in and out as streams of chunks, with bounded memory on both sides: reads
//! hold at most a few chunks queued for a slow client, and writes stream into the drive as
//! chunks arrive (Node's daemon buffered whole files for `writeFile`).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxStream;
use tonic::{Status, Streaming};

use super::{App, blocking, check_path, convert, drive::failed};
use crate::drives::Session;
use crate::proto;

/// Chunks queued per read stream before the reader waits for the client.
const READ_QUEUE: usize = 2;
/// Chunks queued per write stream before the client waits for the drive.
const WRITE_QUEUE: usize = 4;

/// Streams `length` bytes (to the end when `None`) of the file at `path` from `start`, in
/// chunks of at most [`crate::CHUNK_SIZE`]. A missing path fails before the stream starts; a
/// failure later ends the stream with its status.
pub(crate) async fn read_stream<T: Send + 'static>(
    op: &'static str,
    s: Arc<Session>,
    path: String,
    start: u64,
    length: Option<u64>,
    wrap: fn(Vec<u8>) -> T,
) -> Result<BoxStream<T>, Status> {
    let opened = s.clone();
    let p = path.clone();
    let mut reader = blocking(op, move || {
        let mut reader = opened
            .drive
            .sync()
            .open_reader(&p)
            .map_err(failed(op, &opened, &p))?;
        reader.seek(SeekFrom::Start(start)).map_err(|e| {
            Status::invalid_argument(format!(
                "{op} {p} on drive {}: cannot seek to {start}: {e}",
                opened.key_hex()
            ))
        })?;
        Ok(reader)
    })
    .await?;
    let (tx, rx) = mpsc::channel::<Result<T, Status>>(READ_QUEUE);
    tokio::task::spawn_blocking(move || {
        let mut left = length.unwrap_or(u64::MAX);
        while left > 0 {
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(crate::CHUNK_SIZE);
            let mut chunk = vec![0u8; want];
            let mut filled = 0;
            while filled < want {
                match reader.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => {
                        // A block that no peer sent in time is a timeout, not a bug.
                        let code = match e.kind() {
                            std::io::ErrorKind::TimedOut => tonic::Code::DeadlineExceeded,
                            std::io::ErrorKind::WouldBlock => tonic::Code::Unavailable,
                            std::io::ErrorKind::NotFound => tonic::Code::NotFound,
                            _ => tonic::Code::Internal,
                        };
                        let status =
                            Status::new(code, format!("{op} {path} on drive {}: {e}", s.key_hex()));
                        let _ = tx.blocking_send(Err(status));
                        return;
                    }
                }
            }
            if filled == 0 {
                break;
            }
            chunk.truncate(filled);
            left -= filled as u64;
            if tx.blocking_send(Ok(wrap(chunk))).is_err() {
                // The client went away.
                return;
            }
            if filled < want {
                break;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

enum Piece {
    Chunk(Vec<u8>),
    Finish,
}

/// Writes the file a client streams: the first message names the session, the path and the
/// Stat options; every message may carry a chunk (empty ones are skipped). The file exists
/// only once the client ends its stream; a stream that breaks first leaves nothing behind.
pub(crate) async fn write_stream<M, F>(
    op: &'static str,
    app: Arc<App>,
    mut inbound: Streaming<M>,
    parts: F,
) -> Result<(), Status>
where
    M: Send + 'static,
    F: Fn(M) -> (u64, String, Vec<u8>, Option<proto::Stat>) + Send,
{
    let first = inbound.message().await?.ok_or_else(|| {
        Status::invalid_argument(format!("{op}: the stream ended before its first message"))
    })?;
    let (id, path, chunk, opts) = parts(first);
    let s = app.drives.session(op, id)?;
    let path = check_path(op, &path)?.to_owned();
    s.writable(op, &path)?;
    let options = convert::write_options(opts.as_ref());
    let (tx, mut rx) = mpsc::channel::<Piece>(WRITE_QUEUE);
    let (ws, wp) = (s.clone(), path.clone());
    let writer = tokio::task::spawn_blocking(move || -> Result<bool, Status> {
        let mut w = ws
            .drive
            .sync()
            .open_writer(&wp, options)
            .map_err(failed(op, &ws, &wp))?;
        while let Some(piece) = rx.blocking_recv() {
            match piece {
                Piece::Chunk(c) => w.write(&c).map_err(failed(op, &ws, &wp))?,
                Piece::Finish => {
                    w.finish().map_err(failed(op, &ws, &wp))?;
                    return Ok(true);
                }
            }
        }
        // Dropped unfinished: the Stat is never put, so no file appears.
        Ok(false)
    });
    let mut next = Some(chunk);
    let broken = loop {
        if let Some(c) = next.take().filter(|c| !c.is_empty())
            && tx.send(Piece::Chunk(c)).await.is_err()
        {
            // The writer stopped on an error; it reports it below.
            break None;
        }
        match inbound.message().await {
            Ok(Some(m)) => next = Some(parts(m).2),
            Ok(None) => {
                let _ = tx.send(Piece::Finish).await;
                break None;
            }
            Err(status) => break Some(status),
        }
    };
    drop(tx);
    let finished = writer.await.map_err(|e| {
        Status::internal(format!(
            "{op} {path} on drive {}: the write task failed: {e}",
            s.key_hex()
        ))
    })??;
    match (broken, finished) {
        (Some(status), _) => Err(Status::aborted(format!(
            "{op} {path} on drive {}: the client's stream broke, nothing was written: {}",
            s.key_hex(),
            status.message()
        ))),
        (None, true) => s.durable(op, &path).await,
        (None, false) => Err(Status::internal(format!(
            "{op} {path} on drive {}: the write stopped before its end",
            s.key_hex()
        ))),
    }
}
