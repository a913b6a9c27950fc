//! Session ids: small integers handed out by `Drive.get`, reused after `close`, never 0 (the
//! Node client sends 0 for "no session").

use std::sync::Arc;

/// At most this many sessions are open at once; a client that opens more without closing any
/// gets RESOURCE_EXHAUSTED instead of growing the table.
pub(crate) const MAX_SESSIONS: usize = 65_536;

/// A table of values by session id.
#[derive(Debug)]
pub(crate) struct Sessions<T> {
    /// Slot `i` holds session `i`; slot 0 is never used.
    slots: Vec<Option<Arc<T>>>,
    /// Free slots, reused lowest-last.
    free: Vec<usize>,
    open: usize,
}

impl<T> Default for Sessions<T> {
    fn default() -> Self {
        Sessions {
            slots: vec![None],
            free: Vec::new(),
            open: 0,
        }
    }
}

impl<T> Sessions<T> {
    /// Stores `value` under a new id; `None` when [`MAX_SESSIONS`] are open.
    pub(crate) fn insert(&mut self, value: T) -> Option<u64> {
        if self.open >= MAX_SESSIONS {
            return None;
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.slots[index] = Some(Arc::new(value));
        self.open += 1;
        u64::try_from(index).ok()
    }

    /// The session with this id.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<T>> {
        let index = usize::try_from(id).ok().filter(|&i| i != 0)?;
        self.slots.get(index)?.clone()
    }

    /// Ends a session, returning its value.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Arc<T>> {
        let index = usize::try_from(id).ok().filter(|&i| i != 0)?;
        let value = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        self.open -= 1;
        Some(value)
    }

    /// Every open session's value.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<T>> {
        self.slots.iter().flatten()
    }

    /// How many sessions are open.
    pub(crate) fn len(&self) -> usize {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_at_one_and_are_reused() {
        let mut s = Sessions::default();
        assert_eq!(s.insert("a"), Some(1));
        assert_eq!(s.insert("b"), Some(2));
        assert_eq!(s.get(0), None);
        assert_eq!(s.remove(1).as_deref(), Some(&"a"));
        assert_eq!(s.get(1), None);
        assert_eq!(s.remove(1), None);
        assert_eq!(s.insert("c"), Some(1));
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(u64::MAX), None);
    }
}
