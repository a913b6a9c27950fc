//! Runs a list of transfers a few at a time, counting them into the progress, until done, a
//! failure, or Ctrl-C. On Ctrl-C the transfers in flight are left running and the command
//! exits the process ([`crate::interrupt::exit_interrupted`]): the broken connection makes
//! the daemon drop an unfinished upload, and export's partial files never get a real name.

use std::future::Future;

use anyhow::{Result, anyhow};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::interrupt::interrupted;
use crate::progress::Progress;

/// Downloads in flight at once.
pub(crate) const READ_JOBS: usize = 16;

/// `jobs` at a time; `Ok(false)` when interrupted. Each item's future answers `(files, bytes)`
/// done.
pub(crate) async fn run_all<T, F, Fut>(
    items: Vec<T>,
    jobs: usize,
    stop: &mut watch::Receiver<bool>,
    progress: &mut Progress,
    f: F,
) -> Result<bool>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(u64, u64)>> + Send + 'static,
{
    let mut set = JoinSet::new();
    let mut items = items.into_iter();
    loop {
        while set.len() < jobs.max(1) {
            match items.next() {
                Some(item) => {
                    set.spawn(f(item));
                }
                None => break,
            }
        }
        tokio::select! {
            biased;
            () = interrupted(stop) => {
                // Not aborted: dropping a call cancels its HTTP/2 stream, which the server
                // reads as a clean end of an upload and would keep the file cut short. The
                // caller exits the process instead, which breaks the connection.
                std::mem::forget(set);
                return Ok(false);
            }
            next = set.join_next() => match next {
                None => return Ok(true),
                Some(Ok(Ok((files, bytes)))) => progress.done(files, bytes),
                Some(Ok(Err(e))) => {
                    set.abort_all();
                    while set.join_next().await.is_some() {}
                    return Err(e);
                }
                Some(Err(e)) => return Err(anyhow!("a transfer task failed: {e}")),
            },
        }
    }
}
