//! [`Corestore::replicate`]: every core of a view on one hypercore-protocol session.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hypercore::protocol::SessionConfig;
use hypercore::replicate::{
    ReplicateError, Replication, StreamExtensions, replicate_with_extensions,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::channel;

use crate::error::{Error, Result};
use crate::store::{Corestore, SESSION_LOAD_QUEUE, SharedFeed, Stream, lock};

impl Corestore {
    /// Replicates this view's cores with the peer at the other end of `io`, on one
    /// hypercore-protocol session, until the transport ends (JS `corestore.replicate`).
    ///
    /// The session starts with the loaded cores (the root view: every loaded core; a namespace
    /// view: the cores asked for through it). Every core any view loads later joins it (a
    /// drive's content feed once its header arrives, a mount once it is opened). A core the
    /// remote opens by discovery key is replicated only if this store holds it (loaded, or in
    /// its folder). Any other is refused with `Close`, as JS does, by a non-live session; a live
    /// one leaves the remote's channel half open, so the core opens without a round trip if a
    /// view loads it later (the remote drive's content feed). Each core replicates as its
    /// [`SharedFeed`] says: sparse by default, so blocks move when a reader waits on them or a
    /// [`download`](hypercore::replicate::SharedFeed::download) asks for a range.
    ///
    /// Cores loaded while the session runs wait for it in a queue of at most
    /// [`SESSION_LOAD_QUEUE`](crate::SESSION_LOAD_QUEUE); a session whose task is starved that
    /// long (the application loads cores faster than the runtime runs the session) is ended
    /// with [`Error::SessionBehind`], and a daemon redials as after any dropped connection.
    ///
    /// A session holds every core it carries (those loaded when it started, and every one
    /// loaded since) until it ends: they are in use, so the open-file budget
    /// ([`set_open_file_budget`](Self::set_open_file_budget)) closes none of them meanwhile,
    /// and is exceeded by as many cores as the session carries (at most
    /// [`MAX_CHANNELS`](hypercore::protocol::MAX_CHANNELS)). Once it ends they are idle again,
    /// and the next load closes them as the budget needs.
    ///
    /// The returned [`Replication`] owns what it needs (a clone of the `Arc`): spawn it, one
    /// task per connection, and keep its [`handle`](Replication::handle) for the peer's keys,
    /// the counters and [`cancel`](hypercore::replicate::ReplicationHandle::cancel). Closing
    /// the store ends it with [`Error::Closed`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use corestore::{Corestore, Error};
    /// use hypercore::protocol::SessionConfig;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let a = Arc::new(Corestore::in_memory()?);
    /// let b = Arc::new(Corestore::in_memory()?);
    /// let feed = a.get_by_name("notes")?;
    /// feed.append(b"hello")?;
    ///
    /// let (x, y) = tokio::io::duplex(64 * 1024);
    /// let live = |initiator| {
    ///     let mut config = SessionConfig::new(initiator);
    ///     config.live = true;
    ///     config
    /// };
    /// let (sa, sb) = (a.replicate(x, live(true)), b.replicate(y, live(false)));
    /// let (ha, hb) = (sa.handle(), sb.handle());
    /// let (ta, tb) = (tokio::spawn(sa), tokio::spawn(sb));
    ///
    /// // Both static keys, for hyperswarm's dedup; a stream extension on the running session.
    /// let peer = hb.handshake().await?;
    /// assert_eq!(peer.remote_public_key, ha.info().local_public_key);
    /// let mut a_chat = ha.register_extension("chat")?;
    /// let b_chat = hb.register_extension("chat")?;
    /// b_chat.send(b"hi").await?;
    /// assert_eq!(a_chat.recv().await.as_deref(), Some(&b"hi"[..]));
    ///
    /// // B reads A's core over the session, and the handle counts it.
    /// assert_eq!(b.get_by_key(feed.key())?.get(0).await?, b"hello");
    /// assert_eq!(hb.info().total.downloaded_blocks, 1);
    ///
    /// // Closing A's store ends the session on both sides.
    /// a.close()?;
    /// assert!(matches!(ta.await?, Err(Error::Closed)));
    /// let _ = tb.await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn replicate<T>(
        self: &Arc<Self>,
        io: T,
        config: SessionConfig,
    ) -> Replication<impl Future<Output = Result<()>> + use<T>>
    where
        T: AsyncRead + AsyncWrite,
    {
        self.replicate_inner(io, config, None)
    }

    /// [`replicate`](Self::replicate) with stream-level extensions on the session (JS
    /// `stream.registerExtension(name, handlers)` on the stream `corestore.replicate`
    /// returns): made by [`hypercore::replicate::stream_extensions`], sent on channel 0 to the
    /// one peer of this session, and received from it when it registered the same name.
    pub fn replicate_with_extensions<T>(
        self: &Arc<Self>,
        io: T,
        config: SessionConfig,
        extensions: StreamExtensions,
    ) -> Replication<impl Future<Output = Result<()>> + use<T>>
    where
        T: AsyncRead + AsyncWrite,
    {
        self.replicate_inner(io, config, Some(extensions))
    }

    fn replicate_inner<T>(
        self: &Arc<Self>,
        io: T,
        config: SessionConfig,
        extensions: Option<StreamExtensions>,
    ) -> Replication<impl Future<Output = Result<()>> + use<T>>
    where
        T: AsyncRead + AsyncWrite,
    {
        let (added, rx) = channel(SESSION_LOAD_QUEUE);
        let behind = Arc::new(AtomicBool::new(false));
        let store = Arc::clone(self);
        let find = move |dk: &[u8; 32]| match store.get_by_discovery_key(dk) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(discovery_key = %hex::encode(dk), error = %e, "cannot open a core the peer asked for");
                None
            }
        };
        // The cores are listed and the session registered under the sessions' lock, which a
        // core being loaded takes to join the sessions: a core is either listed or sent, once.
        let mut streams = lock(&self.shared.streams);
        streams.retain(|s| !s.added.is_closed());
        let (initial, closed): (Vec<SharedFeed>, bool) = if self.namespaced {
            let state_closed = lock(&self.shared.state).cores.is_none();
            let cores = self.list().into_iter().map(|(_, feed)| feed).collect();
            (cores, state_closed)
        } else {
            let state = lock(&self.shared.state);
            match state.cores.as_ref() {
                Some(cores) => (cores.feeds().cloned().collect(), false),
                None => (Vec::new(), true),
            }
        };
        let session = replicate_with_extensions(io, config, &initial, Some(rx), find, extensions);
        let handle = session.handle();
        if closed {
            handle.cancel();
        } else {
            streams.push(Stream {
                added,
                handle: handle.clone(),
                behind: Arc::clone(&behind),
            });
        }
        drop(streams);
        let shared = Arc::clone(&self.shared);
        let (handle, session) = session.into_parts();
        Replication::from_parts(handle, async move {
            match session.await {
                Ok(()) => Ok(()),
                Err(ReplicateError::Cancelled) if lock(&shared.state).cores.is_none() => {
                    Err(Error::Closed)
                }
                Err(ReplicateError::Cancelled) if behind.load(Ordering::Relaxed) => {
                    Err(Error::SessionBehind)
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}
