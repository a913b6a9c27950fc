//! Drives a [`Session`] over any tokio `AsyncRead + AsyncWrite` (TCP, uTP, an in-memory duplex).

use std::io::IoSlice;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Error, Event, Session, SessionConfig};

/// Read buffer size: one syscall's worth; frames larger than this are reassembled by the
/// session.
const READ_CHUNK: usize = 64 * 1024;

/// Queued pieces handed to one vectored write.
const WRITE_SLICES: usize = 16;

/// A session bound to a transport.
///
/// [`next_event`](Self::next_event) writes what the session has queued, then waits for input or
/// the session's next timer, until an event is ready. Queue messages through
/// [`session_mut`](Self::session_mut) between calls; they are written on the next
/// [`flush`](Self::flush) or `next_event`. Reading and writing alternate on one task, so a
/// caller that queues megabytes without reading relies on the peer reading concurrently, as JS
/// peers do.
#[derive(Debug)]
pub struct SessionStream<S> {
    io: S,
    session: Session,
    buf: Vec<u8>,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SessionStream<S> {
    /// Starts a session over `io` (an initiator's first handshake message is queued).
    pub fn new(io: S, config: SessionConfig) -> Self {
        SessionStream {
            io,
            session: Session::new(config, Instant::now()),
            buf: vec![0; READ_CHUNK],
            eof: false,
        }
    }

    /// The session, to inspect.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, to open channels and queue messages.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Gives back the transport and the session.
    pub fn into_inner(self) -> (S, Session) {
        (self.io, self.session)
    }

    /// Writes everything the session has queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        let mut wrote = false;
        while self.session.transmit_len() > 0 {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let queued = self.session.transmit_slices(&mut slices);
            let written = match self.io.write_vectored(&slices[..queued]).await {
                Ok(0) => Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => Ok(n),
                Err(err) => Err(err),
            };
            match written {
                Ok(n) => self.session.advance_transmit(n, Instant::now()),
                Err(err) => return Err(self.io_failed(err)),
            }
            wrote = true;
        }
        if wrote && let Err(err) = self.io.flush().await {
            return Err(self.io_failed(err));
        }
        Ok(())
    }

    /// The next event; `Ok(None)` once the remote ended the stream cleanly (or the session was
    /// destroyed). On [`Event::Finished`] the write half has already been shut down (FIN).
    pub async fn next_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            self.flush().await?;
            if let Some(event) = self.session.poll_event() {
                if event == Event::Finished {
                    self.flush().await?;
                    if let Err(err) = self.io.shutdown().await {
                        return Err(self.io_failed(err));
                    }
                }
                return Ok(Some(event));
            }
            if self.eof || self.session.is_closed() {
                return Ok(None);
            }
            let read = match self.session.poll_timeout() {
                Some(at) => {
                    let at = tokio::time::Instant::from_std(at);
                    tokio::time::timeout_at(at, self.io.read(&mut self.buf)).await
                }
                None => Ok(self.io.read(&mut self.buf).await),
            };
            match read {
                Err(_elapsed) => self.session.handle_timeout(Instant::now())?,
                Ok(Ok(0)) => {
                    self.eof = true;
                    self.session.handle_eof()?;
                }
                Ok(Ok(n)) => self
                    .session
                    .handle_input_mut(Instant::now(), &mut self.buf[..n])?,
                Ok(Err(err)) => return Err(self.io_failed(err)),
            }
        }
    }

    fn io_failed(&mut self, err: std::io::Error) -> Error {
        self.session.destroy();
        Error::Io(err.to_string())
    }
}
