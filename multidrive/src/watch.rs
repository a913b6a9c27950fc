//! [`MultiWatcher`]: change notifications from every member, drives added later included.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use hypercore::PublicKey;
use hyperdrive::{WatchEvent, Watcher};
use tokio::sync::watch;

use crate::error::Result;
use crate::path::normalize;
use crate::union::MultiDrive;

/// Watches a path across the union ([`MultiDrive::watch`]); dropping it stops the watch.
#[derive(Debug)]
pub struct MultiWatcher {
    union: MultiDrive,
    path: String,
    watchers: Vec<(PublicKey, Watcher)>,
    generation: watch::Receiver<u64>,
}

impl MultiDrive {
    /// Watches `path` (recursively) in every member, and in members added while the watcher
    /// lives; an added member is reported as a change too (its entries join the view).
    pub fn watch(&self, path: &str) -> Result<MultiWatcher> {
        let mut w = MultiWatcher {
            union: self.clone(),
            path: normalize(path),
            watchers: Vec::new(),
            generation: self.inner.generation.subscribe(),
        };
        w.generation.mark_unchanged();
        w.sync()?;
        Ok(w)
    }
}

impl MultiWatcher {
    /// Watches the members not watched yet and forgets the ones that left; the members
    /// added, as change events.
    fn sync(&mut self) -> Result<Vec<WatchEvent>> {
        let members = self.union.members();
        self.watchers
            .retain(|(k, _)| members.iter().any(|d| d.key() == k));
        let mut added = Vec::new();
        for d in members {
            if self.watchers.iter().all(|(k, _)| k != d.key()) {
                self.watchers.push((*d.key(), d.watch(&self.path)?));
                added.push(WatchEvent {
                    key: *d.key(),
                    version: d.version(),
                });
            }
        }
        Ok(added)
    }

    /// Waits for the next change in any member (or a member joining); `None` once the union
    /// and every member are gone.
    pub async fn changed(&mut self) -> Option<WatchEvent> {
        loop {
            let next = std::future::poll_fn(|cx| {
                let membership = pin!(self.generation.changed());
                match membership.poll(cx) {
                    Poll::Ready(Ok(())) => return Poll::Ready(Some(None)),
                    Poll::Ready(Err(_)) if self.watchers.is_empty() => return Poll::Ready(None),
                    _ => {}
                }
                let mut open = false;
                for (_, w) in &mut self.watchers {
                    match pin!(w.changed()).poll(cx) {
                        Poll::Ready(Some(ev)) => return Poll::Ready(Some(Some(ev))),
                        Poll::Ready(None) => {}
                        Poll::Pending => open = true,
                    }
                }
                if open {
                    Poll::Pending
                } else {
                    Poll::Ready(None)
                }
            })
            .await;
            match next {
                None => return None,
                Some(Some(ev)) => return Some(ev),
                Some(None) => {
                    self.generation.mark_unchanged();
                    match self.sync() {
                        Ok(added) => {
                            if let Some(ev) = added.into_iter().next() {
                                return Some(ev);
                            }
                        }
                        Err(_) => return None,
                    }
                }
            }
        }
    }

    /// The change waiting, if any (never blocks; picks up members added since).
    pub fn try_changed(&mut self) -> Option<WatchEvent> {
        if self.generation.has_changed().unwrap_or(false) {
            self.generation.mark_unchanged();
            if let Ok(added) = self.sync()
                && let Some(ev) = added.into_iter().next()
            {
                return Some(ev);
            }
        }
        self.watchers.iter_mut().find_map(|(_, w)| w.try_changed())
    }
}
