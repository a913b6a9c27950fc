//! Accepting TCP connections without spinning when accepting fails.
//!
//! `accept` fails for reasons that last: EMFILE/ENFILE (no descriptor left until one closes),
//! ENOBUFS, ENOMEM. Retrying at once would turn the swarm's task into a busy loop that starves
//! everything else on its thread, so each failure doubles a pause before the next attempt
//! (10 ms up to 1 s), and a success resets it.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The first pause after a failed accept.
pub(crate) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause between two attempts while accepting keeps failing.
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Where incoming TCP connections come from: a listener, or a stand-in in tests.
pub(crate) trait Listen {
    /// [`TcpListener::poll_accept`].
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>>;
}

impl Listen for TcpListener {
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        TcpListener::poll_accept(self, cx)
    }
}

/// A listener (or none) and the pause its failures earned.
#[derive(Debug)]
pub(crate) struct Acceptor<L> {
    listener: Option<L>,
    /// No attempt before this: the last one failed.
    retry_at: Option<Instant>,
    delay: Duration,
}

impl<L: Listen> Acceptor<L> {
    pub(crate) fn new(listener: Option<L>) -> Self {
        Acceptor {
            listener,
            retry_at: None,
            delay: ACCEPT_BACKOFF_MIN,
        }
    }

    /// The next incoming connection; never, without a listener. Cancel-safe: a pause that is
    /// interrupted is still owed by the next call.
    pub(crate) async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let Acceptor {
            listener,
            retry_at,
            delay,
        } = self;
        let Some(listener) = listener.as_ref() else {
            return std::future::pending().await;
        };
        loop {
            if let Some(at) = *retry_at {
                tokio::time::sleep_until(at).await;
                *retry_at = None;
            }
            match poll_fn(|cx| listener.poll_accept(cx)).await {
                Ok(conn) => {
                    *delay = ACCEPT_BACKOFF_MIN;
                    return conn;
                }
                Err(e) => {
                    tracing::debug!(error = %e, pause = ?*delay, "accept failed");
                    *retry_at = Some(Instant::now() + *delay);
                    *delay = (*delay * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
    }

    /// Closes the listener.
    pub(crate) fn close(&mut self) {
        self.listener = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A listener out of descriptors: every attempt fails with EMFILE. After `limit` attempts it
    /// stops answering, so that code without a backoff ends the test with a count instead of
    /// spinning forever.
    struct OutOfFiles {
        attempts: AtomicU64,
        limit: u64,
    }

    impl Listen for OutOfFiles {
        fn poll_accept(&self, _: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
            if self.attempts.fetch_add(1, Ordering::Relaxed) >= self.limit {
                return Poll::Pending;
            }
            Poll::Ready(Err(io::Error::from_raw_os_error(24))) // EMFILE
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failing_accepts_back_off_instead_of_spinning() {
        let mut acceptor = Acceptor::new(Some(OutOfFiles {
            attempts: AtomicU64::new(0),
            limit: 10_000,
        }));
        // Ten (paused, simulated) seconds of a listener that keeps failing.
        let window = Duration::from_secs(10);
        let outcome = tokio::time::timeout(window, acceptor.accept()).await;
        assert!(outcome.is_err(), "nothing can be accepted");
        let attempts = acceptor
            .listener
            .as_ref()
            .map_or(0, |l| l.attempts.load(Ordering::Relaxed));
        // 10 ms doubling to 1 s: 8 attempts reach the cap (2.55 s), then one a second.
        assert!(attempts >= 10, "it kept trying: {attempts}");
        assert!(
            attempts <= 20,
            "{attempts} attempts in {window:?}: accept errors spin"
        );
        // The pause is owed across calls, and a success would reset it.
        assert_eq!(acceptor.delay, ACCEPT_BACKOFF_MAX);
        assert!(acceptor.retry_at.is_some());
    }
}
