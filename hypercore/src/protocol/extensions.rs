//! Extension names and ids (`abstract-extension` 3): each side announces its names sorted, and an
//! extension message carries the index of its name in **the sender's** list.

use std::cmp::Ordering;

/// The extensions registered on a stream or a channel, and what the remote announced.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    local: Vec<String>,
    changes: u64,
    remote: Option<Vec<String>>,
    /// For each remote id, the local name it matched (the JS merge-join; assumes both sorted).
    matched: Vec<Option<usize>>,
}

/// JS orders strings by UTF-16 code units, which differs from Rust's byte order above U+FFFF.
pub fn js_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

impl Extensions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name`; `false` if it was already registered (JS throws on a duplicate), or if
    /// [`MAX_EXTENSIONS`] names are: a peer of ours would refuse the `Options` announcing more.
    ///
    /// [`MAX_EXTENSIONS`]: super::MAX_EXTENSIONS
    pub fn register(&mut self, name: &str) -> bool {
        match self.local.binary_search_by(|n| js_cmp(n, name)) {
            Ok(_) => false,
            Err(_) if self.local.len() >= super::MAX_EXTENSIONS => false,
            Err(at) => {
                self.local.insert(at, name.to_owned());
                self.changes += 1;
                self.rematch();
                true
            }
        }
    }

    /// Removes `name`; `false` if it was not registered.
    pub fn unregister(&mut self, name: &str) -> bool {
        match self.local.binary_search_by(|n| js_cmp(n, name)) {
            Ok(at) => {
                self.local.remove(at);
                self.changes += 1;
                self.rematch();
                true
            }
            Err(_) => false,
        }
    }

    /// The local names, sorted: what `Options.extensions` carries.
    pub fn names(&self) -> &[String] {
        &self.local
    }

    /// Counts changes to the local set, so a sender knows when to re-announce it.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The wire id of a local extension: its index in the sorted local names.
    pub fn id_of(&self, name: &str) -> Option<u64> {
        self.local
            .binary_search_by(|n| js_cmp(n, name))
            .ok()
            .map(|i| i as u64)
    }

    /// Records the names the remote announced (its `Options.extensions`).
    pub fn set_remote(&mut self, names: Vec<String>) {
        self.remote = Some(names);
        self.rematch();
    }

    /// The names the remote announced, if it did.
    pub fn remote_names(&self) -> Option<&[String]> {
        self.remote.as_deref()
    }

    /// The local extension a remote id refers to, if both sides registered that name.
    pub fn resolve_remote(&self, id: u64) -> Option<&str> {
        let index = usize::try_from(id).ok()?;
        let local = (*self.matched.get(index)?)?;
        self.local.get(local).map(String::as_str)
    }

    fn rematch(&mut self) {
        self.matched.clear();
        let Some(remote) = &self.remote else { return };
        self.matched.resize(remote.len(), None);
        let (mut i, mut j) = (0, 0);
        while i < self.local.len() && j < remote.len() {
            match js_cmp(&self.local[i], &remote[j]) {
                Ordering::Less => i += 1,
                Ordering::Greater => j += 1,
                Ordering::Equal => {
                    self.matched[j] = Some(i);
                    j += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_no_more_names_than_a_peer_decodes() {
        use crate::protocol::MAX_EXTENSIONS;
        let mut ext = Extensions::new();
        for i in 0..MAX_EXTENSIONS {
            assert!(ext.register(&format!("n{i}")));
        }
        assert!(!ext.register("one too many"));
        assert_eq!(ext.names().len(), MAX_EXTENSIONS);
        assert!(ext.unregister("n0"));
        assert!(ext.register("one more"));
    }

    #[test]
    fn ids_follow_sorted_order() {
        let mut ext = Extensions::new();
        assert!(ext.register("zeta"));
        assert!(ext.register("alpha"));
        assert!(!ext.register("alpha"));
        assert_eq!(ext.names(), ["alpha", "zeta"]);
        assert_eq!(ext.id_of("zeta"), Some(1));
        ext.set_remote(vec!["beta".into(), "zeta".into()]);
        assert_eq!(ext.resolve_remote(0), None);
        assert_eq!(ext.resolve_remote(1), Some("zeta"));
        assert_eq!(ext.resolve_remote(2), None);
        assert!(ext.unregister("zeta"));
        assert_eq!(ext.resolve_remote(1), None);
    }

    #[test]
    fn utf16_order() {
        // U+FF5E sorts after U+1F600 by bytes, before it by UTF-16 code units (surrogates).
        assert_eq!(js_cmp("\u{1F600}", "\u{FF5E}"), Ordering::Less);
        assert_eq!("\u{1F600}".cmp("\u{FF5E}"), Ordering::Greater);
    }
}
